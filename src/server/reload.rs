//! When a changed policy file may replace the policy being served.
//!
//! A file written in place passes through states nobody meant to serve: empty after
//! the truncation, then a prefix of the new text. Three rules keep those out:
//! - the file must be **settled**: the same bytes in reads at least the settle time
//!   apart ([`Settle`]);
//! - it must **check** (a file without its `policy` line is an error, E0122), its own
//!   `test` blocks must pass and none of its `assert`s may be refuted ([`accept`]);
//! - it must keep the served policy's **name**, unless renaming is allowed: a different
//!   name is a different policy, not a new version of this one.
//!
//! Writing the new version to a temporary file and renaming it over the old one is
//! atomic and never shows a partial file; `docs/server.md` says so.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::guard::{Engine, Guard, Policy};

/// Waits for a file's content to stop changing.
#[derive(Debug)]
pub struct Settle {
    settle: Duration,
    /// The fingerprint last seen and when it was first seen.
    pending: Option<(String, Instant)>,
}

impl Settle {
    pub fn new(settle: Duration) -> Settle {
        Settle {
            settle,
            pending: None,
        }
    }

    /// Reports the content read at `now`; true once the same content has been read
    /// for at least the settle time. Different content starts the wait again.
    pub fn observe(&mut self, fingerprint: &str, now: Instant) -> bool {
        match &self.pending {
            Some((seen, since)) if seen == fingerprint => {
                now.saturating_duration_since(*since) >= self.settle
            }
            _ => {
                self.pending = Some((fingerprint.to_string(), now));
                self.settle.is_zero()
            }
        }
    }

    /// Forgets the pending content (it was installed, refused, or is the served one).
    pub fn reset(&mut self) {
        self.pending = None;
    }
}

/// Compiles a new version of the served policy, or says why it may not replace it.
/// `served_name` is the name of the policy being served, if any.
pub fn accept(
    path: &str,
    bytes: &[u8],
    served_name: Option<&str>,
    allow_rename: bool,
) -> Result<Guard, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "the policy is not UTF-8".to_string())?;
    let loader = crate::modules::Loader::for_policy(std::path::Path::new(path))?;
    let policy = Policy::check_with(path, text, &loader).map_err(|d| d.to_string())?;
    admit(policy, served_name, allow_rename)
}

/// Opens a new bundle: it must be signed by `key`, every fingerprint must verify and
/// its sources must compile to the IR it holds; then the same rules as a policy
/// file. Returns the guard and the signing key's id.
pub fn accept_bundle(
    bytes: &[u8],
    key: &ed25519_dalek::VerifyingKey,
    served_name: Option<&str>,
    allow_rename: bool,
) -> Result<(Guard, String), String> {
    let opened =
        crate::bundle::open(bytes, Some(key)).map_err(|e| format!("the bundle is refused: {e}"))?;
    let signer = opened.signed_by.unwrap_or_default();
    Ok((admit(opened.policy, served_name, allow_rename)?, signer))
}

/// A compiled version may replace the served one when it keeps its name (or renaming
/// is allowed) and its own tests pass.
fn admit(policy: Policy, served_name: Option<&str>, allow_rename: bool) -> Result<Guard, String> {
    if let Some(served) = served_name
        && served != policy.program.name
        && !allow_rename
    {
        return Err(format!(
            "the file now holds policy `{}`, not `{served}`: a different policy is not \
             installed over this one (start the server with --allow-policy-rename to allow it)",
            policy.program.name
        ));
    }
    let guard = Guard::new(Arc::new(policy), Engine::Jit).map_err(|d| d.to_string())?;
    let failed: Vec<String> = crate::testing::run_tests(&guard)
        .into_iter()
        .filter(|r| !r.passed())
        .map(|r| format!("`{}`", r.name))
        .collect();
    if !failed.is_empty() {
        return Err(format!(
            "the policy's own tests fail: {}; a version whose tests fail is not installed",
            failed.join(", ")
        ));
    }
    // An assertion the logic refutes comes with a request the interpreter decides
    // against it: the version breaks what it promises. (One neither proved nor refuted
    // does not hold the version back: `bylaw verify` says why.)
    let refuted: Vec<String> = crate::verify::verify(&guard)
        .into_iter()
        .filter_map(|checked| match checked.verdict {
            crate::verify::Verdict::Refuted(c) => {
                Some(format!("`{}` ({})", checked.name, c.refutation()))
            }
            _ => None,
        })
        .collect();
    if !refuted.is_empty() {
        return Err(format!(
            "the policy's own assertions are refuted: {}; a version that breaks its \
             assertions is not installed",
            refuted.join("; ")
        ));
    }
    Ok(guard)
}
