//! No input makes Bylaw use unbounded memory or time (issue 23): each bound fed its
//! hostile input, and the bound asserted — by size, never by a timer.

use std::process::Command;

use bylaw::governance::clock::Timestamp;
use bylaw::governance::window::{KeyedWindows, MAX_KEY_BYTES};

use crate::server::{Server, code};

#[test]
fn long_by_keys_are_kept_by_their_hash() {
    let windows = KeyedWindows::new(600, 1000);
    let now = Timestamp::from_secs(1_800_000_000);
    for i in 0..2_000 {
        let key = format!("{i:08}{}", "k".repeat(100_000));
        windows.record(&key, now, true, |_| false);
    }
    assert!(windows.len() <= 1_000 + 64, "{} keys", windows.len());
    assert!(windows.key_bytes() <= windows.len() * (MAX_KEY_BYTES + 1));
    // The same long key finds its own counts again.
    let key = format!("{:08}{}", 1_999, "k".repeat(100_000));
    assert_eq!(windows.peek(&key, now).map(|t| t.hits), Some(1));
    let short = "tenant-1";
    windows.record(short, now, true, |_| false);
    assert_eq!(windows.peek(short, now).map(|t| t.hits), Some(1));
}

#[test]
fn a_file_of_thousands_of_errors_reports_a_hundred_and_counts_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.bylaw");
    std::fs::write(&path, "policy ".repeat(5000)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bylaw"))
        .args(["check", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.len() < 100_000,
        "{} bytes of diagnostics",
        stderr.len()
    );
    assert!(stderr.contains("E0014"), "{stderr}");
    assert!(stderr.contains("too long to quote"), "{stderr}");
    let json = Command::new(env!("CARGO_BIN_EXE_bylaw"))
        .args(["check", "--format", "json", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        json.stdout.len() < 200_000,
        "{} bytes of JSON",
        json.stdout.len()
    );
}

#[test]
fn a_broken_reload_shows_a_bounded_error() {
    let server = Server::start();
    let path = server.dir.path().join("policy.bylaw");
    std::fs::write(&path, "policy ".repeat(5000)).unwrap();
    let v = crate::server::wait_for(&server, "the reload error", |v| {
        !v["reload_error"].is_null()
    });
    let (_, body) = server.get("/v1/policy");
    assert!(body.len() < 100_000, "{} bytes", body.len());
    assert!(
        v["reload_error"]["message"]
            .as_str()
            .unwrap()
            .contains("E0014")
    );
}

#[test]
fn a_batch_past_its_limit_is_refused() {
    let server = Server::start_with(&["--max-batch", "50"]);
    let body = "{}\n".repeat(51);
    let (status, answer) = server.post("/v1/decide/batch", "application/x-ndjson", &body, None);
    assert_eq!(
        (status, code(&answer).as_str()),
        (413, "batch-too-large"),
        "{answer}"
    );
    let (status, answer) = server.post(
        "/v1/decide/batch",
        "application/x-ndjson",
        &"{}\n".repeat(50),
        None,
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer.lines().count(), 50);
}

#[test]
fn an_admin_body_sent_in_chunks_is_read() {
    use std::io::{Read, Write};
    let server = Server::start();
    let (_, policy) = server.get("/v1/policy");
    assert!(policy.contains("genai_chat"));
    let addr = server_addr(&server);
    let body = r#"{"reason": "incident 12", "by": "oscar"}"#;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST /v1/services/chat/suspend HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
         {:x}\r\n{}\r\n{:x}\r\n{}\r\n0\r\n\r\n",
        10,
        &body[..10],
        body.len() - 10,
        &body[10..]
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("oscar"), "{answer}");
}

fn server_addr(server: &Server) -> String {
    let (_, body) = server.get("/healthz");
    assert!(body.contains("ok") || body.contains("degraded"));
    server.base().trim_start_matches("http://").to_string()
}

#[test]
fn slow_clients_are_cut_off_and_the_server_keeps_answering() {
    use std::io::{Read, Write};
    let server = Server::start_with(&["--read-timeout-secs", "1", "--max-connections", "8"]);
    let addr = server_addr(&server);
    // Twenty sockets that start a request head and never finish it: more than the
    // connection limit, each past the head timeout.
    let mut slow: Vec<std::net::TcpStream> = (0..20)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
                .unwrap();
            s
        })
        .collect();
    // Each is closed by the server (end of stream, or an error status first).
    for s in &mut slow[..8] {
        let mut rest = Vec::new();
        let read = s.read_to_end(&mut rest);
        assert!(
            read.is_ok(),
            "the server never closed a slow connection: {read:?}"
        );
    }
    drop(slow);
    let (status, _) = server.get("/healthz");
    assert_eq!(status, 200);
}

/// The server's peak resident memory so far, from `/proc` (Linux).
fn peak_rss_kib(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_batch_answer_streams_in_bounded_memory() {
    let server = Server::start_with(&["--max-body", "1048576"]);
    let body = "{}\n".repeat(10_000);
    // Warm up (allocator arenas, the first decision), then measure.
    server.post("/v1/decide/batch", "application/x-ndjson", "{}\n", None);
    let before = peak_rss_kib(&server);
    let answers: Vec<(u16, String)> = std::thread::scope(|scope| {
        let posts: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| server.post("/v1/decide/batch", "application/x-ndjson", &body, None))
            })
            .collect();
        posts.into_iter().map(|p| p.join().unwrap()).collect()
    });
    let grown = peak_rss_kib(&server) - before;
    eprintln!("peak RSS grew by {grown} KiB");
    let mut bytes = 0;
    for (status, answer) in &answers {
        assert_eq!(*status, 200);
        assert_eq!(answer.lines().count(), 10_000);
        assert!(answer.lines().all(|l| l.contains(r#""outcome":"deny""#)));
        bytes += answer.len();
    }
    assert!(
        bytes > 30 << 20,
        "the answers are {bytes} bytes: big enough to measure"
    );
    assert!(
        grown < 8 << 10,
        "answering {} MB grew the server by {} MB",
        bytes >> 20,
        grown >> 10
    );
}
