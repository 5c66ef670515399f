//! `sheaf check`: an endpoint report for repository operators and journal editors.
//!
//! A handful of polite requests — Identify, ListMetadataFormats, ListSets, a few ListRecords
//! pages and one or two `from` probes, about eight in all — made with [`HttpClient::get`] and
//! decoded and parsed here rather than through [`crate::oai::OaiClient`], so the report sees
//! the raw observations: statuses, `Retry-After`, what decoding had to repair, the token as
//! written. Every violation or quirk becomes a [`Finding`] with a stable code, a severity and
//! a one-line fix addressed to the operator. [`check_endpoint`] never fails: a failure is a
//! finding, and an endpoint is harvestable when no finding is an error.
//!
//! **Architecture invariant:** like `oai`, this module knows nothing of SQL or normalization.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Datelike, TimeDelta, Utc};
use serde::Serialize;

use crate::oai::client::parse_base_url;
use crate::oai::datestamp::{ProtocolDate, parse_datestamp};
use crate::oai::decode::{DecodeReport, decode_body};
use crate::oai::response::{self, Identify, Payload, Response};
use crate::oai::{Granularity, HttpClient, ListArgs, OaiError, OaiErrorCode, Request, Verb};

/// How many sets the report lists at most.
pub const MAX_SETS_LISTED: usize = 200;

/// Retries of 429/5xx answers over the whole check, so a check stays near ten requests.
const MAX_RETRIES: u32 = 2;

/// Query arguments of OAI-PMH requests, stripped from a redirect target to recover the base URL.
const OAI_ARGS: [&str; 7] = [
    "verb",
    "metadataPrefix",
    "from",
    "until",
    "set",
    "resumptionToken",
    "identifier",
];

/// What to check and how patiently.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// ListRecords pages to sample (the first one included); at least one is fetched.
    pub sample_pages: usize,
    /// The metadata format to sample.
    pub metadata_prefix: String,
    /// Median latency of the sampled pages above which the endpoint is reported `slow`.
    pub slow_threshold: Duration,
    /// Longest wait before retrying a 503/429; a longer `Retry-After` ends that request.
    pub max_retry_wait: Duration,
}

impl Default for CheckOptions {
    fn default() -> Self {
        Self {
            sample_pages: 3,
            metadata_prefix: "oai_dc".into(),
            slow_threshold: Duration::from_secs(5),
            max_retry_wait: Duration::from_secs(30),
        }
    }
}

/// How much a finding matters. Ordered from the most to the least serious.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The endpoint cannot be harvested (or not completely).
    Error,
    /// Harvesting works around it, at a cost in completeness, speed or correctness.
    Warning,
    /// Worth knowing; harvesting is not affected much.
    Info,
}

impl Severity {
    /// The lower-case name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One violation or quirk seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable snake_case identifier (e.g. `token_loop`), for scripts and documentation.
    pub code: &'static str,
    /// How much it matters.
    pub severity: Severity,
    /// What was observed, in one line.
    pub message: String,
    /// What the repository operator should do about it, in one line.
    pub fix: String,
}

impl Finding {
    fn new(
        code: &'static str,
        severity: Severity,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            code,
            severity,
            message: message.into(),
            fix: fix.into(),
        }
    }
}

/// What Identify said.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IdentifySummary {
    /// `repositoryName`.
    pub repository_name: String,
    /// `baseURL` as the server believes it to be.
    pub base_url: String,
    /// `protocolVersion`.
    pub protocol_version: String,
    /// `adminEmail` values.
    pub admin_emails: Vec<String>,
    /// `earliestDatestamp`, raw.
    pub earliest_datestamp: String,
    /// `granularity`, raw.
    pub granularity: String,
    /// `deletedRecord`.
    pub deleted_record: String,
    /// `compression` values.
    pub compression: Vec<String>,
    /// The response's `responseDate`, if it parsed.
    pub response_date: Option<DateTime<Utc>>,
}

impl From<&Identify> for IdentifySummary {
    fn from(id: &Identify) -> Self {
        Self {
            repository_name: id.repository_name.clone(),
            base_url: id.base_url.clone(),
            protocol_version: id.protocol_version.clone(),
            admin_emails: id.admin_emails.clone(),
            earliest_datestamp: id.earliest_datestamp.clone(),
            granularity: id.granularity_raw.clone(),
            deleted_record: id.deleted_record.clone(),
            compression: id.compression.clone(),
            response_date: None,
        }
    }
}

/// What the sampled ListRecords pages showed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SampleSummary {
    /// Pages fetched successfully.
    pub pages: usize,
    /// Records on them, tombstones included.
    pub records: usize,
    /// Tombstones among them.
    pub deleted: usize,
    /// The last `completeListSize` announced, if any.
    pub complete_list_size: Option<u64>,
    /// The oldest datestamp sampled.
    pub first_datestamp: Option<DateTime<Utc>>,
    /// The newest datestamp sampled.
    pub last_datestamp: Option<DateTime<Utc>>,
    /// Median response time of the sampled pages.
    pub median_latency_ms: Option<u64>,
    /// Slowest sampled page.
    pub max_latency_ms: Option<u64>,
    /// Body bytes of the sampled pages (after HTTP decompression).
    pub bytes: u64,
    /// Whether the whole list was seen (the last page had no token).
    pub list_complete: bool,
}

/// The endpoint report.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// The URL that was checked, as given.
    pub base_url: String,
    /// The base URL after redirects, once the endpoint answered.
    pub final_url: Option<String>,
    /// Identify, when it could be read.
    pub identify: Option<IdentifySummary>,
    /// metadataPrefixes offered.
    pub formats: Vec<String>,
    /// (setSpec, setName) of the first page of ListSets, at most [`MAX_SETS_LISTED`].
    pub sets: Vec<(String, String)>,
    /// Sets on the first page of ListSets (may exceed `sets.len()`).
    pub sets_total: usize,
    /// ListSets had more pages than the one fetched, or the list was capped.
    pub sets_truncated: bool,
    /// The ListRecords sample.
    pub sample: SampleSummary,
    /// Everything found, errors first.
    pub findings: Vec<Finding>,
    /// No finding is an error.
    pub harvestable: bool,
    /// HTTP requests made, retries included.
    pub requests: usize,
}

impl CheckReport {
    fn new(base_url: &str) -> Self {
        Self {
            base_url: base_url.to_owned(),
            final_url: None,
            identify: None,
            formats: Vec::new(),
            sets: Vec::new(),
            sets_total: 0,
            sets_truncated: false,
            sample: SampleSummary::default(),
            findings: Vec::new(),
            harvestable: true,
            requests: 0,
        }
    }

    fn push(&mut self, f: Finding) {
        self.findings.push(f);
    }

    /// The first finding with this code, if any.
    pub fn finding(&self, code: &str) -> Option<&Finding> {
        self.findings.iter().find(|f| f.code == code)
    }

    fn finish(mut self, requests: usize) -> Self {
        self.findings.sort_by_key(|f| f.severity);
        self.harvestable = !self.findings.iter().any(|f| f.severity == Severity::Error);
        self.requests = requests;
        self
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Endpoint:    {}", self.base_url)?;
        if let Some(u) = self.final_url.as_deref().filter(|u| *u != self.base_url) {
            writeln!(f, "Final URL:   {u}")?;
        }
        if let Some(id) = &self.identify {
            writeln!(f, "Repository:  {}", or_dash(&id.repository_name))?;
            writeln!(f, "  baseURL:           {}", or_dash(&id.base_url))?;
            writeln!(f, "  protocolVersion:   {}", or_dash(&id.protocol_version))?;
            writeln!(
                f,
                "  adminEmail:        {}",
                or_dash(&id.admin_emails.join(", "))
            )?;
            writeln!(
                f,
                "  earliestDatestamp: {}",
                or_dash(&id.earliest_datestamp)
            )?;
            writeln!(f, "  granularity:       {}", or_dash(&id.granularity))?;
            writeln!(f, "  deletedRecord:     {}", or_dash(&id.deleted_record))?;
            writeln!(
                f,
                "  compression:       {}",
                or_dash(&id.compression.join(", "))
            )?;
        }
        writeln!(f, "Formats:     {}", or_dash(&self.formats.join(", ")))?;
        let shown: Vec<String> = self
            .sets
            .iter()
            .take(10)
            .map(|(spec, name)| format!("{spec} ({name})"))
            .collect();
        let more = if self.sets_truncated || self.sets_total > shown.len() {
            ", …"
        } else {
            ""
        };
        writeln!(
            f,
            "Sets:        {}{}",
            if self.sets_total == 0 {
                "none".to_owned()
            } else {
                format!(
                    "{}{}: {}",
                    self.sets_total,
                    plus(self.sets_truncated),
                    shown.join(", ")
                )
            },
            more
        )?;
        let s = &self.sample;
        write!(
            f,
            "Sample:      {} page(s), {} record(s), {} deleted",
            s.pages, s.records, s.deleted
        )?;
        if let Some(n) = s.complete_list_size {
            write!(f, ", completeListSize {n}")?;
        }
        if s.list_complete {
            write!(f, " (whole list)")?;
        }
        writeln!(f)?;
        if let (Some(a), Some(b)) = (s.first_datestamp, s.last_datestamp) {
            writeln!(
                f,
                "  datestamps:        {} … {}",
                a.format("%Y-%m-%dT%H:%M:%SZ"),
                b.format("%Y-%m-%dT%H:%M:%SZ")
            )?;
        }
        if let (Some(med), Some(max)) = (s.median_latency_ms, s.max_latency_ms) {
            writeln!(
                f,
                "  latency:           median {med} ms, max {max} ms; {} bytes",
                s.bytes
            )?;
        }
        writeln!(f, "Requests:    {}", self.requests)?;
        if self.findings.is_empty() {
            writeln!(f, "Findings:    none")?;
        } else {
            writeln!(f, "Findings:")?;
            for x in &self.findings {
                writeln!(
                    f,
                    "  {:<7} {}: {}",
                    x.severity.as_str().to_uppercase(),
                    x.code,
                    x.message
                )?;
                writeln!(f, "          fix: {}", x.fix)?;
            }
        }
        let errors = self
            .findings
            .iter()
            .filter(|x| x.severity == Severity::Error)
            .count();
        if self.harvestable {
            write!(f, "Verdict:     harvestable")
        } else {
            write!(f, "Verdict:     NOT harvestable ({errors} error(s))")
        }
    }
}

fn or_dash(s: &str) -> &str {
    if s.trim().is_empty() { "—" } else { s }
}

fn plus(b: bool) -> &'static str {
    if b { "+" } else { "" }
}

/// Checks the endpoint at `base_url` and reports what it found. Never panics, never fails:
/// errors become findings.
pub async fn check_endpoint(http: &HttpClient, base_url: &str, opts: &CheckOptions) -> CheckReport {
    let mut report = CheckReport::new(base_url);
    let base = match parse_base_url(base_url) {
        Ok(u) => u,
        Err(e) => {
            report.push(Finding::new(
                "unreachable",
                Severity::Error,
                e.to_string(),
                "Publish an http(s) base URL without credentials or #fragment.",
            ));
            return report.finish(0);
        }
    };
    let mut p = Prober {
        http,
        base,
        max_retry_wait: opts.max_retry_wait,
        requests: 0,
        retries_left: MAX_RETRIES,
        decodes: Vec::new(),
        missing_retry_after: Vec::new(),
    };
    run(&mut p, opts, &mut report).await;
    p.report_transport(&mut report);
    let requests = p.requests;
    report.finish(requests)
}

async fn run(p: &mut Prober<'_>, opts: &CheckOptions, report: &mut CheckReport) {
    // 1. Identify; nothing else is worth asking if it fails.
    let ans = match p.fetch(&Request::Identify).await {
        Ok(a) => a,
        Err(e) => {
            report.push(identify_failure(&e));
            return;
        }
    };
    let Payload::Identify(id) = &ans.resp.payload else {
        report.push(Finding::new(
            "not_oai",
            Severity::Error,
            "Identify did not answer with an <Identify> element",
            "Make verb=Identify return the OAI-PMH Identify response.",
        ));
        return;
    };
    let (final_url, requested) = (&ans.final_url, &ans.requested);
    let new_base = strip_oai_args(final_url);
    if new_base != strip_oai_args(requested) {
        report.push(Finding::new(
            "redirected",
            Severity::Info,
            format!("{} redirects to {new_base}", report.base_url),
            "Publish the final URL as the base URL (in Identify and registries) to save a round trip.",
        ));
        p.base = new_base.clone();
    }
    report.final_url = Some(new_base.to_string());
    let mut summary = IdentifySummary::from(id);
    summary.response_date = ans.resp.response_date;
    report.identify = Some(summary);
    let granularity = check_identify(id, &p.base, report);

    // 2. Formats.
    let mut format_listed = None;
    match p
        .fetch(&Request::ListMetadataFormats { identifier: None })
        .await
    {
        Ok(Answer {
            resp:
                Response {
                    payload: Payload::MetadataFormats(formats),
                    ..
                },
            ..
        }) => {
            report.formats = formats.into_iter().map(|f| f.prefix).collect();
            format_listed = Some(report.formats.contains(&opts.metadata_prefix));
        }
        Ok(_) => {}
        Err(e) => report.push(Finding::new(
            "formats_broken",
            Severity::Warning,
            format!("ListMetadataFormats failed: {}", short(&e)),
            "Make verb=ListMetadataFormats list every format the repository offers.",
        )),
    }

    // 3. Sets (first page only).
    match p.fetch(&Request::ListSets).await {
        Ok(ans) => {
            if let Payload::Sets(sets) = ans.resp.payload {
                report.sets_total = sets.len();
                report.sets_truncated = sets.len() > MAX_SETS_LISTED
                    || ans.resp.token.is_some_and(|t| t.token.is_some());
                report.sets = sets
                    .into_iter()
                    .take(MAX_SETS_LISTED)
                    .map(|s| (s.spec, s.name))
                    .collect();
            }
        }
        Err(e) => report.push(Finding::new(
            "sets_broken",
            Severity::Warning,
            format!("ListSets failed: {}", short(&e)),
            "Make verb=ListSets list the sets, or answer noSetHierarchy when there are none.",
        )),
    }

    // 4. Sample a few ListRecords pages.
    let sample = sample_records(p, opts, format_listed, report).await;
    check_datestamps(id, granularity, &sample, report);

    // 5. Probe `from`: in the declared form, and in the day form if that is refused.
    if let (true, Some(oldest), Some(newest)) = (
        sample.ok,
        report.sample.first_datestamp,
        report.sample.last_datestamp,
    ) {
        probe_from(p, opts, granularity, oldest, newest, report).await;
    }
}

/// Identify checks; returns the granularity to use for `from`.
fn check_identify(id: &Identify, base: &url::Url, report: &mut CheckReport) -> Granularity {
    let granularity = match id.granularity() {
        Some(g) => g,
        None => {
            let what = if id.granularity_raw.is_empty() {
                "Identify has no <granularity>".to_owned()
            } else {
                format!(
                    "Identify declares an invalid granularity {:?}",
                    id.granularity_raw
                )
            };
            report.push(Finding::new(
                "granularity_invalid",
                Severity::Warning,
                format!("{what}; harvesters fall back to day granularity"),
                "Declare <granularity>YYYY-MM-DDThh:mm:ssZ</granularity> (or YYYY-MM-DD) exactly.",
            ));
            Granularity::Day
        }
    };
    if id.protocol_version.trim() != "2.0" {
        report.push(Finding::new(
            "protocol_version",
            Severity::Warning,
            format!("protocolVersion is {:?}, not 2.0", id.protocol_version),
            "Implement and declare OAI-PMH 2.0.",
        ));
    }
    let mut missing = Vec::new();
    if id.repository_name.trim().is_empty() {
        missing.push("repositoryName");
    }
    if id.admin_emails.iter().all(|e| !e.contains('@')) {
        missing.push("adminEmail");
    }
    if !missing.is_empty() {
        report.push(Finding::new(
            "identify_incomplete",
            Severity::Info,
            format!("Identify lacks {}", missing.join(" and ")),
            "Fill in the repository name and a working contact e-mail in the OAI settings.",
        ));
    }
    match id.deleted_record.trim() {
        "persistent" => {}
        v => report.push(Finding::new(
            "no_persistent_deletions",
            Severity::Info,
            format!(
                "deletedRecord is {:?}: withdrawn items silently disappear from incremental harvests",
                v
            ),
            "Keep tombstones and declare <deletedRecord>persistent</deletedRecord>.",
        )),
    }
    if id.compression.is_empty() {
        report.push(Finding::new(
            "no_compression",
            Severity::Info,
            "Identify offers no <compression>; pages travel uncompressed",
            "Enable gzip for the OAI responses and declare <compression>gzip</compression>.",
        ));
    }
    if !id.base_url.trim().is_empty() && !same_url(&id.base_url, base.as_str()) {
        report.push(Finding::new(
            "base_url_mismatch",
            Severity::Info,
            format!(
                "Identify's baseURL {} differs from the URL that answered ({base})",
                id.base_url.trim()
            ),
            "Set Identify's baseURL to the public URL of the endpoint.",
        ));
    }
    granularity
}

fn same_url(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.trim()
            .trim_end_matches('/')
            .to_ascii_lowercase()
            .replace(":80/", "/")
    };
    norm(a) == norm(b)
}

/// Observations of the sample beyond the summary.
#[derive(Debug, Default)]
struct Sample {
    /// The first page came back without an error.
    ok: bool,
    unparseable: Vec<String>,
    future: usize,
}

async fn sample_records(
    p: &mut Prober<'_>,
    opts: &CheckOptions,
    format_listed: Option<bool>,
    report: &mut CheckReport,
) -> Sample {
    let mut out = Sample::default();
    let mut seen_tokens = HashSet::new();
    let mut delivered = 0u64;
    let mut latencies = Vec::new();
    let mut inconsistencies = Vec::new();
    let mut whitespace = false;
    let now = Utc::now();
    let mut req = Request::ListRecords(ListArgs {
        metadata_prefix: opts.metadata_prefix.clone(),
        ..ListArgs::default()
    });
    for page in 0..opts.sample_pages.max(1) {
        let ans = match p.fetch(&req).await {
            Ok(a) => a,
            Err(e) => {
                report.push(list_failure(&e, page, &opts.metadata_prefix, format_listed));
                break;
            }
        };
        if page == 0 {
            out.ok = true;
        }
        let s = &mut report.sample;
        s.pages += 1;
        s.bytes += ans.bytes;
        latencies.push(ans.latency);
        let records: &[_] = match &ans.resp.payload {
            Payload::Records(r) => r,
            _ => &[],
        };
        for r in records {
            s.records += 1;
            s.deleted += usize::from(r.header.deleted);
            match r.header.datestamp {
                Some(d) => {
                    s.first_datestamp = Some(s.first_datestamp.map_or(d, |x| x.min(d)));
                    s.last_datestamp = Some(s.last_datestamp.map_or(d, |x| x.max(d)));
                    out.future += usize::from(d > now + TimeDelta::days(1));
                }
                None => out.unparseable.push(r.header.datestamp_raw.clone()),
            }
        }
        if let Some(t) = &ans.resp.token {
            if let Some(n) = t.complete_list_size {
                if let Some(prev) = s.complete_list_size.filter(|prev| *prev != n) {
                    inconsistencies.push(format!("completeListSize changed from {prev} to {n}"));
                }
                s.complete_list_size = Some(n);
            }
            let len = records.len() as u64;
            if let Some(c) = t.cursor
                && len > 0
                && c != delivered
                && c != delivered + len
            {
                inconsistencies.push(format!(
                    "cursor {c} on page {} after {delivered} records",
                    page + 1
                ));
            }
        }
        delivered += records.len() as u64;
        whitespace |= token_has_whitespace(&ans.text);
        match ans.resp.next_token() {
            None => {
                s.list_complete = true;
                if let Some(n) = s.complete_list_size.filter(|n| *n != delivered) {
                    inconsistencies.push(format!(
                        "the list ended after {delivered} records, completeListSize said {n}"
                    ));
                }
                break;
            }
            Some(t) => {
                if !seen_tokens.insert(t.to_owned()) {
                    report.push(Finding::new(
                        "token_loop",
                        Severity::Error,
                        format!(
                            "page {} returned a resumptionToken already seen ({t:?}); a harvest would loop",
                            page + 1
                        ),
                        "Issue a new resumptionToken for every page and an empty one on the last.",
                    ));
                    break;
                }
                req = Request::Resume {
                    verb: Verb::ListRecords,
                    token: t.to_owned(),
                };
            }
        }
    }
    if out.ok && format_listed == Some(false) {
        report.push(Finding::new(
            "format_unlisted",
            Severity::Warning,
            format!(
                "{} works in ListRecords but ListMetadataFormats does not list it",
                opts.metadata_prefix
            ),
            "List every supported metadataPrefix in ListMetadataFormats.",
        ));
    }
    if out.ok && report.sample.records == 0 {
        report.push(Finding::new(
            "empty",
            Severity::Info,
            format!(
                "ListRecords with metadataPrefix={} matched no records",
                opts.metadata_prefix
            ),
            "Check that published items are exposed to OAI-PMH in this format.",
        ));
    }
    if whitespace {
        report.push(Finding::new(
            "token_whitespace",
            Severity::Info,
            "the resumptionToken is wrapped in whitespace; strict harvesters send it back verbatim and fail",
            "Write the token without surrounding spaces or line breaks.",
        ));
    }
    if !inconsistencies.is_empty() {
        report.push(Finding::new(
            "list_size_inconsistent",
            Severity::Info,
            inconsistencies.join("; "),
            "Keep completeListSize constant during a list and cursor equal to the records sent before each page.",
        ));
    }
    latencies.sort();
    if !latencies.is_empty() {
        let n = latencies.len();
        let median = (latencies[(n - 1) / 2] + latencies[n / 2]) / 2;
        let max = latencies[n - 1];
        report.sample.median_latency_ms = Some(median.as_millis() as u64);
        report.sample.max_latency_ms = Some(max.as_millis() as u64);
        if median > opts.slow_threshold {
            report.push(Finding::new(
                "slow",
                Severity::Warning,
                format!(
                    "median ListRecords response time is {} ms (max {} ms)",
                    median.as_millis(),
                    max.as_millis()
                ),
                "Speed up ListRecords (index datestamps, cache, smaller pages); slow pages time out harvests.",
            ));
        }
    }
    out
}

/// Datestamp checks that need Identify and the sample.
fn check_datestamps(id: &Identify, g: Granularity, sample: &Sample, report: &mut CheckReport) {
    let now = Utc::now();
    let mut why = Vec::new();
    match parse_datestamp(&id.earliest_datestamp) {
        None => why.push(format!("{:?} does not parse", id.earliest_datestamp)),
        Some(e) => {
            if e > now + TimeDelta::days(1) {
                why.push(format!("{} is in the future", g.format(e)));
            } else if e.year() <= 1970 {
                why.push(format!("{} looks like a default value", g.format(e)));
            }
            if let Some(first) = report.sample.first_datestamp
                && e > first
            {
                why.push(format!(
                    "it is later than a sampled datestamp ({})",
                    g.format(first)
                ));
            }
        }
    }
    if !why.is_empty() {
        report.push(Finding::new(
            "earliest_datestamp_suspect",
            Severity::Info,
            format!("earliestDatestamp: {}", why.join("; ")),
            "Set earliestDatestamp to the oldest datestamp of any record, tombstones included.",
        ));
    }
    if !sample.unparseable.is_empty() {
        report.push(Finding::new(
            "datestamp_unparseable",
            Severity::Warning,
            format!(
                "{} sampled datestamp(s) do not parse, e.g. {:?}",
                sample.unparseable.len(),
                sample.unparseable[0]
            ),
            format!("Write datestamps as {} in UTC.", g.as_str()),
        ));
    }
    if sample.future > 0 {
        report.push(Finding::new(
            "datestamp_future",
            Severity::Info,
            format!("{} sampled datestamp(s) are in the future", sample.future),
            "Datestamps are the UTC time of the last change; check the server clock and time zone.",
        ));
    }
}

/// Requests `ListIdentifiers` with a `from` inside the sampled range: a refused seconds form
/// with a working day form is a granularity mismatch; records older than `from` coming back
/// mean `from` is ignored.
async fn probe_from(
    p: &mut Prober<'_>,
    opts: &CheckOptions,
    declared: Granularity,
    oldest: DateTime<Utc>,
    newest: DateTime<Utc>,
    report: &mut CheckReport,
) {
    let at = if newest > oldest {
        oldest + (newest - oldest) / 2
    } else {
        newest + declared.granule()
    };
    let mut forms = vec![declared];
    if declared == Granularity::Seconds {
        forms.push(Granularity::Day);
    }
    for (i, form) in forms.iter().copied().enumerate() {
        let from = form.format(at);
        let from_instant = ProtocolDate::parse(&from).map_or(at, |d| d.instant);
        let req = Request::ListIdentifiers(ListArgs {
            metadata_prefix: opts.metadata_prefix.clone(),
            from: Some(from.clone()),
            ..ListArgs::default()
        });
        match p.fetch(&req).await {
            Ok(ans) => {
                if i > 0 {
                    report.push(Finding::new(
                        "granularity_mismatch",
                        Severity::Warning,
                        format!(
                            "Identify declares {} but from={} is refused with badArgument while from={from} works",
                            declared.as_str(),
                            declared.format(at)
                        ),
                        "Accept from/until in the declared granularity, or declare YYYY-MM-DD.",
                    ));
                }
                let headers = match ans.resp.payload {
                    Payload::Headers(h) => h,
                    _ => Vec::new(),
                };
                let older: Vec<_> = headers
                    .iter()
                    .filter_map(|h| h.datestamp.filter(|d| *d < from_instant))
                    .collect();
                if let Some(d) = older.iter().min() {
                    report.push(Finding::new(
                        "from_ignored",
                        Severity::Warning,
                        format!(
                            "ListIdentifiers from={from} returned {} record(s) older than that (oldest {})",
                            older.len(),
                            form.format(*d)
                        ),
                        "Honour the from argument; otherwise every incremental harvest re-reads the whole repository.",
                    ));
                }
                return;
            }
            Err(e) if e.protocol_code() == Some(&OaiErrorCode::BadArgument) => {
                if i + 1 == forms.len() {
                    report.push(Finding::new(
                        "from_rejected",
                        Severity::Warning,
                        format!(
                            "ListIdentifiers with from={from} is refused: {}; incremental harvests are impossible",
                            short(&e)
                        ),
                        format!("Accept from in the form {}.", declared.as_str()),
                    ));
                }
            }
            Err(e) => {
                report.push(Finding::new(
                    "probe_failed",
                    Severity::Info,
                    format!("ListIdentifiers with from={from} failed: {}", short(&e)),
                    "Make selective harvesting by date (from/until) work for ListIdentifiers.",
                ));
                return;
            }
        }
    }
}

fn identify_failure(e: &OaiError) -> Finding {
    let not_oai = |message: String| {
        Finding::new(
            "not_oai",
            Severity::Error,
            message,
            "Serve the OAI-PMH XML for verb=Identify at this URL with HTTP 200 (not an HTML page or an empty body).",
        )
    };
    match e {
        OaiError::NotOai { detail, .. } => {
            not_oai(format!("Identify is not an OAI-PMH response: {detail}"))
        }
        OaiError::Xml {
            position, message, ..
        } => not_oai(format!(
            "Identify is not well-formed XML (byte {position}: {message})"
        )),
        OaiError::Protocol { .. } => not_oai(format!("Identify failed: {}", short(e))),
        OaiError::HttpStatus { status, .. } => Finding::new(
            "unreachable",
            Severity::Error,
            format!("Identify answered HTTP {status}"),
            "Make the base URL answer verb=Identify with HTTP 200.",
        ),
        OaiError::Tls { message, .. } => Finding::new(
            "unreachable",
            Severity::Error,
            format!("TLS failed: {message}"),
            "Install a valid certificate with its full intermediate chain.",
        ),
        _ => Finding::new(
            "unreachable",
            Severity::Error,
            e.to_string(),
            "Check that the server is up and the base URL is reachable from the internet.",
        ),
    }
}

fn list_failure(e: &OaiError, page: usize, prefix: &str, listed: Option<bool>) -> Finding {
    let code = e.protocol_code();
    if page == 0 && code == Some(&OaiErrorCode::CannotDisseminateFormat) {
        let also = if listed == Some(true) {
            " although ListMetadataFormats lists it"
        } else {
            ""
        };
        return Finding::new(
            "no_oai_dc",
            Severity::Error,
            format!(
                "ListRecords refuses metadataPrefix={prefix}{also}: {}",
                short(e)
            ),
            format!(
                "Offer {prefix} (Dublin Core is mandatory in OAI-PMH) and enable it for all items."
            ),
        );
    }
    let which = if page == 0 {
        "the first ListRecords page".to_owned()
    } else {
        format!("ListRecords page {}", page + 1)
    };
    match e {
        OaiError::Protocol { .. } if code == Some(&OaiErrorCode::BadResumptionToken) => {
            Finding::new(
                "token_rejected",
                Severity::Error,
                format!(
                    "{which}: the server refused its own resumptionToken: {}",
                    short(e)
                ),
                "Keep resumptionTokens valid for the announced expirationDate and accept them back verbatim.",
            )
        }
        OaiError::Xml {
            position, message, ..
        } => Finding::new(
            "malformed_xml",
            Severity::Warning,
            format!(
                "{which} is not well-formed XML (byte {position}: {message}); records are lost"
            ),
            "Escape metadata properly (&, <) and never cut the output short.",
        ),
        OaiError::NotOai { detail, .. } => Finding::new(
            "not_oai",
            Severity::Error,
            format!("{which} is not an OAI-PMH response: {detail}"),
            "Answer list requests with OAI-PMH XML and HTTP 200, never an HTML error page.",
        ),
        _ => Finding::new(
            "list_failed",
            Severity::Error,
            format!("{which} failed: {}", short(e)),
            "Make ListRecords work for the whole list; check the server's error log for this request.",
        ),
    }
}

/// An error without its URL (the report says which request it was).
fn short(e: &OaiError) -> String {
    match e {
        OaiError::Protocol { errors, .. } => errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; "),
        OaiError::HttpStatus { status, .. } => format!("HTTP {status}"),
        OaiError::NotOai { detail, .. } => detail.clone(),
        OaiError::Xml {
            position, message, ..
        } => format!("malformed XML at byte {position}: {message}"),
        other => other.to_string(),
    }
}

/// The URL without OAI-PMH arguments: the base URL an answer came from.
fn strip_oai_args(u: &url::Url) -> url::Url {
    let mut out = u.clone();
    let kept: Vec<(String, String)> = u
        .query_pairs()
        .filter(|(k, _)| !OAI_ARGS.contains(&k.as_ref()))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if kept.is_empty() {
        out.set_query(None);
    } else {
        out.query_pairs_mut().clear().extend_pairs(kept);
    }
    out.set_fragment(None);
    out
}

/// Whether the (first) `<resumptionToken>` element holds a token padded with whitespace.
/// The parser trims it, so this looks at the decoded text.
fn token_has_whitespace(text: &str) -> bool {
    const NAME: &str = "resumptionToken";
    for (i, _) in text.match_indices(NAME) {
        let Some(lt) = text[..i].rfind('<') else {
            continue;
        };
        let prefix = &text[lt + 1..i];
        let is_start = prefix.is_empty()
            || prefix.strip_suffix(':').is_some_and(|p| {
                !p.is_empty()
                    && p.chars()
                        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
            });
        let after = &text[i + NAME.len()..];
        if !is_start || !after.starts_with(|c: char| c == '>' || c == '/' || c.is_whitespace()) {
            continue;
        }
        let Some(gt) = after.find('>') else {
            return false;
        };
        if after[..gt].ends_with('/') {
            return false;
        }
        let body = &after[gt + 1..];
        let Some(end) = body.find('<') else {
            return false;
        };
        let inner = &body[..end];
        let trimmed = inner.trim_matches([' ', '\t', '\r', '\n']);
        return !trimmed.is_empty() && trimmed.len() != inner.len();
    }
    false
}

/// A successful exchange.
struct Answer {
    resp: Response,
    /// The decoded body (for checks the parser hides).
    text: String,
    latency: Duration,
    bytes: u64,
    requested: url::Url,
    final_url: url::Url,
}

/// What decoding one answer repaired.
struct DecodeSeen {
    verb: Verb,
    report: DecodeReport,
}

/// Makes the requests, with a couple of polite retries on 429/5xx, and remembers transport
/// observations for the report. Latency is measured around [`HttpClient::get`], so it
/// includes any wait imposed by the per-host politeness settings.
struct Prober<'a> {
    http: &'a HttpClient,
    base: url::Url,
    max_retry_wait: Duration,
    requests: usize,
    /// Retries left for the whole check (politeness: a struggling server gets few).
    retries_left: u32,
    decodes: Vec<DecodeSeen>,
    /// (status, verb) of 429/503 answers without `Retry-After`.
    missing_retry_after: Vec<(u16, Verb)>,
}

impl Prober<'_> {
    async fn fetch(&mut self, req: &Request) -> Result<Answer, OaiError> {
        let url = req.url(&self.base);
        let verb = req.verb();
        let cfg = self.http.config();
        let attempts = cfg.max_attempts.clamp(1, 3);
        let backoff_base = cfg.backoff_base;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let started = tokio::time::Instant::now();
            let got = self.http.get(&url).await;
            let latency = started.elapsed();
            self.requests += 1;
            let fetched = got?;
            let status = fetched.status;
            let retry_after = fetched.retry_after;
            if status == 429 || status >= 500 {
                if retry_after.is_none() && (status == 429 || status == 503) {
                    self.missing_retry_after.push((status, verb));
                }
                let wait = retry_after
                    .unwrap_or_else(|| backoff_base.saturating_mul(1 << (attempt - 1).min(8)));
                if attempt < attempts && self.retries_left > 0 && wait <= self.max_retry_wait {
                    self.retries_left -= 1;
                    tokio::time::sleep(wait).await;
                    continue;
                }
            }
            let bytes = fetched.body.len() as u64;
            let final_url = fetched.final_url;
            let url_s = url.to_string();
            let (body, charset) = (fetched.body, fetched.charset);
            let decoded = tokio::task::spawn_blocking(move || {
                let (text, report) = decode_body(&body, charset.as_deref());
                let parsed = response::parse(&text, verb, &url_s);
                (text, report, parsed)
            })
            .await;
            let (text, report, parsed) = decoded.map_err(|join| OaiError::Xml {
                url: url.to_string(),
                position: 0,
                message: format!("parser task failed: {join}"),
            })?;
            self.decodes.push(DecodeSeen { verb, report });
            if !(200..300).contains(&status) {
                return Err(match parsed {
                    Err(e @ OaiError::Protocol { .. }) => e,
                    _ => OaiError::HttpStatus {
                        url: url.to_string(),
                        status,
                        retry_after,
                    },
                });
            }
            return parsed.map(|resp| Answer {
                resp,
                text,
                latency,
                bytes,
                requested: url,
                final_url,
            });
        }
    }

    /// Findings about encodings and throttling, over every answer.
    fn report_transport(&self, report: &mut CheckReport) {
        let verbs = |pred: &dyn Fn(&DecodeReport) -> bool| {
            let v: BTreeSet<&str> = self
                .decodes
                .iter()
                .filter(|d| pred(&d.report))
                .map(|d| d.verb.as_str())
                .collect();
            v.into_iter().collect::<Vec<_>>().join(", ")
        };
        let encodings: BTreeSet<&str> = self
            .decodes
            .iter()
            .map(|d| d.report.encoding)
            .filter(|e| *e != "UTF-8")
            .collect();
        if !encodings.is_empty() {
            report.push(Finding::new(
                "not_utf8",
                Severity::Warning,
                format!(
                    "responses are encoded in {} ({})",
                    encodings.into_iter().collect::<Vec<_>>().join(", "),
                    verbs(&|r| r.encoding != "UTF-8")
                ),
                "Serve every response in UTF-8, as OAI-PMH requires.",
            ));
        }
        if self.decodes.iter().any(|d| d.report.lossy) {
            report.push(Finding::new(
                "invalid_utf8",
                Severity::Warning,
                format!(
                    "byte sequences invalid in the declared encoding were replaced with U+FFFD ({})",
                    verbs(&|r| r.lossy)
                ),
                "Repair the stored metadata's encoding (mixed encodings in the database) and serve valid UTF-8.",
            ));
        }
        let removed: usize = self
            .decodes
            .iter()
            .map(|d| d.report.illegal_chars_removed)
            .sum();
        if removed > 0 {
            report.push(Finding::new(
                "invalid_xml_chars",
                Severity::Warning,
                format!(
                    "{removed} character(s) illegal in XML 1.0 were removed ({})",
                    verbs(&|r| r.illegal_chars_removed > 0)
                ),
                "Strip control characters (U+0000–U+001F except tab, CR, LF) from metadata on output.",
            ));
        }
        if self.decodes.iter().any(|d| d.report.junk_skipped > 0) {
            report.push(Finding::new(
                "junk_before_xml",
                Severity::Info,
                format!(
                    "bytes before the XML declaration were skipped ({})",
                    verbs(&|r| r.junk_skipped > 0)
                ),
                "Remove output before <?xml (blank lines, PHP notices) from the OAI script and its includes.",
            ));
        }
        if !self.missing_retry_after.is_empty() {
            let seen: BTreeSet<String> = self
                .missing_retry_after
                .iter()
                .map(|(s, v)| format!("HTTP {s} to {}", v.as_str()))
                .collect();
            report.push(Finding::new(
                "missing_retry_after",
                Severity::Info,
                format!(
                    "{} without Retry-After",
                    seen.into_iter().collect::<Vec<_>>().join(", ")
                ),
                "Send Retry-After with 503 and 429 answers so harvesters know when to come back.",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_around_a_token_is_seen_in_the_raw_text() {
        assert!(token_has_whitespace(
            "<ListRecords><resumptionToken cursor=\"0\">\n  abc\n</resumptionToken>"
        ));
        assert!(token_has_whitespace(
            "<oai:resumptionToken> abc</oai:resumptionToken>"
        ));
        assert!(!token_has_whitespace(
            "<resumptionToken cursor=\"0\">a b</resumptionToken>"
        ));
        assert!(!token_has_whitespace(
            "<resumptionToken>\n  </resumptionToken>"
        ));
        assert!(!token_has_whitespace(
            "<resumptionToken completeListSize=\"3\"/>"
        ));
        assert!(!token_has_whitespace("<a>no token</a>"));
    }

    #[test]
    fn oai_arguments_are_stripped_from_a_final_url() {
        let u = url::Url::parse("https://x.example/cgi?page=oai&verb=Identify").unwrap();
        assert_eq!(
            strip_oai_args(&u).as_str(),
            "https://x.example/cgi?page=oai"
        );
        let u = url::Url::parse("https://x.example/oai?verb=Identify").unwrap();
        assert_eq!(strip_oai_args(&u).as_str(), "https://x.example/oai");
    }

    #[test]
    fn severities_sort_errors_first_and_serialize_lower_case() {
        let mut v = vec![Severity::Info, Severity::Error, Severity::Warning];
        v.sort();
        assert_eq!(v, [Severity::Error, Severity::Warning, Severity::Info]);
        assert_eq!(
            serde_json::to_string(&Severity::Warning).unwrap(),
            "\"warning\""
        );
    }
}
