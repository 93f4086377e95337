//! Ed25519 keys for signing bundles, as PEM files: the private key PKCS#8, the public
//! key SubjectPublicKeyInfo — the formats `openssl genpkey -algorithm ed25519` and
//! `openssl pkey -pubout` write, so either tool's keys work with the other.

use std::path::Path;

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{SigningKey, VerifyingKey};

/// A new key from the operating system's randomness.
pub fn generate() -> Result<SigningKey, String> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| format!("no randomness for a key: {e}"))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// PKCS#8 v1, without the public key: OpenSSL 3.0 reads no other form of an ed25519
/// private key (`ed25519-dalek` writes v2).
pub fn private_pem(key: &SigningKey) -> Result<String, String> {
    let bytes = ed25519_dalek::pkcs8::KeypairBytes {
        secret_key: key.to_bytes(),
        public_key: None,
    };
    bytes
        .to_pkcs8_pem(LineEnding::LF)
        .map(|pem| pem.to_string())
        .map_err(|e| format!("cannot encode the private key: {e}"))
}

pub fn public_pem(key: &VerifyingKey) -> Result<String, String> {
    key.to_public_key_pem(LineEnding::LF)
        .map_err(|e| format!("cannot encode the public key: {e}"))
}

pub fn read_signing_key(path: &Path) -> Result<SigningKey, String> {
    read_key(
        path,
        "private key (PKCS#8 PEM)",
        (
            "PUBLIC KEY",
            "this is a public key; signing takes the private one (`bylaw keygen` writes both)",
        ),
        |text| SigningKey::from_pkcs8_pem(text).map_err(|e| e.to_string()),
    )
}

pub fn read_verifying_key(path: &Path) -> Result<VerifyingKey, String> {
    read_key(
        path,
        "public key (SubjectPublicKeyInfo PEM)",
        (
            "PRIVATE KEY",
            "this is a private key; verifying takes the public one (the `.pub` file)",
        ),
        |text| VerifyingKey::from_public_key_pem(text).map_err(|e| e.to_string()),
    )
}

/// Reads a PEM key file and decodes it; the error names the file and what it should
/// hold, with `hint` when the file holds the other half of a pair (its `marker`).
fn read_key<K>(
    path: &Path,
    what: &str,
    (marker, hint): (&str, &str),
    decode: impl FnOnce(&str) -> Result<K, String>,
) -> Result<K, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the key `{}`: {e}", path.display()))?;
    decode(&text).map_err(|e| {
        let hint = if text.contains(marker) {
            format!(": {hint}")
        } else {
            String::new()
        };
        format!("`{}` is not an ed25519 {what}: {e}{hint}", path.display())
    })
}

/// How a key is named in bundles and messages: the first 16 hex digits of the SHA-256
/// of its 32 bytes.
pub fn key_id(key: &VerifyingKey) -> String {
    let full = crate::guard::fingerprint(key.as_bytes());
    full.get(..16).unwrap_or(&full).to_string()
}

#[cfg(test)]
#[expect(
    clippy::unwrap_used,
    reason = "keys made in the test encode and decode"
)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_pem() {
        let dir = tempfile::tempdir().unwrap();
        let key = generate().unwrap();
        let private = dir.path().join("k.key");
        let public = dir.path().join("k.pub");
        std::fs::write(&private, private_pem(&key).unwrap()).unwrap();
        std::fs::write(&public, public_pem(&key.verifying_key()).unwrap()).unwrap();
        assert_eq!(
            read_signing_key(&private).unwrap().to_bytes(),
            key.to_bytes()
        );
        assert_eq!(read_verifying_key(&public).unwrap(), key.verifying_key());
        assert!(
            read_verifying_key(&private)
                .unwrap_err()
                .contains("the `.pub` file")
        );
        assert!(
            read_signing_key(&public)
                .unwrap_err()
                .contains("public key")
        );
        assert_eq!(key_id(&key.verifying_key()).len(), 16);
    }
}
