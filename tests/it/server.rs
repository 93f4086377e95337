//! `bylaw serve` as a real process on loopback: decide, batch, bad input, the admin
//! API with and without its token, metrics, and hot reload of a good and a broken
//! policy.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use ureq::Agent;

use crate::replay::chat_request;

struct Server {
    child: Child,
    base: String,
    agent: Agent,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let policy = dir.path().join("policy.bylaw");
        std::fs::copy(crate::shared_examples()[2].clone(), &policy).unwrap();
        std::fs::write(dir.path().join("token"), "s3cret\n").unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_bylaw"))
            .args([
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--reload-interval-ms",
                "50",
                "--max-body",
                "4096",
            ])
            .arg("--policy")
            .arg(&policy)
            .arg("--state")
            .arg(dir.path().join("state.redb"))
            .arg("--admin-token-file")
            .arg(dir.path().join("token"))
            .env_remove("BYLAW_ADMIN_TOKEN")
            .env_remove("BYLAW_DECIDE_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Server {
            child,
            base,
            agent,
            dir,
        }
    }

    fn post(
        &self,
        path: &str,
        content_type: &str,
        body: &str,
        token: Option<&str>,
    ) -> (u16, String) {
        let mut request = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type);
        if let Some(t) = token {
            request = request.header("authorization", format!("Bearer {t}"));
        }
        let mut response = request.send(body).unwrap();
        (
            response.status().as_u16(),
            response.body_mut().read_to_string().unwrap(),
        )
    }

    fn get(&self, path: &str) -> (u16, String) {
        let mut response = self
            .agent
            .get(format!("{}{path}", self.base))
            .call()
            .unwrap();
        (
            response.status().as_u16(),
            response.body_mut().read_to_string().unwrap(),
        )
    }

    fn decide(&self, request: &Value) -> Value {
        let (status, body) =
            self.post("/v1/decide", "application/json", &request.to_string(), None);
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }
}

fn code(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    v["error"]["code"].as_str().unwrap_or_default().to_string()
}

#[test]
fn decide_and_batch_answer_with_decisions() {
    let server = Server::start();
    let allowed = server.decide(&chat_request(1, 0.0, 0.1, None));
    assert_eq!(
        (allowed["outcome"].as_str(), allowed["tier"].as_str()),
        (Some("allow"), Some("minimal"))
    );
    assert_eq!(allowed["service"]["state"], "active");
    // A request with a bad field is decided: denied, naming it.
    let invalid = server.decide(&json!({"id": "x"}));
    assert_eq!(invalid["outcome"], "deny");
    assert!(invalid["errors"].as_array().unwrap().len() > 3);

    let lines = format!(
        "{}\n{}\nnot json\n",
        chat_request(2, 0.0, 0.95, None),
        chat_request(3, 0.99, 0.1, None)
    );
    let (status, body) = server.post("/v1/decide/batch", "application/x-ndjson", &lines, None);
    assert_eq!(status, 200);
    let out: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(out.len(), 3);
    assert_eq!(out[0]["outcome"], "deny");
    assert_eq!(out[1]["tier"], "prohibited");
    assert_eq!(
        (
            out[2]["error"]["code"].as_str(),
            out[2]["error"]["line"].as_u64()
        ),
        (Some("malformed-json"), Some(3))
    );

    let (status, metrics) = server.get("/metrics");
    assert_eq!(status, 200);
    assert!(
        metrics.contains(r#"bylaw_decisions_total{outcome="allow",tier="minimal"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("bylaw_decision_seconds_count 4"),
        "{metrics}"
    );
    // The toxic reply in the batch was a third of the hour's decisions: over 5%.
    for line in [
        r#"bylaw_trigger_firings_total{trigger="toxicity_drift"} 1"#,
        r#"bylaw_service_state{service="chat",state="degraded"} 1"#,
        r#"bylaw_service_state{service="chat",state="active"} 0"#,
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    let (status, health) = server.get("/healthz");
    assert_eq!(status, 200);
    assert!(health.contains(r#""store":"ok""#), "{health}");
}

#[test]
fn bad_input_gets_a_machine_readable_4xx() {
    let server = Server::start();
    let (status, body) = server.post("/v1/decide", "application/json", "{\"id\": ", None);
    assert_eq!((status, code(&body).as_str()), (400, "malformed-json"));
    let (status, body) = server.post("/v1/decide", "application/json", "[1, 2]", None);
    assert_eq!((status, code(&body).as_str()), (400, "malformed-json"));
    let (status, body) = server.post("/v1/decide", "text/plain", "{}", None);
    assert_eq!(
        (status, code(&body).as_str()),
        (415, "unsupported-media-type")
    );
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(10_000));
    let (status, body) = server.post("/v1/decide", "application/json", &big, None);
    assert_eq!((status, code(&body).as_str()), (413, "body-too-large"));
    let (status, body) = server.get("/v2/nothing");
    assert_eq!((status, code(&body).as_str()), (404, "not-found"));
    // Still serving.
    assert_eq!(
        server.decide(&chat_request(1, 0.0, 0.1, None))["outcome"],
        "allow"
    );
}

#[test]
fn the_admin_api_needs_its_token_and_drives_the_kill_switch() {
    let server = Server::start();
    let suspend = r#"{"reason": "incident 9", "by": "oscar"}"#;
    let (status, body) = server.post(
        "/v1/services/chat/suspend",
        "application/json",
        suspend,
        None,
    );
    assert_eq!((status, code(&body).as_str()), (401, "unauthorized"));
    let (status, body) = server.post(
        "/v1/services/chat/suspend",
        "application/json",
        suspend,
        Some("wrong"),
    );
    assert_eq!((status, code(&body).as_str()), (401, "unauthorized"));
    assert_eq!(
        server.decide(&chat_request(1, 0.0, 0.1, None))["outcome"],
        "allow"
    );

    let (status, body) = server.post(
        "/v1/services/chat/suspend",
        "application/json",
        suspend,
        Some("s3cret"),
    );
    assert_eq!(status, 200, "{body}");
    let suspended = server.decide(&chat_request(2, 0.0, 0.1, None));
    assert_eq!(suspended["outcome"], "suspended");
    assert_eq!(suspended["service"]["fallback"], "faq_bot");

    let (status, body) = server.post(
        "/v1/services/chat/approve",
        "application/json",
        r#"{"by": "alice"}"#,
        Some("s3cret"),
    );
    assert_eq!((status, code(&body).as_str()), (409, "refused"));
    let (status, body) = server.post(
        "/v1/services/nope/resume",
        "application/json",
        "{}",
        Some("s3cret"),
    );
    assert_eq!((status, code(&body).as_str()), (404, "unknown"));

    // Audited, with who and why.
    let mut server = server;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let state = server.dir.path().join("state.redb");
    let log = crate::replay::bylaw(&[
        "audit",
        "log",
        "--state",
        state.to_str().unwrap(),
        "--kind",
        "service_changed",
    ]);
    let text = String::from_utf8_lossy(&log.stdout);
    assert!(text.contains("operator oscar: incident 9"), "{text}");
}

fn wait_for(server: &Server, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = server.get("/v1/policy");
        let v: Value = serde_json::from_str(&body).unwrap();
        if ok(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: {v}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn hot_reload_installs_a_good_policy_and_never_a_broken_one() {
    let server = Server::start();
    let path = server.dir.path().join("policy.bylaw");
    let original = std::fs::read_to_string(&path).unwrap();

    let stricter = original
        .replace("version \"1.0.0\"", "version \"1.1.0\"")
        .replace(
            "deny when scores.toxicity > 0.9",
            "deny when scores.toxicity > 0.5",
        );
    std::fs::write(&path, &stricter).unwrap();
    wait_for(&server, "the new version", |v| {
        v["policy"]["version"] == "1.1.0"
    });
    assert_eq!(
        server.decide(&chat_request(1, 0.0, 0.6, None))["outcome"],
        "deny"
    );

    let broken = stricter
        .replace("version \"1.1.0\"", "version \"1.2.0\"")
        .replace("scores.toxicity > 0.5", "scores.toxicty > 0.5");
    std::fs::write(&path, &broken).unwrap();
    let v = wait_for(&server, "the reload error", |v| {
        !v["reload_error"].is_null()
    });
    assert_eq!(v["policy"]["version"], "1.1.0");
    assert!(
        v["reload_error"]["message"]
            .as_str()
            .unwrap()
            .contains("E0200"),
        "{v}"
    );
    // The old policy keeps serving.
    assert_eq!(
        server.decide(&chat_request(2, 0.0, 0.6, None))["outcome"],
        "deny"
    );
    let (_, metrics) = server.get("/metrics");
    assert!(
        metrics.contains(r#"bylaw_policy_reloads_total{result="error"} 1"#),
        "{metrics}"
    );

    std::fs::write(&path, &original).unwrap();
    let v = wait_for(&server, "back to the original", |v| {
        v["policy"]["version"] == "1.0.0"
    });
    assert!(v["reload_error"].is_null());
    assert_eq!(
        server.decide(&chat_request(3, 0.0, 0.6, None))["outcome"],
        "allow"
    );
}
