//! OpenTelemetry traces from a real `bylaw serve --otlp-endpoint`, to a loopback
//! collector: a request with a W3C `traceparent` is a span of the caller's trace, one
//! without starts its own, and a collector that is down costs dropped spans, never
//! decisions.

use std::time::{Duration, Instant};

use serde_json::Value;

use bylaw::server::otlp::Parent;

use crate::replay::chat_request;
use crate::server::Server;

/// Every span the collector took, across the batches it was sent.
fn spans(collector: &crate::server::Loopback) -> Vec<Value> {
    let mut out = Vec::new();
    for (headers, body) in collector.taken.lock().unwrap().iter() {
        assert_eq!(headers["content-type"], "application/json");
        let request: Value = serde_json::from_str(body).unwrap();
        for resource in request["resourceSpans"].as_array().unwrap() {
            let attributes = resource["resource"]["attributes"].as_array().unwrap();
            assert!(
                attributes.iter().any(
                    |a| a["key"] == "service.name" && a["value"]["stringValue"] == "chat-guard"
                ),
                "{resource}"
            );
            for scope in resource["scopeSpans"].as_array().unwrap() {
                out.extend(scope["spans"].as_array().unwrap().iter().cloned());
            }
        }
    }
    out
}

fn attribute<'a>(span: &'a Value, key: &str) -> &'a Value {
    span["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == key)
        .map_or(&Value::Null, |a| &a["value"])
}

#[test]
fn a_decision_is_a_span_of_the_callers_trace() {
    let collector = crate::server::loopback("/v1/traces", 0);
    let server = Server::start_with(&[
        "--otlp-endpoint",
        &collector.url,
        "--otlp-service-name",
        "chat-guard",
        "--otlp-flush-ms",
        "20",
    ]);
    let request = chat_request(1, 0.0, 0.1, None).to_string();
    let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let (status, headers, _) =
        server.post_with_headers("/v1/decide", &request, &[("traceparent", parent)]);
    assert_eq!(status, 200);
    let decision_id = headers["bylaw-decision-id"].to_str().unwrap().to_string();
    // No traceparent, and a malformed one: each a trace of its own.
    server.post_with_headers("/v1/decide", &request, &[]);
    server.post_with_headers("/v1/decide", &request, &[("traceparent", "00-zz-00-01")]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while spans(&collector).len() < 3 {
        assert!(Instant::now() < deadline, "spans did not arrive");
        std::thread::sleep(Duration::from_millis(20));
    }
    let spans = spans(&collector);
    let child = spans
        .iter()
        .find(|s| s["traceId"] == "4bf92f3577b34da6a3ce929d0e0e4736")
        .unwrap_or_else(|| panic!("{spans:?}"));
    assert_eq!(child["parentSpanId"], "00f067aa0ba902b7", "{child}");
    assert_eq!(child["name"], "POST /v1/decide");
    assert_eq!(child["kind"], 2);
    assert_eq!(
        attribute(child, "bylaw.decision_id")["stringValue"],
        decision_id.as_str()
    );
    assert_eq!(
        attribute(child, "http.response.status_code")["intValue"],
        "200"
    );
    let span_id = child["spanId"].as_str().unwrap();
    assert_eq!(span_id.len(), 16);
    assert_ne!(span_id, "00f067aa0ba902b7");
    let start: u64 = child["startTimeUnixNano"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let end: u64 = child["endTimeUnixNano"].as_str().unwrap().parse().unwrap();
    assert!(start > 0 && end >= start, "{child}");
    let roots: Vec<&Value> = spans
        .iter()
        .filter(|s| s["traceId"] != "4bf92f3577b34da6a3ce929d0e0e4736")
        .collect();
    assert_eq!(roots.len(), 2, "{spans:?}");
    for root in &roots {
        assert!(root.get("parentSpanId").is_none(), "{root}");
        assert_eq!(root["traceId"].as_str().unwrap().len(), 32);
    }
    assert_ne!(roots[0]["traceId"], roots[1]["traceId"]);
    // The exporter counts a batch once the collector has answered it.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, health) = server.get("/healthz");
        let health: Value = serde_json::from_str(&health).unwrap();
        if health["tracing"]["exported"] == 3 {
            assert_eq!(health["status"], "ok", "{health}");
            assert!(health["tracing"]["failing"].is_null(), "{health}");
            break;
        }
        assert!(Instant::now() < deadline, "{health}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_collector_that_is_down_costs_spans_not_decisions() {
    let dead = {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/v1/traces", port.local_addr().unwrap())
    };
    let server = Server::start_with(&["--otlp-endpoint", &dead, "--otlp-flush-ms", "10"]);
    for i in 0..20 {
        let d = server.decide(&chat_request(i, 0.0, 0.1, None));
        assert_eq!(d["outcome"], "allow");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, health) = server.get("/healthz");
        let health: Value = serde_json::from_str(&health).unwrap();
        if health["tracing"]["dropped"].as_u64().unwrap_or(0) >= 20 {
            assert!(health["tracing"]["failing"].is_string(), "{health}");
            break;
        }
        assert!(Instant::now() < deadline, "{health}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn traceparent_is_read_as_the_recommendation_says() {
    let p = Parent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
    assert_eq!(hex::encode(p.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(hex::encode(p.span_id), "00f067aa0ba902b7");
    assert!(p.sampled);
    for bad in [
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
    ] {
        assert_eq!(Parent::parse(bad), None, "{bad}");
    }
    // A later version: its first four fields.
    assert!(
        Parent::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-more").is_some()
    );
}
