//! Bundles: one file that holds exactly what was reviewed and tested — the policy's
//! source and its user modules' (with the standard library's version and a digest of
//! each module it used), the IR they compile to, the test results and coverage — and
//! a manifest of SHA-256 fingerprints of all of it, optionally signed with ed25519.
//!
//! The file is JSON: `{"bundle": "bylaw-bundle/1", "manifest": "<JSON text>",
//! "signature": …, "files": {…}, "ir": "…", "tests": {…}}`. The manifest is kept as
//! the exact text that was signed, so verifying never depends on how JSON is written.
//! Opening a bundle checks, in order: the format; the signature, when a key is given;
//! every file, the IR and the test record against the manifest; then it compiles the
//! bundled sources (modules resolved among the bundled files only, never from disk)
//! and requires the same policy fingerprint, the same standard-library modules and
//! the same IR as when it was made. Anything else is refused with what differs.

pub mod keys;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::guard::{Guard, Policy, fingerprint};
use crate::modules::loader::{Loader, normalize, parent_dir, relative_path};
use crate::testing::{Coverage, TestResult};

/// The format tag of a bundle file.
pub const FORMAT: &str = "bylaw-bundle/1";

/// A bundle file as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct File {
    bundle: String,
    /// The manifest's JSON text, exactly as signed.
    manifest: String,
    signature: Option<SignatureEntry>,
    /// Path (from the policy's directory) → source text.
    files: BTreeMap<String, String>,
    ir: String,
    tests: TestRecord,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SignatureEntry {
    algorithm: String,
    key_id: String,
    /// Hex of the 64-byte signature of the manifest text.
    value: String,
}

/// What a bundle says it holds: every fingerprint, and where its policy came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub policy: PolicyEntry,
    /// The `bylaw` that made it (and whose standard library it used).
    pub bylaw_version: String,
    pub created_at: String,
    /// `[modules] paths` of the workspace, from the policy's directory.
    pub module_roots: Vec<String>,
    pub files: Vec<FileEntry>,
    pub stdlib: Vec<FileEntry>,
    pub ir_sha256: String,
    pub tests: TestsEntry,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyEntry {
    pub name: String,
    pub version: String,
    /// The policy's file among `files`.
    pub file: String,
    /// [`Policy::fingerprint`] of the bundled sources.
    pub fingerprint: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// A file's path, or a standard-library module's name.
    pub path: String,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestsEntry {
    pub passed: usize,
    pub failed: usize,
    /// Rules, tiers and duties the tests exercised, of how many.
    pub exercised: usize,
    pub total: usize,
    pub sha256: String,
}

/// The tests' results when the bundle was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestRecord {
    pub results: Vec<TestOutcome>,
    pub coverage: Coverage,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestOutcome {
    pub name: String,
    pub passed: bool,
    pub failures: Vec<String>,
}

/// A bundle that opened: its manifest, who signed it, its tests, and the policy
/// compiled from its sources.
#[derive(Debug)]
pub struct Opened {
    pub manifest: Manifest,
    /// The key id of the signature, when it is signed (verified when a key was given).
    pub signed_by: Option<String>,
    pub tests: TestRecord,
    pub policy: Policy,
}

/// Whether `bytes` look like a bundle rather than policy source (a policy never
/// starts with `{`).
pub fn is_bundle(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{')
}

/// Makes a bundle of the policy at `path`, compiled as `guard`: its tests must pass.
/// `created_at` is written into the manifest (RFC 3339).
pub fn create(
    path: &Path,
    guard: &Guard,
    key: Option<&SigningKey>,
    created_at: &str,
) -> Result<Vec<u8>, String> {
    let policy = guard.policy();
    let results = crate::testing::run_tests(guard);
    let failed: Vec<&TestResult> = results.iter().filter(|r| !r.passed()).collect();
    if !failed.is_empty() {
        let names: Vec<String> = failed.iter().map(|r| format!("`{}`", r.name)).collect();
        return Err(format!(
            "{} of the policy's tests fail ({}): a bundle holds only a tested policy; \
             `bylaw test {}` shows why",
            failed.len(),
            names.join(", "),
            path.display()
        ));
    }
    let tests = TestRecord {
        coverage: Coverage::of(&policy.ir, &results),
        results: results
            .iter()
            .map(|r| TestOutcome {
                name: r.name.clone(),
                passed: r.passed(),
                failures: r.failures.clone(),
            })
            .collect(),
    };
    let policy_file = path.file_name().map_or_else(
        || "policy.bylaw".to_string(),
        |n| n.to_string_lossy().to_string(),
    );
    let mut files = BTreeMap::new();
    let own = policy
        .sources
        .files()
        .first()
        .map_or("", |f| f.text.as_str());
    files.insert(policy_file.clone(), own.to_string());
    for (relative, file) in policy.user_module_files() {
        files.insert(slashed(&relative), file.text.clone());
    }
    let dir = parent_dir(path);
    let loader = Loader::for_policy(path)?;
    let module_roots = loader
        .roots()
        .iter()
        .map(|root| slashed(&relative_path(&dir, root)))
        .collect();
    let ir = crate::ir::print(&policy.ir);
    let manifest = Manifest {
        policy: PolicyEntry {
            name: policy.program.name.clone(),
            version: policy.program.version.clone(),
            file: policy_file,
            fingerprint: policy.fingerprint(),
        },
        bylaw_version: env!("CARGO_PKG_VERSION").to_string(),
        created_at: created_at.to_string(),
        module_roots,
        files: files
            .iter()
            .map(|(path, text)| FileEntry {
                path: path.clone(),
                sha256: fingerprint(text.as_bytes()),
            })
            .collect(),
        stdlib: stdlib_entries(policy),
        ir_sha256: fingerprint(ir.as_bytes()),
        tests: tests_entry(&tests)?,
    };
    let manifest_text = serde_json::to_string_pretty(&manifest).map_err(|e| e.to_string())?;
    let signature = key.map(|key| SignatureEntry {
        algorithm: "ed25519".to_string(),
        key_id: keys::key_id(&key.verifying_key()),
        value: hex::encode(key.sign(manifest_text.as_bytes()).to_bytes()),
    });
    let file = File {
        bundle: FORMAT.to_string(),
        manifest: manifest_text,
        signature,
        files,
        ir,
        tests,
    };
    let mut out = serde_json::to_vec_pretty(&file).map_err(|e| e.to_string())?;
    out.push(b'\n');
    Ok(out)
}

/// Opens a bundle: checks its signature when `key` is given (and then requires one),
/// every fingerprint, and that its sources compile here to what they compiled to when
/// it was made. The error says what is wrong.
pub fn open(bytes: &[u8], key: Option<&VerifyingKey>) -> Result<Opened, String> {
    let file: File = serde_json::from_slice(bytes)
        .map_err(|e| format!("not a Bylaw bundle: {e} (a bundle is what `bylaw bundle` writes)"))?;
    if file.bundle != FORMAT {
        return Err(format!(
            "a bundle of format `{}`, and this bylaw reads `{FORMAT}`",
            file.bundle
        ));
    }
    let signed_by = check_signature(&file, key)?;
    let manifest: Manifest = serde_json::from_str(&file.manifest)
        .map_err(|e| format!("the bundle's manifest is not valid: {e}"))?;
    check_files(&file, &manifest)?;
    if fingerprint(file.ir.as_bytes()) != manifest.ir_sha256 {
        return Err("the bundle's IR does not match its manifest: the bundle was changed".into());
    }
    if tests_entry(&file.tests)? != manifest.tests {
        return Err(
            "the bundle's test results do not match its manifest: the bundle was changed".into(),
        );
    }
    let policy = compile(&file, &manifest)?;
    Ok(Opened {
        manifest,
        signed_by,
        tests: file.tests,
        policy,
    })
}

fn check_signature(file: &File, key: Option<&VerifyingKey>) -> Result<Option<String>, String> {
    let Some(key) = key else {
        return Ok(file.signature.as_ref().map(|s| s.key_id.clone()));
    };
    let expected = keys::key_id(key);
    let Some(signature) = &file.signature else {
        return Err(format!(
            "the bundle is not signed, and only bundles signed by key {expected} are accepted \
             (sign it: `bylaw bundle POLICY -o FILE --sign KEY`)"
        ));
    };
    if signature.algorithm != "ed25519" {
        return Err(format!(
            "the bundle is signed with `{}`; only ed25519 signatures are accepted",
            signature.algorithm
        ));
    }
    if signature.key_id != expected {
        return Err(format!(
            "the bundle is signed by key {}, not by key {expected} (the --verify-key given)",
            signature.key_id
        ));
    }
    let bytes: [u8; 64] = hex::decode(&signature.value)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("the bundle's signature is not 64 bytes of hex: the bundle was changed")?;
    key.verify(file.manifest.as_bytes(), &Signature::from_bytes(&bytes))
        .map_err(|_| {
            format!(
                "the bundle's signature does not verify with key {expected}: the manifest was \
                 changed after it was signed"
            )
        })?;
    Ok(Some(expected))
}

fn check_files(file: &File, manifest: &Manifest) -> Result<(), String> {
    for entry in &manifest.files {
        let Some(text) = file.files.get(&entry.path) else {
            return Err(format!(
                "the bundle lacks `{}`, which its manifest lists",
                entry.path
            ));
        };
        if fingerprint(text.as_bytes()) != entry.sha256 {
            return Err(format!(
                "`{}` in the bundle does not match its fingerprint in the manifest: the bundle \
                 was changed",
                entry.path
            ));
        }
    }
    if let Some(extra) = file
        .files
        .keys()
        .find(|path| !manifest.files.iter().any(|e| &e.path == *path))
    {
        return Err(format!(
            "the bundle holds `{extra}`, which its manifest does not list: the bundle was changed"
        ));
    }
    Ok(())
}

/// Compiles the bundled sources among themselves and compares with the manifest.
fn compile(file: &File, manifest: &Manifest) -> Result<Policy, String> {
    let Some(source) = file.files.get(&manifest.policy.file) else {
        return Err(format!(
            "the bundle lacks its policy file `{}`",
            manifest.policy.file
        ));
    };
    let files: BTreeMap<PathBuf, String> = file
        .files
        .iter()
        .map(|(path, text)| (normalize(Path::new(path)), text.clone()))
        .collect();
    let roots = manifest
        .module_roots
        .iter()
        .map(|r| normalize(Path::new(r)))
        .collect();
    let loader = Loader::in_memory(PathBuf::from("."), roots, files);
    let policy = Policy::check_with(&manifest.policy.file, source, &loader)
        .map_err(|d| format!("the bundle's policy does not compile here:\n{d}"))?;
    let made_by = &manifest.bylaw_version;
    let here = env!("CARGO_PKG_VERSION");
    let stdlib = stdlib_entries(&policy);
    if stdlib != manifest.stdlib {
        let changed: Vec<&str> = manifest
            .stdlib
            .iter()
            .filter(|e| !stdlib.contains(e))
            .map(|e| e.path.as_str())
            .collect();
        return Err(format!(
            "the standard-library modules the bundle was made with ({}) differ from this \
             bylaw's: it was made by bylaw {made_by}, this is {here}; make the bundle again",
            changed.join(", ")
        ));
    }
    if policy.fingerprint() != manifest.policy.fingerprint {
        return Err(
            "the bundle's sources do not give the policy fingerprint its manifest \
                    names: the bundle was changed"
                .into(),
        );
    }
    if fingerprint(crate::ir::print(&policy.ir).as_bytes()) != manifest.ir_sha256 {
        return Err(format!(
            "this bylaw compiles the bundle to a different IR than when it was made (by bylaw \
             {made_by}; this is {here}): make the bundle again with this version"
        ));
    }
    Ok(policy)
}

fn stdlib_entries(policy: &Policy) -> Vec<FileEntry> {
    policy
        .modules
        .iter()
        .filter(|m| m.path.is_none())
        .filter_map(|m| crate::stdlib::get(&m.name))
        .map(|m| FileEntry {
            path: m.name.to_string(),
            sha256: fingerprint(m.text.as_bytes()),
        })
        .collect()
}

fn tests_entry(tests: &TestRecord) -> Result<TestsEntry, String> {
    let text = serde_json::to_string(tests).map_err(|e| e.to_string())?;
    let (exercised, total) = tests.coverage.totals();
    Ok(TestsEntry {
        passed: tests.results.iter().filter(|r| r.passed).count(),
        failed: tests.results.iter().filter(|r| !r.passed).count(),
        exercised,
        total,
        sha256: fingerprint(text.as_bytes()),
    })
}

/// A relative path with `/` between its parts, whatever the platform.
fn slashed(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy().to_string())
        .collect::<Vec<_>>()
        .join("/")
}
