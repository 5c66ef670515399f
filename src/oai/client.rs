//! The HTTP side of OAI-PMH: one shared reqwest client with timeouts, a body cap,
//! retries with backoff + jitter honouring `Retry-After`, and per-request decoding and
//! parsing off the async reactor.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use rand::Rng;
use reqwest::header::{ACCEPT, CONTENT_TYPE, FROM, HeaderMap, HeaderValue, RETRY_AFTER};

use super::decode::{DecodeReport, decode_body};
use super::error::OaiError;
use super::request::Request;
use super::response::{self, BadRecord, Payload, Response, salvage_list_records};

/// HTTP behaviour; every field has a documented default in `config/default.toml`.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Contact URL or e-mail put in the User-Agent (`sheaf/<version> (+<contact>)`).
    pub contact: String,
    /// Sent as the `From` header when set (Harvester guidelines §5).
    pub from_email: Option<String>,
    /// TCP + TLS connect deadline.
    pub connect_timeout: Duration,
    /// Longest silence while reading a body.
    pub read_timeout: Duration,
    /// Deadline for one whole request, body included (quirks #79: trickling servers).
    pub request_timeout: Duration,
    /// Cap on decompressed body bytes (quirks #77: decompression bombs).
    pub max_response_bytes: u64,
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// First backoff delay; doubles each retry, with jitter.
    pub backoff_base: Duration,
    /// Longest `Retry-After` sheaf waits in-process; longer ends the run as deferred.
    pub max_retry_after: Duration,
    /// Requests in flight to one host at most (many journals share a host).
    pub per_host_concurrency: usize,
    /// Least time between the starts of two requests to one host.
    pub min_request_interval: Duration,
    /// Send every request as a form POST (spec §3.1.1 allows both); long tokens are always
    /// POSTed (quirks #31). A 405 switches the endpoint back to GET.
    pub use_post: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            contact: "https://github.com/sheaf-harvester/sheaf".into(),
            from_email: None,
            connect_timeout: Duration::from_secs(20),
            read_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(300),
            max_response_bytes: 256 * 1024 * 1024,
            max_attempts: 5,
            backoff_base: Duration::from_secs(2),
            max_retry_after: Duration::from_secs(15 * 60),
            per_host_concurrency: 2,
            min_request_interval: Duration::ZERO,
            use_post: false,
        }
    }
}

/// Per-endpoint overrides of [`HttpConfig`] (a source's settings, resolved): extra
/// headers, basic auth, extra trusted CAs, timeouts and caps.
#[derive(Debug, Clone, Default)]
pub struct EndpointOptions {
    /// Headers added to every request (values marked sensitive: never logged).
    pub headers: Vec<(reqwest::header::HeaderName, HeaderValue)>,
    /// User name and password for HTTP basic auth.
    pub basic_auth: Option<(String, String)>,
    /// PEM bundle of CA certificates trusted in addition to the system roots.
    pub ca_bundle_pem: Option<Vec<u8>>,
    /// Overrides of the global timeouts and caps.
    pub connect_timeout: Option<Duration>,
    /// See [`HttpConfig::read_timeout`].
    pub read_timeout: Option<Duration>,
    /// See [`HttpConfig::request_timeout`].
    pub request_timeout: Option<Duration>,
    /// See [`HttpConfig::max_response_bytes`].
    pub max_response_bytes: Option<u64>,
    /// See [`HttpConfig::use_post`].
    pub use_post: Option<bool>,
}

impl EndpointOptions {
    fn is_default(&self) -> bool {
        self.headers.is_empty()
            && self.basic_auth.is_none()
            && self.ca_bundle_pem.is_none()
            && self.connect_timeout.is_none()
            && self.read_timeout.is_none()
            && self.request_timeout.is_none()
            && self.max_response_bytes.is_none()
            && self.use_post.is_none()
    }
}

/// A fetched body and what it cost.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The raw (decompressed) body.
    pub body: Vec<u8>,
    /// HTTP status.
    pub status: u16,
    /// `charset` of the Content-Type, if any.
    pub charset: Option<String>,
    /// The URL after redirects.
    pub final_url: url::Url,
    /// Parsed `Retry-After`.
    pub retry_after: Option<Duration>,
}

/// A reqwest client configured for harvesting; cheap to clone and shared by all sources.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    cfg: Arc<HttpConfig>,
    hosts: Arc<std::sync::Mutex<HashMap<String, Arc<HostGate>>>>,
}

/// Politeness towards one host: a cap on concurrent requests and a minimum interval
/// between request starts, shared by every source on that host.
#[derive(Debug)]
struct HostGate {
    slots: Arc<tokio::sync::Semaphore>,
    next_start: tokio::sync::Mutex<tokio::time::Instant>,
}

impl HttpClient {
    /// Builds the client. Installs the ring TLS provider once per process.
    pub fn new(cfg: HttpConfig) -> Result<Self, OaiError> {
        let client = build_client(&cfg, &EndpointOptions::default())?;
        Ok(Self {
            client,
            cfg: Arc::new(cfg),
            hosts: Arc::default(),
        })
    }

    /// A client for one endpoint with its own options, sharing this client's per-host
    /// politeness gates (so a source with custom headers still counts against its host).
    pub fn for_endpoint(&self, opts: &EndpointOptions) -> Result<Self, OaiError> {
        if opts.is_default() {
            return Ok(self.clone());
        }
        let base = &*self.cfg;
        let cfg = HttpConfig {
            connect_timeout: opts.connect_timeout.unwrap_or(base.connect_timeout),
            read_timeout: opts.read_timeout.unwrap_or(base.read_timeout),
            request_timeout: opts.request_timeout.unwrap_or(base.request_timeout),
            max_response_bytes: opts.max_response_bytes.unwrap_or(base.max_response_bytes),
            use_post: opts.use_post.unwrap_or(base.use_post),
            ..base.clone()
        };
        Ok(Self {
            client: build_client(&cfg, opts)?,
            cfg: Arc::new(cfg),
            hosts: self.hosts.clone(),
        })
    }

    fn gate(&self, url: &url::Url) -> Arc<HostGate> {
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let mut hosts = self
            .hosts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        hosts
            .entry(host)
            .or_insert_with(|| {
                Arc::new(HostGate {
                    slots: Arc::new(tokio::sync::Semaphore::new(
                        self.cfg.per_host_concurrency.max(1),
                    )),
                    next_start: tokio::sync::Mutex::new(tokio::time::Instant::now()),
                })
            })
            .clone()
    }

    /// The configuration in force.
    pub fn config(&self) -> &HttpConfig {
        &self.cfg
    }

    /// One GET, body read as a stream and capped, within the host's politeness limits.
    /// No retries here.
    pub async fn get(&self, url: &url::Url) -> Result<Fetched, OaiError> {
        let _slot = self.wait_turn(url).await;
        self.send(self.client.get(url.clone()), url).await
    }

    /// One form POST of `url`'s query to its path; otherwise like [`HttpClient::get`].
    pub async fn post_form(&self, url: &url::Url) -> Result<Fetched, OaiError> {
        let _slot = self.wait_turn(url).await;
        let mut target = url.clone();
        let body = target.query().unwrap_or_default().to_owned();
        target.set_query(None);
        let req = self
            .client
            .post(target)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        self.send(req, url).await
    }

    /// Waits for a free slot on the URL's host and for the host's next start time.
    async fn wait_turn(&self, url: &url::Url) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let gate = self.gate(url);
        // `None` only if the semaphore were closed, which never happens.
        let slot = gate.slots.clone().acquire_owned().await.ok();
        let mut next = gate.next_start.lock().await;
        tokio::time::sleep_until(*next).await;
        *next = tokio::time::Instant::now() + self.cfg.min_request_interval;
        slot
    }

    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        url: &url::Url,
    ) -> Result<Fetched, OaiError> {
        let u = url.as_str().to_owned();
        let classify = |e: reqwest::Error| classify(e, &u, self.cfg.request_timeout);
        let resp = req.send().await.map_err(classify)?;
        let status = resp.status().as_u16();
        let final_url = resp.url().clone();
        let charset = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|ct| {
                ct.split(';')
                    .filter_map(|p| p.trim().strip_prefix("charset="))
                    .next()
                    .map(|c| c.trim_matches('"').to_owned())
            });
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, Utc::now()));
        let limit = self.cfg.max_response_bytes;
        let mut body = Vec::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(classify)?;
            if body.len() as u64 + chunk.len() as u64 > limit {
                return Err(OaiError::TooLarge { url: u, limit });
            }
            body.extend_from_slice(&chunk);
        }
        if body.starts_with(&[0x1f, 0x8b]) {
            // Gzip the server did not announce (PHP output buffering does this): inflate
            // it here, under the same cap.
            body = gunzip_capped(&body, limit).map_err(|e| match e {
                Some(limit) => OaiError::TooLarge {
                    url: u.clone(),
                    limit,
                },
                None => OaiError::NotOai {
                    url: u.clone(),
                    detail: "body looks gzip-compressed but does not inflate".into(),
                },
            })?;
        }
        Ok(Fetched {
            body,
            status,
            charset,
            final_url,
            retry_after,
        })
    }
}

/// The reqwest client for `cfg` and one endpoint's options.
fn build_client(cfg: &HttpConfig, opts: &EndpointOptions) -> Result<reqwest::Client, OaiError> {
    // Ignored error: another part of the process installed a provider first.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut headers = HeaderMap::new();
    headers.insert(
        ACCEPT,
        HeaderValue::from_static("text/xml, application/xml;q=0.9, */*;q=0.1"),
    );
    if let Some(from) = cfg
        .from_email
        .as_deref()
        .and_then(|f| HeaderValue::from_str(f).ok())
    {
        headers.insert(FROM, from);
    }
    for (name, value) in &opts.headers {
        headers.insert(name.clone(), value.clone());
    }
    if let Some((user, password)) = &opts.basic_auth {
        use base64::Engine as _;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let mut v = HeaderValue::from_str(&format!("Basic {token}")).map_err(|_| {
            build_error("basic auth credentials are not a valid header value".into())
        })?;
        // Never logged; reqwest also drops it on a redirect to another host.
        v.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, v);
    }
    let mut builder = reqwest::Client::builder()
        .user_agent(format!(
            "sheaf/{} (+{})",
            env!("CARGO_PKG_VERSION"),
            cfg.contact
        ))
        .default_headers(headers)
        .connect_timeout(cfg.connect_timeout)
        .read_timeout(cfg.read_timeout)
        .timeout(cfg.request_timeout)
        .redirect(reqwest::redirect::Policy::limited(5));
    if let Some(pem) = &opts.ca_bundle_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| build_error(format!("CA bundle: {e}")))?;
        builder = builder.tls_certs_merge(certs);
    }
    builder
        .build()
        .map_err(|e| build_error(format!("cannot build HTTP client: {e}")))
}

fn build_error(reason: String) -> OaiError {
    OaiError::InvalidUrl {
        url: String::new(),
        reason,
    }
}

/// Inflates a gzip body; `Err(Some(limit))` when it would exceed `limit` bytes,
/// `Err(None)` when it is not valid gzip.
fn gunzip_capped(body: &[u8], limit: u64) -> Result<Vec<u8>, Option<u64>> {
    use std::io::Read;
    let mut out = Vec::new();
    let mut dec = flate2::read::MultiGzDecoder::new(body).take(limit + 1);
    dec.read_to_end(&mut out).map_err(|_| None)?;
    if out.len() as u64 > limit {
        return Err(Some(limit));
    }
    Ok(out)
}

fn classify(e: reqwest::Error, url: &str, deadline: Duration) -> OaiError {
    if e.is_timeout() {
        return OaiError::Timeout {
            url: url.to_owned(),
            after: deadline,
        };
    }
    if let Some(message) = tls_cause(&e) {
        return OaiError::Tls {
            url: url.to_owned(),
            message,
        };
    }
    OaiError::Network {
        url: url.to_owned(),
        source: e,
    }
}

/// The TLS failure behind a request error, found by type in its cause chain (a rustls
/// error, possibly wrapped in the `io::Error`s of the connection).
fn tls_cause(e: &reqwest::Error) -> Option<String> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<rustls::Error>() {
            return Some(t.to_string());
        }
        // An io::Error's `source()` skips the error it wraps; step into it instead (the
        // connector nests io::Errors around the rustls error).
        cur = match err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    None
}

/// `Retry-After` as delta-seconds or an HTTP-date (RFC 9110 §10.2.3).
pub fn parse_retry_after(v: &str, now: DateTime<Utc>) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(v).ok()?.with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// What one logical request cost, retries included.
#[derive(Debug, Clone, Default)]
pub struct RequestStats {
    /// Body bytes received over all attempts.
    pub bytes: u64,
    /// Attempts beyond the first.
    pub retries: u32,
    /// What decoding repaired in the accepted body.
    pub decode: DecodeReport,
    /// The URL the answer came from, after redirects.
    pub final_url: Option<url::Url>,
}

/// An OAI-PMH endpoint: a base URL and the shared client.
#[derive(Debug, Clone)]
pub struct OaiClient {
    http: HttpClient,
    base: url::Url,
    /// Set after a 405 to POST: this endpoint only takes GET.
    get_only: Arc<std::sync::atomic::AtomicBool>,
    /// Retries made through this client, including those of requests that finally failed.
    retries: Arc<std::sync::atomic::AtomicU32>,
}

/// Queries longer than this go by POST: some servers and proxies cut long URLs.
const LONG_QUERY: usize = 2000;

impl OaiClient {
    /// Validates the base URL (http or https only: quirks #78).
    pub fn new(http: HttpClient, base_url: &str) -> Result<Self, OaiError> {
        let base = parse_base_url(base_url)?;
        Ok(Self {
            http,
            base,
            get_only: Arc::default(),
            retries: Arc::default(),
        })
    }

    /// The base URL.
    pub fn base_url(&self) -> &url::Url {
        &self.base
    }

    /// Retries made so far through this client (and its clones).
    pub fn retries(&self) -> u32 {
        self.retries.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sends `req`, retrying transient failures with backoff; parses the answer.
    pub async fn request(&self, req: &Request) -> Result<(Response, RequestStats), OaiError> {
        let (resp, stats, _) = self.request_inner(req, false).await?;
        Ok((resp, stats))
    }

    /// Like [`OaiClient::request`] for `ListRecords`, but a page that is still malformed
    /// after one retry is salvaged record by record: the good records come back in the
    /// response, the broken fragments as [`BadRecord`]s for quarantine.
    pub async fn request_salvaging(
        &self,
        req: &Request,
    ) -> Result<(Response, RequestStats, Vec<BadRecord>), OaiError> {
        self.request_inner(req, true).await
    }

    async fn request_inner(
        &self,
        req: &Request,
        salvage: bool,
    ) -> Result<(Response, RequestStats, Vec<BadRecord>), OaiError> {
        let url = req.url(&self.base);
        let cfg = self.http.config();
        let mut stats = RequestStats::default();
        let mut attempt = 0u32;
        let mut malformed_seen = false;
        loop {
            attempt += 1;
            let failure = match self.attempt(req, &url, &mut stats).await {
                Ok(resp) => return Ok((resp, stats, Vec::new())),
                Err(f) => f,
            };
            let retry_after = failure.retry_after;
            let err = failure.error;
            if let (
                OaiError::Xml {
                    position, message, ..
                },
                Some(text),
            ) = (&err, failure.text)
            {
                // A malformed page may be a truncated transfer: ask once more, then salvage.
                if !malformed_seen && attempt < cfg.max_attempts {
                    malformed_seen = true;
                } else if salvage {
                    if let Some(s) = salvage_list_records(&text, url.as_str()) {
                        let warning = format!(
                            "malformed page at byte {position} ({message}): {} records salvaged, {} quarantined",
                            s.records.len(),
                            s.bad.len()
                        );
                        let resp = Response {
                            response_date: None,
                            payload: Payload::Records(s.records),
                            token: s.token,
                            warnings: vec![warning],
                        };
                        return Ok((resp, stats, s.bad));
                    }
                    return Err(err);
                } else {
                    return Err(err);
                }
            } else if !err.is_transient() || attempt >= cfg.max_attempts {
                return Err(err);
            }
            let wait = match retry_after {
                Some(ra) if ra > cfg.max_retry_after => {
                    return Err(OaiError::Deferred {
                        url: url.to_string(),
                        until: Utc::now() + chrono::TimeDelta::from_std(ra).unwrap_or_default(),
                    });
                }
                Some(ra) => ra,
                None => backoff(cfg.backoff_base, attempt),
            };
            tracing::warn!(url = %url, attempt, wait_ms = wait.as_millis() as u64, error = %err, "retrying OAI-PMH request");
            stats.retries += 1;
            self.retries
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tokio::time::sleep(wait).await;
        }
    }

    async fn attempt(
        &self,
        req: &Request,
        url: &url::Url,
        stats: &mut RequestStats,
    ) -> Result<Response, AttemptFailure> {
        use std::sync::atomic::Ordering;
        let long = url.query().map_or(0, str::len) > LONG_QUERY;
        let post = (self.http.config().use_post || long) && !self.get_only.load(Ordering::Relaxed);
        let mut fetched = if post {
            self.http.post_form(url).await
        } else {
            self.http.get(url).await
        }
        .map_err(AttemptFailure::plain)?;
        if post && fetched.status == 405 {
            tracing::info!(url = %self.base, "endpoint refuses POST; using GET");
            self.get_only.store(true, Ordering::Relaxed);
            fetched = self.http.get(url).await.map_err(AttemptFailure::plain)?;
        }
        stats.bytes += fetched.body.len() as u64;
        stats.final_url = Some(fetched.final_url.clone());
        let verb = req.verb();
        let url_s = url.to_string();
        let status = fetched.status;
        let retry_after = fetched.retry_after;
        let keep_text = verb == crate::oai::Verb::ListRecords;
        let parsed = tokio::task::spawn_blocking(move || {
            let (text, report) = decode_body(&fetched.body, fetched.charset.as_deref());
            let parsed = response::parse(&text, verb, &url_s);
            let text = (keep_text && matches!(parsed, Err(OaiError::Xml { .. }))).then_some(text);
            (parsed, report, text)
        })
        .await;
        let (parsed, report, text) = parsed.map_err(|join| {
            AttemptFailure::plain(OaiError::Xml {
                url: url.to_string(),
                position: 0,
                message: format!("parser task failed: {join}"),
            })
        })?;
        stats.decode = report;
        if (200..300).contains(&status) {
            return parsed.map_err(|error| AttemptFailure {
                error,
                retry_after: None,
                text,
            });
        }
        // An OAI answer in a 4xx/5xx body decides the outcome (quirks #24: some servers send
        // noRecordsMatch with 404); anything else is the status.
        match parsed {
            Err(e @ OaiError::Protocol { .. }) => Err(AttemptFailure::plain(e)),
            Ok(resp) if (400..500).contains(&status) && status != 429 => Ok(resp),
            _ => Err(AttemptFailure {
                error: OaiError::HttpStatus {
                    url: url.to_string(),
                    status,
                    retry_after,
                },
                retry_after,
                text: None,
            }),
        }
    }
}

/// Why one attempt failed, with what the retry loop needs to decide.
struct AttemptFailure {
    error: OaiError,
    retry_after: Option<Duration>,
    /// The decoded body, kept only for a malformed `ListRecords` page (for salvage).
    text: Option<String>,
}

impl AttemptFailure {
    fn plain(error: OaiError) -> Self {
        Self {
            error,
            retry_after: None,
            text: None,
        }
    }
}

/// Exponential backoff with full jitter in [base·2^(n-1)/2, base·2^(n-1)], capped at 5 min.
fn backoff(base: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let cap = exp.min(Duration::from_secs(300));
    let half = cap / 2;
    half + cap
        .saturating_sub(half)
        .mul_f64(rand::rng().random::<f64>())
}

/// Parses and checks a base URL: http(s) only, no credentials embedded, no fragment.
pub fn parse_base_url(s: &str) -> Result<url::Url, OaiError> {
    let err = |reason: &str| OaiError::InvalidUrl {
        url: s.to_owned(),
        reason: reason.to_owned(),
    };
    let u = url::Url::parse(s.trim()).map_err(|e| err(&e.to_string()))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(err("only http and https are allowed"));
    }
    if u.host_str().is_none() {
        return Err(err("no host"));
    }
    if u.fragment().is_some() {
        return Err(err("a base URL has no #fragment"));
    }
    Ok(u)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn retry_after_in_both_forms() {
        let now = Utc.with_ymd_and_hms(2026, 11, 28, 10, 0, 0).unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sat, 28 Nov 2026 10:01:30 GMT", now),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            parse_retry_after("Sat, 28 Nov 2026 09:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn backoff_grows_and_stays_capped() {
        let b = Duration::from_secs(2);
        for attempt in 1..30 {
            let d = backoff(b, attempt);
            let full = b
                .saturating_mul(1 << (attempt - 1).min(16))
                .min(Duration::from_secs(300));
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn requests_to_one_host_are_spaced_and_capped() {
        let client = HttpClient::new(HttpConfig {
            per_host_concurrency: 1,
            min_request_interval: Duration::from_secs(2),
            ..HttpConfig::default()
        })
        .unwrap();
        let a = url::Url::parse("http://a.example/oai").unwrap();
        let b = url::Url::parse("http://b.example/oai").unwrap();
        let start = tokio::time::Instant::now();
        for _ in 0..3 {
            drop(client.wait_turn(&a).await);
        }
        let held = client.wait_turn(&b).await;
        assert_eq!(start.elapsed(), Duration::from_secs(4));
        assert_eq!(client.gate(&b).slots.available_permits(), 0);
        drop(held);
        // Third start on host a waits two intervals; host b has its own gate.
        assert_eq!(start.elapsed(), Duration::from_secs(4));
        assert!(!Arc::ptr_eq(&client.gate(&a), &client.gate(&b)));
        assert_eq!(client.gate(&a).slots.available_permits(), 1);
        assert_eq!(client.gate(&b).slots.available_permits(), 1);
    }

    #[test]
    fn unannounced_gzip_is_inflated_under_the_cap() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&vec![b'a'; 10_000]).unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(gunzip_capped(&gz, 10_000).unwrap().len(), 10_000);
        assert_eq!(gunzip_capped(&gz, 9_999), Err(Some(9_999)));
        assert_eq!(gunzip_capped(&[0x1f, 0x8b, 1, 2, 3], 100), Err(None));
    }

    #[test]
    fn base_urls_are_checked() {
        assert!(parse_base_url("https://journal.example/oai").is_ok());
        assert!(parse_base_url("file:///etc/passwd").is_err());
        assert!(parse_base_url("gopher://x.example/").is_err());
        assert!(parse_base_url("not a url").is_err());
    }
}
