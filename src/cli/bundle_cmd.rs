//! `bylaw bundle`: make a bundle of a policy (sources, IR, test results, manifest,
//! optional signature), `inspect` one, `verify` one against a public key; and
//! `bylaw keygen`, the keys that sign them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::EXIT_USAGE;
use super::policy_file::{EngineChoice, LoadError, load_guard};
use crate::bundle;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct BundleArgs {
    #[command(subcommand)]
    command: Option<BundleCommand>,
    /// The policy file to bundle, with the user modules it uses.
    #[arg(required = true)]
    policy: Option<PathBuf>,
    /// Where to write the bundle.
    #[arg(short = 'o', long = "output", value_name = "FILE", required = true)]
    output: Option<PathBuf>,
    /// Sign the manifest with this ed25519 private key (PKCS#8 PEM, from `bylaw keygen`).
    #[arg(long, value_name = "KEY")]
    sign: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum BundleCommand {
    /// Print a bundle's manifest: policy, fingerprints, files, tests, signature.
    Inspect {
        bundle: PathBuf,
        /// `text` for people, `json` for the manifest itself.
        #[arg(long, value_enum, default_value_t = super::Format::Text)]
        format: super::Format,
    },
    /// Check a bundle's signature with a public key, every fingerprint, that its
    /// sources compile here to the same IR, and that its tests still pass.
    Verify {
        bundle: PathBuf,
        /// The ed25519 public key (SubjectPublicKeyInfo PEM, the `.pub` of `bylaw keygen`).
        #[arg(long, value_name = "PUB")]
        key: PathBuf,
    },
}

#[derive(Debug, Args)]
pub(crate) struct KeygenArgs {
    /// Writes `NAME.key` (the private key, readable by you alone) and `NAME.pub`.
    #[arg(short = 'o', long = "output", value_name = "NAME")]
    output: PathBuf,
}

pub(crate) fn run(args: &BundleArgs) -> ExitCode {
    match &args.command {
        Some(BundleCommand::Inspect { bundle, format }) => inspect(bundle, *format),
        Some(BundleCommand::Verify { bundle, key }) => verify(bundle, key),
        None => match (&args.policy, &args.output) {
            (Some(policy), Some(output)) => make(policy, output, args.sign.as_deref()),
            _ => usage("`bylaw bundle POLICY -o FILE` names the policy and the bundle"),
        },
    }
}

fn usage(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(EXIT_USAGE)
}

fn make(policy: &Path, output: &Path, sign: Option<&Path>) -> ExitCode {
    let key = match sign.map(bundle::keys::read_signing_key).transpose() {
        Ok(key) => key,
        Err(e) => return usage(&e),
    };
    let guard = match load_guard(policy, EngineChoice::Jit) {
        Ok(guard) => guard,
        Err(LoadError::Unreadable) => return ExitCode::from(EXIT_USAGE),
        Err(LoadError::Rejected) => return ExitCode::from(1),
    };
    let now = crate::governance::clock::SystemClock;
    let created_at = crate::governance::clock::Clock::now(&now).to_string();
    let bytes = match bundle::create(policy, &guard, key.as_ref(), &created_at) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    if let Err(e) = super::write_atomically(output, &bytes) {
        return usage(&format!("cannot write `{}`: {e}", output.display()));
    }
    let program = &guard.policy().program;
    let signed = match &key {
        Some(key) => format!(
            ", signed by key {}",
            bundle::keys::key_id(&key.verifying_key())
        ),
        None => ", unsigned".to_string(),
    };
    eprintln!(
        "wrote {}: {} {} ({} file(s), {} test(s) passed{signed})",
        output.display(),
        program.name,
        program.version,
        1 + guard.policy().user_module_files().len(),
        program.tests.len(),
    );
    ExitCode::SUCCESS
}

fn read(path: &Path) -> Result<Vec<u8>, ExitCode> {
    std::fs::read(path).map_err(|e| usage(&format!("cannot read `{}`: {e}", path.display())))
}

fn inspect(path: &Path, format: super::Format) -> ExitCode {
    let bytes = match read(path) {
        Ok(bytes) => bytes,
        Err(code) => return code,
    };
    let opened = match bundle::open(&bytes, None) {
        Ok(opened) => opened,
        Err(e) => {
            eprintln!("error: `{}`: {e}", path.display());
            return ExitCode::from(1);
        }
    };
    let m = &opened.manifest;
    if format == super::Format::Json {
        let json = serde_json::json!({
            "manifest": m,
            "signed_by": opened.signed_by,
        });
        println!("{json:#}");
        return ExitCode::SUCCESS;
    }
    let mut out = String::new();
    out.push_str(&format!(
        "policy      {} {}\n",
        m.policy.name, m.policy.version
    ));
    out.push_str(&format!("fingerprint {}\n", m.policy.fingerprint));
    out.push_str(&format!(
        "made by     bylaw {} at {}\n",
        m.bylaw_version, m.created_at
    ));
    out.push_str(&format!(
        "signature   {}\n",
        opened.signed_by.as_deref().map_or_else(
            || "none (unsigned)".to_string(),
            |k| format!("ed25519, key {k} (not verified: `bylaw bundle verify --key PUB`)")
        )
    ));
    out.push_str(&format!(
        "tests       {} passed, {} failed; coverage {}/{} rules, tiers and duties\n",
        m.tests.passed, m.tests.failed, m.tests.exercised, m.tests.total
    ));
    out.push_str("files\n");
    for f in &m.files {
        out.push_str(&format!(
            "  {}  {}\n",
            &f.sha256[..16.min(f.sha256.len())],
            f.path
        ));
    }
    if !m.stdlib.is_empty() {
        out.push_str("standard library\n");
        for f in &m.stdlib {
            out.push_str(&format!(
                "  {}  {}\n",
                &f.sha256[..16.min(f.sha256.len())],
                f.path
            ));
        }
    }
    print!("{out}");
    ExitCode::SUCCESS
}

fn verify(path: &Path, key: &Path) -> ExitCode {
    let key = match bundle::keys::read_verifying_key(key) {
        Ok(key) => key,
        Err(e) => return usage(&e),
    };
    let bytes = match read(path) {
        Ok(bytes) => bytes,
        Err(code) => return code,
    };
    let opened = match bundle::open(&bytes, Some(&key)) {
        Ok(opened) => opened,
        Err(e) => {
            eprintln!("error: `{}` is refused: {e}", path.display());
            return ExitCode::from(1);
        }
    };
    let guard = match crate::guard::Guard::new(
        std::sync::Arc::new(opened.policy),
        crate::guard::Engine::Jit,
    ) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let now: Vec<bool> = crate::testing::run_tests(&guard)
        .iter()
        .map(crate::testing::TestResult::passed)
        .collect();
    let then: Vec<bool> = opened.tests.results.iter().map(|r| r.passed).collect();
    if now != then {
        eprintln!(
            "error: `{}` is refused: its tests no longer give the results recorded in it",
            path.display()
        );
        return ExitCode::from(1);
    }
    let m = &opened.manifest;
    eprintln!(
        "verified {}: {} {}, signed by key {}, {} file(s) and the IR match their \
         fingerprints, {} test(s) pass as recorded",
        path.display(),
        m.policy.name,
        m.policy.version,
        bundle::keys::key_id(&key),
        m.files.len(),
        now.len()
    );
    ExitCode::SUCCESS
}

pub(crate) fn keygen(args: &KeygenArgs) -> ExitCode {
    let private = args.output.with_extension("key");
    let public = args.output.with_extension("pub");
    for path in [&private, &public] {
        if path.exists() {
            return usage(&format!(
                "`{}` exists; a key is never overwritten",
                path.display()
            ));
        }
    }
    let key = match bundle::keys::generate() {
        Ok(key) => key,
        Err(e) => return usage(&e),
    };
    let written = bundle::keys::private_pem(&key)
        .and_then(|pem| write_private(&private, &pem))
        .and_then(|()| bundle::keys::public_pem(&key.verifying_key()))
        .and_then(|pem| std::fs::write(&public, pem).map_err(|e| e.to_string()));
    if let Err(e) = written {
        return usage(&format!("cannot write the key: {e}"));
    }
    eprintln!(
        "wrote {} (private: keep it secret) and {} (public: give it to `bylaw serve \
         --verify-key`); key {}",
        private.display(),
        public.display(),
        bundle::keys::key_id(&key.verifying_key())
    );
    ExitCode::SUCCESS
}

/// Creates the private key file readable and writable by its owner only.
fn write_private(path: &Path, pem: &str) -> Result<(), String> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| e.to_string())?;
    file.write_all(pem.as_bytes()).map_err(|e| e.to_string())
}
