//! Envoy's external authorization, HTTP mode: Envoy sends each client request's
//! method, path and headers to `/v1/ext_authz/…` (its `path_prefix`), and lets the
//! request through only on a 200 answer.
//!
//! The request the policy judges is made from the check's attributes:
//! - a header `x-bylaw-FIELD` (the field's dotted path, any case) sets that field,
//!   its text read by the field's type: `true`/`false`, a decimal number, an RFC 3339
//!   time, an enum member's name, a comma-separated list for a set; a header given
//!   twice for one value is refused;
//! - `request.method`, `request.path` and `request.host`, when the schema declares
//!   them as strings and no header sets them: the checked request's method, its path
//!   (after the prefix, with the query) and its `host` header.
//!
//! Fields nothing sets take the schema's defaults; a required field nothing sets makes
//! the check invalid, and an invalid check is denied (fail closed).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{App, DECISION_ID_HEADER, await_record, decide_encoded};
use crate::ir::FieldType;
use crate::runtime::decision::{Decision, Outcome};
use crate::runtime::record::Leaf;

/// The prefix Envoy's `http_service.path_prefix` points at.
pub const PREFIX: &str = "/v1/ext_authz";
/// Header names that set a field: `x-bylaw-` and the field's path.
pub const FIELD_HEADER: &str = "x-bylaw-";

/// `ANY /v1/ext_authz/{*path}`: 200 allows; 403 denies (and escalates, which needs a
/// person); a suspended service answers `--ext-authz-suspended-status` (default 503)
/// with its fallback in `x-bylaw-fallback`. The outcome, tier and decision id are in
/// `x-bylaw-outcome`, `x-bylaw-tier` and `bylaw-decision-id` either way, the first
/// reason in `x-bylaw-reason`, and a denial's body is the decision as JSON.
pub(super) async fn check(State(app): State<Arc<App>>, request: Request) -> Response {
    if let Err(r) = super::authorize(
        request.headers(),
        app.config.decide_token.as_deref(),
        "deciding",
    ) {
        return r;
    }
    let started = Instant::now();
    let method = request.method().as_str().to_string();
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .strip_prefix(PREFIX)
        .map(|rest| if rest.is_empty() { "/" } else { rest })
        .unwrap_or("/")
        .to_string();
    let headers = request.headers().clone();
    let decide = move |app: &App| {
        let loaded = app.current.load();
        let encoded = encode(&loaded.governor, &headers, &method, &path);
        let (decision, pending) = decide_encoded(app, &loaded, encoded, started);
        // The request was headers, not JSON: the log has the decision alone.
        if let Some(log) = &app.decision_log
            && let Ok(answer) = serde_json::to_vec(&decision)
        {
            log.record(
                axum::body::Bytes::from_static(b"null"),
                answer.into(),
                loaded.sensitive.as_ref(),
            );
        }
        (decision, pending.zip(loaded.governor.store().cloned()))
    };
    let (mut decision, pending) = match super::decide_where_it_may_wait(&app, decide).await {
        Ok(decided) => decided,
        Err(r) => return r,
    };
    if let Some((ticket, store)) = pending
        && let Err(e) = await_record(store, ticket).await
    {
        crate::governance::fail_for_audit(&mut decision, &e);
    }
    answer(&decision, app.config.ext_authz_suspended)
}

/// The check's attributes as a record of the policy's schema.
fn encode(
    governor: &crate::governance::Governor,
    headers: &HeaderMap,
    method: &str,
    path: &str,
) -> Result<crate::runtime::record::Record, Vec<crate::runtime::record::InputError>> {
    let mut builder = governor.guard().record();
    let fields = builder.fields();
    for (slot, field) in fields.iter().enumerate() {
        let name = format!("{FIELD_HEADER}{}", field.path.to_ascii_lowercase());
        let values: Vec<&HeaderValue> = headers.get_all(name.as_str()).iter().collect();
        let texts: Vec<&str> = match values.iter().map(|v| v.to_str()).collect() {
            Ok(texts) => texts,
            Err(_) => {
                builder.refuse(slot, format!("header `{name}` is not visible ASCII"));
                continue;
            }
        };
        let attribute = match field.path.as_str() {
            "request.method" => Some(method),
            "request.path" => Some(path),
            "request.host" => headers.get(header::HOST).and_then(|h| h.to_str().ok()),
            _ => None,
        };
        match (texts.as_slice(), attribute) {
            ([], Some(value)) if field.ty == FieldType::Str => builder.put(slot, Leaf::Str(value)),
            ([], _) => {}
            ([text], _) => builder.put(slot, leaf(&field.ty, text)),
            _ if matches!(field.ty, FieldType::EnumSet(_) | FieldType::StrSet) => {
                let joined = texts.join(",");
                builder.put(slot, leaf(&field.ty, &joined));
            }
            _ => builder.refuse(
                slot,
                format!(
                    "header `{name}` is given {} times for one value",
                    texts.len()
                ),
            ),
        }
    }
    builder.build()
}

/// A header's text as the value of a field of type `ty` (text the type does not take
/// stays text, and the record names what was expected).
fn leaf<'a>(ty: &FieldType, text: &'a str) -> Leaf<'a> {
    let text = text.trim();
    match ty {
        FieldType::Bool => match text {
            "true" => Leaf::Bool(true),
            "false" => Leaf::Bool(false),
            _ => Leaf::Str(text),
        },
        FieldType::Int | FieldType::Duration => text.parse().map_or(Leaf::Str(text), Leaf::Int),
        FieldType::Float | FieldType::Percent => text.parse().map_or(Leaf::Str(text), Leaf::Float),
        FieldType::EnumSet(_) | FieldType::StrSet => Leaf::List(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(Leaf::Str)
                .collect(),
        ),
        FieldType::Str | FieldType::Timestamp | FieldType::Enum(_) => Leaf::Str(text),
    }
}

fn answer(decision: &Decision, suspended_status: StatusCode) -> Response {
    let status = match decision.outcome {
        Outcome::Allow => StatusCode::OK,
        Outcome::Suspended => suspended_status,
        Outcome::Escalate | Outcome::Deny => StatusCode::FORBIDDEN,
    };
    let mut response = if status == StatusCode::OK {
        StatusCode::OK.into_response()
    } else {
        match serde_json::to_vec(decision) {
            Ok(body) => {
                (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
            }
            Err(_) => status.into_response(),
        }
    };
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: &str| {
        // Header values are visible ASCII; a reason in another script is escaped.
        let ascii: String = value
            .chars()
            .flat_map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    vec![c]
                } else {
                    c.escape_unicode().collect()
                }
            })
            .collect();
        if let Ok(v) = HeaderValue::from_str(&ascii) {
            headers.insert(name, v);
        }
    };
    set("x-bylaw-outcome", decision.outcome.as_str());
    if let Some(tier) = &decision.tier {
        set("x-bylaw-tier", tier);
    }
    if let Some(id) = &decision.decision_id {
        set(DECISION_ID_HEADER, id);
    }
    let reason = decision
        .reasons
        .iter()
        .find(|r| r.kind != crate::runtime::decision::ReasonKind::Tier)
        .map(|r| r.message.clone())
        .or_else(|| {
            decision
                .errors
                .first()
                .map(|e| format!("`{}`: {}", e.field, e.message))
        });
    if let Some(reason) = reason {
        set("x-bylaw-reason", &reason);
    }
    if let Some(fallback) = decision.service.as_ref().and_then(|s| s.fallback.as_ref()) {
        set("x-bylaw-fallback", fallback);
    }
    response
}
