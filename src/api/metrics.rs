//! `GET /metrics` in Prometheus text format, computed from the database at scrape time so
//! every worker reports the same truth.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::{ApiError, AppState};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    source: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    source: String,
    outcome: String,
}

pub(super) async fn render(State(st): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let snap = st.store.metrics_snapshot().await?;
    let mut reg = Registry::with_prefix("sheaf");
    let runs = Family::<RunLabels, Gauge>::default();
    let records = Family::<OutcomeLabels, Gauge>::default();
    let pages = Family::<SourceLabels, Gauge>::default();
    let bytes = Family::<SourceLabels, Gauge>::default();
    let retries = Family::<SourceLabels, Gauge>::default();
    let duration = Family::<SourceLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    let stored = Family::<OutcomeLabels, Gauge>::default();
    let leased = Family::<SourceLabels, Gauge>::default();
    let queued = Gauge::<i64>::default();
    let due = Gauge::<i64>::default();
    for r in &snap.runs {
        let src = SourceLabels {
            source: r.source.clone(),
        };
        runs.get_or_create(&RunLabels {
            source: r.source.clone(),
            status: r.status.clone(),
        })
        .set(r.count);
        if r.status != "queued" {
            for (outcome, n) in [
                ("new", r.new),
                ("updated", r.updated),
                ("unchanged", r.unchanged),
                ("deleted", r.deleted),
                ("failed", r.failed),
            ] {
                records
                    .get_or_create(&OutcomeLabels {
                        source: r.source.clone(),
                        outcome: outcome.into(),
                    })
                    .inc_by(n);
            }
            pages.get_or_create(&src).inc_by(r.pages);
            bytes.get_or_create(&src).inc_by(r.bytes);
            retries.get_or_create(&src).inc_by(r.retries);
            let d = duration.get_or_create(&src);
            d.set(d.get() + r.duration_secs);
        }
    }
    for s in &snap.sources {
        stored
            .get_or_create(&OutcomeLabels {
                source: s.name.clone(),
                outcome: "live".into(),
            })
            .set(s.live);
        stored
            .get_or_create(&OutcomeLabels {
                source: s.name.clone(),
                outcome: "deleted".into(),
            })
            .set(s.deleted);
        leased
            .get_or_create(&SourceLabels {
                source: s.name.clone(),
            })
            .set(i64::from(s.leased));
    }
    queued.set(snap.queued);
    due.set(snap.due);
    reg.register("runs", "Harvest runs by source and status", runs);
    reg.register(
        "run_records",
        "Records processed by finished and running runs, by outcome",
        records,
    );
    reg.register("run_pages", "Pages committed by runs", pages);
    reg.register("run_bytes", "Bytes downloaded by runs", bytes);
    reg.register("run_retries", "Request retries by runs", retries);
    reg.register(
        "run_duration_seconds",
        "Total wall time of finished runs",
        duration,
    );
    reg.register("records_stored", "Records in the database by state", stored);
    reg.register(
        "source_leased",
        "1 while a worker holds the source's lease",
        leased,
    );
    reg.register(
        "queue_queued_runs",
        "Manual runs waiting for a worker",
        queued,
    );
    reg.register(
        "queue_due_sources",
        "Scheduled sources whose time has come",
        due,
    );
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &reg).map_err(|_| {
        ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "metrics encoding failed",
        )
    })?;
    Ok((
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        out,
    ))
}
