//! In-process fake OAI-PMH 2.0 data provider for integration tests.
//!
//! Strict like OJS/pkp-lib and the OAI validator (so harvester bugs surface as protocol errors),
//! with a fault queue to reproduce the failure catalogue in `quirks.md` (sections A, B, D).
//! Binds 127.0.0.1:0 before spawning, so a test can send requests as soon as `start` returns.
//!
//! Layers, each replaceable per test:
//! - [`ProviderConfig`]: persistent server personality (granularity, page size, token spelling, …),
//!   changeable at runtime with [`FakeProvider::configure`].
//! - records: [`FakeRecord`]s whose `metadata` is inserted verbatim (so malformed XML, control
//!   characters, inner `<?xml?>` etc. can be put into single records — quirks section B).
//! - faults: [`Fault`]s matched by [`When`] predicates against upcoming requests (transport
//!   breakage, raw bodies, token pathologies, hostile responses — sections A, B, D).

use std::collections::HashMap;
use std::fmt;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::any;
use chrono::{DateTime, NaiveDate, NaiveDateTime, SubsecRound, TimeDelta, Utc};
use tokio::sync::watch;

/// OAI-PMH 2.0 namespace (default namespace of every response).
pub const OAI_NS: &str = "http://www.openarchives.org/OAI/2.0/";
/// `oai_dc` metadata namespace.
pub const OAI_DC_NS: &str = "http://www.openarchives.org/OAI/2.0/oai_dc/";
/// How long [`FakeProvider::wait_for_requests`] waits before panicking.
const WAIT_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------------

/// One item of the fake repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeRecord {
    pub identifier: String,
    pub datestamp: DateTime<Utc>,
    /// setSpecs as emitted in the header; membership is hierarchical (`a:b` is also in `a`).
    pub sets: Vec<String>,
    /// Emitted as `<header status="deleted">` without `<metadata>`.
    pub deleted: bool,
    /// Inner XML of `<metadata>`, inserted verbatim (no escaping, no validation) so a test can
    /// plant broken markup. `None` with `deleted == false` = live record without metadata
    /// (quirk 13).
    pub metadata: Option<String>,
}

impl FakeRecord {
    /// A live record with a small bilingual OJS-3.3-style `oai_dc` payload.
    pub fn dc(identifier: &str, datestamp: DateTime<Utc>, sets: &[&str], title: &str) -> Self {
        Self {
            identifier: identifier.to_owned(),
            datestamp,
            sets: sets.iter().map(|s| (*s).to_owned()).collect(),
            deleted: false,
            metadata: Some(dc_xml(identifier, datestamp, title)),
        }
    }

    /// A tombstone (persistent deletion).
    pub fn deleted(identifier: &str, datestamp: DateTime<Utc>, sets: &[&str]) -> Self {
        Self {
            identifier: identifier.to_owned(),
            datestamp,
            sets: sets.iter().map(|s| (*s).to_owned()).collect(),
            deleted: true,
            metadata: None,
        }
    }

    /// A live record with arbitrary (possibly malformed) `<metadata>` content.
    pub fn raw(identifier: &str, datestamp: DateTime<Utc>, sets: &[&str], metadata: &str) -> Self {
        Self {
            deleted: false,
            metadata: Some(metadata.to_owned()),
            ..Self::deleted(identifier, datestamp, sets)
        }
    }

    /// `n` dc records `oai:fake.example:1..=n`, one minute apart from `start`, no sets.
    pub fn series(n: usize, start: DateTime<Utc>) -> Vec<Self> {
        (1..=n)
            .map(|i| {
                let ts = start + TimeDelta::minutes(i as i64 - 1);
                Self::dc(
                    &format!("oai:fake.example:{i}"),
                    ts,
                    &[],
                    &format!("Article {i}"),
                )
            })
            .collect()
    }

    /// Whether this record belongs to `set` (exact or as a descendant: `a:b` is in `a`).
    pub fn in_set(&self, set: &str) -> bool {
        self.sets.iter().any(|s| {
            s == set
                || s.strip_prefix(set)
                    .is_some_and(|rest| rest.starts_with(':'))
        })
    }
}

/// The `oai_dc` body [`FakeRecord::dc`] uses; handy to build variants in tests.
pub fn dc_xml(identifier: &str, datestamp: DateTime<Utc>, title: &str) -> String {
    let t = escape_text(title);
    let local = identifier.rsplit(':').next().unwrap_or(identifier);
    let id = escape_text(local);
    format!(
        "<oai_dc:dc xmlns:oai_dc=\"{OAI_DC_NS}\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
         xsi:schemaLocation=\"{OAI_DC_NS} http://www.openarchives.org/OAI/2.0/oai_dc.xsd\">\n\
         \t<dc:title xml:lang=\"en-US\">{t}</dc:title>\n\
         \t<dc:title xml:lang=\"ru-RU\">{t} (рус.)</dc:title>\n\
         \t<dc:creator>Ivanov, Ivan</dc:creator>\n\
         \t<dc:creator>Петрова, Анна</dc:creator>\n\
         \t<dc:description xml:lang=\"en-US\">Abstract of {t}.</dc:description>\n\
         \t<dc:date>{date}</dc:date>\n\
         \t<dc:type>info:eu-repo/semantics/article</dc:type>\n\
         \t<dc:identifier>https://journal.example/article/view/{id}</dc:identifier>\n\
         \t<dc:identifier>10.1234/fake.{id}</dc:identifier>\n\
         \t<dc:language>eng</dc:language>\n\
         </oai_dc:dc>",
        date = datestamp.format("%Y-%m-%d"),
    )
}

/// reqwest is built with `rustls-no-provider`: building any `Client` panics until a process-wide
/// crypto provider exists, even for plain http. Idempotent; [`FakeProvider::start`] calls it.
pub fn install_crypto_provider() {
    // Err only means another provider is already installed, which is just as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Parses `2024-01-02T03:04:05Z` (or any RFC 3339); panics on bad input (test helper).
pub fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("bad test timestamp {s:?}: {e}"))
        .with_timezone(&Utc)
}

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/// Datestamp granularity the repository declares and enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    /// `YYYY-MM-DD`: seconds-form arguments are `badArgument`.
    Day,
    /// `YYYY-MM-DDThh:mm:ssZ`: both forms accepted (spec §3.3.1), but not mixed.
    Seconds,
}

/// How the final (empty) resumptionToken of a multi-page list is spelled (quirk 15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStyle {
    /// No `<resumptionToken>` element at all.
    Absent,
    /// `<resumptionToken/>`.
    SelfClosing,
    /// `<resumptionToken completeListSize="N" cursor="M"/>` (OJS).
    SelfClosingWithAttrs,
    /// `<resumptionToken>` + newline and spaces + `</resumptionToken>`.
    Whitespace,
}

/// Persistent personality of the fake repository.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub repository_name: String,
    pub admin_email: String,
    pub granularity: Granularity,
    /// Records per ListRecords/ListIdentifiers page.
    pub page_size: usize,
    /// `no` | `transient` | `persistent`, as declared in Identify.
    pub deleted_record: String,
    /// Declared earliestDatestamp; `None` = oldest record (or 1970-01-01 when empty).
    pub earliest_datestamp: Option<DateTime<Utc>>,
    /// (setSpec, setName); empty = `noSetHierarchy`.
    pub sets: Vec<(String, String)>,
    /// Advertise gzip+deflate in Identify and compress when `Accept-Encoding` allows.
    pub compression: bool,
    pub token_style: TokenStyle,
    /// Fixed responseDate (for checkpoint tests); `None` = now.
    pub response_date: Option<DateTime<Utc>>,
    /// Lifetime announced in `expirationDate` of intermediate tokens.
    pub token_ttl: TimeDelta,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        Self {
            repository_name: "Fake Journal".to_owned(),
            admin_email: "admin@journal.example".to_owned(),
            granularity: Granularity::Seconds,
            page_size: 10,
            deleted_record: "persistent".to_owned(),
            earliest_datestamp: None,
            sets: Vec::new(),
            compression: false,
            token_style: TokenStyle::SelfClosingWithAttrs,
            response_date: None,
            token_ttl: TimeDelta::hours(1),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------------------

/// Rewrites a generated response body (before compression).
pub type BodyTransform = Arc<dyn Fn(String) -> String + Send + Sync>;
/// Predicate over the logged request (status not yet set).
pub type RequestPredicate = Arc<dyn Fn(&RequestLog) -> bool + Send + Sync>;

/// What to do to a matched request instead of (or on top of) the normal answer.
#[derive(Clone)]
pub enum Fault {
    /// Plain HTTP error: given status, optional `Retry-After` (seconds or HTTP-date), text body.
    Status {
        code: u16,
        retry_after: Option<String>,
        body: String,
    },
    /// Headers announce the full `Content-Length`, `after_bytes` of the body are sent, then the
    /// connection is dropped (incomplete message at the HTTP level).
    Reset { after_bytes: usize },
    /// Well-framed 200 whose body is cut at `at_byte` (XML ends mid-record; quirk 50).
    Truncate { at_byte: usize },
    /// Answer normally after the delay.
    Delay(Duration),
    /// Never answer (until the provider shuts down); for client timeouts.
    Hang,
    /// 200 `text/xml` with this body (HTML page, junk, hand-written XML; quirks 40-49).
    RawBody(String),
    /// Everything by hand: status, headers, bytes, never compressed (gzip bombs, BOMs, cp1251,
    /// redirects, wrong Content-Type; quirks 28, 30, 47, 48, 77).
    Raw {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Valid OAI-PMH error envelope for this request, HTTP 200 unless `http_status` is set
    /// (quirk 24: errors with 4xx/5xx).
    OaiError {
        code: String,
        message: String,
        http_status: Option<u16>,
    },
    /// Normal answer, body rewritten by the closure (inject control chars, entities, trailing
    /// HTML, namespace variants, …).
    Transform(BodyTransform),
    /// Normal answer sent `chunk` bytes every `interval` (slow server; quirk 37/79).
    Trickle { chunk: usize, interval: Duration },
    /// 200 headers, then `chunk` repeated every `interval` forever (quirk 79).
    Endless { chunk: Vec<u8>, interval: Duration },
    /// Page whose token is the one the request carried (token loop; quirk 17).
    RepeatToken,
    /// Page served as if it were the last: the list ends early (silent truncation; quirk 38).
    DropToken,
    /// The last page still carries a token that leads to `noRecordsMatch` (quirk 16).
    DeadEndToken,
}

impl Fault {
    /// Short name recorded in [`RequestLog::fault`].
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Status { .. } => "Status",
            Fault::Reset { .. } => "Reset",
            Fault::Truncate { .. } => "Truncate",
            Fault::Delay(_) => "Delay",
            Fault::Hang => "Hang",
            Fault::RawBody(_) => "RawBody",
            Fault::Raw { .. } => "Raw",
            Fault::OaiError { .. } => "OaiError",
            Fault::Transform(_) => "Transform",
            Fault::Trickle { .. } => "Trickle",
            Fault::Endless { .. } => "Endless",
            Fault::RepeatToken => "RepeatToken",
            Fault::DropToken => "DropToken",
            Fault::DeadEndToken => "DeadEndToken",
        }
    }

    /// `Status` shorthand.
    pub fn status(code: u16) -> Self {
        Fault::Status {
            code,
            retry_after: None,
            body: format!("HTTP {code}"),
        }
    }

    /// `Status` with a `Retry-After` header (503/429; quirk 27).
    pub fn retry_after(code: u16, retry_after: &str) -> Self {
        Fault::Status {
            code,
            retry_after: Some(retry_after.to_owned()),
            body: "busy".to_owned(),
        }
    }

    /// OAI error with HTTP 200.
    pub fn oai_error(code: &str, message: &str) -> Self {
        Fault::OaiError {
            code: code.to_owned(),
            message: message.to_owned(),
            http_status: None,
        }
    }

    /// Redirect with an HTML "Moved" body (quirk 28).
    pub fn redirect(code: u16, location: &str) -> Self {
        Fault::Raw {
            status: code,
            headers: vec![
                ("Location".to_owned(), location.to_owned()),
                ("Content-Type".to_owned(), "text/html".to_owned()),
            ],
            body: b"<html><body><h1>Moved Permanently</h1></body></html>".to_vec(),
        }
    }

    /// Body rewrite shorthand.
    pub fn transform(f: impl Fn(String) -> String + Send + Sync + 'static) -> Self {
        Fault::Transform(Arc::new(f))
    }
}

impl fmt::Debug for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Status {
                code, retry_after, ..
            } => {
                write!(f, "Status({code}, retry_after={retry_after:?})")
            }
            Fault::Reset { after_bytes } => write!(f, "Reset({after_bytes})"),
            Fault::Truncate { at_byte } => write!(f, "Truncate({at_byte})"),
            Fault::Delay(d) => write!(f, "Delay({d:?})"),
            Fault::Raw { status, body, .. } => write!(f, "Raw({status}, {} bytes)", body.len()),
            Fault::OaiError { code, .. } => write!(f, "OaiError({code})"),
            other => f.write_str(other.kind()),
        }
    }
}

/// Which request a fault applies to.
#[derive(Clone)]
pub enum When {
    /// The next request, whatever it is.
    Any,
    /// Next request with this verb.
    Verb(String),
    /// The n-th request overall (1-based, counting every request including faulted ones).
    NthRequest(usize),
    /// The n-th request with this verb (1-based).
    NthVerb(String, usize),
    /// A ListRecords/ListIdentifiers request for page `n` of its list (0 = the initial request,
    /// 1 = first resumption, …).
    Page(usize),
    /// A request carrying exactly this resumptionToken.
    Token(String),
    /// Anything else.
    Custom(RequestPredicate),
}

impl When {
    fn matches(&self, req: &RequestLog, verb_count: usize) -> bool {
        match self {
            When::Any => true,
            When::Verb(v) => req.verb.as_deref() == Some(v.as_str()),
            When::NthRequest(n) => req.seq == *n,
            When::NthVerb(v, n) => req.verb.as_deref() == Some(v.as_str()) && verb_count == *n,
            When::Page(n) => req.page == Some(*n),
            When::Token(t) => req.resumption_token.as_deref() == Some(t.as_str()),
            When::Custom(p) => p(req),
        }
    }
}

struct FaultRule {
    when: When,
    fault: Fault,
    /// `None` = every matching request.
    remaining: Option<usize>,
}

// ---------------------------------------------------------------------------------------------
// Request log
// ---------------------------------------------------------------------------------------------

/// One request as the provider saw it and what it answered.
#[derive(Debug, Clone)]
pub struct RequestLog {
    /// 1-based arrival order (not reset by `clear_requests`).
    pub seq: usize,
    pub method: String,
    /// Query string (GET) or form body (POST) exactly as received, still percent-encoded.
    pub raw_query: String,
    /// Decoded arguments in the order sent (duplicates kept).
    pub params: Vec<(String, String)>,
    pub verb: Option<String>,
    pub metadata_prefix: Option<String>,
    pub from: Option<String>,
    pub until: Option<String>,
    pub set: Option<String>,
    pub resumption_token: Option<String>,
    pub identifier: Option<String>,
    /// Page index for list requests whose token was valid (0 = initial request).
    pub page: Option<usize>,
    pub accept_encoding: Option<String>,
    pub user_agent: Option<String>,
    /// Every request header (name lower-cased, value as text), for per-source headers/auth.
    pub headers: Vec<(String, String)>,
    /// HTTP status sent; 0 when no response head was sent (`Hang`).
    pub status: u16,
    /// OAI `<error code>` in the (unfaulted or `OaiError`) body.
    pub oai_error: Option<String>,
    /// [`Fault::kind`] of the fault applied, if any.
    pub fault: Option<&'static str>,
    /// `Content-Encoding` applied by the provider (`gzip` / `deflate`).
    pub content_encoding: Option<&'static str>,
}

impl RequestLog {
    /// All values of one argument (to spot repeats).
    pub fn param_all(&self, name: &str) -> Vec<&str> {
        self.params
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A request header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Names of the arguments sent, in order.
    pub fn param_names(&self) -> Vec<&str> {
        self.params.iter().map(|(k, _)| k.as_str()).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Provider
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct ListQuery {
    verb: &'static str,
    // Only oai_dc exists, so the prefix is validated but not carried in the token state.
    from: Option<DateTime<Utc>>,
    /// Exclusive upper bound (until + one granule).
    until_excl: Option<DateTime<Utc>>,
    set: Option<String>,
}

#[derive(Debug, Clone)]
struct TokenState {
    query: ListQuery,
    offset: usize,
}

struct Inner {
    base_url: String,
    config: Mutex<ProviderConfig>,
    records: Mutex<Vec<FakeRecord>>,
    tokens: Mutex<HashMap<String, TokenState>>,
    token_seq: Mutex<usize>,
    faults: Mutex<Vec<FaultRule>>,
    log: Mutex<Vec<RequestLog>>,
    verb_counts: Mutex<HashMap<String, usize>>,
    /// Arrival counter; keeps counting across `clear_requests`.
    seq: AtomicUsize,
    /// Number of logged requests; watchers wake on every change.
    count_tx: watch::Sender<usize>,
    shutdown_tx: watch::Sender<bool>,
}

/// Locks ignoring poison: a panicking test thread must not cascade into the server.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Handle to a running fake provider; dropping it stops the server.
pub struct FakeProvider {
    inner: Arc<Inner>,
    addr: SocketAddr,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl FakeProvider {
    /// Binds 127.0.0.1 on a free port and serves `/oai` (GET and POST). Ready on return.
    pub async fn start(config: ProviderConfig, records: Vec<FakeRecord>) -> FakeProvider {
        let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
        Self::start_on(any_port, config, records).await
    }

    /// Like [`FakeProvider::start`] on a chosen address (standalone server, benchmarks).
    pub async fn start_on(
        bind: SocketAddr,
        config: ProviderConfig,
        records: Vec<FakeRecord>,
    ) -> FakeProvider {
        install_crypto_provider();
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .unwrap_or_else(|e| panic!("bind fake provider on {bind}: {e}"));
        let addr = listener.local_addr().expect("local addr");
        let (count_tx, _) = watch::channel(0usize);
        let (shutdown_tx, mut shutdown_rx) = watch::channel(false);
        let inner = Arc::new(Inner {
            base_url: format!("http://{addr}/oai"),
            config: Mutex::new(config),
            records: Mutex::new(records),
            tokens: Mutex::new(HashMap::new()),
            token_seq: Mutex::new(0),
            faults: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            verb_counts: Mutex::new(HashMap::new()),
            seq: AtomicUsize::new(0),
            count_tx,
            shutdown_tx,
        });
        let app = Router::new()
            .route("/oai", any(handle))
            .with_state(Arc::clone(&inner));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = shutdown_rx.wait_for(|stop| *stop).await;
                })
                .await;
        });
        FakeProvider {
            inner,
            addr,
            server: Some(server),
        }
    }

    /// `http://127.0.0.1:PORT/oai`.
    pub fn base_url(&self) -> String {
        self.inner.base_url.clone()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Snapshot of every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RequestLog> {
        lock(&self.inner.log).clone()
    }

    /// Forget logged requests (per-verb counters for [`When::NthVerb`] keep counting).
    pub fn clear_requests(&self) {
        lock(&self.inner.log).clear();
        self.inner.count_tx.send_replace(0);
    }

    /// Waits until at least `n` requests have been logged; panics after 10 s.
    pub async fn wait_for_requests(&self, n: usize) {
        let mut rx = self.inner.count_tx.subscribe();
        let waited = tokio::time::timeout(WAIT_TIMEOUT, rx.wait_for(|c| *c >= n)).await;
        if !matches!(waited, Ok(Ok(_))) {
            panic!(
                "fake provider: expected {n} requests, got {}",
                lock(&self.inner.log).len()
            );
        }
    }

    pub fn set_records(&self, records: Vec<FakeRecord>) {
        *lock(&self.inner.records) = records;
    }

    pub fn records(&self) -> Vec<FakeRecord> {
        lock(&self.inner.records).clone()
    }

    /// Replace the record with the same identifier, or add it.
    pub fn upsert_record(&self, record: FakeRecord) {
        let mut recs = lock(&self.inner.records);
        match recs.iter_mut().find(|r| r.identifier == record.identifier) {
            Some(r) => *r = record,
            None => recs.push(record),
        }
    }

    /// Turn a record into a tombstone with a new datestamp (persistent deletion). Returns
    /// false when the identifier is unknown.
    pub fn delete_record(&self, identifier: &str, datestamp: DateTime<Utc>) -> bool {
        let mut recs = lock(&self.inner.records);
        match recs.iter_mut().find(|r| r.identifier == identifier) {
            Some(r) => {
                r.deleted = true;
                r.metadata = None;
                r.datestamp = datestamp;
                true
            }
            None => false,
        }
    }

    /// Remove a record without a trace (`deletedRecord` no/transient behaviour).
    pub fn remove_record(&self, identifier: &str) -> bool {
        let mut recs = lock(&self.inner.records);
        let before = recs.len();
        recs.retain(|r| r.identifier != identifier);
        recs.len() != before
    }

    pub fn set_response_date(&self, date: Option<DateTime<Utc>>) {
        lock(&self.inner.config).response_date = date;
    }

    /// Change the configuration of the running server.
    pub fn configure(&self, f: impl FnOnce(&mut ProviderConfig)) {
        f(&mut lock(&self.inner.config));
    }

    /// Invalidate every issued resumptionToken (→ `badResumptionToken`; quirk 21).
    pub fn expire_tokens(&self) {
        lock(&self.inner.tokens).clear();
    }

    /// Apply `fault` to the next request, once.
    pub fn inject(&self, fault: Fault) {
        self.inject_times(When::Any, fault, 1);
    }

    /// Apply `fault` once, to the first request matching `when`.
    pub fn inject_when(&self, when: When, fault: Fault) {
        self.inject_times(when, fault, 1);
    }

    /// Apply `fault` to the next `times` requests matching `when`.
    pub fn inject_times(&self, when: When, fault: Fault, times: usize) {
        lock(&self.inner.faults).push(FaultRule {
            when,
            fault,
            remaining: Some(times),
        });
    }

    /// Apply `fault` to every request matching `when` until [`FakeProvider::clear_faults`].
    pub fn inject_always(&self, when: When, fault: Fault) {
        lock(&self.inner.faults).push(FaultRule {
            when,
            fault,
            remaining: None,
        });
    }

    pub fn clear_faults(&self) {
        lock(&self.inner.faults).clear();
    }

    /// Number of injected faults not yet used up.
    pub fn pending_faults(&self) -> usize {
        lock(&self.inner.faults)
            .iter()
            .filter(|r| r.remaining != Some(0))
            .count()
    }

    /// Stops accepting, ends hung responses, waits for open connections to close (bounded).
    pub async fn shutdown(mut self) {
        self.inner.shutdown_tx.send_replace(true);
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
        }
    }
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        // Graceful shutdown goes on in the background; hung handlers watch the same signal.
        self.inner.shutdown_tx.send_replace(true);
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP handling
// ---------------------------------------------------------------------------------------------

/// A generated (unfaulted or token-tweaked) answer.
struct Rendered {
    body: String,
    oai_error: Option<String>,
}

async fn handle(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let raw_query = if method == Method::POST {
        String::from_utf8_lossy(&body).into_owned()
    } else {
        uri.query().unwrap_or_default().to_owned()
    };
    let params: Vec<(String, String)> = url::form_urlencoded::parse(raw_query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let first = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let hdr = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let token = first("resumptionToken");
    let page = token.as_ref().and_then(|t| {
        let ps = lock(&inner.config).page_size.max(1);
        lock(&inner.tokens).get(t).map(|s| s.offset / ps)
    });
    let verb = first("verb");
    let is_initial_list =
        token.is_none() && matches!(verb.as_deref(), Some("ListRecords" | "ListIdentifiers"));
    let mut log = RequestLog {
        seq: 0,
        method: method.to_string(),
        raw_query,
        verb,
        metadata_prefix: first("metadataPrefix"),
        from: first("from"),
        until: first("until"),
        set: first("set"),
        resumption_token: token,
        identifier: first("identifier"),
        page: if is_initial_list { Some(0) } else { page },
        params,
        accept_encoding: hdr(header::ACCEPT_ENCODING),
        user_agent: hdr(header::USER_AGENT),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        status: 0,
        oai_error: None,
        fault: None,
        content_encoding: None,
    };

    let fault = {
        log.seq = inner.seq.fetch_add(1, Ordering::SeqCst) + 1;
        let verb_count = match &log.verb {
            Some(v) => {
                let mut counts = lock(&inner.verb_counts);
                let c = counts.entry(v.clone()).or_insert(0);
                *c += 1;
                *c
            }
            None => 0,
        };
        let mut rules = lock(&inner.faults);
        let hit = rules
            .iter_mut()
            .find(|r| r.remaining != Some(0) && r.when.matches(&log, verb_count));
        hit.map(|r| {
            if let Some(n) = r.remaining.as_mut() {
                *n -= 1;
            }
            r.fault.clone()
        })
    };
    log.fault = fault.as_ref().map(Fault::kind);

    let tweak = match &fault {
        Some(Fault::RepeatToken) => TokenTweak::Repeat,
        Some(Fault::DropToken) => TokenTweak::Drop,
        Some(Fault::DeadEndToken) => TokenTweak::DeadEnd,
        _ => TokenTweak::None,
    };
    let rendered = match &fault {
        Some(Fault::OaiError { code, message, .. }) => Rendered {
            body: envelope(&inner, &log.params, Err((code, message))),
            oai_error: Some(code.clone()),
        },
        _ => render(&inner, &log.params, tweak),
    };
    log.oai_error = rendered.oai_error.clone();

    let compression = lock(&inner.config).compression;
    let encoding = if compression {
        pick_encoding(log.accept_encoding.as_deref())
    } else {
        None
    };
    let oai_body = |text: String| -> (Vec<u8>, Option<&'static str>) {
        let bytes = text.into_bytes();
        match encoding {
            Some(enc) => (compress(enc, &bytes), Some(enc)),
            None => (bytes, None),
        }
    };

    let mut shutdown_rx = inner.shutdown_tx.subscribe();
    let (status, extra_headers, plan, content_encoding): (u16, Vec<(String, String)>, Plan, _) =
        match fault.clone() {
            None
            | Some(
                Fault::RepeatToken
                | Fault::DropToken
                | Fault::DeadEndToken
                | Fault::OaiError {
                    http_status: None, ..
                }
                | Fault::Delay(_),
            ) => {
                let (b, enc) = oai_body(rendered.body);
                (200, xml_headers(), Plan::Full(b), enc)
            }
            Some(Fault::OaiError {
                http_status: Some(code),
                ..
            }) => {
                let (b, enc) = oai_body(rendered.body);
                (code, xml_headers(), Plan::Full(b), enc)
            }
            Some(Fault::Transform(f)) => {
                let (b, enc) = oai_body(f(rendered.body));
                (200, xml_headers(), Plan::Full(b), enc)
            }
            Some(Fault::RawBody(text)) => {
                let (b, enc) = oai_body(text);
                (200, xml_headers(), Plan::Full(b), enc)
            }
            Some(Fault::Status {
                code,
                retry_after,
                body,
            }) => {
                let mut h = vec![("Content-Type".to_owned(), "text/html".to_owned())];
                if let Some(ra) = retry_after {
                    h.push(("Retry-After".to_owned(), ra));
                }
                (code, h, Plan::Full(body.into_bytes()), None)
            }
            Some(Fault::Raw {
                status,
                headers,
                body,
            }) => (status, headers, Plan::Full(body), None),
            Some(Fault::Truncate { at_byte }) => {
                let (mut b, enc) = oai_body(rendered.body);
                b.truncate(at_byte);
                (200, xml_headers(), Plan::Full(b), enc)
            }
            Some(Fault::Reset { after_bytes }) => {
                let (b, enc) = oai_body(rendered.body);
                (200, xml_headers(), Plan::Reset(b, after_bytes), enc)
            }
            Some(Fault::Trickle { chunk, interval }) => {
                let (b, enc) = oai_body(rendered.body);
                (
                    200,
                    xml_headers(),
                    Plan::Trickle(b, chunk.max(1), interval),
                    enc,
                )
            }
            Some(Fault::Endless { chunk, interval }) => {
                (200, xml_headers(), Plan::Endless(chunk, interval), None)
            }
            Some(Fault::Hang) => (0, Vec::new(), Plan::Hang, None),
        };
    log.status = status;
    log.content_encoding = content_encoding;
    let delay = match &fault {
        Some(Fault::Delay(d)) => Some(*d),
        _ => None,
    };
    push_log(&inner, log);

    if let Plan::Hang = plan {
        let _ = shutdown_rx.wait_for(|stop| *stop).await;
        return abort_response();
    }
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    for (k, v) in &extra_headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k.as_str()), HeaderValue::from_str(v)) {
            builder = builder.header(k, v);
        }
    }
    if let Some(enc) = content_encoding {
        builder = builder
            .header(header::CONTENT_ENCODING, enc)
            .header(header::VARY, "Accept-Encoding");
    }
    let body = match plan {
        Plan::Full(b) => Body::from(b),
        Plan::Reset(b, after) => {
            builder = builder.header(header::CONTENT_LENGTH, b.len());
            let head = Bytes::copy_from_slice(&b[..after.min(b.len())]);
            let stream = futures_util::stream::unfold(Some(head), |head| async move {
                match head {
                    Some(h) => Some((Ok(h), None)),
                    None => {
                        // Pause so hyper flushes head + partial body before the abort;
                        // otherwise it drops the buffered bytes and the client sees no
                        // response at all.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        Some((Err(std::io::Error::other("fake provider: reset")), None))
                    }
                }
            });
            // The error ends the connection, so hyper never polls past it.
            Body::from_stream(stream)
        }
        Plan::Trickle(b, chunk, interval) => {
            builder = builder.header(header::CONTENT_LENGTH, b.len());
            let chunks: Vec<Bytes> = b.chunks(chunk).map(Bytes::copy_from_slice).collect();
            let stream = futures_util::stream::unfold(
                (chunks.into_iter(), true),
                move |(mut it, first)| async move {
                    let next = it.next()?;
                    if !first {
                        tokio::time::sleep(interval).await;
                    }
                    Some((Ok::<_, std::io::Error>(next), (it, false)))
                },
            );
            Body::from_stream(stream)
        }
        Plan::Endless(chunk, interval) => {
            let chunk = Bytes::from(chunk);
            let stream = futures_util::stream::unfold(shutdown_rx, move |mut rx| {
                let chunk = chunk.clone();
                async move {
                    let stopped = tokio::select! {
                        _ = tokio::time::sleep(interval) => false,
                        _ = rx.wait_for(|stop| *stop) => true,
                    };
                    (!stopped).then_some((Ok::<_, std::io::Error>(chunk), rx))
                }
            });
            Body::from_stream(stream)
        }
        Plan::Hang => unreachable!("handled above"),
    };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    builder.body(body).unwrap_or_else(|_| abort_response())
}

/// How the response body is delivered.
enum Plan {
    Full(Vec<u8>),
    /// Full Content-Length announced, only the first n bytes sent, then abort.
    Reset(Vec<u8>, usize),
    Trickle(Vec<u8>, usize, Duration),
    Endless(Vec<u8>, Duration),
    Hang,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum TokenTweak {
    None,
    Repeat,
    Drop,
    DeadEnd,
}

fn push_log(inner: &Inner, entry: RequestLog) {
    let mut log = lock(&inner.log);
    log.push(entry);
    inner.count_tx.send_replace(log.len());
}

fn xml_headers() -> Vec<(String, String)> {
    // OJS sends text/xml without charset (quirk 48); harvesters must rely on the declaration.
    vec![("Content-Type".to_owned(), "text/xml".to_owned())]
}

/// Headers sent, then the body errors: hyper drops the connection.
fn abort_response() -> Response {
    let items: Vec<Result<Bytes, std::io::Error>> =
        vec![Err(std::io::Error::other("fake provider: aborted"))];
    Response::new(Body::from_stream(futures_util::stream::iter(items)))
}

/// gzip preferred over deflate; `q=0` means refused.
fn pick_encoding(accept: Option<&str>) -> Option<&'static str> {
    let accept = accept?;
    let allowed = |name: &str| {
        accept.split(',').any(|part| {
            let mut it = part.split(';').map(str::trim);
            let coding = it.next().unwrap_or_default();
            let refused = it.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            coding.eq_ignore_ascii_case(name) && !refused
        })
    };
    if allowed("gzip") {
        Some("gzip")
    } else if allowed("deflate") {
        Some("deflate")
    } else {
        None
    }
}

fn compress(encoding: &str, data: &[u8]) -> Vec<u8> {
    let level = flate2::Compression::default();
    let out = if encoding == "gzip" {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), level);
        enc.write_all(data).and_then(|()| enc.finish())
    } else {
        // HTTP "deflate" is the zlib format (RFC 9110 §8.4.1.2).
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), level);
        enc.write_all(data).and_then(|()| enc.finish())
    };
    out.expect("in-memory compression cannot fail")
}

// ---------------------------------------------------------------------------------------------
// OAI-PMH protocol
// ---------------------------------------------------------------------------------------------

/// `(error code, message)`.
type OaiError = (&'static str, String);

fn render(inner: &Inner, params: &[(String, String)], tweak: TokenTweak) -> Rendered {
    match respond(inner, params, tweak) {
        Ok(xml) => Rendered {
            body: envelope(inner, params, Ok(&xml)),
            oai_error: None,
        },
        Err((code, msg)) => Rendered {
            body: envelope(inner, params, Err((code, &msg))),
            oai_error: Some(code.to_owned()),
        },
    }
}

fn envelope(
    inner: &Inner,
    params: &[(String, String)],
    content: Result<&str, (&str, &str)>,
) -> String {
    let cfg = lock(&inner.config);
    let response_date = cfg.response_date.unwrap_or_else(Utc::now);
    drop(cfg);
    // Spec §3.6: with badVerb/badArgument the request element carries no attributes.
    let echo_args = !matches!(content, Err(("badVerb" | "badArgument", _)));
    let mut request = String::from("<request");
    if echo_args {
        for (k, v) in params {
            request.push_str(&format!(" {}=\"{}\"", escape_attr(k), escape_attr(v)));
        }
    }
    request.push('>');
    request.push_str(&escape_text(&inner.base_url));
    request.push_str("</request>");
    let payload = match content {
        Ok(xml) => xml.to_owned(),
        Err((code, msg)) => {
            format!(
                "<error code=\"{}\">{}</error>",
                escape_attr(code),
                escape_text(msg)
            )
        }
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <?xml-stylesheet type=\"text/xsl\" href=\"{base}/lib/pkp/xml/oai2.xsl\" ?>\n\
         <OAI-PMH xmlns=\"{OAI_NS}\"\n\
         \txmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"\n\
         \txsi:schemaLocation=\"{OAI_NS} http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd\">\n\
         \t<responseDate>{date}</responseDate>\n\
         \t{request}\n\
         \t{payload}\n\
         </OAI-PMH>\n",
        base = escape_attr(&inner.base_url),
        date = fmt_seconds(response_date),
    )
}

fn bad_arg(msg: impl Into<String>) -> OaiError {
    ("badArgument", msg.into())
}

fn respond(
    inner: &Inner,
    params: &[(String, String)],
    tweak: TokenTweak,
) -> Result<String, OaiError> {
    let verbs = values_of(params, "verb");
    let verb = match verbs.as_slice() {
        [v] => *v,
        [] => return Err(("badVerb", "Verb argument is missing.".to_owned())),
        _ => return Err(("badVerb", "Verb argument is repeated.".to_owned())),
    };
    let allowed: &[&str] = match verb {
        "Identify" => &[],
        "ListMetadataFormats" => &["identifier"],
        "ListSets" => &["resumptionToken"],
        "ListIdentifiers" | "ListRecords" => {
            &["metadataPrefix", "from", "until", "set", "resumptionToken"]
        }
        "GetRecord" => &["identifier", "metadataPrefix"],
        other => return Err(("badVerb", format!("{other} is an illegal verb."))),
    };
    for (k, _) in params {
        if k != "verb" && !allowed.contains(&k.as_str()) {
            return Err(bad_arg(format!("{k} is an illegal parameter.")));
        }
        if values_of(params, k).len() > 1 {
            return Err(bad_arg(format!("{k} is repeated.")));
        }
    }
    let arg = |name: &str| values_of(params, name).first().copied();
    let cfg = lock(&inner.config).clone();
    match verb {
        "Identify" => Ok(identify(inner, &cfg)),
        "ListMetadataFormats" => {
            if let Some(id) = arg("identifier")
                && !lock(&inner.records).iter().any(|r| r.identifier == id)
            {
                return Err(("idDoesNotExist", format!("No matching identifier: {id}")));
            }
            Ok(format!(
                "<ListMetadataFormats><metadataFormat><metadataPrefix>oai_dc</metadataPrefix>\
                 <schema>http://www.openarchives.org/OAI/2.0/oai_dc.xsd</schema>\
                 <metadataNamespace>{OAI_DC_NS}</metadataNamespace></metadataFormat>\
                 </ListMetadataFormats>"
            ))
        }
        "ListSets" => {
            if arg("resumptionToken").is_some() {
                return Err((
                    "badResumptionToken",
                    "The resumptionToken is invalid.".to_owned(),
                ));
            }
            if cfg.sets.is_empty() {
                return Err((
                    "noSetHierarchy",
                    "This repository does not support sets.".to_owned(),
                ));
            }
            let sets: String = cfg
                .sets
                .iter()
                .map(|(spec, name)| {
                    format!(
                        "<set><setSpec>{}</setSpec><setName>{}</setName></set>",
                        escape_text(spec),
                        escape_text(name)
                    )
                })
                .collect();
            Ok(format!("<ListSets>{sets}</ListSets>"))
        }
        "GetRecord" => {
            let (Some(id), Some(prefix)) = (arg("identifier"), arg("metadataPrefix")) else {
                return Err(bad_arg("identifier and metadataPrefix are required."));
            };
            if prefix != "oai_dc" {
                return Err(cannot_disseminate(prefix));
            }
            let recs = lock(&inner.records);
            let rec = recs
                .iter()
                .find(|r| r.identifier == id)
                .ok_or_else(|| ("idDoesNotExist", format!("No matching identifier: {id}")))?;
            Ok(format!(
                "<GetRecord>{}</GetRecord>",
                record_xml(rec, cfg.granularity)
            ))
        }
        "ListRecords" => list(inner, &cfg, params, "ListRecords", tweak),
        _ => list(inner, &cfg, params, "ListIdentifiers", tweak),
    }
}

fn values_of<'a>(params: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    params
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

fn cannot_disseminate(prefix: &str) -> OaiError {
    (
        "cannotDisseminateFormat",
        format!("{prefix} is not supported by this repository."),
    )
}

fn identify(inner: &Inner, cfg: &ProviderConfig) -> String {
    let earliest = cfg.earliest_datestamp.unwrap_or_else(|| {
        lock(&inner.records)
            .iter()
            .map(|r| r.datestamp)
            .min()
            .unwrap_or(DateTime::UNIX_EPOCH)
    });
    let compression = if cfg.compression {
        "<compression>gzip</compression><compression>deflate</compression>"
    } else {
        ""
    };
    let granularity = match cfg.granularity {
        Granularity::Day => "YYYY-MM-DD",
        Granularity::Seconds => "YYYY-MM-DDThh:mm:ssZ",
    };
    format!(
        "<Identify><repositoryName>{}</repositoryName><baseURL>{}</baseURL>\
         <protocolVersion>2.0</protocolVersion><adminEmail>{}</adminEmail>\
         <earliestDatestamp>{}</earliestDatestamp><deletedRecord>{}</deletedRecord>\
         <granularity>{granularity}</granularity>{compression}</Identify>",
        escape_text(&cfg.repository_name),
        escape_text(&inner.base_url),
        escape_text(&cfg.admin_email),
        fmt_datestamp(earliest, cfg.granularity),
        escape_text(&cfg.deleted_record),
    )
}

fn list(
    inner: &Inner,
    cfg: &ProviderConfig,
    params: &[(String, String)],
    verb: &'static str,
    tweak: TokenTweak,
) -> Result<String, OaiError> {
    let arg = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let incoming_token = arg("resumptionToken");
    let (query, offset) = if let Some(tok) = incoming_token {
        // resumptionToken is exclusive (spec §3.5; pkp-lib: "X is an illegal parameter").
        if let Some((k, _)) = params
            .iter()
            .find(|(k, _)| k != "verb" && k != "resumptionToken")
        {
            return Err(bad_arg(format!("{k} is an illegal parameter.")));
        }
        let state = lock(&inner.tokens).get(tok).cloned();
        match state {
            Some(st) if st.query.verb == verb => (st.query, st.offset),
            _ => {
                return Err((
                    "badResumptionToken",
                    "The resumptionToken is invalid or expired.".to_owned(),
                ));
            }
        }
    } else {
        let prefix = arg("metadataPrefix").ok_or_else(|| bad_arg("metadataPrefix is missing."))?;
        let from = arg("from")
            .map(|s| parse_bound("from", s, cfg.granularity))
            .transpose()?;
        let until = arg("until")
            .map(|s| parse_bound("until", s, cfg.granularity))
            .transpose()?;
        if let (Some((f, fg)), Some((u, ug))) = (from, until) {
            if fg != ug {
                return Err(bad_arg("from and until must have the same granularity."));
            }
            if f > u {
                return Err(bad_arg("from is later than until."));
            }
        }
        let set = arg("set");
        if set == Some("") {
            return Err(bad_arg("set is empty."));
        }
        if set.is_some() && cfg.sets.is_empty() {
            return Err((
                "noSetHierarchy",
                "This repository does not support sets.".to_owned(),
            ));
        }
        if prefix != "oai_dc" {
            return Err(cannot_disseminate(prefix));
        }
        let query = ListQuery {
            verb,
            from: from.map(|(f, _)| f),
            until_excl: until.map(|(u, g)| u + granule(g)),
            set: set.map(str::to_owned),
        };
        (query, 0)
    };
    let mut matching: Vec<FakeRecord> = lock(&inner.records)
        .iter()
        .filter(|r| {
            let ts = r.datestamp.trunc_subsecs(0);
            query.from.is_none_or(|f| ts >= f)
                && query.until_excl.is_none_or(|u| ts < u)
                && query.set.as_deref().is_none_or(|s| r.in_set(s))
        })
        .cloned()
        .collect();
    matching.sort_by(|a, b| (a.datestamp, &a.identifier).cmp(&(b.datestamp, &b.identifier)));
    let total = matching.len();
    if offset >= total {
        return Err(("noRecordsMatch", "No records match the request.".to_owned()));
    }
    let page_size = cfg.page_size.max(1);
    let end = (offset + page_size).min(total);
    let mut body = format!("<{verb}>");
    for rec in &matching[offset..end] {
        if verb == "ListRecords" {
            body.push_str(&record_xml(rec, cfg.granularity));
        } else {
            body.push_str(&header_xml(rec, cfg.granularity));
        }
    }
    let is_last = end >= total || tweak == TokenTweak::Drop;
    let next_token = match (is_last, tweak, incoming_token) {
        (false, TokenTweak::Repeat, Some(tok)) => Some(tok.to_owned()),
        (false, _, _) => Some(issue_token(inner, &query, end)),
        (true, TokenTweak::DeadEnd, _) => Some(issue_token(inner, &query, total)),
        (true, _, _) => None,
    };
    match next_token {
        Some(tok) => {
            let expires = cfg.response_date.unwrap_or_else(Utc::now) + cfg.token_ttl;
            body.push_str(&format!(
                "<resumptionToken expirationDate=\"{}\" completeListSize=\"{total}\" \
                 cursor=\"{offset}\">{}</resumptionToken>",
                fmt_seconds(expires),
                escape_text(&tok)
            ));
        }
        // A list that fit on one page carries no token at all (spec §3.5).
        None if offset == 0 && tweak != TokenTweak::Drop => {}
        None => body.push_str(&match cfg.token_style {
            TokenStyle::Absent => String::new(),
            TokenStyle::SelfClosing => "<resumptionToken/>".to_owned(),
            TokenStyle::SelfClosingWithAttrs => {
                format!("<resumptionToken completeListSize=\"{total}\" cursor=\"{offset}\"/>")
            }
            TokenStyle::Whitespace => "<resumptionToken>\n      </resumptionToken>".to_owned(),
        }),
    }
    body.push_str(&format!("</{verb}>"));
    Ok(body)
}

/// Opaque token with `+`, `/`, `=` and a space, so any percent-encoding slip garbles it.
fn issue_token(inner: &Inner, query: &ListQuery, offset: usize) -> String {
    let n = {
        let mut seq = lock(&inner.token_seq);
        *seq += 1;
        *seq
    };
    let token = format!(
        "t{n}+o{offset}/k {:08x}==",
        (n as u64).wrapping_mul(0x9E37_79B9) as u32
    );
    lock(&inner.tokens).insert(
        token.clone(),
        TokenState {
            query: query.clone(),
            offset,
        },
    );
    token
}

fn header_xml(r: &FakeRecord, g: Granularity) -> String {
    let status = if r.deleted { " status=\"deleted\"" } else { "" };
    let sets: String = r
        .sets
        .iter()
        .map(|s| format!("<setSpec>{}</setSpec>", escape_text(s)))
        .collect();
    format!(
        "<header{status}><identifier>{}</identifier><datestamp>{}</datestamp>{sets}</header>",
        escape_text(&r.identifier),
        fmt_datestamp(r.datestamp, g)
    )
}

fn record_xml(r: &FakeRecord, g: Granularity) -> String {
    let metadata = match (&r.metadata, r.deleted) {
        (Some(m), false) => format!("<metadata>{m}</metadata>"),
        _ => String::new(),
    };
    format!("<record>{}{metadata}</record>", header_xml(r, g))
}

fn granule(g: Granularity) -> TimeDelta {
    match g {
        Granularity::Day => TimeDelta::days(1),
        Granularity::Seconds => TimeDelta::seconds(1),
    }
}

/// Strict `YYYY-MM-DD` / `YYYY-MM-DDThh:mm:ssZ`; seconds form refused by a day-only server.
fn parse_bound(
    name: &str,
    s: &str,
    server: Granularity,
) -> Result<(DateTime<Utc>, Granularity), OaiError> {
    let (dt, g) =
        parse_utc_datetime(s).ok_or_else(|| bad_arg(format!("Illegal {name} date: {s}")))?;
    if server == Granularity::Day && g == Granularity::Seconds {
        return Err(bad_arg(format!(
            "{name} granularity is finer than the repository's: {s}"
        )));
    }
    Ok((dt, g))
}

/// Parses the two OAI UTCdatetime forms, nothing else (no lower-case, millis, offsets).
pub fn parse_utc_datetime(s: &str) -> Option<(DateTime<Utc>, Granularity)> {
    let b = s.as_bytes();
    let digits_at = |idx: &[usize]| {
        idx.iter()
            .all(|&i| b.get(i).is_some_and(u8::is_ascii_digit))
    };
    let date_ok =
        digits_at(&[0, 1, 2, 3, 5, 6, 8, 9]) && b.get(4) == Some(&b'-') && b.get(7) == Some(&b'-');
    if !date_ok {
        return None;
    }
    match b.len() {
        10 => {
            let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
            Some((d.and_hms_opt(0, 0, 0)?.and_utc(), Granularity::Day))
        }
        20 if b[10] == b'T'
            && b[19] == b'Z'
            && b[13] == b':'
            && b[16] == b':'
            && digits_at(&[11, 12, 14, 15, 17, 18]) =>
        {
            let dt = NaiveDateTime::parse_from_str(&s[..19], "%Y-%m-%dT%H:%M:%S").ok()?;
            Some((dt.and_utc(), Granularity::Seconds))
        }
        _ => None,
    }
}

fn fmt_seconds(dt: DateTime<Utc>) -> String {
    dt.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn fmt_datestamp(dt: DateTime<Utc>, g: Granularity) -> String {
    match g {
        Granularity::Day => dt.format("%Y-%m-%d").to_string(),
        Granularity::Seconds => fmt_seconds(dt),
    }
}

pub fn escape_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub fn escape_attr(s: &str) -> String {
    escape_text(s).replace('"', "&quot;")
}
