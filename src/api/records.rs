//! The read API over harvested records: search with filters and keyset paging, one record
//! (the contract object), its raw metadata XML, the change feed, and the OpenAPI document
//! of the whole router. All routes are open (read-only).
//!
//! Query parameters are validated here, once, for both this API and `sheaf records
//! search` (`SearchParams::to_query`); a bad one is a 400 naming it.

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use super::{ApiError, AppState};
use crate::contract::{record_json, write_record_json};
use crate::domain::DcValue;
use crate::normalize::TYPE_VOCABULARY;
use crate::store::reads::RecordKey;
use crate::store::search::{IssuedDate, MAX_LIMIT, RecordQuery, SearchCursor};
use crate::store::{Store, StoreError};

/// The OpenAPI 3.1 document of every route `api::router` serves.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Default page size of `/api/records`.
const DEFAULT_LIMIT: i64 = 50;
/// Default page size of `/api/changes`.
const DEFAULT_CHANGES_LIMIT: i64 = 100;
/// Largest page of `/api/changes`: a mirror reads the whole feed, and the page is streamed.
const MAX_CHANGES_LIMIT: i64 = 10_000;
/// Longest text query accepted.
const MAX_Q_CHARS: usize = 500;

/// The routes of this module, merged into `api::router`.
pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/records", get(list))
        .route("/api/records/{id}", get(show))
        .route("/api/records/{id}/raw", get(raw))
        .route("/api/changes", get(changes))
        .route("/api/openapi.json", get(openapi))
}

/// A query parameter that cannot be used; the message starts with its name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{param}: {message}")]
pub struct BadParam {
    /// The parameter, as spelled in the URL.
    pub param: String,
    /// What is wrong and what would be right.
    pub message: String,
}

impl BadParam {
    fn new(param: &str, message: impl Into<String>) -> Self {
        Self {
            param: param.to_owned(),
            message: message.into(),
        }
    }
}

impl IntoResponse for BadParam {
    fn into_response(self) -> Response {
        let body = json!({"error": {
            "code": "bad_request",
            "message": self.to_string(),
            "parameter": self.param,
        }});
        (StatusCode::BAD_REQUEST, Json(body)).into_response()
    }
}

/// An unknown or repeated parameter, named from serde's message.
fn rejected(e: QueryRejection) -> Response {
    let text = e.body_text();
    let name = text.split('`').nth(1).unwrap_or("query").to_owned();
    let message = if text.contains("unknown field") {
        let expected = text.split_once("expected ").map_or("", |(_, s)| s);
        format!("unknown parameter; expected {}", expected.replace('`', ""))
    } else if text.contains("duplicate field") {
        "given more than once".to_owned()
    } else {
        text
    };
    BadParam::new(&name, message).into_response()
}

/// `/api/records` query parameters as sent, all optional strings so that every value
/// problem is reported by name.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// Full-text query.
    pub q: Option<String>,
    /// Source name.
    pub source: Option<String>,
    /// Set spec.
    pub set: Option<String>,
    /// Language (a code or name; unknown ones are matched as given).
    pub language: Option<String>,
    /// Controlled type.
    #[serde(rename = "type")]
    pub record_type: Option<String>,
    /// Issued on or after.
    pub issued_from: Option<String>,
    /// Issued on or before.
    pub issued_until: Option<String>,
    /// DOI in any usual spelling.
    pub doi: Option<String>,
    /// `true` or `false`.
    pub has_doi: Option<String>,
    /// RFC 3339 time or `YYYY-MM-DD`.
    pub updated_since: Option<String>,
    /// 1..=1000.
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// `true` to count all matches.
    pub total: Option<String>,
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn boolean(name: &str, v: &Option<String>) -> Result<Option<bool>, BadParam> {
    match non_empty(v) {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(BadParam::new(
            name,
            format!("{other:?} is not true or false"),
        )),
    }
}

fn limit(v: &Option<String>, default: i64, max: i64) -> Result<i64, BadParam> {
    let Some(s) = non_empty(v) else {
        return Ok(default);
    };
    s.parse::<i64>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| BadParam::new("limit", format!("must be an integer from 1 to {max}")))
}

fn issued(name: &str, v: &Option<String>) -> Result<Option<IssuedDate>, BadParam> {
    non_empty(v)
        .map(|s| {
            IssuedDate::parse(s)
                .ok_or_else(|| BadParam::new(name, "use YYYY, YYYY-MM or YYYY-MM-DD"))
        })
        .transpose()
}

impl SearchParams {
    /// The store query these parameters ask for, or the first bad parameter.
    pub fn to_query(&self) -> Result<RecordQuery, BadParam> {
        let q = non_empty(&self.q).map(str::to_owned);
        if q.as_ref().is_some_and(|q| q.chars().count() > MAX_Q_CHARS) {
            return Err(BadParam::new(
                "q",
                format!("longer than {MAX_Q_CHARS} characters"),
            ));
        }
        let record_type = match non_empty(&self.record_type) {
            None => None,
            Some(t) => {
                let t = t.to_ascii_lowercase();
                if !TYPE_VOCABULARY.contains(&t.as_str()) {
                    return Err(BadParam::new(
                        "type",
                        format!("{t:?} is not one of {}", TYPE_VOCABULARY.join(", ")),
                    ));
                }
                Some(t)
            }
        };
        let doi = non_empty(&self.doi)
            .map(|d| {
                canonical(DcValue::dc("identifier", d))
                    .doi
                    .ok_or_else(|| BadParam::new("doi", "not a DOI (10.NNNN/…)"))
            })
            .transpose()?;
        let updated_since = non_empty(&self.updated_since)
            .map(|s| {
                crate::oai::datestamp::ProtocolDate::parse(s)
                    .map(|d| d.instant)
                    .ok_or_else(|| {
                        BadParam::new("updated_since", "use YYYY-MM-DD or an RFC 3339 time")
                    })
            })
            .transpose()?;
        let cursor = non_empty(&self.cursor)
            .map(|c| {
                let parsed: SearchCursor = c
                    .parse()
                    .map_err(|e| BadParam::new("cursor", format!("{e}")))?;
                // A cursor keeps its page order: relevance with q, id without.
                match (parsed, q.is_some()) {
                    (SearchCursor::Id(_), false) | (SearchCursor::Rank { .. }, true) => Ok(parsed),
                    _ => Err(BadParam::new(
                        "cursor",
                        "belongs to a query with a different q; keep the other parameters unchanged",
                    )),
                }
            })
            .transpose()?;
        Ok(RecordQuery {
            q,
            source: non_empty(&self.source).map(str::to_owned),
            set: non_empty(&self.set).map(str::to_owned),
            // Codes are stored canonical (`ru`); unknown spellings are matched as given.
            language: non_empty(&self.language).map(|l| {
                canonical(DcValue::dc("language", l))
                    .languages
                    .into_iter()
                    .next()
                    .unwrap_or_else(|| l.to_lowercase())
            }),
            record_type,
            issued_from: issued("issued_from", &self.issued_from)?,
            issued_until: issued("issued_until", &self.issued_until)?,
            doi,
            has_doi: boolean("has_doi", &self.has_doi)?,
            updated_since,
            limit: limit(&self.limit, DEFAULT_LIMIT, MAX_LIMIT)?,
            cursor,
            with_total: boolean("total", &self.total)?.unwrap_or(false),
        })
    }
}

/// A parameter read exactly as the harvest reads the same DC element, so it compares
/// equal to what is stored.
fn canonical(value: DcValue) -> crate::normalize::NormalizedRecord {
    crate::normalize::normalize(&[value]).record
}

fn record_id(s: &str) -> Result<i64, BadParam> {
    s.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| BadParam::new("id", "must be a positive integer"))
}

fn not_found(what: String) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", what)
}

async fn list(
    State(st): State<AppState>,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Json<Value>, Response> {
    let Query(params) = params.map_err(rejected)?;
    let query = params.to_query().map_err(IntoResponse::into_response)?;
    if let Some(name) = &query.source
        && st
            .store
            .source_by_name(name)
            .await
            .map_err(|e| ApiError::from(e).into_response())?
            .is_none()
    {
        return Err(BadParam::new("source", format!("no source named {name:?}")).into_response());
    }
    let page = st
        .store
        .search_records(&query)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    let mut body = json!({
        "items": page.items.iter().map(record_json).collect::<Vec<_>>(),
        "next_cursor": page.next_cursor.map(|c| c.to_string()),
    });
    if let Some(total) = page.total {
        body["total"] = total.into();
    }
    Ok(Json(body))
}

async fn show(State(st): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, Response> {
    let id = record_id(&id).map_err(IntoResponse::into_response)?;
    let rows = st
        .store
        .find_records(&RecordKey::Id(id))
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    rows.first()
        .map(|r| Json(record_json(r)))
        .ok_or_else(|| not_found(format!("record {id} not found")).into_response())
}

async fn raw(State(st): State<AppState>, Path(id): Path<String>) -> Result<Response, Response> {
    let id = record_id(&id).map_err(IntoResponse::into_response)?;
    let found = st
        .store
        .raw_metadata(id)
        .await
        .map_err(|e| ApiError::from(e).into_response())?
        .ok_or_else(|| not_found(format!("record {id} not found")).into_response())?;
    match found.raw_metadata {
        Some(xml) if !found.deleted => Ok((
            [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
            xml,
        )
            .into_response()),
        _ if found.deleted => Err(ApiError::new(
            StatusCode::GONE,
            "deleted",
            format!("record {id} is deleted; its metadata is gone"),
        )
        .into_response()),
        _ => Err(not_found(format!("record {id} has no stored metadata")).into_response()),
    }
}

/// `/api/changes` query parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangesParams {
    since: Option<String>,
    limit: Option<String>,
}

async fn changes(
    State(st): State<AppState>,
    params: Result<Query<ChangesParams>, QueryRejection>,
) -> Result<Response, Response> {
    let Query(p) = params.map_err(rejected)?;
    let since = match non_empty(&p.since) {
        None => 0,
        Some(s) => s.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            BadParam::new(
                "since",
                "must be 0 or a next_cursor / change_seq from this feed",
            )
            .into_response()
        })?,
    };
    let limit = limit(&p.limit, DEFAULT_CHANGES_LIMIT, MAX_CHANGES_LIMIT)
        .map_err(IntoResponse::into_response)?;
    // The page is written while PostgreSQL sends it, so reading, writing and the client's
    // receiving overlap and a page of any size takes one chunk of memory. The first row (or
    // error) decides the status; an error after it aborts the body, so a client never
    // takes a cut-off page for a whole one (the JSON does not close).
    let (started_tx, started) = oneshot::channel();
    let (chunks_tx, chunks) = mpsc::channel(CHUNKS_IN_FLIGHT);
    tokio::spawn(write_changes(
        st.store.clone(),
        since,
        limit,
        started_tx,
        chunks_tx,
    ));
    match started.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(ApiError::from(e).into_response()),
        Err(_) => return Err(internal_error()),
    }
    let body = Body::from_stream(futures_util::stream::unfold(chunks, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    }));
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// Bytes buffered before a chunk of the change feed goes to the client.
const CHUNK_BYTES: usize = 256 * 1024;
/// Chunks written ahead of the client.
const CHUNKS_IN_FLIGHT: usize = 4;
/// How long a chunk may wait for a client that does not read, holding a database
/// connection, before the response is abandoned.
const CLIENT_STALL: std::time::Duration = std::time::Duration::from_secs(60);

type Chunk = Result<Bytes, std::io::Error>;

/// Chunk buffers kept for the next chunk once hyper has written them. A fresh 256 KB
/// buffer per chunk is fresh memory from the kernel, a page fault per 4 KB written: an
/// eighth of sheaf's CPU in the feed.
static CHUNK_POOL: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());
/// Buffers the pool keeps (4.3 MB): a few pages being written at once.
const POOLED_CHUNKS: usize = 16;

fn chunk_buffer() -> Vec<u8> {
    let pooled = CHUNK_POOL.lock().ok().and_then(|mut pool| pool.pop());
    pooled.unwrap_or_else(|| Vec::with_capacity(CHUNK_BYTES + 16 * 1024))
}

/// A written chunk; its buffer returns to `CHUNK_POOL` when the response drops it.
struct PooledChunk(Vec<u8>);

impl AsRef<[u8]> for PooledChunk {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for PooledChunk {
    fn drop(&mut self) {
        let mut buf = std::mem::take(&mut self.0);
        buf.clear();
        if let Ok(mut pool) = CHUNK_POOL.lock()
            && pool.len() < POOLED_CHUNKS
        {
            pool.push(buf);
        }
    }
}

fn pooled(buf: Vec<u8>) -> Bytes {
    Bytes::from_owner(PooledChunk(buf))
}

/// Writes one page of the change feed as `{"items": [...], "next_cursor": ...}` chunks.
async fn write_changes(
    store: Store,
    since: i64,
    limit: i64,
    started: oneshot::Sender<Result<(), StoreError>>,
    chunks: mpsc::Sender<Chunk>,
) {
    let send = |chunk: Chunk| chunks.send_timeout(chunk, CLIENT_STALL);
    let mut rows = store.change_rows(since, limit);
    let mut started = Some(started);
    let mut buf = chunk_buffer();
    buf.extend_from_slice(b"{\"items\":[");
    let (mut written, mut last, mut more) = (0i64, None, false);
    while let Some(next) = rows.next().await {
        let c = match next {
            Ok(c) => c,
            Err(e) => {
                match started.take() {
                    Some(s) => {
                        let _ = s.send(Err(e));
                    }
                    None => {
                        tracing::error!(error = %e, "reading the change feed");
                        let _ = send(Err(std::io::Error::other(e))).await;
                    }
                }
                return;
            }
        };
        if let Some(s) = started.take()
            && s.send(Ok(())).is_err()
        {
            return;
        }
        if written == limit {
            more = true;
            continue;
        }
        if written > 0 {
            buf.push(b',');
        }
        let written_seq = c
            .change()
            .map_err(std::io::Error::other)
            .and_then(|(seq, row)| {
                write_record_json(&mut buf, &row, Some(("change_seq", seq)))
                    .map(|()| seq)
                    .map_err(std::io::Error::other)
            });
        match written_seq {
            Ok(seq) => last = Some(seq),
            Err(e) => {
                tracing::error!(error = %e, "writing the change feed");
                let _ = send(Err(e)).await;
                return;
            }
        }
        written += 1;
        if buf.len() >= CHUNK_BYTES {
            let full = std::mem::replace(&mut buf, chunk_buffer());
            if send(Ok(pooled(full))).await.is_err() {
                return;
            }
        }
    }
    if let Some(s) = started.take()
        && s.send(Ok(())).is_err()
    {
        return;
    }
    buf.extend_from_slice(b"],\"next_cursor\":");
    match last.filter(|_| more) {
        Some(seq) => {
            buf.push(b'"');
            buf.extend_from_slice(seq.to_string().as_bytes());
            buf.push(b'"');
        }
        None => buf.extend_from_slice(b"null"),
    }
    buf.push(b'}');
    let _ = send(Ok(pooled(buf))).await;
}

fn internal_error() -> Response {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal error",
    )
    .into_response()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Result<RecordQuery, BadParam> {
        let qs = pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let p: SearchParams = serde_json::from_value(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), Value::from(*v)))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        )
        .unwrap_or_else(|e| panic!("{qs}: {e}"));
        p.to_query()
    }

    #[test]
    fn values_are_canonicalised() {
        let q = params(&[
            ("language", "Russian"),
            ("doi", "https://doi.org/10.1234/ABC"),
            ("type", "Article"),
            ("issued_from", "2022"),
            ("has_doi", "true"),
            ("q", "  "),
        ])
        .unwrap();
        assert_eq!(q.language.as_deref(), Some("ru"));
        assert_eq!(q.doi.as_deref(), Some("10.1234/abc"));
        assert_eq!(q.record_type.as_deref(), Some("article"));
        assert_eq!(q.issued_from.as_ref().map(IssuedDate::as_str), Some("2022"));
        assert_eq!((q.has_doi, q.q, q.limit), (Some(true), None, DEFAULT_LIMIT));
        assert_eq!(
            params(&[("language", "xx-klingon")])
                .unwrap()
                .language
                .as_deref(),
            Some("xx-klingon")
        );
    }

    #[test]
    fn bad_values_name_their_parameter() {
        // The integration tests cover every parameter over HTTP; here the edge cases.
        for (k, v) in [
            ("limit", "-1"),
            ("issued_from", "2023-02-29"),
            ("cursor", "r7f800000.5"),
            ("has_doi", "TRUE"),
        ] {
            assert_eq!(
                params(&[(k, v)]).map(|_| ()).unwrap_err().param,
                k,
                "{k}={v}"
            );
        }
        // A relevance cursor without q, an id cursor with q.
        assert_eq!(
            params(&[("q", "x"), ("cursor", "i5")]).unwrap_err().param,
            "cursor"
        );
        assert!(params(&[("q", "x"), ("cursor", "r3f800000.5")]).is_ok());
    }
}
