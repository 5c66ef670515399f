//! sheaf's own OAI-PMH 2.0 data provider at `/oai`: what was harvested, served again as
//! one repository (aggregator mode).
//!
//! - **Identifiers** are the harvested ones. When two sources hold the same identifier,
//!   the record of the source registered first (lowest source id) keeps it and the others
//!   are served as `sheaf:<source>:<identifier>` ([`SHADOW_PREFIX`]), so identifiers stay
//!   unique and GetRecord is unambiguous.
//! - **Sets**: one per source (`<source>`), and under it the source's own sets
//!   (`<source>:<setSpec>`); membership is hierarchical.
//! - **Datestamps** are `updated_at` (when sheaf last changed the record), in seconds
//!   granularity, so harvesting sheaf incrementally sees re-normalizations and deletions.
//!   `from`/`until` are inclusive and accept both granularities (not mixed).
//! - **Formats**: `oai_dc` regenerated from the normalized record ([`dc`]), and
//!   `oai_dc_raw`, the harvested `oai_dc` fragment verbatim (sources harvested as `oai_dc`).
//! - **Resumption tokens** are stateless keysets ([`token`]); lists are in record-id order.
//! - **Deleted records** are persistent tombstones.
//!
//! **Architecture invariant:** reads go through `store` (`store::provider`); no SQL here,
//! and nothing is written.

pub mod dc;
pub mod export;
pub mod token;
pub mod xml;

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Utc};
use quick_xml::Writer;
use quick_xml::events::{BytesEnd, BytesStart, Event};

use crate::api::AppState;
use crate::normalize::NormalizedRecord;
use crate::oai::{OAI_DC_NS, OaiErrorCode, ProtocolError};
use crate::store::provider::{OaiFilter, OaiItem, OaiPayload};
use crate::store::{Store, StoreError};
use dc::{OAI_DC_SCHEMA, text_element};
use token::ListToken;
use xml::{OutMetadata, OutRecord};

/// The regenerated Dublin Core format.
pub const PREFIX_DC: &str = "oai_dc";
/// The harvested `oai_dc` fragment, verbatim.
pub const PREFIX_RAW: &str = "oai_dc_raw";
/// Identifier prefix of a record whose identifier an earlier source already holds.
pub const SHADOW_PREFIX: &str = "sheaf:";

/// How the provider describes itself (`[provider]` in the configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderSettings {
    /// Identify `repositoryName`.
    pub repository_name: String,
    /// Identify `adminEmail`.
    pub admin_email: String,
    /// The public base URL (behind a proxy); `None`: `http://<Host header>/oai`.
    pub base_url: Option<String>,
    /// Records (or headers) per list page.
    pub page_size: u32,
}

impl Default for ProviderSettings {
    fn default() -> Self {
        Self {
            repository_name: "sheaf".into(),
            admin_email: "postmaster@localhost".into(),
            base_url: None,
            page_size: 100,
        }
    }
}

static SETTINGS: OnceLock<ProviderSettings> = OnceLock::new();

/// Sets the process-wide settings [`router`] uses; `sheaf serve` calls it once before
/// building the router. Later calls are ignored (returns `false`).
pub fn configure(settings: ProviderSettings) -> bool {
    SETTINGS.set(settings).is_ok()
}

/// The `/oai` route (GET and POST) with the configured (or default) settings.
pub fn router() -> Router<AppState> {
    router_with(SETTINGS.get().cloned().unwrap_or_default())
}

/// The `/oai` route with explicit settings (tests, embedding).
pub fn router_with(settings: ProviderSettings) -> Router<AppState> {
    let settings = Arc::new(settings);
    let handler = move |State(st): State<AppState>,
                        method: Method,
                        headers: HeaderMap,
                        uri: Uri,
                        body: Bytes| {
        let settings = settings.clone();
        async move { handle(&st.store, &settings, &method, &headers, &uri, &body).await }
    };
    Router::new().route("/oai", get(handler.clone()).post(handler))
}

/// A failed request: OAI errors are answered with status 200; a database failure is a 500.
enum Failure {
    Oai(Vec<ProtocolError>),
    Store(StoreError),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

fn oai_error(code: OaiErrorCode, message: impl Into<String>) -> Failure {
    Failure::Oai(vec![ProtocolError {
        code,
        message: message.into(),
    }])
}

fn bad_argument(message: impl Into<String>) -> Failure {
    oai_error(OaiErrorCode::BadArgument, message)
}

/// The request's arguments in order, duplicates kept (they are an error).
struct Args(Vec<(String, String)>);

impl Args {
    fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.all(key).first().copied()
    }

    /// Every argument besides `verb` is allowed, none repeated, the required ones present.
    fn check(&self, required: &[&str], optional: &[&str]) -> Result<(), Failure> {
        for (k, _) in &self.0 {
            if k == "verb" {
                continue;
            }
            if !required.contains(&k.as_str()) && !optional.contains(&k.as_str()) {
                return Err(bad_argument(format!("illegal argument {k:?}")));
            }
            if self.all(k).len() > 1 {
                return Err(bad_argument(format!("argument {k:?} is repeated")));
            }
        }
        for r in required {
            if self.get(r).is_none() {
                return Err(bad_argument(format!("missing argument {r:?}")));
            }
        }
        Ok(())
    }
}

async fn handle(
    store: &Store,
    settings: &ProviderSettings,
    method: &Method,
    headers: &HeaderMap,
    uri: &Uri,
    body: &[u8],
) -> Response {
    let raw: &[u8] = if method == Method::POST {
        body
    } else {
        uri.query().unwrap_or("").as_bytes()
    };
    let args = Args(
        url::form_urlencoded::parse(raw)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
    );
    let base_url = settings.base_url.clone().unwrap_or_else(|| {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        format!("http://{host}/oai")
    });
    let now = Utc::now();
    let mut body = Vec::with_capacity(16 * 1024);
    let outcome = {
        let mut w = Writer::new(&mut body);
        respond(store, settings, &base_url, &args, &mut w).await
    };
    let (echo, inner) = match outcome {
        Ok(inner) => (true, Ok(inner)),
        Err(Failure::Oai(errors)) => {
            // badVerb and badArgument answers must not echo the (illegal) arguments.
            let echo = !errors
                .iter()
                .any(|e| matches!(e.code, OaiErrorCode::BadVerb | OaiErrorCode::BadArgument));
            (echo, Err(errors))
        }
        Err(Failure::Store(e)) => {
            tracing::error!(error = %e, "database error in the OAI-PMH provider");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response();
        }
    };
    let attrs: Vec<(&str, &str)> = if echo {
        args.0
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    } else {
        Vec::new()
    };
    let mut doc = Vec::with_capacity(body.len() + 1024);
    let written = (|| -> std::io::Result<()> {
        let mut w = Writer::new(&mut doc);
        xml::start_envelope(&mut w, now, &base_url, &attrs)?;
        match &inner {
            Ok(()) => w.get_mut().extend_from_slice(&body),
            Err(errors) => xml::write_errors(&mut w, errors)?,
        }
        xml::end_envelope(&mut w)
    })();
    if let Err(e) = written {
        tracing::error!(error = %e, "cannot write an OAI-PMH response");
        return (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response();
    }
    let mut resp = (StatusCode::OK, doc).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml; charset=utf-8"),
    );
    resp
}

/// Writes the verb's element into `w`, or says why not.
async fn respond(
    store: &Store,
    settings: &ProviderSettings,
    base_url: &str,
    args: &Args,
    w: &mut Writer<&mut Vec<u8>>,
) -> Result<(), Failure> {
    let verbs = args.all("verb");
    let verb = match verbs.as_slice() {
        [] => {
            return Err(oai_error(
                OaiErrorCode::BadVerb,
                "the verb argument is missing",
            ));
        }
        [v] => *v,
        _ => {
            return Err(oai_error(
                OaiErrorCode::BadVerb,
                "the verb argument is repeated",
            ));
        }
    };
    match verb {
        "Identify" => {
            args.check(&[], &[])?;
            identify(store, settings, base_url, w).await
        }
        "ListMetadataFormats" => {
            args.check(&[], &["identifier"])?;
            list_metadata_formats(store, args.get("identifier"), w).await
        }
        "ListSets" => {
            if args.get("resumptionToken").is_some() {
                args.check(&["resumptionToken"], &[])?;
                // No ListSets token is ever issued: the whole hierarchy is one answer.
                return Err(oai_error(
                    OaiErrorCode::BadResumptionToken,
                    "this repository issues no ListSets resumption tokens",
                ));
            }
            args.check(&[], &[])?;
            list_sets(store, w).await
        }
        "ListIdentifiers" | "ListRecords" => list(store, settings, verb, args, w).await,
        "GetRecord" => {
            args.check(&["identifier", "metadataPrefix"], &[])?;
            get_record(
                store,
                args.get("identifier").unwrap_or_default(),
                args.get("metadataPrefix").unwrap_or_default(),
                w,
            )
            .await
        }
        other => Err(oai_error(
            OaiErrorCode::BadVerb,
            format!("{other:?} is not an OAI-PMH verb"),
        )),
    }
}

fn io(e: std::io::Error) -> Failure {
    // Writing into a Vec cannot fail; should it, it is an internal error.
    Failure::Store(StoreError::BadData(format!("writing the response: {e}")))
}

async fn identify(
    store: &Store,
    settings: &ProviderSettings,
    base_url: &str,
    w: &mut Writer<&mut Vec<u8>>,
) -> Result<(), Failure> {
    // With no records yet, any later record is newer than now.
    let earliest = store.oai_earliest().await?.unwrap_or_else(Utc::now);
    (|| -> std::io::Result<()> {
        w.write_event(Event::Start(BytesStart::new("Identify")))?;
        text_element(w, "repositoryName", &[], &settings.repository_name)?;
        text_element(w, "baseURL", &[], base_url)?;
        text_element(w, "protocolVersion", &[], "2.0")?;
        text_element(w, "adminEmail", &[], &settings.admin_email)?;
        text_element(
            w,
            "earliestDatestamp",
            &[],
            &crate::oai::Granularity::Seconds.format(earliest),
        )?;
        text_element(w, "deletedRecord", &[], "persistent")?;
        text_element(
            w,
            "granularity",
            &[],
            crate::oai::Granularity::Seconds.as_str(),
        )?;
        w.write_event(Event::End(BytesEnd::new("Identify")))
    })()
    .map_err(io)
}

/// A format this repository can disseminate.
struct Format {
    prefix: &'static str,
}

const FORMATS: [Format; 2] = [Format { prefix: PREFIX_DC }, Format { prefix: PREFIX_RAW }];

fn write_format(w: &mut Writer<&mut Vec<u8>>, f: &Format) -> std::io::Result<()> {
    w.write_event(Event::Start(BytesStart::new("metadataFormat")))?;
    text_element(w, "metadataPrefix", &[], f.prefix)?;
    text_element(w, "schema", &[], OAI_DC_SCHEMA)?;
    text_element(w, "metadataNamespace", &[], OAI_DC_NS)?;
    w.write_event(Event::End(BytesEnd::new("metadataFormat")))
}

/// Whether `item` can be disseminated as `prefix`.
fn available(item: &OaiItem, prefix: &str) -> bool {
    match prefix {
        PREFIX_DC => item.deleted || item.normalized.is_some(),
        PREFIX_RAW => {
            item.source_prefix == PREFIX_DC && (item.deleted || item.raw_metadata.is_some())
        }
        _ => false,
    }
}

async fn list_metadata_formats(
    store: &Store,
    identifier: Option<&str>,
    w: &mut Writer<&mut Vec<u8>>,
) -> Result<(), Failure> {
    let formats: Vec<&Format> = match identifier {
        None => FORMATS.iter().collect(),
        Some(id) => {
            let item = resolve(store, id).await?;
            let f: Vec<&Format> = FORMATS
                .iter()
                .filter(|f| available(&item, f.prefix))
                .collect();
            if f.is_empty() {
                return Err(oai_error(
                    OaiErrorCode::NoMetadataFormats,
                    format!("no metadata formats are available for {id:?}"),
                ));
            }
            f
        }
    };
    (|| -> std::io::Result<()> {
        w.write_event(Event::Start(BytesStart::new("ListMetadataFormats")))?;
        for f in formats {
            write_format(w, f)?;
        }
        w.write_event(Event::End(BytesEnd::new("ListMetadataFormats")))
    })()
    .map_err(io)
}

/// The record an identifier names (see the module doc for the duplicate rule).
async fn resolve(store: &Store, identifier: &str) -> Result<OaiItem, Failure> {
    if let Some(item) = store.oai_item(identifier, None).await? {
        return Ok(item);
    }
    if let Some((source, original)) = identifier
        .strip_prefix(SHADOW_PREFIX)
        .and_then(|rest| rest.split_once(':'))
        && let Some(item) = store.oai_item(original, Some(source)).await?
        && item.shadowed
    {
        return Ok(item);
    }
    Err(oai_error(
        OaiErrorCode::IdDoesNotExist,
        format!("no record has the identifier {identifier:?}"),
    ))
}

/// The identifier a record is served under.
pub fn served_identifier(item: &OaiItem) -> String {
    if item.shadowed {
        format!("{SHADOW_PREFIX}{}:{}", item.source, item.oai_identifier)
    } else {
        item.oai_identifier.clone()
    }
}

/// setSpecs of a record: its source, and each of its own sets under the source.
pub fn set_specs(source: &str, sets: &[String]) -> Vec<String> {
    std::iter::once(source.to_owned())
        .chain(sets.iter().map(|s| format!("{source}:{s}")))
        .collect()
}

async fn list_sets(store: &Store, w: &mut Writer<&mut Vec<u8>>) -> Result<(), Failure> {
    let rows = store.oai_sets().await?;
    if rows.is_empty() {
        return Err(oai_error(
            OaiErrorCode::NoSetHierarchy,
            "no sources are registered, so there are no sets",
        ));
    }
    // (spec, name), each ancestor of a nested spec included, in spec order.
    let mut sets: BTreeSet<(String, String)> = BTreeSet::new();
    for r in &rows {
        let name = r
            .repository_name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| r.source.clone());
        sets.insert((r.source.clone(), name));
        if let Some(spec) = &r.spec {
            let mut path = String::new();
            for part in spec.split(':') {
                if !path.is_empty() {
                    path.push(':');
                }
                path.push_str(part);
                sets.insert((format!("{}:{path}", r.source), path.clone()));
            }
        }
    }
    (|| -> std::io::Result<()> {
        w.write_event(Event::Start(BytesStart::new("ListSets")))?;
        for (spec, name) in &sets {
            w.write_event(Event::Start(BytesStart::new("set")))?;
            text_element(w, "setSpec", &[], spec)?;
            text_element(w, "setName", &[], name)?;
            w.write_event(Event::End(BytesEnd::new("set")))?;
        }
        w.write_event(Event::End(BytesEnd::new("ListSets")))
    })()
    .map_err(io)
}

/// For a supported metadataPrefix, the source prefix whose raw records it serves (`None`
/// for the regenerated `oai_dc`); else `cannotDisseminateFormat`.
fn raw_of_prefix(prefix: &str) -> Result<Option<String>, Failure> {
    match prefix {
        PREFIX_DC => Ok(None),
        PREFIX_RAW => Ok(Some(PREFIX_DC.to_owned())),
        other => Err(oai_error(
            OaiErrorCode::CannotDisseminateFormat,
            format!("metadataPrefix {other:?} is not supported (use oai_dc or oai_dc_raw)"),
        )),
    }
}

/// A `from`/`until` value: its instant and whether it was a day.
fn parse_bound(name: &str, s: &str) -> Result<(DateTime<Utc>, bool), Failure> {
    if s.len() == 10
        && let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d")
    {
        return Ok((
            Utc.from_utc_datetime(&d.and_time(chrono::NaiveTime::MIN)),
            true,
        ));
    }
    if s.len() == 20
        && let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%SZ")
    {
        return Ok((Utc.from_utc_datetime(&t), false));
    }
    Err(bad_argument(format!(
        "{name} {s:?} is not YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ"
    )))
}

/// Validated selective-harvesting arguments, as carried in a token.
struct ListArgs {
    prefix: String,
    from: Option<String>,
    until: Option<String>,
    set: Option<String>,
}

impl ListArgs {
    /// The store filter; errors for bad dates, unknown formats and missing sets.
    async fn filter(&self, store: &Store) -> Result<OaiFilter, Failure> {
        let from = self
            .from
            .as_deref()
            .map(|s| parse_bound("from", s))
            .transpose()?;
        let until = self
            .until
            .as_deref()
            .map(|s| parse_bound("until", s))
            .transpose()?;
        if let (Some((f, fd)), Some((u, ud))) = (from, until) {
            if fd != ud {
                return Err(bad_argument("from and until have different granularities"));
            }
            if f > u {
                return Err(bad_argument("from is later than until"));
            }
        }
        let raw_of_prefix = raw_of_prefix(&self.prefix)?;
        let (source, set) = match &self.set {
            None => (None, None),
            Some(s) => {
                if !store.oai_has_sources().await? {
                    return Err(oai_error(
                        OaiErrorCode::NoSetHierarchy,
                        "no sources are registered, so there are no sets",
                    ));
                }
                match s.split_once(':') {
                    Some((src, inner)) => (Some(src.to_owned()), Some(inner.to_owned())),
                    None => (Some(s.clone()), None),
                }
            }
        };
        Ok(OaiFilter {
            from: from.map(|(t, _)| t),
            // Inclusive until: everything before the next granule.
            until: until.map(|(t, day)| {
                t + if day {
                    TimeDelta::days(1)
                } else {
                    TimeDelta::seconds(1)
                }
            }),
            source,
            set,
            raw_of_prefix,
        })
    }
}

async fn list(
    store: &Store,
    settings: &ProviderSettings,
    verb: &str,
    args: &Args,
    w: &mut Writer<&mut Vec<u8>>,
) -> Result<(), Failure> {
    let (list_args, after, cursor, known_total) = match args.get("resumptionToken") {
        Some(t) => {
            args.check(&["resumptionToken"], &[])?;
            let tok = ListToken::decode(t)
                .filter(|tok| tok.verb == verb)
                .ok_or_else(|| {
                    oai_error(
                        OaiErrorCode::BadResumptionToken,
                        "the resumption token is not one this repository issued for this verb",
                    )
                })?;
            let la = ListArgs {
                prefix: tok.prefix,
                from: tok.from,
                until: tok.until,
                set: tok.set,
            };
            (la, tok.after, tok.cursor, Some(tok.total))
        }
        None => {
            args.check(&["metadataPrefix"], &["from", "until", "set"])?;
            let owned = |k: &str| args.get(k).map(str::to_owned);
            let la = ListArgs {
                prefix: owned("metadataPrefix").unwrap_or_default(),
                from: owned("from"),
                until: owned("until"),
                set: owned("set"),
            };
            (la, 0, 0, None)
        }
    };
    let filter = list_args.filter(store).await?;
    let total = match known_total {
        Some(t) => t,
        None => u64::try_from(store.oai_count(&filter).await?).unwrap_or(0),
    };
    let payload = match (verb, filter.raw_of_prefix.is_some()) {
        ("ListIdentifiers", _) => OaiPayload::Header,
        (_, false) => OaiPayload::Normalized,
        (_, true) => OaiPayload::Raw,
    };
    let size = i64::from(settings.page_size.max(1));
    // One row more than a page tells whether the list goes on.
    let mut rows = store.oai_page(&filter, payload, after, size + 1).await?;
    if rows.is_empty() {
        return Err(oai_error(
            OaiErrorCode::NoRecordsMatch,
            "no records match the arguments",
        ));
    }
    let more = rows.len() as i64 > size;
    rows.truncate(size as usize);
    let served = rows.len() as u64;
    let next = more.then(|| {
        ListToken {
            verb: verb.to_owned(),
            prefix: list_args.prefix.clone(),
            from: list_args.from.clone(),
            until: list_args.until.clone(),
            set: list_args.set.clone(),
            after: rows.last().map_or(after, |r| r.id),
            cursor: cursor + served,
            total: total.max(cursor + served + 1),
        }
        .encode()
    });
    let decoded: Vec<Option<NormalizedRecord>> = rows.iter().map(normalized_of).collect();
    (|| -> std::io::Result<()> {
        w.write_event(Event::Start(BytesStart::new(verb)))?;
        for (item, rec) in rows.iter().zip(&decoded) {
            let identifier = served_identifier(item);
            let sets = set_specs(&item.source, &item.sets);
            let out = out_record(item, &identifier, &sets, rec.as_ref());
            if verb == "ListIdentifiers" {
                xml::write_header(w, &out)?;
            } else {
                xml::write_record(w, &out)?;
            }
        }
        // The first page of a complete list carries no token; every other page does.
        if next.is_some() || cursor > 0 {
            xml::write_token(w, next.as_deref(), total.max(cursor + served), cursor)?;
        }
        w.write_event(Event::End(BytesEnd::new(verb)))
    })()
    .map_err(io)
}

/// The normalized record of a row, when it has one that reads as the contract.
fn normalized_of(item: &OaiItem) -> Option<NormalizedRecord> {
    let v = item.normalized.as_ref()?;
    match serde_json::from_value(v.clone()) {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::warn!(record.id = item.id, error = %e, "stored normalized record does not read as the contract");
            None
        }
    }
}

/// The empty record, for rows whose normalized fields cannot be read.
fn empty_record() -> &'static NormalizedRecord {
    static EMPTY: OnceLock<NormalizedRecord> = OnceLock::new();
    EMPTY.get_or_init(|| crate::normalize::normalize(&[]).record)
}

fn out_record<'a>(
    item: &'a OaiItem,
    identifier: &'a str,
    sets: &'a [String],
    rec: Option<&'a NormalizedRecord>,
) -> OutRecord<'a> {
    let metadata = match (&item.raw_metadata, &item.normalized) {
        (Some(raw), _) => Some(OutMetadata::Raw(raw)),
        (None, Some(_)) => Some(OutMetadata::Dc(rec.unwrap_or_else(|| empty_record()))),
        (None, None) => None,
    };
    OutRecord {
        identifier,
        datestamp: item.updated_at,
        sets,
        deleted: item.deleted,
        metadata,
    }
}

async fn get_record(
    store: &Store,
    identifier: &str,
    prefix: &str,
    w: &mut Writer<&mut Vec<u8>>,
) -> Result<(), Failure> {
    raw_of_prefix(prefix)?;
    let mut item = resolve(store, identifier).await?;
    if !available(&item, prefix) {
        return Err(oai_error(
            OaiErrorCode::CannotDisseminateFormat,
            format!("{identifier:?} is not available as {prefix}"),
        ));
    }
    // Only the asked-for metadata goes out.
    if prefix == PREFIX_DC {
        item.raw_metadata = None;
    } else {
        item.normalized = None;
    }
    let rec = normalized_of(&item);
    let served = served_identifier(&item);
    let sets = set_specs(&item.source, &item.sets);
    let out = out_record(&item, &served, &sets, rec.as_ref());
    (|| -> std::io::Result<()> {
        w.write_event(Event::Start(BytesStart::new("GetRecord")))?;
        xml::write_record(w, &out)?;
        w.write_event(Event::End(BytesEnd::new("GetRecord")))
    })()
    .map_err(io)
}
