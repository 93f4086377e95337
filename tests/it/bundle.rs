//! Bundles: `bylaw keygen`, `bylaw bundle` (and `inspect`, `verify`), the commands
//! that take a bundle for a policy, and `bylaw serve --bundle --verify-key`: the same
//! decisions as the source, refusals of tampered, wrongly signed and unsigned
//! bundles, and hot reload of a new signed bundle under load.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::replay::bylaw;
use crate::server::{Server, wait_for};

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn refused(out: &std::process::Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A copy of the modules workspace in `dir`, and a key pair `acme.key`/`acme.pub`.
fn workspace(dir: &Path) -> PathBuf {
    let to = dir.join("workspace");
    copy_dir(&crate::data("modules/workspace"), &to);
    ok(&bylaw(&["keygen", "-o", s(&dir.join("acme"))]));
    to
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn make_bundle(policy: &Path, out: &Path, key: Option<&Path>) {
    let mut args = vec!["bundle", s(policy), "-o", s(out)];
    if let Some(key) = key {
        args.extend(["--sign", s(key)]);
    }
    ok(&bylaw(&args));
}

fn agent_request(jailbreak: f64, region: &str, labelled: bool) -> Value {
    json!({
        "service": "agent", "region": region,
        "output": {"synthetic": true, "explicit_label": labelled},
        "prompt": {"jailbreak_score": jailbreak, "toxicity": jailbreak / 2.0}
    })
}

/// What a decision says, without what differs by when and where it was made.
fn essence(decision: &Value) -> Value {
    json!({
        "outcome": decision["outcome"],
        "tier": decision["tier"],
        "duties": decision["duties"],
        "reasons": decision["reasons"],
    })
}

#[test]
fn a_bundle_decides_as_its_source_in_every_command_and_in_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let ws = workspace(dir.path());
    let source = ws.join("agents/agent.bylaw");
    let bundle = dir.path().join("agent.bundle");
    make_bundle(&source, &bundle, Some(&dir.path().join("acme.key")));

    // inspect: the manifest, its files (policy and modules), tests and signer.
    let inspected = bylaw(&["bundle", "inspect", s(&bundle), "--format", "json"]);
    assert!(inspected.status.success());
    let inspected: Value = serde_json::from_slice(&inspected.stdout).unwrap();
    let files: Vec<&str> = inspected["manifest"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        [
            "../common/labels.bylaw",
            "../lib/acme/safety/jailbreak.bylaw",
            "../lib/acme/safety/toxicity.bylaw",
            "agent.bylaw"
        ]
    );
    assert_eq!(inspected["manifest"]["tests"]["passed"], 1);
    assert!(inspected["signed_by"].is_string());

    // eval, test, report, build and ir take the bundle for the policy.
    let requests = dir.path().join("requests.jsonl");
    let lines: Vec<String> = (0..40)
        .map(|i| {
            let region = ["EU", "CN", "US"][i % 3];
            agent_request(i as f64 / 40.0, region, i % 2 == 0).to_string()
        })
        .collect();
    std::fs::write(&requests, lines.join("\n") + "\n").unwrap();
    let eval = |policy: &Path| {
        let out = bylaw(&["eval", "--requests", s(&requests), s(policy)]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| essence(&serde_json::from_str(l).unwrap()))
            .collect::<Vec<_>>()
    };
    let from_source = eval(&source);
    assert_eq!(eval(&bundle), from_source);
    let tested = bylaw(&["test", s(&bundle)]);
    assert!(tested.status.success());
    assert!(String::from_utf8_lossy(&tested.stdout).contains("1 passed"));
    let report = bylaw(&["report", s(&bundle)]);
    assert!(String::from_utf8_lossy(&report.stdout).contains("jailbreak_attempt"));
    assert_eq!(
        bylaw(&["ir", s(&bundle)]).stdout,
        bylaw(&["ir", s(&source)]).stdout
    );
    ok(&bylaw(&[
        "build",
        s(&bundle),
        "-o",
        s(&dir.path().join("agent.o")),
    ]));
    let diff = bylaw(&["diff", s(&bundle), s(&source)]);
    assert!(
        String::from_utf8_lossy(&diff.stdout).contains("the versions are equivalent"),
        "{}",
        String::from_utf8_lossy(&diff.stderr)
    );

    // The server decides each request as the source does, and names the same
    // fingerprint.
    let server = Server::start_in(
        tempfile::tempdir().unwrap(),
        false,
        &[
            "--bundle",
            s(&bundle),
            "--verify-key",
            s(&dir.path().join("acme.pub")),
        ],
    );
    let (_, body) = server.get("/v1/policy");
    let policy: Value = serde_json::from_str(&body).unwrap();
    let text = std::fs::read_to_string(&source).unwrap();
    let loader = bylaw::modules::Loader::for_policy(&source).unwrap();
    let compiled = bylaw::Policy::check_with(s(&source), &text, &loader).unwrap();
    assert_eq!(policy["policy"]["fingerprint"], compiled.fingerprint());
    assert_eq!(policy["policy"]["signed_by"], inspected["signed_by"]);
    for (line, expected) in lines.iter().zip(&from_source) {
        let decided = server.decide(&serde_json::from_str(line).unwrap());
        assert_eq!(&essence(&decided), expected, "{line}");
    }
}

#[test]
fn tampered_wrongly_signed_and_unsigned_bundles_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ws = workspace(dir.path());
    let bundle = dir.path().join("chat.bundle");
    make_bundle(
        &ws.join("chat.bylaw"),
        &bundle,
        Some(&dir.path().join("acme.key")),
    );
    let key = bylaw::bundle::keys::read_verifying_key(&dir.path().join("acme.pub")).unwrap();
    let bytes = std::fs::read(&bundle).unwrap();
    assert!(bylaw::bundle::open(&bytes, Some(&key)).is_ok());

    // One byte changed in each part of the bundle: each is refused, saying what.
    let json: Value = serde_json::from_slice(&bytes).unwrap();
    let cases: [(&str, Tamper, &str); 5] = [
        (
            "a module's source",
            |v| {
                tweak(
                    &mut v["files"]["lib/acme/safety/jailbreak.bylaw"],
                    "0.8",
                    "0.9",
                )
            },
            "`lib/acme/safety/jailbreak.bylaw` in the bundle does not match its fingerprint",
        ),
        (
            "the manifest",
            |v| tweak(&mut v["manifest"], "2.0.0", "2.0.1"),
            "signature does not verify",
        ),
        (
            "the IR",
            |v| tweak(&mut v["ir"], ">=.float", "<=.float"),
            "IR does not match its manifest",
        ),
        (
            "the test record",
            |v| v["tests"]["results"][0]["name"] = json!("a renamed test"),
            "test results do not match its manifest",
        ),
        (
            "the signature",
            |v| {
                let sig = v["signature"]["value"].as_str().unwrap().to_string();
                let flipped = if sig.starts_with('0') { "1" } else { "0" };
                v["signature"]["value"] = json!(format!("{flipped}{}", &sig[1..]));
            },
            "signature does not verify",
        ),
    ];
    for (part, change, message) in cases {
        let mut tampered = json.clone();
        change(&mut tampered);
        let bytes = serde_json::to_vec(&tampered).unwrap();
        let error = bylaw::bundle::open(&bytes, Some(&key)).unwrap_err();
        assert!(error.contains(message), "{part}: {error}");
    }
    // A byte changed in the raw file: refused by the CLI too, exit 1.
    let mut raw = bytes.clone();
    let at = raw
        .windows(b"jailbreak_attempt".len())
        .position(|w| w == b"jailbreak_attempt")
        .unwrap();
    raw[at] = b'J';
    let tampered = dir.path().join("tampered.bundle");
    std::fs::write(&tampered, &raw).unwrap();
    let pubkey = dir.path().join("acme.pub");
    let error = refused(&bylaw(&[
        "bundle",
        "verify",
        s(&tampered),
        "--key",
        s(&pubkey),
    ]));
    assert!(error.contains("is refused"), "{error}");

    // Another key: refused, naming both keys.
    ok(&bylaw(&["keygen", "-o", s(&dir.path().join("other"))]));
    let other = dir.path().join("other.pub");
    let error = refused(&bylaw(&[
        "bundle",
        "verify",
        s(&bundle),
        "--key",
        s(&other),
    ]));
    assert!(
        error.contains("is signed by key") && error.contains("not by key"),
        "{error}"
    );

    // Unsigned: `verify` refuses it, and so does a server at start.
    let unsigned = dir.path().join("unsigned.bundle");
    make_bundle(&ws.join("chat.bylaw"), &unsigned, None);
    let error = refused(&bylaw(&[
        "bundle",
        "verify",
        s(&unsigned),
        "--key",
        s(&pubkey),
    ]));
    assert!(error.contains("is not signed"), "{error}");
    for bad in [&unsigned, &tampered] {
        let out = Command::new(env!("CARGO_BIN_EXE_bylaw"))
            .args([
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--bundle",
                s(bad),
                "--verify-key",
            ])
            .arg(&pubkey)
            .env_remove("BYLAW_POLICY")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("the bundle is refused"), "{stderr}");
    }
    // A bundle's policy whose tests fail is never bundled.
    let chat = ws.join("chat.bylaw");
    let text = std::fs::read_to_string(&chat).unwrap();
    std::fs::write(&chat, text.replace("threshold: 0.9", "threshold: 0.8")).unwrap();
    let out = bylaw(&[
        "bundle",
        s(&chat),
        "-o",
        s(&dir.path().join("failing.bundle")),
    ]);
    let error = refused(&out);
    assert!(error.contains("tests fail"), "{error}");
    assert!(!dir.path().join("failing.bundle").exists());
}

/// A change to one part of a bundle's JSON.
type Tamper = fn(&mut Value);

fn tweak(value: &mut Value, from: &str, to: &str) {
    let text = value.as_str().unwrap();
    assert!(text.contains(from), "{from} not in {text}");
    *value = json!(text.replacen(from, to, 1));
}

#[test]
fn a_new_signed_bundle_is_installed_atomically_under_load() {
    let dir = tempfile::tempdir().unwrap();
    let ws = workspace(dir.path());
    let agent = ws.join("agents/agent.bylaw");
    let key = dir.path().join("acme.key");
    let served = dir.path().join("served.bundle");
    make_bundle(&agent, &served, Some(&key));
    let server = Arc::new(Server::start_in(
        tempfile::tempdir().unwrap(),
        false,
        &[
            "--bundle",
            s(&served),
            "--verify-key",
            s(&dir.path().join("acme.pub")),
        ],
    ));
    // 0.6 is refused at 1.0.0's threshold (0.5) and allowed at 1.1.0's (0.7).
    let request = agent_request(0.6, "US", true);
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (server, stop, request) = (server.clone(), stop.clone(), request.clone());
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let d = server.decide(&request);
                    let pair = (
                        d["policy"]["version"].as_str().unwrap_or("?").to_string(),
                        d["outcome"].as_str().unwrap_or("?").to_string(),
                    );
                    if seen.last() != Some(&pair) {
                        seen.push(pair);
                    }
                }
                seen
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let text = std::fs::read_to_string(&agent).unwrap();
    std::fs::write(
        &agent,
        text.replace("version \"1.0.0\"", "version \"1.1.0\"")
            .replace("threshold: 0.5", "threshold: 0.7")
            .replace("jailbreak_score: 0.6 }", "jailbreak_score: 0.8 }"),
    )
    .unwrap();
    make_bundle(&agent, &served, Some(&key));
    wait_for(&server, "the new bundle", |v| {
        v["policy"]["version"] == "1.1.0"
    });
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        let seen = client.join().unwrap();
        // Every decision came whole from one version: the old one, then the new one.
        assert_eq!(
            seen,
            [
                ("1.0.0".to_string(), "deny".to_string()),
                ("1.1.0".to_string(), "allow".to_string())
            ]
        );
    }

    // A bundle signed by another key is not installed; the error is on /v1/policy.
    ok(&bylaw(&["keygen", "-o", s(&dir.path().join("other"))]));
    let text = std::fs::read_to_string(&agent).unwrap();
    std::fs::write(
        &agent,
        text.replace("version \"1.1.0\"", "version \"1.2.0\""),
    )
    .unwrap();
    make_bundle(&agent, &served, Some(&dir.path().join("other.key")));
    let v = wait_for(&server, "the refusal", |v| !v["reload_error"].is_null());
    assert_eq!(v["policy"]["version"], "1.1.0");
    let message = v["reload_error"]["message"].as_str().unwrap();
    assert!(
        message.contains("the bundle is refused") && message.contains("signed by key"),
        "{message}"
    );
    assert_eq!(server.decide(&request)["outcome"], "allow");
}

#[test]
fn keys_made_by_openssl_sign_bundles_and_bylaws_keys_read_in_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let ws = workspace(dir.path());
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let key = dir.path().join("ossl.key");
    let public = dir.path().join("ossl.pub");
    openssl(&["genpkey", "-algorithm", "ed25519", "-out", s(&key)]);
    openssl(&["pkey", "-in", s(&key), "-pubout", "-out", s(&public)]);
    let bundle = dir.path().join("search.bundle");
    make_bundle(&ws.join("search.bylaw"), &bundle, Some(&key));
    ok(&bylaw(&[
        "bundle",
        "verify",
        s(&bundle),
        "--key",
        s(&public),
    ]));
    // `bylaw keygen`'s private key gives OpenSSL the same public key.
    let derived = openssl(&["pkey", "-in", s(&dir.path().join("acme.key")), "-pubout"]);
    assert_eq!(derived, std::fs::read(dir.path().join("acme.pub")).unwrap());
}
