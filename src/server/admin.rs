//! The admin API: the kill switch, recovery, reports, blocks and the audit log. Every
//! call needs the admin token; every change is made through a `replay::Command`, as
//! `bylaw ctl` and `bylaw replay` make it, and audited with who and why.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{App, admin, body_bytes, count_events, error, json_response, read_body};
use crate::governance::GovernError;
use crate::governance::clock::{Clock, SystemClock};
use crate::governance::replay::Command;
use crate::governance::store::Store;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AdminBody {
    #[serde(default)]
    by: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    role: Option<String>,
}

/// Parses an admin call's optional JSON body, however it is framed (a length or
/// chunks): an empty body, with no content type, means no fields.
async fn admin_body(app: &App, request: Request) -> Result<AdminBody, Response> {
    admin(app, request.headers())?;
    let declared_empty = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .is_some_and(|v| v == "0");
    let typed = request.headers().contains_key(header::CONTENT_TYPE);
    if declared_empty || !typed {
        // Without a content type the body must be empty; read it to know.
        let bytes = body_bytes(app, request).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(AdminBody::default());
        }
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "an admin body is JSON: send `content-type: application/json`",
        ));
    }
    let bytes = read_body(app, request, &["application/json"]).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(AdminBody::default());
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| error(StatusCode::BAD_REQUEST, "malformed-json", e.to_string()))
}

fn run_command(app: &App, command: Command) -> Response {
    let loaded = app.current.load();
    match command.apply(&loaded.governor, SystemClock.now()) {
        Ok(events) => {
            count_events(app, &events);
            // The change is in effect here and, with a state store, durable before this
            // answer; `redis` says whether the other replicas' store has it yet.
            let redis = app.shared.as_ref().map(|s| match s.pending() {
                0 => "acknowledged".to_string(),
                n => {
                    format!("pending: {n} write(s) are retried every second until Redis takes them")
                }
            });
            let durable = app.store.is_some();
            json_response(
                StatusCode::OK,
                &json!({ "events": events, "durable": durable, "redis": redis }),
            )
        }
        Err(GovernError::Refused(m)) => error(StatusCode::CONFLICT, "refused", m),
        Err(GovernError::Unknown(m)) => error(StatusCode::NOT_FOUND, "unknown", m),
        Err(GovernError::Store(e)) => {
            error(StatusCode::SERVICE_UNAVAILABLE, "store", e.to_string())
        }
    }
}

fn who(body: &AdminBody) -> String {
    body.by.clone().unwrap_or_else(|| "admin-api".into())
}

pub(super) async fn suspend(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    request: Request,
) -> Response {
    let body = match admin_body(&app, request).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(reason) = body.reason.clone() else {
        return error(
            StatusCode::BAD_REQUEST,
            "missing-reason",
            "say why: {\"reason\": \"…\", \"by\": \"…\"}",
        );
    };
    run_command(
        &app,
        Command::Suspend {
            service: name,
            by: who(&body),
            reason,
        },
    )
}

pub(super) async fn resume(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    request: Request,
) -> Response {
    match admin_body(&app, request).await {
        Ok(body) => run_command(
            &app,
            Command::Resume {
                service: name,
                by: who(&body),
            },
        ),
        Err(r) => r,
    }
}

pub(super) async fn approve(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    request: Request,
) -> Response {
    let body = match admin_body(&app, request).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(by) = body.by.clone() else {
        return error(
            StatusCode::BAD_REQUEST,
            "missing-approver",
            "an approval names its approver: {\"by\": \"…\"}",
        );
    };
    run_command(
        &app,
        Command::Approve {
            service: name,
            by,
            role: body.role.clone(),
        },
    )
}

pub(super) async fn status(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Err(r) = admin(&app, &headers) {
        return r;
    }
    // A query: what time has changed is shown, not recorded (as `bylaw ctl status`).
    json_response(
        StatusCode::OK,
        &app.current.load().governor.view(SystemClock.now()),
    )
}

#[derive(Debug, Deserialize)]
pub(super) struct ReportsQuery {
    #[serde(default)]
    overdue: bool,
}

/// `GET /v1/reports[?overdue=true]`: every report, or the open ones past their
/// deadline.
pub(super) async fn reports(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    query: Result<Query<ReportsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(r) = admin(&app, &headers) {
        return r;
    }
    let Ok(Query(query)) = query else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad-query",
            "`overdue` is true or false",
        );
    };
    json_response(
        StatusCode::OK,
        &app.current
            .load()
            .governor
            .reports(SystemClock.now(), query.overdue),
    )
}

/// Most audit records one `GET /v1/audit` returns.
const AUDIT_PAGE_MAX: usize = 10_000;

#[derive(Debug, Deserialize)]
pub(super) struct AuditQuery {
    since: Option<u64>,
    limit: Option<usize>,
}

fn audit_store(app: &App) -> Result<Arc<Store>, Response> {
    app.store.clone().ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            "no-audit-log",
            "this server keeps no audit log: start it with --state FILE",
        )
    })
}

/// `GET /v1/audit?since=SEQ&limit=N`: records from `since` on (default 1), at most
/// `limit` (default and most 10,000), as JSON lines; ask again from the last `seq` + 1.
pub(super) async fn audit_log(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(r) = admin(&app, &headers) {
        return r;
    }
    let Ok(Query(query)) = query else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad-query",
            "`since` and `limit` are non-negative integers",
        );
    };
    let store = match audit_store(&app) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let since = query.since.unwrap_or(1);
    let limit = query.limit.unwrap_or(AUDIT_PAGE_MAX).min(AUDIT_PAGE_MAX);
    let read = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        let mut encoded = Ok(());
        store.each_record(since, limit, |record| {
            encoded = serde_json::to_writer(&mut out, &record);
            out.push(b'\n');
            encoded.is_ok()
        })?;
        encoded.map_err(|e| crate::governance::store::StoreError(e.to_string()))?;
        Ok::<_, crate::governance::store::StoreError>(out)
    })
    .await;
    match read {
        Ok(Ok(out)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/x-ndjson")],
            Body::from(out),
        )
            .into_response(),
        Ok(Err(e)) => error(StatusCode::SERVICE_UNAVAILABLE, "store", e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    }
}

/// `GET /v1/audit/verify`: the whole chain checked, as `bylaw audit verify` does.
pub(super) async fn audit_verify(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Err(r) = admin(&app, &headers) {
        return r;
    }
    let store = match audit_store(&app) {
        Ok(s) => s,
        Err(r) => return r,
    };
    match tokio::task::spawn_blocking(move || store.verify()).await {
        Ok(Ok(check)) => {
            let ok = check.problems.is_empty();
            json_response(StatusCode::OK, &json!({ "ok": ok, "verification": check }))
        }
        Ok(Err(e)) => error(StatusCode::SERVICE_UNAVAILABLE, "store", e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    }
}

/// `POST /v1/reports/ID/acknowledge|file|close` with `{"by": "…"}`.
pub(super) async fn report_step(
    State(app): State<Arc<App>>,
    Path((id, step)): Path<(String, String)>,
    request: Request,
) -> Response {
    let body = match admin_body(&app, request).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Ok(report) = id.parse::<u64>() else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad-report-id",
            format!("`{id}` is not a report number"),
        );
    };
    let by = who(&body);
    let command = match step.as_str() {
        "acknowledge" => Command::Acknowledge { report, by },
        "file" => Command::File { report, by },
        "close" => Command::Close { report, by },
        other => {
            return error(
                StatusCode::NOT_FOUND,
                "not-found",
                format!("a report is acknowledged, filed or closed, not `{other}`"),
            );
        }
    };
    run_command(&app, command)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BlockBody {
    field: String,
    key: String,
    #[serde(rename = "for")]
    for_: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    by: Option<String>,
}

pub(super) async fn block(State(app): State<Arc<App>>, request: Request) -> Response {
    if let Err(r) = admin(&app, request.headers()) {
        return r;
    }
    let bytes = match read_body(&app, request, &["application/json"]).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let body: BlockBody = match serde_json::from_slice(&bytes) {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, "malformed-json", e.to_string()),
    };
    run_command(
        &app,
        Command::Block {
            field: body.field,
            key: body.key,
            for_: body.for_,
            by: body.by.unwrap_or_else(|| "admin-api".into()),
            reason: body.reason,
        },
    )
}

pub(super) async fn unblock(
    State(app): State<Arc<App>>,
    Path((field, key)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admin(&app, &headers) {
        return r;
    }
    run_command(
        &app,
        Command::Unblock {
            field,
            key,
            by: "admin-api".into(),
        },
    )
}
