//! The HTTP API (axum): health, metrics, and the admin API over sources and runs.
//!
//! **Architecture invariant:** handlers go through `store`; they never build SQL and never
//! write records. Mutating routes need `Authorization: Bearer <admin token>`; without a
//! configured token they are refused. Errors are JSON `{"error": {"code", "message"}}` with a
//! stable code; internal causes are logged, never returned.

mod metrics;
pub mod records;

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::store::{NewSource, SourcePatch, Store, StoreError};

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// Bearer token for mutating routes.
    pub admin_token: Option<Arc<str>>,
}

/// The router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics::render))
        .route("/api/sources", get(list_sources).post(add_source))
        .route(
            "/api/sources/{name}",
            get(show_source).patch(patch_source).delete(delete_source),
        )
        .route("/api/sources/{name}/harvest", post(trigger))
        .route("/api/runs", get(list_runs))
        .route("/api/runs/{id}", get(show_run))
        .merge(records::router())
        .merge(crate::provider::router())
        .with_state(state)
}

/// A JSON error with a stable code.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => Self::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{what} not found"),
            ),
            StoreError::Conflict(_) => {
                Self::new(StatusCode::CONFLICT, "conflict", "already exists")
            }
            other => {
                tracing::error!(error = %other, "database error in API handler");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error",
                )
            }
        }
    }
}

fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = &state.admin_token else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "admin_disabled",
            "no admin token is configured (SHEAF_ADMIN_TOKEN)",
        ));
    };
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    // Constant-time comparison: the token is a secret.
    let ok = given.is_some_and(|g| {
        g.len() == token.len()
            && g.bytes()
                .zip(token.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    });
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong bearer token",
        ))
    }
}

async fn readyz(State(st): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let status = st.store.migration_status().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness check failed");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "database unreachable",
        )
    })?;
    if !status.is_current() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "migrations_pending",
            "database migrations are not current",
        ));
    }
    Ok(Json(serde_json::json!({"status": "ready"})))
}

async fn list_sources(State(st): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let sources = st.store.list_sources().await?;
    Ok(Json(
        serde_json::json!({"items": sources, "next_cursor": null}),
    ))
}

async fn show_source(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<crate::store::Source>, ApiError> {
    st.store
        .source_by_name(&name)
        .await?
        .map(Json)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("source {name:?} not found"),
            )
        })
}

/// Body of `POST /api/sources`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddSource {
    name: String,
    base_url: String,
    #[serde(default = "oai_dc")]
    metadata_prefix: String,
    #[serde(default)]
    sets: Vec<String>,
    schedule: Option<String>,
}

fn oai_dc() -> String {
    "oai_dc".into()
}

async fn add_source(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<AddSource>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<crate::store::Source>), ApiError> {
    authorize(&st, &headers)?;
    let Json(b) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    crate::oai::client::parse_base_url(&b.base_url)
        .map_err(|e| ApiError::bad_request(format!("base_url: {e}")))?;
    if let Some(s) = &b.schedule {
        crate::schedule::CronSchedule::parse(s)
            .map_err(|e| ApiError::bad_request(format!("schedule: {e}")))?;
    }
    let source = st
        .store
        .insert_source(&NewSource {
            name: b.name,
            base_url: b.base_url,
            metadata_prefix: b.metadata_prefix,
            sets: b.sets,
            schedule: b.schedule,
        })
        .await
        .map_err(|e| match e {
            StoreError::Db(_) => {
                ApiError::bad_request("name: use lower-case letters, digits, '.', '_' and '-'")
            }
            other => other.into(),
        })?;
    Ok((StatusCode::CREATED, Json(source)))
}

async fn patch_source(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Result<Json<SourcePatch>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<crate::store::Source>, ApiError> {
    authorize(&st, &headers)?;
    let Json(p) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if let Some(u) = &p.base_url {
        crate::oai::client::parse_base_url(u)
            .map_err(|e| ApiError::bad_request(format!("base_url: {e}")))?;
    }
    if let Some(Some(s)) = &p.schedule {
        crate::schedule::CronSchedule::parse(s)
            .map_err(|e| ApiError::bad_request(format!("schedule: {e}")))?;
    }
    Ok(Json(st.store.update_source(&name, &p).await?))
}

async fn delete_source(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    authorize(&st, &headers)?;
    st.store.remove_source(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Body of `POST /api/sources/{name}/harvest` (optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TriggerBody {
    #[serde(default)]
    full: bool,
    from: Option<String>,
}

async fn trigger(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Option<Json<TriggerBody>>,
) -> Result<(StatusCode, Json<crate::store::Triggered>), ApiError> {
    authorize(&st, &headers)?;
    let b = body.map(|Json(b)| b).unwrap_or_default();
    if let Some(f) = &b.from
        && crate::oai::datestamp::ProtocolDate::parse(f).is_none()
    {
        return Err(ApiError::bad_request(
            "from: use YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ",
        ));
    }
    let source = st.store.source_by_name(&name).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("source {name:?} not found"),
        )
    })?;
    let t = st
        .store
        .trigger(source.id, b.full, b.from.as_deref())
        .await?;
    Ok((StatusCode::ACCEPTED, Json(t)))
}

/// Query of `GET /api/runs`.
#[derive(Debug, Deserialize)]
struct RunsQuery {
    source: Option<String>,
    status: Option<String>,
    limit: Option<i64>,
}

async fn list_runs(
    State(st): State<AppState>,
    q: Result<Query<RunsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let source_id = match &q.source {
        Some(n) => Some(
            st.store
                .source_by_name(n)
                .await?
                .ok_or_else(|| ApiError::bad_request(format!("source: no source named {n:?}")))?
                .id,
        ),
        None => None,
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit: must be between 1 and 1000"));
    }
    let runs = st
        .store
        .filter_runs(source_id, q.status.as_deref(), limit)
        .await?;
    Ok(Json(
        serde_json::json!({"items": runs, "next_cursor": null}),
    ))
}

async fn show_run(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::bad_request("id: must be an integer"))?;
    let run = st.store.run_by_id(id).await?;
    let quarantine = st.store.quarantine_of_run(id).await?;
    let progress = run.complete_list_size.filter(|n| *n > 0).map(|n| {
        let done = run.records_new
            + run.records_updated
            + run.records_unchanged
            + run.records_deleted
            + run.records_failed;
        (done as f64 / n as f64).min(1.0)
    });
    Ok(Json(
        serde_json::json!({"run": run, "progress": progress, "quarantine": quarantine}),
    ))
}

/// Serves `router` on `listener` until `shutdown` is cancelled.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: tokio_util::sync::CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}
