//! The OAI-PMH response parser: a single pass of quick-xml's namespace-aware pull reader
//! over a decoded page. Elements are matched by namespace URI, never by prefix.
//!
//! Each record's `<metadata>` child is kept as a raw XML fragment (with the namespace
//! declarations it inherits re-declared on its root, so it stands alone) and, for
//! `oai_dc`, also split into [`DcValue`]s with their `xml:lang`.
//!
//! Hostile input: a DOCTYPE is refused outright (no external entities, no entity
//! expansion: quirks.md #74–75) and nesting deeper than [`MAX_DEPTH`] is an error, checked
//! by a counter rather than recursion (#76).

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use quick_xml::NsReader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;

use super::datestamp::{Granularity, parse_datestamp};
use super::error::{OaiError, OaiErrorCode, ProtocolError};
use super::request::Verb;
use super::{OAI_DC_NS, OAI_NS};
use crate::domain::{DC_NS, DCTERMS_NS, DcNamespace, DcValue};

/// Elements nested deeper than this make the page malformed.
pub const MAX_DEPTH: usize = 256;

/// A parsed OAI-PMH response.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// `<responseDate>`, parsed leniently; `None` when missing or mangled.
    pub response_date: Option<DateTime<Utc>>,
    /// The verb's payload. `noRecordsMatch` and `noSetHierarchy` give empty lists.
    pub payload: Payload,
    /// The list's resumption token element, when present.
    pub token: Option<ResumptionToken>,
    /// A DOI-free hint of oddities found while parsing (unknown entities and the like).
    pub warnings: Vec<String>,
}

impl Response {
    /// The token to request the next page with, if the list goes on.
    pub fn next_token(&self) -> Option<&str> {
        self.token.as_ref().and_then(|t| t.token.as_deref())
    }
}

/// The payload of each verb.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// Identify.
    Identify(Identify),
    /// ListMetadataFormats.
    MetadataFormats(Vec<MetadataFormat>),
    /// ListSets.
    Sets(Vec<SetInfo>),
    /// ListIdentifiers.
    Headers(Vec<Header>),
    /// ListRecords, or GetRecord (one element).
    Records(Vec<OaiRecord>),
}

/// What Identify says about a repository.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identify {
    /// `repositoryName`.
    pub repository_name: String,
    /// `baseURL` as the server believes it to be.
    pub base_url: String,
    /// `protocolVersion`.
    pub protocol_version: String,
    /// `adminEmail` values.
    pub admin_emails: Vec<String>,
    /// `earliestDatestamp`, raw: often garbage (quirks.md #8), so never used to clamp.
    pub earliest_datestamp: String,
    /// `deletedRecord`: `no`, `transient` or `persistent`.
    pub deleted_record: String,
    /// `granularity`, raw.
    pub granularity_raw: String,
    /// The compression encodings the server offers.
    pub compression: Vec<String>,
}

impl Identify {
    /// The declared granularity, if it is one of the two the spec allows.
    pub fn granularity(&self) -> Option<Granularity> {
        Granularity::parse(&self.granularity_raw)
    }
}

/// One `<metadataFormat>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataFormat {
    /// `metadataPrefix`.
    pub prefix: String,
    /// `schema`.
    pub schema: String,
    /// `metadataNamespace`.
    pub namespace: String,
}

/// One `<set>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetInfo {
    /// `setSpec`.
    pub spec: String,
    /// `setName`.
    pub name: String,
}

/// A record header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// The OAI identifier, trimmed.
    pub identifier: String,
    /// The datestamp, if it parsed (quirks.md #9: an unparseable one keeps the record).
    pub datestamp: Option<DateTime<Utc>>,
    /// The datestamp as written.
    pub datestamp_raw: String,
    /// `setSpec` values (0..n).
    pub sets: Vec<String>,
    /// `status="deleted"`.
    pub deleted: bool,
}

/// The metadata of a record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordMetadata {
    /// The root element of `<metadata>` as a standalone XML fragment.
    pub raw_xml: String,
    /// The Dublin Core elements, when the root is `oai_dc:dc`; empty otherwise.
    pub dc: Vec<DcValue>,
}

/// One `<record>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OaiRecord {
    /// The header.
    pub header: Header,
    /// The metadata; `None` for deleted records and for live records the server sent
    /// without metadata (quirks.md #13).
    pub metadata: Option<RecordMetadata>,
}

/// The `<resumptionToken>` element.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResumptionToken {
    /// The token trimmed of XML whitespace; `None` when empty (the list is complete).
    pub token: Option<String>,
    /// `completeListSize`, informative only.
    pub complete_list_size: Option<u64>,
    /// `cursor`, informative only.
    pub cursor: Option<u64>,
    /// `expirationDate`, raw.
    pub expiration_date: Option<String>,
}

/// Parses a decoded response body for `verb`. `url` only labels errors.
///
/// OAI errors other than `noRecordsMatch` (for list verbs) and `noSetHierarchy` (for
/// ListSets) become [`OaiError::Protocol`].
pub fn parse(xml: &str, verb: Verb, url: &str) -> Result<Response, OaiError> {
    Parser::new(xml, url).run(verb)
}

/// Where the parser is in the envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    None,
    ResponseDate,
    Error,
    Token,
    // Identify
    RepositoryName,
    BaseUrl,
    ProtocolVersion,
    AdminEmail,
    EarliestDatestamp,
    DeletedRecord,
    Granularity,
    Compression,
    // formats and sets
    MetadataPrefix,
    Schema,
    MetadataNamespace,
    SetSpec,
    SetName,
    // header
    Identifier,
    Datestamp,
    HeaderSetSpec,
}

struct Parser<'i> {
    reader: NsReader<&'i [u8]>,
    xml: &'i str,
    url: &'i str,
    depth: usize,
    /// Bytes of DC text consumed by hand (see [`Parser::dc_text_fast`]): quick-xml's
    /// positions count from where it last read, so this is added back to each one.
    skipped: usize,
    /// Read simple DC fields by hand ([`Parser::dc_field_fast`], [`Parser::dc_text_fast`]);
    /// off only in tests that compare with the event loop.
    fast: bool,
    text: String,
    field: Field,
    header_open: bool,
    in_record: bool,
    warnings: Vec<String>,
    /// DC fields of the last record read: the next one's vector starts at that size
    /// (records of a page are alike), instead of regrowing four times.
    dc_hint: usize,
    /// The last [`Parser::missing_decls`] answer and what it was computed from: every
    /// record of a page has the same metadata root tag in the same scope.
    decls_memo: Option<DeclsMemo>,
}

/// Inputs and result of one [`Parser::missing_decls`] call.
struct DeclsMemo {
    /// The start tag's text (name and attributes).
    tag: String,
    /// The namespace bindings in scope, in the resolver's order: (prefix, namespace), the
    /// default namespace with no prefix.
    scope: Vec<(Option<String>, String)>,
    decls: String,
}

#[derive(Default)]
struct Acc {
    response_date: Option<DateTime<Utc>>,
    errors: Vec<ProtocolError>,
    error_code: String,
    identify: Identify,
    formats: Vec<MetadataFormat>,
    sets: Vec<SetInfo>,
    headers: Vec<Header>,
    records: Vec<OaiRecord>,
    token: Option<ResumptionToken>,
    saw_root: bool,
    // current items
    format: MetadataFormat,
    set: SetInfo,
    header: Header,
    metadata: Option<RecordMetadata>,
}

/// A resolved namespace as a URI ("" if none). Known namespaces are borrowed constants:
/// no allocation per event on the hot path (the profile showed it).
fn namespace_uri(ns: ResolveResult<'_>) -> Cow<'static, str> {
    match ns {
        ResolveResult::Bound(n) => match n.0 {
            OAI_NS => Cow::Borrowed(OAI_NS),
            DC_NS => Cow::Borrowed(DC_NS),
            OAI_DC_NS => Cow::Borrowed(OAI_DC_NS),
            DCTERMS_NS => Cow::Borrowed(DCTERMS_NS),
            other => Cow::Owned(other.to_owned()),
        },
        _ => Cow::Borrowed(""),
    }
}

/// An attribute value unescaped and trimmed (no unescaping pass when it has no `&`).
fn attr_text(raw: &str) -> String {
    if raw.contains('&') {
        htmlize::unescape(raw).trim().to_owned()
    } else {
        raw.trim().to_owned()
    }
}

/// `xml:lang` as [`attr_text`] reads it, borrowed from a static string for the usual
/// tags (a record has one per field: no allocation for each).
fn lang_text(raw: &str) -> Cow<'static, str> {
    // Tags are a few bytes: a plain byte test beats `str::trim` here. No search for `&`:
    // trimming keeps it, and no common tag holds one.
    let b = raw.as_bytes();
    let t = if b.first().is_some_and(u8::is_ascii_graphic)
        && b.last().is_some_and(u8::is_ascii_graphic)
    {
        raw
    } else {
        raw.trim()
    };
    if let Some(s) = COMMON_LANGS.iter().find(|s| **s == t) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(attr_text(raw))
}

/// `xml:lang` tags common enough to keep static (OJS locales and bare codes).
const COMMON_LANGS: [&str; 24] = [
    "en-US", "ru-RU", "en", "ru", "en_US", "ru_RU", "uk-UA", "uk_UA", "uk", "de-DE", "de_DE", "de",
    "fr-FR", "fr_FR", "fr", "es-ES", "es_ES", "es", "kk-KZ", "kk_KZ", "kk", "pt-BR", "pt_BR", "pt",
];

/// A local element name, borrowed from a static string for the DC 1.1 names (every
/// field of every record: no allocation for each).
fn element_name(name: &str) -> Cow<'static, str> {
    const DC_NAMES: [&str; 15] = [
        "title",
        "creator",
        "subject",
        "description",
        "publisher",
        "contributor",
        "date",
        "type",
        "format",
        "identifier",
        "source",
        "language",
        "relation",
        "coverage",
        "rights",
    ];
    match DC_NAMES.iter().find(|s| **s == name) {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(name.to_owned()),
    }
}

fn dc_namespace(ns_uri: &str) -> DcNamespace {
    match ns_uri {
        DC_NS => DcNamespace::Dc,
        DCTERMS_NS => DcNamespace::Dcterms,
        other => DcNamespace::Other(other.to_owned()),
    }
}

/// Bytes of the element and attribute names [`Parser::dc_field_fast`] reads by hand.
fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':')
}

fn local(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

impl<'i> Parser<'i> {
    fn new(xml: &'i str, url: &'i str) -> Self {
        let mut reader = NsReader::from_str(xml);
        let cfg = reader.config_mut();
        cfg.check_end_names = true;
        cfg.expand_empty_elements = false;
        Self {
            reader,
            xml,
            url,
            depth: 0,
            skipped: 0,
            fast: true,
            text: String::new(),
            field: Field::None,
            header_open: false,
            in_record: false,
            warnings: Vec::new(),
            dc_hint: 0,
            decls_memo: None,
        }
    }

    fn xml_err(&self, message: impl Into<String>) -> OaiError {
        OaiError::Xml {
            url: self.url.to_owned(),
            position: self.pos() as u64,
            message: message.into(),
        }
    }

    /// A DOCTYPE is never processed. An HTML one means an error or maintenance page, which
    /// is a transient "not OAI" answer rather than hostile XML (quirks #49).
    fn doctype_err(&self, decl: &str) -> OaiError {
        if decl.trim().to_ascii_lowercase().starts_with("html") {
            let head: String = self.xml.chars().take(120).collect();
            return OaiError::NotOai {
                url: self.url.to_owned(),
                detail: format!("an HTML page; body starts with {:?}", head.trim()),
            };
        }
        self.xml_err("DTD not allowed")
    }

    fn qx_err(&self, e: quick_xml::Error) -> OaiError {
        OaiError::Xml {
            url: self.url.to_owned(),
            position: self.reader.error_position() + self.skipped as u64,
            message: e.to_string(),
        }
    }

    fn enter(&mut self) -> Result<(), OaiError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.xml_err(format!("elements nested deeper than {MAX_DEPTH}")));
        }
        Ok(())
    }

    /// Appends an entity or character reference to `out`.
    fn push_ref(out: &mut String, name: &str, warnings: &mut Vec<String>) {
        if let Some(num) = name.strip_prefix('#') {
            let n = if let Some(hex) = num.strip_prefix(['x', 'X']) {
                u32::from_str_radix(hex, 16).ok()
            } else {
                num.parse().ok()
            };
            // Decoding already removed references to illegal characters, but one can be
            // assembled from pieces (`&#&#1;x0;` minus `&#1;`), so check again here.
            match n.and_then(char::from_u32) {
                Some(c) if !super::decode::is_illegal(c) => out.push(c),
                _ => warnings.push(format!("invalid character reference &{name}; dropped")),
            }
            return;
        }
        // The five XML entities are nearly all of them (escaped HTML abstracts): no lookup.
        let predefined = match name {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => None,
        };
        if let Some(c) = predefined {
            out.push(c);
            return;
        }
        let entity = format!("&{name};");
        let decoded = htmlize::unescape(entity.as_str());
        if decoded == entity {
            // Unknown entity: keep it visible rather than silently losing text.
            warnings.push(format!("unknown entity {entity}"));
        }
        out.push_str(&decoded);
    }

    fn run(mut self, verb: Verb) -> Result<Response, OaiError> {
        let mut acc = Acc::default();
        loop {
            let (ns_uri, event) = self.next_event()?;
            let in_oai = ns_uri == OAI_NS;
            match event {
                Event::DocType(d) => return Err(self.doctype_err(&d.xml10_content())),
                Event::Start(e) => {
                    let name = e.local_name();
                    let name = name.as_ref();
                    if !acc.saw_root {
                        self.check_root(name, in_oai)?;
                        acc.saw_root = true;
                        self.enter()?;
                        continue;
                    }
                    if in_oai && name == "metadata" {
                        acc.metadata = self.read_metadata()?;
                        continue;
                    }
                    if in_oai && name == "about" {
                        self.skip_element(&e)?;
                        continue;
                    }
                    self.enter()?;
                    self.start(in_oai, name, &e, &mut acc)?;
                }
                Event::Empty(e) => {
                    let name = e.local_name();
                    let name = name.as_ref();
                    if !acc.saw_root {
                        self.check_root(name, in_oai)?;
                        acc.saw_root = true;
                        continue;
                    }
                    self.start(in_oai, name, &e, &mut acc)?;
                    self.end(in_oai, name, &mut acc);
                }
                Event::End(e) => {
                    let name = e.local_name();
                    let name = name.as_ref();
                    self.depth = self.depth.saturating_sub(1);
                    self.end(in_oai, name, &mut acc);
                }
                Event::Text(t) => {
                    if self.field != Field::None {
                        self.text.push_str(&t.xml10_content());
                    }
                }
                Event::CData(t) => {
                    if self.field != Field::None {
                        self.text.push_str(&t.xml10_content());
                    }
                }
                Event::GeneralRef(r) => {
                    if self.field != Field::None {
                        Self::push_ref(&mut self.text, &r.xml10_content(), &mut self.warnings);
                    }
                }
                Event::Eof => {
                    // quick-xml does not report unclosed elements at the end of input; a
                    // body cut mid-transfer must not pass for a short final page (quirks #50).
                    if acc.saw_root && self.depth > 0 {
                        return Err(
                            self.xml_err("unexpected end of document: the response is truncated")
                        );
                    }
                    break;
                }
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            }
        }
        if !acc.saw_root {
            return Err(OaiError::NotOai {
                url: self.url.to_owned(),
                detail: "empty body".into(),
            });
        }
        self.finish(verb, acc)
    }

    fn check_root(&self, name: &str, in_oai: bool) -> Result<(), OaiError> {
        if name == "OAI-PMH" && in_oai {
            return Ok(());
        }
        let head: String = self.xml.chars().take(120).collect();
        Err(OaiError::NotOai {
            url: self.url.to_owned(),
            detail: format!(
                "root element <{name}> is not OAI-PMH; body starts with {:?}",
                head.trim()
            ),
        })
    }

    fn attr(e: &BytesStart<'_>, want: &str) -> Option<String> {
        e.attributes().flatten().find_map(|a| {
            (local(a.key.as_ref()) == want && !a.key.as_ref().starts_with("xmlns"))
                .then(|| htmlize::unescape(a.value.as_ref()).into_owned())
        })
    }

    fn begin(&mut self, field: Field) {
        self.field = field;
        self.text.clear();
    }

    fn take_text(&mut self) -> String {
        self.field = Field::None;
        // The buffer is kept for the next field.
        let t = self.text.trim().to_owned();
        self.text.clear();
        t
    }

    fn start(
        &mut self,
        in_oai: bool,
        name: &str,
        e: &BytesStart<'_>,
        acc: &mut Acc,
    ) -> Result<(), OaiError> {
        if !in_oai {
            return Ok(());
        }
        let field = match name {
            "responseDate" => Field::ResponseDate,
            "error" => {
                acc.error_code = Self::attr(e, "code").unwrap_or_default();
                Field::Error
            }
            "resumptionToken" => {
                let num = |k| Self::attr(e, k).and_then(|v| v.trim().parse::<u64>().ok());
                acc.token = Some(ResumptionToken {
                    token: None,
                    complete_list_size: num("completeListSize"),
                    cursor: num("cursor"),
                    expiration_date: Self::attr(e, "expirationDate"),
                });
                Field::Token
            }
            "repositoryName" => Field::RepositoryName,
            "baseURL" => Field::BaseUrl,
            "protocolVersion" => Field::ProtocolVersion,
            "adminEmail" => Field::AdminEmail,
            "earliestDatestamp" => Field::EarliestDatestamp,
            "deletedRecord" => Field::DeletedRecord,
            "granularity" => Field::Granularity,
            "compression" => Field::Compression,
            "metadataPrefix" => Field::MetadataPrefix,
            "schema" => Field::Schema,
            "metadataNamespace" => Field::MetadataNamespace,
            "setSpec" if self.header_open => Field::HeaderSetSpec,
            "setSpec" => Field::SetSpec,
            "setName" => Field::SetName,
            "identifier" if self.header_open => Field::Identifier,
            "datestamp" => Field::Datestamp,
            "header" => {
                self.header_open = true;
                acc.header = Header {
                    deleted: Self::attr(e, "status").is_some_and(|s| s.trim() == "deleted"),
                    ..Header::default()
                };
                Field::None
            }
            "record" => {
                self.in_record = true;
                acc.metadata = None;
                Field::None
            }
            _ => Field::None,
        };
        if field != Field::None {
            self.begin(field);
        }
        Ok(())
    }

    fn end(&mut self, in_oai: bool, name: &str, acc: &mut Acc) {
        if !in_oai {
            return;
        }
        let field = self.field;
        match (name, field) {
            ("responseDate", Field::ResponseDate) => {
                acc.response_date = parse_datestamp(&self.take_text());
            }
            ("error", Field::Error) => {
                let message = self.take_text();
                acc.errors.push(ProtocolError {
                    code: OaiErrorCode::parse(&std::mem::take(&mut acc.error_code)),
                    message,
                });
            }
            ("resumptionToken", Field::Token) => {
                // XML whitespace around a pretty-printed token is not part of it (quirks #19);
                // every spelling of an empty element means "list complete" (#15).
                let t = self.take_text();
                if let Some(tok) = acc.token.as_mut() {
                    tok.token = (!t.is_empty()).then_some(t);
                }
            }
            ("repositoryName", Field::RepositoryName) => {
                acc.identify.repository_name = self.take_text()
            }
            ("baseURL", Field::BaseUrl) => acc.identify.base_url = self.take_text(),
            ("protocolVersion", Field::ProtocolVersion) => {
                acc.identify.protocol_version = self.take_text()
            }
            ("adminEmail", Field::AdminEmail) => {
                let v = self.take_text();
                acc.identify.admin_emails.push(v);
            }
            ("earliestDatestamp", Field::EarliestDatestamp) => {
                acc.identify.earliest_datestamp = self.take_text()
            }
            ("deletedRecord", Field::DeletedRecord) => {
                acc.identify.deleted_record = self.take_text()
            }
            ("granularity", Field::Granularity) => acc.identify.granularity_raw = self.take_text(),
            ("compression", Field::Compression) => {
                let v = self.take_text();
                acc.identify.compression.push(v);
            }
            ("metadataPrefix", Field::MetadataPrefix) => acc.format.prefix = self.take_text(),
            ("schema", Field::Schema) => acc.format.schema = self.take_text(),
            ("metadataNamespace", Field::MetadataNamespace) => {
                acc.format.namespace = self.take_text()
            }
            ("metadataFormat", _) => acc.formats.push(std::mem::take(&mut acc.format)),
            ("setSpec", Field::SetSpec) => acc.set.spec = self.take_text(),
            ("setName", Field::SetName) => acc.set.name = self.take_text(),
            ("set", _) => acc.sets.push(std::mem::take(&mut acc.set)),
            ("identifier", Field::Identifier) => acc.header.identifier = self.take_text(),
            ("datestamp", Field::Datestamp) => {
                let raw = self.take_text();
                acc.header.datestamp = parse_datestamp(&raw);
                if acc.header.datestamp.is_none() {
                    self.warnings.push(format!("unparseable datestamp {raw:?}"));
                }
                acc.header.datestamp_raw = raw;
            }
            ("setSpec", Field::HeaderSetSpec) => {
                let v = self.take_text();
                if !v.is_empty() {
                    acc.header.sets.push(v);
                }
            }
            ("header", _) => {
                self.header_open = false;
                // A header outside <record> is a ListIdentifiers entry.
                if !self.in_record {
                    acc.headers.push(std::mem::take(&mut acc.header));
                }
            }
            ("record", _) => {
                let header = std::mem::take(&mut acc.header);
                let metadata = if header.deleted {
                    None
                } else {
                    acc.metadata.take()
                };
                acc.metadata = None;
                acc.records.push(OaiRecord { header, metadata });
                self.in_record = false;
            }
            _ => {}
        }
    }

    /// Skips a whole element (used for `<about>`), still enforcing the depth limit.
    fn skip_element(&mut self, _start: &BytesStart<'_>) -> Result<(), OaiError> {
        let mut level = 1usize;
        while level > 0 {
            match self.reader.read_event().map_err(|e| self.qx_err(e))? {
                Event::Start(_) => {
                    level += 1;
                    if self.depth + level > MAX_DEPTH {
                        return Err(
                            self.xml_err(format!("elements nested deeper than {MAX_DEPTH}"))
                        );
                    }
                }
                Event::End(_) => level -= 1,
                Event::Eof => return Err(self.xml_err("unexpected end of document")),
                Event::DocType(_) => return Err(self.xml_err("DTD not allowed")),
                _ => {}
            }
        }
        Ok(())
    }

    /// Reads `<metadata>` up to its end tag. Returns `None` when it holds no element.
    fn read_metadata(&mut self) -> Result<Option<RecordMetadata>, OaiError> {
        let mut out: Option<RecordMetadata> = None;
        let mut is_dc = false;
        // Depth below <metadata>: 1 = inside the root element, 2 = inside a DC field.
        let mut level = 0usize;
        let mut root: Option<(usize, usize, String)> = None; // (start, insert_at, decls)
        let mut cur: Option<DcValue> = None;
        // Fields are read by hand only where the reader waits for text after a start tag
        // or other markup: after a text event it has already taken the next `<`, and after
        // an end tag it still holds that element's namespace scope (popped on its next read).
        let mut ready = false;
        loop {
            if is_dc
                && level == 1
                && ready
                && let Some(v) = self.dc_field_fast()
            {
                if let Some(m) = out.as_mut() {
                    m.dc.push(v);
                }
                continue;
            }
            let before = self.pos();
            // Only the root and the DC fields need their namespace: the other events are
            // read without resolving one (most are text).
            let event = self.reader.read_event().map_err(|e| self.qx_err(e))?;
            ready = matches!(
                event,
                Event::Start(_)
                    | Event::Comment(_)
                    | Event::PI(_)
                    | Event::CData(_)
                    | Event::Decl(_)
            );
            match event {
                Event::DocType(_) => return Err(self.xml_err("DTD not allowed")),
                Event::Start(e) if level == 0 && out.is_none() => {
                    let ns_uri = self.namespace_of(&e);
                    is_dc =
                        e.local_name().as_ref() == "dc" && (ns_uri == OAI_DC_NS || ns_uri == DC_NS);
                    root = Some((
                        before,
                        before + 1 + e.name().as_ref().len(),
                        self.missing_decls(&e),
                    ));
                    out = Some(RecordMetadata {
                        raw_xml: String::new(),
                        dc: Vec::with_capacity(self.dc_hint),
                    });
                    level = 1;
                    self.check_depth(level)?;
                }
                Event::Empty(e) if level == 0 && out.is_none() => {
                    let decls = self.missing_decls(&e);
                    let at = before + 1 + e.name().as_ref().len();
                    let end = self.pos();
                    out = Some(RecordMetadata {
                        raw_xml: self.fragment(before, at, &decls, end),
                        dc: Vec::new(),
                    });
                }
                Event::Start(e) => {
                    level += 1;
                    self.check_depth(level)?;
                    if is_dc && level == 2 {
                        let ns_uri = self.namespace_of(&e);
                        let mut v = Self::dc_value(&e, &ns_uri);
                        // The raw text up to the next tag bounds the decoded value
                        // (references only shrink): one allocation instead of regrowth.
                        let at = self.pos();
                        if let Some(n) = self
                            .xml
                            .get(at..)
                            .and_then(|r| memchr::memchr(b'<', r.as_bytes()))
                        {
                            v.value.reserve(n);
                            self.dc_text_fast(at, n, &mut v.value);
                        }
                        cur = Some(v);
                    } else if let Some(v) = cur.as_mut() {
                        // Nested children (quirks #65 `<dc:date><dc:day>`): keep their text apart.
                        if !v.value.is_empty() && !v.value.ends_with(char::is_whitespace) {
                            v.value.push(' ');
                        }
                    }
                }
                Event::Empty(_) => {}
                Event::End(_) if level == 0 => {
                    // </metadata>
                    if let Some(m) = &out {
                        self.dc_hint = m.dc.len();
                    }
                    return Ok(out);
                }
                Event::End(_) => {
                    if is_dc
                        && level == 2
                        && let (Some(v), Some(m)) = (cur.take(), out.as_mut())
                    {
                        m.dc.push(v);
                    }
                    level -= 1;
                    if level == 0 {
                        let end = self.pos();
                        if let (Some((start, at, decls)), Some(m)) = (root.take(), out.as_mut()) {
                            m.raw_xml = self.fragment(start, at, &decls, end);
                        }
                    }
                }
                Event::Text(t) => {
                    if let Some(v) = cur.as_mut() {
                        v.value.push_str(&t.xml10_content());
                    }
                }
                Event::CData(t) => {
                    if let Some(v) = cur.as_mut() {
                        v.value.push_str(&t.xml10_content());
                    }
                }
                Event::GeneralRef(r) => {
                    if let Some(v) = cur.as_mut() {
                        Self::push_ref(&mut v.value, &r.xml10_content(), &mut self.warnings);
                    }
                }
                // An XML declaration or PI inside <metadata> is tolerated (quirks #46).
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
                Event::Eof => {
                    return Err(self.xml_err("unexpected end of document inside <metadata>"));
                }
            }
        }
    }

    /// Where quick-xml stands in `self.xml`, counting text consumed by hand.
    fn pos(&self) -> usize {
        self.reader.buffer_position() as usize + self.skipped
    }

    /// A DC field whose text (`n` bytes from `at`) runs straight to an end tag is decoded
    /// here in one pass and consumed without quick-xml events: quick-xml stops at every `&`
    /// and an escaped HTML abstract is dozens of events. Anything unusual (a `\r` to
    /// normalize, a reference quick-xml would reject, a child element, CDATA, a comment)
    /// is left to the event loop, which then reads the same bytes as before.
    fn dc_text_fast(&mut self, at: usize, n: usize, out: &mut String) {
        if !self.fast {
            return;
        }
        let (Some(raw), Some(next)) = (self.xml.get(at..at + n), self.xml.get(at + n..)) else {
            return;
        };
        if !next.starts_with("</") || !Self::decode_text(raw, out, &mut self.warnings) {
            return;
        }
        self.consume(n);
    }

    /// Decodes element text holding no `<` with quick-xml's reference rules; `false` (and
    /// `out`, `warnings` as they were) when the event loop must read it instead.
    fn decode_text(raw: &str, out: &mut String, warnings: &mut Vec<String>) -> bool {
        let (len0, warn0) = (out.len(), warnings.len());
        let mut rest = raw;
        while let Some(amp) = memchr::memchr2(b'&', b'\r', rest.as_bytes()) {
            if rest.as_bytes()[amp] == b'\r' {
                out.truncate(len0);
                warnings.truncate(warn0);
                return false;
            }
            out.push_str(&rest[..amp]);
            let after = &rest[amp + 1..];
            // quick-xml's rule: `;` must come before the next `&` (no `<` is in `raw`).
            match memchr::memchr2(b';', b'&', after.as_bytes()) {
                Some(semi) if after.as_bytes()[semi] == b';' => {
                    Self::push_ref(out, &after[..semi], warnings);
                    rest = &after[semi + 1..];
                }
                _ => {
                    // The event loop reports the malformed reference.
                    out.truncate(len0);
                    warnings.truncate(warn0);
                    return false;
                }
            }
        }
        out.push_str(rest);
        true
    }

    /// Steps over whitespace that runs up to the next tag inside the root, outside any
    /// field: the text event it would be is ignored there, and pretty-printed envelopes
    /// have one between every two tags (about ten a record, each through the reader).
    fn skip_blank(&mut self) {
        if !self.fast || self.depth == 0 || self.field != Field::None {
            return;
        }
        let Some(rest) = self.xml.get(self.pos()..) else {
            return;
        };
        let b = rest.as_bytes();
        let n = b
            .iter()
            .take_while(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
            .count();
        if n > 0 && b.get(n) == Some(&b'<') {
            self.consume(n);
        }
    }

    /// Moves the reader `n` bytes on: the slice reader only moves forward, and its position
    /// is corrected by `skipped`.
    fn consume(&mut self, n: usize) {
        let input = self.reader.get_mut();
        *input = &input[n..];
        self.skipped += n;
    }

    /// A whole DC field (`<dc:title xml:lang="en">text</dc:title>` after optional
    /// whitespace) read by hand: three quick-xml events each with a namespace scope and an
    /// attribute scan otherwise, for most of a record's bytes. Only the plain shape is taken:
    /// names of ASCII name characters, `key="value"` attributes without duplicates or
    /// namespace declarations, text as [`Parser::decode_text`] takes it, and the same name
    /// in the end tag right after. Anything else (and the depth limit) is `None`, with
    /// nothing consumed, and the event loop reads the same bytes as before.
    fn dc_field_fast(&mut self) -> Option<DcValue> {
        if !self.fast || self.depth + 2 > MAX_DEPTH {
            return None;
        }
        let rest = self.xml.get(self.pos()..)?;
        let b = rest.as_bytes();
        let mut i = 0;
        // Whitespace between fields is text the event loop would ignore.
        while b
            .get(i)
            .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
        {
            i += 1;
        }
        if b.get(i) != Some(&b'<') {
            return None;
        }
        i += 1;
        let name_start = i;
        if !b
            .get(i)
            .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
        {
            return None;
        }
        while b.get(i).copied().is_some_and(is_name_byte) {
            i += 1;
        }
        let name = &rest[name_start..i];
        // Up to eight attributes, as (key, raw value).
        let mut attrs: [(&str, &str); 8] = [("", ""); 8];
        let mut n_attrs = 0;
        loop {
            let ws = i;
            while b.get(i).is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n')) {
                i += 1;
            }
            match b.get(i)? {
                b'>' => {
                    i += 1;
                    break;
                }
                c if i > ws && (c.is_ascii_alphabetic() || *c == b'_') => {}
                _ => return None,
            }
            let key_start = i;
            while b.get(i).copied().is_some_and(is_name_byte) {
                i += 1;
            }
            let key = &rest[key_start..i];
            let quote = *b.get(i + 1)?;
            if b.get(i) != Some(&b'=') || !matches!(quote, b'"' | b'\'') {
                return None;
            }
            let value_start = i + 2;
            let len = memchr::memchr(quote, b.get(value_start..)?)?;
            let value = &rest[value_start..value_start + len];
            i = value_start + len + 1;
            if key.starts_with("xmlns")
                || value.contains('<')
                || n_attrs == attrs.len()
                || attrs[..n_attrs].iter().any(|(k, _)| *k == key)
            {
                return None;
            }
            attrs[n_attrs] = (key, value);
            n_attrs += 1;
        }
        let text_start = i;
        let text_len = memchr::memchr(b'<', b.get(text_start..)?)?;
        let end_tag = &rest[text_start + text_len..];
        let after_name = end_tag.strip_prefix("</")?.strip_prefix(name)?;
        if !after_name.starts_with('>') {
            return None;
        }
        let mut value = String::with_capacity(text_len);
        if !Self::decode_text(
            &rest[text_start..text_start + text_len],
            &mut value,
            &mut self.warnings,
        ) {
            return None;
        }
        let consumed = rest.len() - after_name.len() + 1;
        let ns_uri = namespace_uri(
            self.reader
                .resolver()
                .resolve_element(quick_xml::name::QName(name))
                .0,
        );
        // What `dc_value` reads from the attributes, in the same order.
        let mut lang = None;
        let mut xsi_type = None;
        for (key, raw) in &attrs[..n_attrs] {
            if *key == "xml:lang" {
                lang = Some(lang_text(raw));
            } else if local(key) == "type" && key.contains(':') {
                xsi_type = Some(attr_text(raw));
            }
        }
        self.consume(consumed);
        #[cfg(test)]
        tests::BY_HAND.with(|n| n.set(n.get() + 1));
        Some(DcValue {
            ns: dc_namespace(&ns_uri),
            element: element_name(quick_xml::name::QName(name).local_name().as_ref()),
            value,
            lang: lang.filter(|l| !l.is_empty()),
            xsi_type,
        })
    }

    /// The next event with its element namespace resolved to an owned URI ("" if none).
    fn next_event(&mut self) -> Result<(Cow<'static, str>, Event<'i>), OaiError> {
        self.skip_blank();
        match self.reader.read_resolved_event() {
            Ok((ns, event)) => Ok((namespace_uri(ns), event)),
            Err(e) => Err(self.qx_err(e)),
        }
    }

    /// The namespace URI of a start tag just read ("" if none).
    fn namespace_of(&self, e: &BytesStart<'_>) -> Cow<'static, str> {
        namespace_uri(self.reader.resolver().resolve_element(e.name()).0)
    }

    fn check_depth(&self, level: usize) -> Result<(), OaiError> {
        if self.depth + level > MAX_DEPTH {
            return Err(self.xml_err(format!("elements nested deeper than {MAX_DEPTH}")));
        }
        Ok(())
    }

    fn dc_value(e: &BytesStart<'_>, ns_uri: &str) -> DcValue {
        let ns = dc_namespace(ns_uri);
        let mut lang = None;
        let mut xsi_type = None;
        for a in e.attributes().flatten() {
            let key = a.key.as_ref();
            if key == "xml:lang" {
                lang = Some(lang_text(&a.value));
            } else if local(key) == "type" && key.contains(':') {
                // Only xsi:type is meaningful here; the prefix is resolved loosely because
                // OJS 2 declares xsi on the envelope and some servers forget it entirely.
                xsi_type = Some(attr_text(&a.value));
            }
        }
        DcValue {
            ns,
            element: element_name(e.local_name().as_ref()),
            value: String::new(),
            lang: lang.filter(|l| !l.is_empty()),
            xsi_type,
        }
    }

    /// Namespace declarations in scope at `e` that `e` does not itself declare, so the
    /// fragment keeps its meaning when cut out of the envelope. The answer depends only on
    /// the tag's bytes and the bindings in scope, so the last one is reused when both are
    /// the same (reading the tag's attributes cost ~4,800 instructions a record).
    fn missing_decls(&mut self, e: &BytesStart<'_>) -> String {
        let tag: &str = e;
        let bindings = || {
            self.reader.resolver().bindings().map(|(prefix, ns)| {
                let prefix = match prefix {
                    quick_xml::name::PrefixDeclaration::Default => None,
                    quick_xml::name::PrefixDeclaration::Named(p) => Some(p),
                };
                (prefix, ns.0)
            })
        };
        if let Some(m) = &self.decls_memo
            && m.tag == tag
            && bindings().eq(m.scope.iter().map(|(p, ns)| (p.as_deref(), ns.as_str())))
        {
            return m.decls.clone();
        }
        let decls = self.compute_missing_decls(e);
        self.decls_memo = Some(DeclsMemo {
            tag: tag.to_owned(),
            scope: bindings()
                .map(|(p, ns)| (p.map(str::to_owned), ns.to_owned()))
                .collect(),
            decls: decls.clone(),
        });
        decls
    }

    fn compute_missing_decls(&self, e: &BytesStart<'_>) -> String {
        // Keys borrow from the start tag: no allocation per attribute.
        // Unchecked for duplicates: only which prefixes are declared matters here.
        let attrs: Vec<_> = e.attributes().with_checks(false).flatten().collect();
        let declares = |prefix: Option<&str>| {
            attrs.iter().any(|a| {
                let k: &str = a.key.as_ref();
                match prefix {
                    None => k == "xmlns",
                    Some(p) => k.strip_prefix("xmlns:") == Some(p),
                }
            })
        };
        // Sized once (escaping only adds): the usual three bindings regrew it three times.
        let mut out = String::with_capacity(
            self.reader
                .resolver()
                .bindings()
                .map(|(_, ns)| " xmlns:=\"\"".len() + 16 + ns.0.len())
                .sum(),
        );
        for (prefix, ns) in self.reader.resolver().bindings() {
            let p = match prefix {
                quick_xml::name::PrefixDeclaration::Default => None,
                quick_xml::name::PrefixDeclaration::Named(p) => Some(p),
            };
            if !declares(p) {
                out.push_str(" xmlns");
                if let Some(p) = p {
                    out.push(':');
                    out.push_str(p);
                }
                out.push_str("=\"");
                out.push_str(&quick_xml::escape::escape(ns.0));
                out.push('"');
            }
        }
        out
    }

    fn fragment(&self, start: usize, insert_at: usize, decls: &str, end: usize) -> String {
        let (Some(head), Some(tail)) =
            (self.xml.get(start..insert_at), self.xml.get(insert_at..end))
        else {
            return String::new();
        };
        let mut s = String::with_capacity(end - start + decls.len());
        s.push_str(head);
        s.push_str(decls);
        s.push_str(tail);
        s
    }

    fn finish(self, verb: Verb, acc: Acc) -> Result<Response, OaiError> {
        let mut errors = acc.errors;
        let list_verb = matches!(
            verb,
            Verb::ListIdentifiers | Verb::ListRecords | Verb::ListSets
        );
        // Normal outcomes, not failures: an empty list, or a repository without sets.
        errors.retain(|e| {
            !(list_verb && e.code == OaiErrorCode::NoRecordsMatch
                || verb == Verb::ListSets && e.code == OaiErrorCode::NoSetHierarchy)
        });
        if !errors.is_empty() {
            return Err(OaiError::Protocol {
                url: self.url.to_owned(),
                errors,
            });
        }
        let payload = match verb {
            Verb::Identify => Payload::Identify(acc.identify),
            Verb::ListMetadataFormats => Payload::MetadataFormats(acc.formats),
            Verb::ListSets => Payload::Sets(acc.sets),
            Verb::ListIdentifiers => Payload::Headers(acc.headers),
            Verb::ListRecords | Verb::GetRecord => Payload::Records(acc.records),
        };
        Ok(Response {
            response_date: acc.response_date,
            payload,
            token: acc.token,
            warnings: self.warnings,
        })
    }
}

/// A record cut out of a malformed page that does not parse on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRecord {
    /// The identifier, when it could be read from the fragment.
    pub identifier: Option<String>,
    /// Byte offset of the fragment in the decoded page.
    pub offset: usize,
    /// The fragment as received.
    pub raw: String,
    /// Why it does not parse.
    pub error: String,
}

/// What could be rescued from a page that does not parse as a whole.
#[derive(Debug, Clone, PartialEq)]
pub struct Salvaged {
    /// Records that parse on their own.
    pub records: Vec<OaiRecord>,
    /// Fragments that do not.
    pub bad: Vec<BadRecord>,
    /// The resumption token found after the last record, if any.
    pub token: Option<ResumptionToken>,
}

/// Rescues a malformed `ListRecords` page record by record: each `<record>…</record>`
/// fragment is re-wrapped in the page's own envelope start tags and parsed alone, so one
/// broken record (an unescaped `<`, a bad entity) costs only itself (quirks #44, #48).
/// Returns `None` when the page has no recognizable envelope or records at all.
pub fn salvage_list_records(xml: &str, url: &str) -> Option<Salvaged> {
    static RECORD: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"<(?:([A-Za-z_][\w.-]*):)?record[\s>]")
            .unwrap_or_else(|_| unreachable!())
    });
    let root_at = xml.find("OAI-PMH")?;
    let root_open = xml[..root_at].rfind('<')?;
    let root_end = root_open + xml[root_open..].find('>')? + 1;
    let root_tag = &xml[root_open..root_end];
    let prefix = root_tag[1..]
        .split_once("OAI-PMH")
        .map(|(p, _)| p)
        .unwrap_or("");
    let list_open = format!("<{prefix}ListRecords>");
    let wrap =
        |body: &str| format!("{root_tag}{list_open}{body}</{prefix}ListRecords></{prefix}OAI-PMH>");

    let mut out = Salvaged {
        records: Vec::new(),
        bad: Vec::new(),
        token: None,
    };
    let close = format!("</{prefix}record>");
    let mut pos = root_end;
    let mut last_end = root_end;
    while let Some(m) = RECORD.find_at(xml, pos) {
        let start = m.start();
        let end = match xml[start..].find(&close) {
            Some(e) => start + e + close.len(),
            // A record without its end tag runs up to the next record or the list end.
            None => RECORD
                .find_at(xml, m.end())
                .map(|n| n.start())
                .unwrap_or(xml.len()),
        };
        // A broken record may swallow the next one's start; cut at the next record start.
        let end = match RECORD.find_at(xml, m.end()) {
            Some(n) if n.start() < end => n.start(),
            _ => end,
        };
        let fragment = &xml[start..end];
        match parse(&wrap(fragment), Verb::ListRecords, url) {
            Ok(Response {
                payload: Payload::Records(mut recs),
                ..
            }) if recs.len() == 1 => {
                out.records.append(&mut recs);
            }
            other => out.bad.push(BadRecord {
                identifier: identifier_of(fragment),
                offset: start,
                raw: fragment.to_owned(),
                error: match other {
                    Err(e) => e.to_string(),
                    Ok(_) => "fragment is not exactly one record".into(),
                },
            }),
        }
        pos = end.max(m.end());
        last_end = end;
    }
    if out.records.is_empty() && out.bad.is_empty() {
        return None;
    }
    let tail = &xml[last_end..];
    if let Some(t) = tail.find("resumptionToken")
        && let Some(open) = tail[..t].rfind('<')
    {
        let close_tag = format!("</{prefix}resumptionToken>");
        let end = tail[open..]
            .find(&close_tag)
            .map(|e| open + e + close_tag.len())
            .or_else(|| tail[open..].find("/>").map(|e| open + e + 2));
        if let Some(end) = end
            && let Ok(resp) = parse(&wrap(&tail[open..end]), Verb::ListRecords, url)
        {
            out.token = resp.token;
        }
    }
    Some(out)
}

fn identifier_of(fragment: &str) -> Option<String> {
    let at = fragment.find("identifier>")?;
    let rest = &fragment[at + "identifier>".len()..];
    let id = rest[..rest.find('<')?].trim();
    (!id.is_empty() && id.len() < 1024).then(|| htmlize::unescape(id).into_owned())
}

/// The DC values of a stored `<metadata>` fragment (as kept in `records.raw_metadata`),
/// parsed by the same code as a harvested page.
pub fn parse_metadata_fragment(raw: &str) -> Result<Vec<DcValue>, OaiError> {
    let page = format!(
        "<OAI-PMH xmlns=\"{OAI_NS}\"><ListRecords><record><header><identifier>x</identifier>\
         <datestamp>2000-01-01</datestamp></header><metadata>{raw}</metadata></record></ListRecords></OAI-PMH>"
    );
    let resp = parse(&page, Verb::ListRecords, "stored record")?;
    Ok(match resp.payload {
        Payload::Records(mut r) => r
            .pop()
            .and_then(|r| r.metadata)
            .map(|m| m.dc)
            .unwrap_or_default(),
        _ => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::cell::Cell;

    thread_local! {
        /// DC fields read by [`Parser::dc_field_fast`] on this thread.
        pub(super) static BY_HAND: Cell<usize> = const { Cell::new(0) };
    }

    fn by_hand() -> usize {
        BY_HAND.with(Cell::get)
    }

    /// The page parsed with and without the DC fields read by hand, as comparable text
    /// (value, warnings, raw fragments, or the error with its position).
    fn both_ways(xml: &str) -> (String, String) {
        let run = |fast: bool| {
            let mut p = Parser::new(xml, "test");
            p.fast = fast;
            format!("{:?}", p.run(Verb::ListRecords))
        };
        (run(true), run(false))
    }

    fn page(fields: &str) -> String {
        format!(
            r#"<OAI-PMH xmlns="{OAI_NS}"><ListRecords><record><header><identifier>x</identifier><datestamp>2000-01-01</datestamp></header><metadata><oai_dc:dc xmlns:oai_dc="{OAI_DC_NS}" xmlns:dc="{DC_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
      {fields}
    </oai_dc:dc></metadata></record></ListRecords></OAI-PMH>"#
        )
    }

    #[test]
    fn dc_fields_read_by_hand_equal_the_event_loop() {
        let cases = [
            r#"<dc:title xml:lang="en-US">Plain &amp; simple</dc:title>"#,
            r#"<dc:title xml:lang='ru-RU'>Кириллица &lt;p&gt;</dc:title><dc:creator>A</dc:creator>"#,
            r#"<dc:identifier xsi:type="dcterms:DOI">10.1/x</dc:identifier>"#,
            r#"<dc:title xml:lang="" >t</dc:title>"#,
            r#"<dc:title xml:lang="a&amp;b">t</dc:title>"#,
            r#"<dc:title xml:lang="en" xml:lang="ru">duplicate attribute</dc:title>"#,
            r#"<dc:title foo:type="a" xsi:type="b">two types</dc:title>"#,
            r#"<dc:title xml:lang = "en">spaces around =</dc:title>"#,
            r#"<dc:title xml:lang="en"xsi:type="x">no space</dc:title>"#,
            r#"<dc:title a="1" b="2" c="3" d="4" e="5" f="6" g="7" h="8" i="9">many</dc:title>"#,
            r#"<dc:title/><dc:title />empty"#,
            r#"<dc:title>a<!-- c -->b</dc:title>"#,
            r#"<dc:title><![CDATA[<b>x</b>]]></dc:title>"#,
            r#"<dc:date><dc:day>21</dc:day>.06.2022</dc:date>"#,
            "<dc:title>a\r\nb</dc:title>\r\n<dc:title>c</dc:title>",
            "<dc:title>a</dc:title>\r\n<dc:title>b</dc:title>\r\n",
            "<dc:title>a<!-- c -->b</dc:title> <dc:title>after a slow one</dc:title>",
            "<!-- c --><dc:title>after a comment</dc:title>",
            r#"<dc:title>unknown &bogus; and &#0; refs</dc:title>"#,
            r#"<dc:title>end tag with space</dc:title >"#,
            r#"<x:title xmlns:x="http://purl.org/dc/terms/">local ns</x:title><x:title>unbound</x:title>"#,
            r#"<dc:title xmlns:dc="http://example.org/other">rebound</dc:title><dc:title>after</dc:title>"#,
            r#"<dc:title xmlns="http://example.org/d">default ns</dc:title><title>no prefix</title>"#,
            r#"<dcterms:abstract>unbound prefix</dcterms:abstract>"#,
            r#"<dc:a.b-c_d:e>odd name</dc:a.b-c_d:e><dc:tïtle>non-ASCII name</dc:tïtle>"#,
            "stray text <dc:title>x</dc:title> &amp; more",
            "\t\n  <dc:title>\tspaced\n</dc:title>\n\n",
            r#"<dc:title xml:lang="en>gt">quoted gt</dc:title>"#,
            r#"<dc:title xml:lang="en<lt">quoted lt</dc:title>"#,
            r#"<dc:title>a & b</dc:title>"#,
            r#"<dc:title>wrong end</dc:titel>"#,
            r#"<dc:title>unterminated"#,
            r#"<dc:title xml:lang="en>unterminated attribute"#,
            r#"<dc:title =x>no key</dc:title>"#,
            r#"<?pi x?><!-- c --><dc:title>after a PI</dc:title>"#,
        ];
        let before = by_hand();
        for c in cases {
            let (fast, slow) = both_ways(&page(c));
            assert_eq!(fast, slow, "{c:?}");
        }
        // The plain fields above are read by hand, or the comparison proves nothing.
        assert!(by_hand() - before >= 15, "{}", by_hand() - before);
        let before = by_hand();
        both_ways(&page(
            r#"<dc:title xml:lang="en">a</dc:title> <dc:creator>b</dc:creator>"#,
        ));
        assert_eq!(by_hand() - before, 2);
    }

    /// Whitespace between envelope tags skipped by [`Parser::skip_blank`] gives what the
    /// event loop gives: values, warnings, raw fragments and error positions.
    #[test]
    fn blank_runs_in_the_envelope_skipped_equal_the_event_loop() {
        let cases = [
            "<OAI-PMH xmlns=\"{OAI_NS}\">\n  <responseDate> 2022-06-21T10:00:00Z </responseDate>\r\n\t<ListRecords>\n  <record>\n    <header status=\"deleted\">\n      <identifier>\n   oai:x:1 </identifier>\n      <datestamp>2000-01-01</datestamp>\n      <setSpec>a</setSpec>  <setSpec> b </setSpec>\n    </header>\n  </record>\n</ListRecords>\n</OAI-PMH>\n",
            "<OAI-PMH xmlns=\"{OAI_NS}\"> <ListRecords> <record> <header> <identifier>a <!-- c -->  <!-- d --> b</identifier> <datestamp> 2000-01-01 </datestamp> </header> <metadata>\n <oai_dc:dc xmlns:oai_dc=\"{OAI_DC_NS}\" xmlns:dc=\"{DC_NS}\"> <dc:title>t</dc:title> </oai_dc:dc>\n </metadata> </record> <resumptionToken cursor=\"0\">  tok  </resumptionToken> </ListRecords> </OAI-PMH>",
            "<OAI-PMH xmlns=\"{OAI_NS}\">\n <ListRecords>\n <record>\n <header>\n <identifier>x</identifier>\n </header>\n </record>\n <record>  </ListRecords>",
            "<OAI-PMH xmlns=\"{OAI_NS}\">  text \n <error code=\"badArgument\"> bad </error>\n </OAI-PMH>  ",
        ];
        for case in cases {
            let xml = case
                .replace("{OAI_NS}", OAI_NS)
                .replace("{OAI_DC_NS}", OAI_DC_NS)
                .replace("{DC_NS}", DC_NS);
            let (fast, slow) = both_ways(&xml);
            assert_eq!(fast, slow, "{xml}");
        }
    }

    #[test]
    fn dc_fields_by_hand_keep_the_depth_limit() {
        // Nesting around the record that puts the DC fields on either side of the limit.
        for n in MAX_DEPTH - 8..=MAX_DEPTH {
            let xml = page("<dc:title>t</dc:title>")
                .replace(
                    "<ListRecords>",
                    &format!("<ListRecords>{}", "<x>".repeat(n)),
                )
                .replace(
                    "</ListRecords>",
                    &format!("{}</ListRecords>", "</x>".repeat(n)),
                );
            let (fast, slow) = both_ways(&xml);
            assert_eq!(fast, slow, "{n}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        /// Random fields from pieces that hit every branch of the hand reader.
        #[test]
        fn random_dc_fields_read_by_hand_equal_the_event_loop(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec![
                    "<dc:title>", "</dc:title>", "<dc:creator xml:lang=\"en\">", "</dc:creator>",
                    " xml:lang=\"ru\"", ">", "<", "/>", "&amp;", "&lt;", "&rsquo;", "&#65;",
                    "&", ";", "text", " ", "\n", "\r", "Ж", "<!--c-->", "<![CDATA[x]]>",
                    "<dc:date>", "</dc:date>", "xmlns:dc=\"urn:x\"", "'", "\"", "=",
                ]),
                0..24,
            )
        ) {
            let fields: String = pieces.concat();
            let (fast, slow) = both_ways(&page(&fields));
            prop_assert_eq!(fast, slow, "{:?}", fields);
        }
    }
}
