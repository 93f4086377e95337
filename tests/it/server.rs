//! `bylaw serve` as a real process on loopback: decide, batch, bad input, the admin
//! API with and without its token, metrics, and hot reload of a good and a broken
//! policy.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use ureq::Agent;

use crate::replay::chat_request;

pub(crate) struct Server {
    pub(crate) child: Child,
    base: String,
    agent: Agent,
    pub(crate) dir: tempfile::TempDir,
}

impl Server {
    /// `POST path` with extra headers: the status, the answer's headers and its body.
    pub(crate) fn post_with_headers(
        &self,
        path: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> (u16, axum::http::HeaderMap, String) {
        let mut request = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut response = request.send(body).unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.body_mut().read_to_string().unwrap();
        (status, headers, body)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub(crate) fn start() -> Server {
        Server::start_with(&[])
    }

    pub(crate) fn start_with(extra: &[&str]) -> Server {
        Server::start_in(tempfile::tempdir().unwrap(), true, extra)
    }

    /// A server of `examples/genai_chat.bylaw` copied into `dir`, with a state store
    /// there when `durable`.
    pub(crate) fn start_in(dir: tempfile::TempDir, durable: bool, extra: &[&str]) -> Server {
        let policy = dir.path().join("policy.bylaw");
        if !policy.exists() && !extra.contains(&"--bundle") {
            std::fs::copy(crate::example("genai_chat.bylaw"), &policy).unwrap();
        }
        std::fs::write(dir.path().join("token"), "s3cret\n").unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_bylaw"));
        command.args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--reload-interval-ms",
            "50",
            "--reload-settle-ms",
            "200",
        ]);
        // A bundle server names its bundle among the extra arguments instead.
        if !extra.contains(&"--bundle") {
            command.arg("--policy").arg(&policy);
        }
        if durable {
            command.arg("--state").arg(dir.path().join("state.redb"));
        }
        if !extra.contains(&"--max-body") {
            command.args(["--max-body", "4096"]);
        }
        let mut child = command
            .arg("--admin-token-file")
            .arg(dir.path().join("token"))
            .args(extra)
            .env_remove("BYLAW_ADMIN_TOKEN")
            .env_remove("BYLAW_REDIS")
            .env_remove("BYLAW_DECIDE_TOKEN")
            .env_remove("BYLAW_LOG_FORMAT")
            .stdout(Stdio::piped())
            // A server that logs requests writes its log beside its policy.
            .stderr(if extra.contains(&"--access-log") {
                Stdio::from(std::fs::File::create(dir.path().join("stderr.log")).unwrap())
            } else {
                Stdio::null()
            })
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

    pub(crate) fn post(
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
            response
                .body_mut()
                .with_config()
                .limit(1 << 30)
                .read_to_string()
                .unwrap(),
        )
    }

    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    pub(crate) fn get(&self, path: &str) -> (u16, String) {
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

    pub(crate) fn decide(&self, request: &Value) -> Value {
        let (status, body) =
            self.post("/v1/decide", "application/json", &request.to_string(), None);
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }
}

pub(crate) fn code(body: &str) -> String {
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
    // Latency by endpoint, outcomes by policy version.
    for line in [
        r#"bylaw_http_request_seconds_count{endpoint="/v1/decide",method="POST"} 2"#,
        r#"bylaw_http_request_seconds_count{endpoint="/v1/decide/batch",method="POST"} 1"#,
        r#"bylaw_decisions_by_version_total{policy="genai_chat",version="1.0.0",outcome="allow"} 1"#,
        r#"bylaw_decisions_by_version_total{policy="genai_chat",version="1.0.0",outcome="deny"} 3"#,
    ] {
        assert!(metrics.contains(line), "{line} not in:\n{metrics}");
    }
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

pub(crate) fn wait_for(server: &Server, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
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

/// A real `redis-server` on a free loopback port, stopped on drop.
pub(crate) struct Redis {
    child: Child,
    pub(crate) url: String,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn start_redis() -> Option<Redis> {
    start_redis_on(None)
}

/// `redis-server` on `port` (a free one when `None`).
fn start_redis_on(port: Option<u16>) -> Option<Redis> {
    if Command::new("redis-server")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install redis-server (.ci/run)"
        );
        eprintln!("redis-server is not installed: skipping (`apt-get install redis-server`)");
        return None;
    }
    let port = port.unwrap_or_else(|| {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    });
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(Redis {
        child,
        url: format!("redis://127.0.0.1:{port}"),
    })
}

fn eventually(what: &str, ok: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !ok() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn two_replicas_share_counts_and_suspensions_through_redis() {
    let Some(mut redis) = start_redis() else {
        return;
    };
    let a = Server::start_with(&["--redis", &redis.url]);
    let b = Server::start_with(&["--redis", &redis.url]);
    // `jailbreak_wave` suspends chat at 50 attempts within 10 minutes: 25 + 24 is not
    // yet enough...
    for i in 0..49 {
        let server = if i % 2 == 0 { &a } else { &b };
        let d = server.decide(&chat_request(i, 0.85, 0.1, None));
        assert_eq!(d["outcome"], "allow", "attempt {i}");
    }
    // ...the 50th, on either replica, is: the counts add up across replicas.
    assert_eq!(
        b.decide(&chat_request(49, 0.85, 0.1, None))["outcome"],
        "allow"
    );
    assert_eq!(
        b.decide(&chat_request(50, 0.0, 0.1, None))["outcome"],
        "suspended"
    );
    // Replica A sees B's suspension.
    eventually("replica A sees the suspension", || {
        a.decide(&chat_request(51, 0.0, 0.1, None))["outcome"] == "suspended"
    });
    let (_, health) = a.get("/healthz");
    assert!(health.contains(r#""redis":"ok""#), "{health}");

    // The kill switch on A reaches B too: resume is refused there, as on A.
    let (status, _) = a.post(
        "/v1/services/chat/resume",
        "application/json",
        "{}",
        Some("s3cret"),
    );
    assert_eq!(status, 409, "a trigger's suspension ends on its own");

    // Redis goes away: both keep deciding with the last states they knew (fail-safe)
    // and say so.
    let _ = redis.child.kill();
    let _ = redis.child.wait();
    assert_eq!(
        a.decide(&chat_request(52, 0.0, 0.1, None))["outcome"],
        "suspended"
    );
    assert_eq!(
        b.decide(&chat_request(53, 0.85, 0.1, None))["outcome"],
        "suspended"
    );
    let (status, health) = b.get("/healthz");
    assert_eq!(status, 200);
    assert!(
        health.contains(r#""status":"degraded""#) && health.contains("unreachable"),
        "{health}"
    );
}

/// A loopback server that accepts connections and never answers: a hung Redis.
struct HungRedis {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HungRedis {
    fn start() -> HungRedis {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !stopping.load(std::sync::atomic::Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => held.push(stream),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        HungRedis {
            port,
            stop,
            thread: Some(thread),
        }
    }

    /// Closes the port and every connection it took.
    fn stop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for HungRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[test]
fn a_hung_redis_never_stalls_decisions_and_the_counts_reconcile_when_it_answers() {
    let mut hung = HungRedis::start();
    let url = format!("redis://127.0.0.1:{}", hung.port);
    let a = Server::start_with(&["--redis", &url, "--redis-budget-ms", "20"]);
    // 30 jailbreak attempts on A while Redis hangs (`jailbreak_wave` fires at 50).
    let mut slow = 0;
    let started = Instant::now();
    for i in 0..30 {
        let t = Instant::now();
        let d = a.decide(&chat_request(i, 0.85, 0.1, None));
        assert_eq!(d["outcome"], "allow", "attempt {i}");
        if t.elapsed() >= Duration::from_millis(20) {
            slow += 1;
        }
    }
    // Before: every decision waited for Redis's read timeout, one after another
    // (16 decisions took 10.3 s). Now a few wait for the 20 ms budget until the
    // circuit opens, and the rest do not wait at all.
    assert!(slow <= 6, "{slow} decisions waited for the hung Redis");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let (status, health) = a.get("/healthz");
    assert_eq!(status, 200);
    assert!(health.contains("circuit open"), "{health}");
    assert!(health.contains("counter(s) waiting to be sent"), "{health}");
    let (_, metrics) = a.get("/metrics");
    assert!(metrics.contains("bylaw_redis_circuit_open 1"), "{metrics}");
    assert!(
        metrics.contains("bylaw_redis_circuit_openings 1"),
        "{metrics}"
    );

    // Redis answers on the same port: A sends the 30 increments it kept.
    hung.stop();
    let Some(_redis) = start_redis_on(Some(hung.port)) else {
        return;
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while !a.get("/healthz").1.contains(r#""redis":"ok""#) {
        assert!(Instant::now() < deadline, "{}", a.get("/healthz").1);
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, metrics) = a.get("/metrics");
    assert!(metrics.contains("bylaw_redis_circuit_open 0"), "{metrics}");
    assert!(
        metrics.contains("bylaw_redis_counters_waiting 0"),
        "{metrics}"
    );
    // A second replica counts on from the reconciled window: 20 more attempts there
    // make 50, and the next request is suspended.
    let b = Server::start_with(&["--redis", &url]);
    for i in 30..50 {
        let d = b.decide(&chat_request(i, 0.85, 0.1, None));
        assert_eq!(d["outcome"], "allow", "attempt {i}");
    }
    assert_eq!(
        b.decide(&chat_request(50, 0.0, 0.1, None))["outcome"],
        "suspended"
    );
    eventually("A sees the suspension", || {
        a.decide(&chat_request(51, 0.0, 0.1, None))["outcome"] == "suspended"
    });
}

#[test]
fn decision_endpoints_can_require_a_token() {
    let tokens = tempfile::tempdir().unwrap();
    let file = tokens.path().join("decide");
    std::fs::write(&file, "d3cide").unwrap();
    let server = Server::start_with(&["--decide-token-file", file.to_str().unwrap()]);
    let body = chat_request(1, 0.0, 0.1, None).to_string();
    let (status, answer) = server.post("/v1/decide", "application/json", &body, None);
    assert_eq!((status, code(&answer).as_str()), (401, "unauthorized"));
    let (status, answer) = server.post("/v1/decide", "application/json", &body, Some("d3cide"));
    assert_eq!(status, 200, "{answer}");
    // Health and metrics stay open for probes and scrapers.
    assert_eq!(server.get("/healthz").0, 200);
}

/// Sets a Redis configuration value through `redis-cli`-free raw RESP.
fn redis_config(url: &str, name: &str, value: &str) {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("redis://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let command = format!(
        "*4\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n${}\r\n{name}\r\n${}\r\n{value}\r\n",
        name.len(),
        value.len()
    );
    stream.write_all(command.as_bytes()).unwrap();
    let mut answer = [0u8; 5];
    stream.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"+OK\r\n");
}

fn suspend(server: &Server, reason: &str) -> Value {
    let (status, body) = server.post(
        "/v1/services/chat/suspend",
        "application/json",
        &json!({"reason": reason, "by": "oscar"}).to_string(),
        Some("s3cret"),
    );
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn outcome(server: &Server, id: usize) -> String {
    server.decide(&chat_request(id, 0.0, 0.1, None))["outcome"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_kill_switch_survives_dropped_connections_and_a_redis_restart() {
    let Some(mut redis) = start_redis() else {
        return;
    };
    let a = Server::start_with(&["--redis", &redis.url]);
    let b = Server::start_with(&["--redis", &redis.url]);
    // Redis closes connections idle for a second: the write after the idle spell goes
    // out on a dropped connection, and must still reach both replicas and stay there.
    redis_config(&redis.url, "timeout", "1");
    std::thread::sleep(Duration::from_millis(2500));
    let answer = suspend(&a, "incident 9");
    assert_eq!(answer["durable"], true);
    assert!(answer["redis"].is_string(), "{answer}");
    eventually("B sees the kill switch", || outcome(&b, 1) == "suspended");
    // Several resyncs later nothing has put the old state back.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(outcome(&a, 2), "suspended");
    assert_eq!(outcome(&b, 3), "suspended");

    // Redis restarts empty (no persistence) on the same port: the replicas write their
    // rows back, and a resync never installs an older state.
    let url = redis.url.clone();
    let _ = redis.child.kill();
    let _ = redis.child.wait();
    let port = url.rsplit(':').next().unwrap().to_string();
    redis.child = Command::new("redis-server")
        .args([
            "--port",
            &port,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    eventually("Redis answers again and has the row back", || {
        b.get("/healthz").1.contains(r#""redis":"ok""#)
    });
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(outcome(&a, 4), "suspended");
    assert_eq!(outcome(&b, 5), "suspended");
    // A third replica starting now learns the suspension from Redis.
    let c = Server::start_with(&["--redis", &url]);
    eventually("a new replica learns it", || outcome(&c, 6) == "suspended");
}

impl Server {
    pub(crate) fn get_with_token(&self, path: &str, token: Option<&str>) -> (u16, String) {
        let mut request = self.agent.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            request = request.header("authorization", format!("Bearer {t}"));
        }
        let mut response = request.call().unwrap();
        (
            response.status().as_u16(),
            response.body_mut().read_to_string().unwrap(),
        )
    }
}

#[test]
fn the_audit_log_of_a_running_server_is_readable_and_verifiable() {
    let server = Server::start();
    for id in 0..3 {
        let request = crate::replay::retained(chat_request(id, 0.1, 0.1, None));
        assert_eq!(server.decide(&request)["outcome"], "allow");
    }
    let (status, _) = server.post(
        "/v1/services/chat/suspend",
        "application/json",
        r#"{"reason": "drill", "by": "oscar"}"#,
        Some("s3cret"),
    );
    assert_eq!(status, 200);
    let (status, body) = server.get_with_token("/v1/audit", None);
    assert_eq!((status, code(&body).as_str()), (401, "unauthorized"));

    let (status, body) = server.get_with_token("/v1/audit", Some("s3cret"));
    assert_eq!(status, 200, "{body}");
    let records: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = records
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["decision", "decision", "decision", "service_changed"]
    );
    let (_, page) = server.get_with_token("/v1/audit?since=2&limit=1", Some("s3cret"));
    let page: Vec<Value> = page
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0]["seq"], 2);
    let (status, body) = server.get_with_token("/v1/audit?since=-1", Some("s3cret"));
    assert_eq!((status, code(&body).as_str()), (400, "bad-query"));

    let (status, body) = server.get_with_token("/v1/audit/verify", Some("s3cret"));
    assert_eq!(status, 200, "{body}");
    let verified: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(verified["ok"], true, "{verified}");
    assert_eq!(verified["verification"]["records"], 4);
}

#[test]
fn the_breaker_opens_after_failures_in_a_row_and_backs_off_between_probes() {
    use bylaw::server::breaker::{BACKOFF_MAX, BACKOFF_MIN, Breaker, FAILURES_TO_OPEN, Status};
    let breaker = Breaker::default();
    let t0 = Instant::now();
    for _ in 1..FAILURES_TO_OPEN {
        breaker.failure(t0, "timeout");
        assert!(breaker.closed(), "a failure or two do not open it");
    }
    breaker.success();
    for _ in 1..FAILURES_TO_OPEN {
        breaker.failure(t0, "timeout");
    }
    assert!(
        breaker.closed(),
        "a success in between starts the count again"
    );
    breaker.failure(t0, "timeout");
    assert!(!breaker.closed());
    assert_eq!(breaker.opened(), 1);
    assert_eq!(breaker.retry_in(t0), Some(BACKOFF_MIN));
    assert_eq!(
        breaker.status(t0),
        Status::Open {
            error: "timeout".to_string(),
            retry_in: BACKOFF_MIN
        }
    );
    // Each failed probe doubles the wait, up to the ceiling.
    let mut wait = BACKOFF_MIN;
    let mut at = t0;
    for _ in 0..10 {
        at += wait;
        assert_eq!(breaker.retry_in(at), Some(Duration::ZERO), "a probe is due");
        breaker.failure(at, "refused");
        wait = (wait * 2).min(BACKOFF_MAX);
        assert_eq!(breaker.retry_in(at), Some(wait));
    }
    assert_eq!(wait, BACKOFF_MAX);
    breaker.success();
    assert!(breaker.closed());
    assert_eq!(breaker.status(at), Status::Closed);
    assert_eq!(breaker.opened(), 1);
}

#[test]
fn every_decision_has_an_id_the_policy_and_the_time_in_body_header_and_audit_log() {
    let server = Server::start_with(&["--max-body", "4194304"]);
    let (_, policy) = server.get("/v1/policy");
    let policy: Value = serde_json::from_str::<Value>(&policy).unwrap()["policy"].clone();

    // One decision: its id in the body and in the response header.
    let request = crate::replay::retained(chat_request(1, 0.1, 0.1, None));
    let mut response = server
        .agent
        .post(format!("{}/v1/decide", server.base))
        .header("content-type", "application/json")
        .send(request.to_string())
        .unwrap();
    let header = response
        .headers()
        .get("bylaw-decision-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap();
    let decided: Value =
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(decided["decision_id"], header.as_str());
    assert_eq!(decided["policy"]["name"], "genai_chat");
    assert_eq!(decided["policy"]["version"], policy["version"]);
    assert_eq!(decided["policy"]["fingerprint"], policy["fingerprint"]);
    assert!(decided["at"].as_str().unwrap().ends_with('Z'), "{decided}");
    // A UUID v7: version nibble 7, RFC 4122 variant.
    let id = uuid::Uuid::parse_str(&header).unwrap();
    assert_eq!(id.get_version_num(), 7);
    assert_eq!(id.get_variant(), uuid::Variant::RFC4122);

    // The same id in the audit record of the decision (a `retain` duty applied).
    let (_, audit) = server.get_with_token("/v1/audit", Some("s3cret"));
    let audited: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["kind"] == "decision")
        .collect();
    assert_eq!(audited.len(), 1, "{audit}");
    assert_eq!(
        audited[0]["body"]["decision"]["decision_id"],
        header.as_str()
    );

    // 10,000 decisions in batches, invalid ones among them: every one has an id, and
    // no two the same.
    let mut ids = std::collections::HashSet::new();
    ids.insert(header);
    for batch in 0..10 {
        let lines: String = (0..1000)
            .map(|i| {
                if i % 100 == 0 {
                    "{}\n".to_string()
                } else {
                    format!("{}\n", chat_request(batch * 1000 + i, 0.1, 0.1, None))
                }
            })
            .collect();
        let (status, answer) =
            server.post("/v1/decide/batch", "application/x-ndjson", &lines, None);
        assert_eq!(status, 200, "{answer}");
        for line in answer.lines() {
            let d: Value = serde_json::from_str(line).unwrap();
            let id = d["decision_id"].as_str().unwrap().to_string();
            assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 7);
            assert!(ids.insert(id), "a repeated id in {line}");
        }
    }
    assert_eq!(ids.len(), 10_001);
}

#[test]
fn the_openapi_document_lists_exactly_the_servers_routes() {
    let server = Server::start();
    let (status, text) = server.get("/openapi.json");
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(text, bylaw::server::OPENAPI);
    let mut documented = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            documented.insert((method.to_uppercase(), path.clone()));
            assert!(
                !operation["responses"].as_object().unwrap().is_empty(),
                "{method} {path} documents no response"
            );
            // Every path parameter is declared.
            for segment in path.split('/').filter(|s| s.starts_with('{')) {
                let name = segment.trim_matches(|c| c == '{' || c == '}');
                assert!(
                    operation["parameters"].as_array().is_some_and(|ps| ps
                        .iter()
                        .any(|p| p["name"] == name && p["in"] == "path")),
                    "{method} {path} does not declare `{name}`"
                );
            }
        }
    }
    let served: std::collections::BTreeSet<(String, String)> = bylaw::server::route_table()
        .into_iter()
        .map(|(m, p)| (m.to_string(), p))
        .collect();
    assert_eq!(documented, served);
    // Every reference resolves.
    let mut refs = Vec::new();
    fn collect(v: &Value, refs: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    refs.push(r.clone());
                }
                map.values().for_each(|v| collect(v, refs));
            }
            Value::Array(items) => items.iter().for_each(|v| collect(v, refs)),
            _ => {}
        }
    }
    collect(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let pointer = r.trim_start_matches('#');
        assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
    }
    // And each documented route is served (not the fallback's `not-found`).
    for (method, path) in &documented {
        let concrete = path
            .replace("{name}", "chat")
            .replace("{kind}", "nowhere")
            .replace("{id}", "1")
            .replace("{step}", "file")
            .replace("{field}", "id")
            .replace("{key}", "x")
            .replace("{path}", "chat/completions");
        let url = format!("{}{concrete}", server.base);
        let mut response = match method.as_str() {
            "GET" => server.agent.get(&url).call().unwrap(),
            "DELETE" => server.agent.delete(&url).call().unwrap(),
            "HEAD" => server.agent.head(&url).call().unwrap(),
            "OPTIONS" => server.agent.options(&url).call().unwrap(),
            "PUT" => server.agent.put(&url).send("{}").unwrap(),
            "PATCH" => server.agent.patch(&url).send("{}").unwrap(),
            _ => server
                .agent
                .post(&url)
                .header("content-type", "application/json")
                .send("{}")
                .unwrap(),
        };
        let body = response.body_mut().read_to_string().unwrap_or_default();
        assert!(
            !body.contains(r#""code":"not-found""#) || concrete.contains("nowhere"),
            "{method} {concrete}: {body}"
        );
    }
}

#[test]
fn an_access_log_line_per_request_in_json_names_the_decision() {
    let server = Server::start_with(&["--access-log", "--log-format", "json"]);
    let d = server.decide(&chat_request(1, 0.1, 0.1, None));
    let id = d["decision_id"].as_str().unwrap().to_string();
    assert_eq!(server.get("/healthz").0, 200);
    let log = server.dir.path().join("stderr.log");
    let mut lines: Vec<Value> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while lines.len() < 2 {
        assert!(Instant::now() < deadline, "{lines:?}");
        lines = std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l["target"] == "bylaw::access")
            .collect();
        std::thread::sleep(Duration::from_millis(20));
    }
    let decided = &lines[0];
    assert_eq!(decided["level"], "INFO");
    assert_eq!(decided["message"], "request");
    assert_eq!(decided["method"], "POST");
    assert_eq!(decided["path"], "/v1/decide");
    assert_eq!(decided["status"], 200);
    assert_eq!(decided["decision_id"], id.as_str());
    assert!(decided["micros"].as_u64().is_some(), "{decided}");
    assert!(decided["timestamp"].is_string(), "{decided}");
    assert_eq!(lines[1]["path"], "/healthz");
    assert_eq!(lines[1]["decision_id"], "");
}

/// A check as Envoy's HTTP-mode ext_authz sends it: the client's method and path under
/// the prefix, the client's headers.
fn ext_authz(
    server: &Server,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, Vec<(String, String)>, String) {
    let url = format!("{}/v1/ext_authz{path}", server.base);
    let mut request = match method {
        "GET" => server.agent.get(&url).force_send_body(),
        _ => server.agent.post(&url),
    };
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request.send("").unwrap();
    let headers = response
        .headers()
        .iter()
        .filter(|(n, _)| n.as_str().starts_with("x-bylaw-") || n.as_str() == "bylaw-decision-id")
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let status = response.status().as_u16();
    (
        status,
        headers,
        response.body_mut().read_to_string().unwrap_or_default(),
    )
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The chat request's fields as ext_authz headers.
fn chat_headers(jailbreak: &str, age: &str) -> Vec<(&'static str, String)> {
    vec![
        ("x-bylaw-id", "r-1".to_string()),
        ("x-bylaw-service", "chat".to_string()),
        ("x-bylaw-domain", "general".to_string()),
        ("x-bylaw-region", "CN".to_string()),
        ("x-bylaw-user.age", age.to_string()),
        ("x-bylaw-user.minor_mode", "false".to_string()),
        ("x-bylaw-data.personal", "false".to_string()),
        ("x-bylaw-data.consent", "false".to_string()),
        ("x-bylaw-scores.toxicity", "0.1".to_string()),
        ("x-bylaw-scores.jailbreak", jailbreak.to_string()),
        ("x-bylaw-output.synthetic", "false".to_string()),
        ("x-bylaw-output.explicit_label", "false".to_string()),
        ("x-bylaw-reviewer.assigned", "false".to_string()),
        ("x-bylaw-tags", "triage, faq".to_string()),
    ]
}

#[test]
fn envoy_ext_authz_http_mode_allows_denies_and_serves_the_fallback() {
    let server = Server::start_with(&["--ext-authz-suspended-status", "429"]);
    let as_refs = |h: &[(&'static str, String)]| -> Vec<(&'static str, String)> { h.to_vec() };
    let call = |h: Vec<(&'static str, String)>| {
        let pairs: Vec<(&str, &str)> = h.iter().map(|(n, v)| (*n, v.as_str())).collect();
        ext_authz(&server, "POST", "/v1/chat/completions", &pairs)
    };
    // Allowed: 200, the outcome and the id in headers, no body.
    let (status, headers, body) = call(as_refs(&chat_headers("0.0", "30")));
    assert_eq!(status, 200, "{headers:?} {body}");
    assert_eq!(header(&headers, "x-bylaw-outcome"), Some("allow"));
    assert_eq!(header(&headers, "x-bylaw-tier"), Some("minimal"));
    assert!(uuid::Uuid::parse_str(header(&headers, "bylaw-decision-id").unwrap()).is_ok());
    assert!(body.is_empty());
    // A minor without minor mode: 403 with the reason, and the decision as the body.
    let (status, headers, body) = call(as_refs(&chat_headers("0.0", "12")));
    assert_eq!(status, 403);
    assert_eq!(header(&headers, "x-bylaw-outcome"), Some("deny"));
    assert!(header(&headers, "x-bylaw-reason").is_some(), "{headers:?}");
    let decided: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(decided["outcome"], "deny");
    // A field nothing sets, or a value its type does not take: denied, naming it.
    let mut missing = chat_headers("0.0", "30");
    missing.retain(|(n, _)| *n != "x-bylaw-user.age");
    let (status, headers, _) = call(missing);
    assert_eq!(status, 403);
    assert_eq!(
        header(&headers, "x-bylaw-reason"),
        Some("`user.age`: required field is missing")
    );
    let (status, headers, _) = call(as_refs(&chat_headers("high", "30")));
    assert_eq!(status, 403);
    assert_eq!(
        header(&headers, "x-bylaw-reason"),
        Some("`scores.jailbreak`: expected a number, found a string")
    );
    // The same scalar twice is ambiguous: refused.
    let mut twice = chat_headers("0.0", "30");
    twice.push(("x-bylaw-user.age", "40".to_string()));
    let (status, headers, _) = call(twice);
    assert_eq!(status, 403);
    assert!(
        header(&headers, "x-bylaw-reason")
            .unwrap()
            .contains("2 times"),
        "{headers:?}"
    );

    // Suspended: the configured status, the fallback in a header.
    suspend(&server, "drill");
    let (status, headers, _) = call(as_refs(&chat_headers("0.0", "30")));
    assert_eq!(status, 429);
    assert_eq!(header(&headers, "x-bylaw-outcome"), Some("suspended"));
    assert_eq!(header(&headers, "x-bylaw-fallback"), Some("faq_bot"));
}

#[test]
fn envoy_ext_authz_reads_the_checked_requests_method_path_and_host() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("policy.bylaw"),
        r#"policy edge version "1.0.0"
schema request {
  request.method: string
  request.path: string
  request.host: string
  user.plan: string = "free"
}
default allow
deny when request.method == "DELETE" because "no deletes through the gateway"
deny when starts_with(request.path, "/admin") and user.plan != "staff" because "staff only"
deny when request.host == "internal.example" because "not from outside"
"#,
    )
    .unwrap();
    let server = Server::start_in(dir, false, &[]);
    let status = |method: &str, path: &str, extra: &[(&str, &str)]| {
        let url = format!("{}/v1/ext_authz{path}", server.base);
        let mut request = match method {
            "DELETE" => server.agent.delete(&url).force_send_body(),
            _ => server.agent.get(&url).force_send_body(),
        };
        for (n, v) in extra {
            request = request.header(*n, *v);
        }
        request.send("").unwrap().status().as_u16()
    };
    assert_eq!(status("GET", "/chat?x=1", &[]), 200);
    assert_eq!(status("DELETE", "/chat", &[]), 403);
    assert_eq!(status("GET", "/admin/users", &[]), 403);
    assert_eq!(
        status("GET", "/admin/users", &[("x-bylaw-user.plan", "staff")]),
        200
    );
    assert_eq!(status("GET", "/", &[("host", "internal.example")]), 403);
    // A header overrides the checked request's own attribute.
    assert_eq!(
        status("DELETE", "/chat", &[("x-bylaw-request.method", "GET")]),
        200
    );
}

/// An HTTP receiver on loopback for what the server sends out (notifications, decision
/// logs): it answers 503 to its first `fail_first` requests, then 200, keeping each
/// accepted request's headers and body in order.
pub(crate) struct Loopback {
    pub(crate) url: String,
    pub(crate) attempts: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    pub(crate) taken: std::sync::Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, String)>>>,
    _runtime: tokio::runtime::Runtime,
}

pub(crate) fn loopback(path: &'static str, fail_first: usize) -> Loopback {
    use axum::http::{HeaderMap, StatusCode};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}{path}", listener.local_addr().unwrap());
    let attempts = Arc::new(AtomicUsize::new(0));
    let taken = Arc::new(Mutex::new(Vec::new()));
    let (a, t) = (attempts.clone(), taken.clone());
    let take = move |headers: HeaderMap, body: String| {
        let (a, t) = (a.clone(), t.clone());
        async move {
            if a.fetch_add(1, Ordering::SeqCst) < fail_first {
                return StatusCode::SERVICE_UNAVAILABLE;
            }
            t.lock().unwrap().push((headers, body));
            StatusCode::OK
        }
    };
    let app = axum::Router::new().route(path, axum::routing::post(take));
    runtime.spawn(async move { axum::serve(listener, app).await });
    Loopback {
        url,
        attempts,
        taken,
        _runtime: runtime,
    }
}
