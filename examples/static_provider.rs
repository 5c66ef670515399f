//! A fast OAI-PMH 2.0 provider for the harvest benchmarks (`scripts/bench-e2e.sh`,
//! `scripts/bench-many-sources.sh`):
//!
//! `cargo run --release --example static_provider -- --records 100000 --page-size 100`
//! then `curl 'http://127.0.0.1:8090/oai?verb=ListRecords&metadataPrefix=oai_dc'`.
//!
//! Records are seed-like `oai_dc` articles (`bench_support/seed_records.rs`, 5–6 KB each).
//! 500 record templates are rendered once at start; a page is then assembled per request by
//! concatenating template pieces with the record's number and datestamp — a memcpy-bound
//! step (the start-up line prints its cost per page), so a fast-mode provider is never what
//! limits a harvester. Record `i` has datestamp `2026-01-01T00:00:00Z + i s`, so `from` and
//! `until` select an index range exactly. Resumption tokens are `first.next.end` indexes.
//!
//! `--server-rate R` models a server that renders pages itself (e.g. a Python provider at
//! ~2,800 records/s): every response holds one process-wide lock for `records / R` seconds,
//! so responses are serialised and the whole server delivers at most R records/s. It sleeps
//! rather than spins, so it takes no CPU from the harvester on the same machine.
//! `--delay-ms` adds per-request latency (concurrent, no lock).
//!
//! Several endpoints: `--sources S` serves `/0/oai` … `/{S-1}/oai` (and `/oai` = `/0/oai`) on
//! every address; `--hosts K --port P` listens on 127.0.0.2 … 127.0.0.{K+1} (all loopback on
//! Linux). Each address and path has its own identifier namespace.

#[path = "bench_support/seed_records.rs"]
mod seed_records;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use clap::Parser;

/// Distinct record templates; record `i` uses template `i % TEMPLATES`.
const TEMPLATES: u64 = 500;

#[derive(Parser)]
struct Args {
    /// Listening address (repeatable). Default 127.0.0.1:8090 unless --hosts is given.
    #[arg(long)]
    listen: Vec<SocketAddr>,
    /// Also listen on 127.0.0.2 … 127.0.0.{K+1} at --port.
    #[arg(long, default_value_t = 0)]
    hosts: u8,
    /// Port for --hosts.
    #[arg(long, default_value_t = 8090)]
    port: u16,
    /// Endpoints per address: /0/oai … /{S-1}/oai.
    #[arg(long, default_value_t = 1)]
    sources: u32,
    /// Records per endpoint.
    #[arg(long, default_value_t = 100_000)]
    records: u64,
    /// Records per ListRecords page.
    #[arg(long, default_value_t = 100)]
    page_size: u64,
    /// Latency added to every request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// Server-bound mode: the whole server delivers at most this many records/s, one
    /// response at a time (0 = fast mode).
    #[arg(long, default_value_t = 0.0)]
    server_rate: f64,
}

struct Shared {
    /// Template pieces between the record-number markers.
    templates: Vec<Vec<String>>,
    records: u64,
    /// Endpoints per address.
    sources: u32,
    page_size: u64,
    delay: Duration,
    server_rate: f64,
    /// Held while a server-bound response is "rendered".
    render: tokio::sync::Mutex<()>,
    epoch: DateTime<Utc>,
}

#[derive(Clone)]
struct Endpoint {
    shared: Arc<Shared>,
    /// Dashed listening IP, for identifier namespaces and the base URL.
    host: String,
    addr: SocketAddr,
}

struct OaiError(&'static str, String);

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let mut addrs = args.listen.clone();
    for k in 0..args.hosts {
        let ip = Ipv4Addr::new(127, 0, 0, k.saturating_add(2));
        addrs.push(SocketAddr::new(IpAddr::V4(ip), args.port));
    }
    if addrs.is_empty() {
        addrs.push(SocketAddr::from(([127, 0, 0, 1], 8090)));
    }
    let templates = (0..TEMPLATES)
        .map(|k| {
            seed_records::metadata_template(k)
                .split(seed_records::NUMBER)
                .map(str::to_owned)
                .collect()
        })
        .collect();
    let shared = Arc::new(Shared {
        templates,
        records: args.records,
        sources: args.sources.max(1),
        page_size: args.page_size.max(1),
        delay: Duration::from_millis(args.delay_ms),
        server_rate: args.server_rate,
        render: tokio::sync::Mutex::new(()),
        epoch: DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default(), // 2026-01-01
    });

    // What one page costs to assemble, so a reader can see the provider is not the limit.
    let t = Instant::now();
    let mut bytes = 0;
    for _ in 0..10 {
        bytes = render_page(
            &shared,
            "cost",
            0,
            shared.page_size.min(shared.records),
            false,
        )
        .len();
    }
    let per_page = t.elapsed() / 10;
    let page_records = shared.page_size.min(shared.records).max(1);
    println!(
        "static provider: {} records per endpoint, {} per page ({bytes} bytes, {:.1} KB/record), \
         page assembly {per_page:?} ({:.0} records/s on one core){}",
        args.records,
        shared.page_size,
        bytes as f64 / page_records as f64 / 1024.0,
        page_records as f64 / per_page.as_secs_f64(),
        if args.server_rate > 0.0 {
            format!(", server-bound at {} records/s", args.server_rate)
        } else {
            String::new()
        }
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let mut servers = tokio::task::JoinSet::new();
        for addr in addrs {
            let listener = tokio::net::TcpListener::bind(addr).await?;
            let endpoint = Endpoint {
                shared: shared.clone(),
                host: addr.ip().to_string().replace('.', "-"),
                addr,
            };
            let app = Router::new()
                .route("/oai", get(root_oai))
                .route("/{src}/oai", get(oai))
                .with_state(endpoint);
            servers.spawn(async move { axum::serve(listener, app).await });
        }
        println!(
            "listening on {} address(es), {} endpoint(s) each (Ctrl-C stops)",
            servers.len(),
            args.sources
        );
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            Some(r) = servers.join_next() => {
                r.map_err(std::io::Error::other)??;
            }
        }
        Ok(())
    })
}

async fn root_oai(state: State<Endpoint>, q: Query<HashMap<String, String>>) -> Response {
    respond(&state, 0, q.0).await
}

async fn oai(
    state: State<Endpoint>,
    Path(src): Path<u32>,
    q: Query<HashMap<String, String>>,
) -> Response {
    if src >= state.shared.sources {
        return axum::http::StatusCode::NOT_FOUND.into_response();
    }
    respond(&state, src, q.0).await
}

async fn respond(ep: &Endpoint, src: u32, args: HashMap<String, String>) -> Response {
    let shared = &ep.shared;
    if !shared.delay.is_zero() {
        tokio::time::sleep(shared.delay).await;
    }
    let ns = format!("s{src}.h{}.bench.example.org", ep.host);
    let base_url = format!("http://{}/{src}/oai", ep.addr);
    let (body, records) = match answer(shared, &ns, &base_url, &args) {
        Ok(r) => r,
        Err(OaiError(code, msg)) => (
            envelope(
                &base_url,
                "",
                &format!("<error code=\"{code}\">{msg}</error>"),
            ),
            0,
        ),
    };
    if shared.server_rate > 0.0 {
        let _one_at_a_time = shared.render.lock().await;
        let cost = records.max(1) as f64 / shared.server_rate;
        tokio::time::sleep(Duration::from_secs_f64(cost)).await;
    }
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response()
}

/// The response body and the number of records (or headers) in it.
fn answer(
    shared: &Shared,
    ns: &str,
    base_url: &str,
    args: &HashMap<String, String>,
) -> Result<(String, u64), OaiError> {
    let verb = args.get("verb").map(String::as_str).unwrap_or("");
    let allowed: &[&str] = match verb {
        "Identify" | "ListMetadataFormats" | "ListSets" => &["verb", "identifier"],
        "GetRecord" => &["verb", "identifier", "metadataPrefix"],
        "ListRecords" | "ListIdentifiers" => &[
            "verb",
            "metadataPrefix",
            "from",
            "until",
            "set",
            "resumptionToken",
        ],
        _ => return Err(OaiError("badVerb", "Illegal OAI verb".into())),
    };
    if let Some(k) = args.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(OaiError("badArgument", format!("unexpected argument {k}")));
    }
    let req = format!(" verb=\"{verb}\"");
    let inner = match verb {
        "Identify" => format!(
            "<Identify><repositoryName>sheaf benchmark provider</repositoryName>\
             <baseURL>{base_url}</baseURL><protocolVersion>2.0</protocolVersion>\
             <adminEmail>bench@example.org</adminEmail>\
             <earliestDatestamp>{}</earliestDatestamp><deletedRecord>persistent</deletedRecord>\
             <granularity>YYYY-MM-DDThh:mm:ssZ</granularity></Identify>",
            stamp(shared.epoch)
        ),
        "ListMetadataFormats" => "<ListMetadataFormats><metadataFormat>\
             <metadataPrefix>oai_dc</metadataPrefix>\
             <schema>http://www.openarchives.org/OAI/2.0/oai_dc.xsd</schema>\
             <metadataNamespace>http://www.openarchives.org/OAI/2.0/oai_dc/</metadataNamespace>\
             </metadataFormat></ListMetadataFormats>"
            .to_owned(),
        "ListSets" => {
            "<ListSets><set><setSpec>journal</setSpec><setName>Journal</setName></set></ListSets>"
                .to_owned()
        }
        "GetRecord" => {
            prefix_ok(args.get("metadataPrefix"))?;
            let i = args
                .get("identifier")
                .and_then(|id| id.strip_prefix(&format!("oai:{ns}:article/")))
                .and_then(|n| n.parse::<u64>().ok())
                .filter(|&i| i < shared.records)
                .ok_or_else(|| OaiError("idDoesNotExist", "no such record".into()))?;
            let mut out = String::from("<GetRecord>");
            push_record(shared, ns, i, false, &mut out);
            out.push_str("</GetRecord>");
            return Ok((envelope(base_url, &req, &out), 1));
        }
        _ => {
            let headers_only = verb == "ListIdentifiers";
            let (first, next, end) = list_range(shared, args)?;
            let last = (next + shared.page_size).min(end);
            let mut out = render_page(shared, ns, next, last, headers_only);
            if last < end {
                let _ = write!(
                    out,
                    "<resumptionToken completeListSize=\"{}\" cursor=\"{}\">{first}.{last}.{end}</resumptionToken>",
                    end - first,
                    next - first
                );
            } else if next > first {
                let _ = write!(
                    out,
                    "<resumptionToken completeListSize=\"{}\" cursor=\"{}\"/>",
                    end - first,
                    next - first
                );
            }
            let _ = write!(out, "</{verb}>");
            return Ok((envelope(base_url, &req, &out), last - next));
        }
    };
    Ok((envelope(base_url, &req, &inner), 1))
}

fn prefix_ok(prefix: Option<&String>) -> Result<(), OaiError> {
    match prefix.map(String::as_str) {
        Some("oai_dc") => Ok(()),
        Some(_) => Err(OaiError("cannotDisseminateFormat", "only oai_dc".into())),
        None => Err(OaiError("badArgument", "metadataPrefix missing".into())),
    }
}

/// `(first, next, end)` record indexes of the list a request asks for.
fn list_range(
    shared: &Shared,
    args: &HashMap<String, String>,
) -> Result<(u64, u64, u64), OaiError> {
    if let Some(token) = args.get("resumptionToken") {
        if args.len() > 2 {
            return Err(OaiError(
                "badArgument",
                "resumptionToken is exclusive".into(),
            ));
        }
        let parts: Vec<u64> = token.split('.').filter_map(|p| p.parse().ok()).collect();
        return match parts[..] {
            [first, next, end] if first <= next && next < end && end <= shared.records => {
                Ok((first, next, end))
            }
            _ => Err(OaiError("badResumptionToken", "unknown token".into())),
        };
    }
    prefix_ok(args.get("metadataPrefix"))?;
    if args.get("set").is_some_and(|s| s != "journal") {
        return Err(OaiError("noRecordsMatch", "no such set".into()));
    }
    let secs = |name: &str, end_of_day: bool| -> Result<Option<i64>, OaiError> {
        let Some(v) = args.get(name) else {
            return Ok(None);
        };
        let at = if let Ok(d) = NaiveDate::parse_from_str(v, "%Y-%m-%d") {
            let t = d.and_hms_opt(0, 0, 0).unwrap_or_default();
            t.and_utc() + TimeDelta::seconds(if end_of_day { 86_399 } else { 0 })
        } else if let Ok(t) = NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%SZ") {
            t.and_utc()
        } else {
            return Err(OaiError("badArgument", format!("bad {name}")));
        };
        Ok(Some((at - shared.epoch).num_seconds()))
    };
    let from = secs("from", false)?;
    let until = secs("until", true)?;
    if let (Some(f), Some(u)) = (args.get("from"), args.get("until"))
        && f.len() != u.len()
    {
        return Err(OaiError(
            "badArgument",
            "from and until differ in granularity".into(),
        ));
    }
    let n = shared.records as i64;
    let first = from.unwrap_or(0).clamp(0, n);
    let end = until.map_or(n, |u| (u + 1).clamp(0, n));
    if first >= end {
        return Err(OaiError("noRecordsMatch", "no records in range".into()));
    }
    Ok((first as u64, first as u64, end as u64))
}

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn envelope(base_url: &str, request_attrs: &str, inner: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <OAI-PMH xmlns=\"http://www.openarchives.org/OAI/2.0/\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
         xsi:schemaLocation=\"http://www.openarchives.org/OAI/2.0/ \
         http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd\">\n\
         <responseDate>{}</responseDate>\n<request{request_attrs}>{base_url}</request>\n{inner}\n</OAI-PMH>\n",
        stamp(Utc::now())
    )
}

/// Records (or headers) `from..to`, opening the list element; the caller closes it.
fn render_page(shared: &Shared, ns: &str, from: u64, to: u64, headers_only: bool) -> String {
    let mut out = String::with_capacity(((to - from) as usize) * 6 * 1024 + 256);
    out.push_str(if headers_only {
        "<ListIdentifiers>\n"
    } else {
        "<ListRecords>\n"
    });
    for i in from..to {
        push_record(shared, ns, i, headers_only, &mut out);
    }
    out
}

fn push_record(shared: &Shared, ns: &str, i: u64, header_only: bool, out: &mut String) {
    let at = shared.epoch + TimeDelta::seconds(i as i64);
    if !header_only {
        out.push_str("<record>");
    }
    let _ = write!(
        out,
        "<header><identifier>oai:{ns}:article/{i}</identifier><datestamp>{}</datestamp>\
         <setSpec>journal</setSpec></header>",
        stamp(at)
    );
    if header_only {
        out.push('\n');
        return;
    }
    out.push_str("<metadata>");
    let pieces = &shared.templates[(i % TEMPLATES) as usize];
    let number = i.to_string();
    for (k, piece) in pieces.iter().enumerate() {
        if k > 0 {
            out.push_str(&number);
        }
        out.push_str(piece);
    }
    out.push_str("</metadata></record>\n");
}
