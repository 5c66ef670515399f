//! The admin HTTP API against a real database: health, metrics, sources, triggers, runs,
//! authentication and error shapes.

mod common;

use common::db::TestDb;
use common::fake_provider::install_crypto_provider;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

struct Api {
    base: String,
    http: reqwest::Client,
    _shutdown: tokio_util::sync::DropGuard,
}

async fn start(db: &TestDb, token: Option<&str>) -> Api {
    install_crypto_provider();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = sheaf::api::AppState {
        store: db.store.clone(),
        admin_token: token.map(Into::into),
    };
    let shutdown = CancellationToken::new();
    tokio::spawn(sheaf::api::serve(listener, state, shutdown.clone()));
    Api {
        base,
        http: reqwest::Client::new(),
        _shutdown: shutdown.drop_guard(),
    }
}

impl Api {
    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

/// Liveness, readiness and metrics answer without authentication.
#[tokio::test]
async fn health_readiness_and_metrics() {
    let db = TestDb::new().await;
    let api = start(&db, None).await;
    assert_eq!(api.get("/healthz").await.0, StatusCode::OK);
    let (status, body) = api.get("/readyz").await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ready"))
    );
    common::harness::add_source(&db.store, "j1", "http://127.0.0.1:9/oai", &[]).await;
    db.store.trigger(1, false, None).await.unwrap();
    let (status, body) = api.get("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let text = body.as_str().unwrap();
    assert!(text.contains("sheaf_queue_queued_runs 1"), "{text}");
    assert!(
        text.contains("sheaf_runs{source=\"j1\",status=\"queued\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("sheaf_records_stored{source=\"j1\",outcome=\"live\"} 0"),
        "{text}"
    );
    assert!(text.trim_end().ends_with("# EOF"));
}

/// Readiness fails while migrations are pending.
#[tokio::test]
async fn readiness_fails_on_pending_migrations() {
    let db = TestDb::empty().await;
    let api = start(&db, None).await;
    let (status, body) = api.get("/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "migrations_pending");
}

/// Mutating routes need the configured bearer token; without a configured token they are
/// refused outright.
#[tokio::test]
async fn mutations_require_the_admin_token() {
    let db = TestDb::new().await;
    let body = json!({"name": "j1", "base_url": "https://j.example/oai"});
    let closed = start(&db, None).await;
    let (status, b) = closed
        .send(
            reqwest::Method::POST,
            "/api/sources",
            Some("anything"),
            Some(body.clone()),
        )
        .await;
    assert_eq!(
        (status, b["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("admin_disabled"))
    );

    let api = start(&db, Some("s3cret")).await;
    for token in [None, Some("wrong"), Some("s3cre"), Some("s3cret2")] {
        let (status, b) = api
            .send(
                reqwest::Method::POST,
                "/api/sources",
                token,
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            (status, b["error"]["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("unauthorized")),
            "{token:?}"
        );
    }
    for (method, path) in [
        (reqwest::Method::PATCH, "/api/sources/j1"),
        (reqwest::Method::DELETE, "/api/sources/j1"),
        (reqwest::Method::POST, "/api/sources/j1/harvest"),
    ] {
        assert_eq!(
            api.send(method, path, None, None).await.0,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
    assert!(db.store.list_sources().await.unwrap().is_empty());
}

/// Sources can be added, listed, shown, changed and removed; triggers return a run id
/// with 202, and a second trigger joins the first.
#[tokio::test]
async fn sources_runs_and_triggers() {
    let db = TestDb::new().await;
    let api = start(&db, Some("t")).await;
    let post = |b: Value| api.send(reqwest::Method::POST, "/api/sources", Some("t"), Some(b));
    let (status, s) = post(json!({"name": "j1", "base_url": "https://j.example/oai", "sets": ["a"], "schedule": "0 3 * * 1-5"})).await;
    assert_eq!(status, StatusCode::CREATED, "{s}");
    assert_eq!(
        (s["name"].as_str(), s["metadata_prefix"].as_str()),
        (Some("j1"), Some("oai_dc"))
    );
    let (status, e) = post(json!({"name": "j1", "base_url": "https://j.example/oai"})).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("conflict"))
    );
    for (bad, field) in [
        (json!({"name": "j2", "base_url": "ftp://x/oai"}), "base_url"),
        (
            json!({"name": "j2", "base_url": "https://x/oai", "schedule": "every day"}),
            "schedule",
        ),
        (json!({"name": "J 2", "base_url": "https://x/oai"}), "name"),
        (
            json!({"name": "j2", "base_url": "https://x/oai", "bogus": 1}),
            "bogus",
        ),
    ] {
        let (status, e) = post(bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(
            e["error"]["message"].as_str().unwrap().contains(field),
            "{bad}: {e}"
        );
    }

    let (status, list) = api.get("/api/sources").await;
    assert_eq!(
        (status, list["items"].as_array().unwrap().len()),
        (StatusCode::OK, 1)
    );
    assert_eq!(list["next_cursor"], Value::Null);
    let (status, patched) = api
        .send(
            reqwest::Method::PATCH,
            "/api/sources/j1",
            Some("t"),
            Some(json!({"enabled": false, "schedule": null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (patched["enabled"].as_bool(), &patched["schedule"]),
        (Some(false), &Value::Null)
    );
    assert_eq!(
        api.send(
            reqwest::Method::PATCH,
            "/api/sources/nope",
            Some("t"),
            Some(json!({"enabled": true}))
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );

    let (status, t) = api
        .send(
            reqwest::Method::POST,
            "/api/sources/j1/harvest",
            Some("t"),
            Some(json!({"full": true})),
        )
        .await;
    assert_eq!(
        (status, t["merged"].as_bool()),
        (StatusCode::ACCEPTED, Some(false))
    );
    let run_id = t["run_id"].as_i64().unwrap();
    let (_, t2) = api
        .send(
            reqwest::Method::POST,
            "/api/sources/j1/harvest",
            Some("t"),
            None,
        )
        .await;
    assert_eq!(
        (t2["run_id"].as_i64(), t2["merged"].as_bool()),
        (Some(run_id), Some(true))
    );
    let (status, e) = api
        .send(
            reqwest::Method::POST,
            "/api/sources/j1/harvest",
            Some("t"),
            Some(json!({"from": "21.06.2022"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(e["error"]["message"].as_str().unwrap().starts_with("from"));

    let (status, runs) = api.get("/api/runs?source=j1&status=queued").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(runs["items"][0]["id"].as_i64(), Some(run_id));
    assert_eq!(runs["items"][0]["full_harvest"].as_bool(), Some(true));
    let (status, run) = api.get(&format!("/api/runs/{run_id}")).await;
    assert_eq!(
        (status, run["run"]["status"].as_str()),
        (StatusCode::OK, Some("queued"))
    );
    assert_eq!(api.get("/api/runs/999999").await.0, StatusCode::NOT_FOUND);
    let (status, e) = api.get("/api/runs/abc").await;
    assert_eq!(
        (
            status,
            e["error"]["message"].as_str().map(|m| m.starts_with("id"))
        ),
        (StatusCode::BAD_REQUEST, Some(true))
    );
    let (status, e) = api.get("/api/runs?limit=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(e["error"]["message"].as_str().unwrap().starts_with("limit"));

    assert_eq!(
        api.send(reqwest::Method::DELETE, "/api/sources/j1", Some("t"), None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(api.get("/api/sources/j1").await.0, StatusCode::NOT_FOUND);
}
