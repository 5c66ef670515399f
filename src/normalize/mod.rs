//! Pure Dublin Core normalization: the raw `DcValue`s of one record become the normalized
//! record of the DESIGN.md contract ("Normalized record — contract"), plus quality flags,
//! the cross-source work key and the issue DOI. No I/O, no clock: the same input always
//! gives the same output, and normalizing the output again changes nothing.
//!
//! Layout: `text` (the text rule, mojibake, script-based language), `language` (codes),
//! `names` (people), `dates`, `identifiers` (DOI, ISSN, URL keys, classification), `types`,
//! `rights` (licence ids), `source` (citation strings). This file routes elements to
//! fields and applies the cross-field rules (main language, DOI precedence, work key).

mod dates;
mod identifiers;
mod language;
mod memo;
mod names;
mod rights;
mod source;
mod text;
mod types;

pub use identifiers::Identifier;
pub use names::{NameVariant, Person};
pub use text::normalize_text;
pub use types::TYPE_VOCABULARY;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::domain::DcValue;
use language::Code;
use text::Mode;

/// A text value with its language, `null` when unknown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LangValue {
    /// Text after the text rule (NFC, no markup, whitespace collapsed).
    pub value: String,
    /// ISO 639-1 (else 639-3) code: the declared `xml:lang`, or the script's certain
    /// language (`ru` for Russian Cyrillic, `en` for plain English prose). A static
    /// string in practice: no allocation per value.
    pub lang: Option<Code>,
}

/// Where the work was published, parsed from `dc:source`; parts not written are `null`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// Journal (or book) title.
    pub title: Option<String>,
    /// Volume as written (`5`, `1-2`).
    pub volume: Option<String>,
    /// Issue as written (`3`); never a shifted volume.
    pub issue: Option<String>,
    /// Year of the issue.
    pub year: Option<i32>,
    /// Page range with an ASCII hyphen (`5-17`).
    pub pages: Option<String>,
    /// ISSN with a valid check digit (`0131-2812`).
    pub issn: Option<String>,
}

/// One rights statement and the licence it names, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rights {
    /// The statement or licence URL as text (markup stripped).
    pub value: String,
    /// SPDX-style id (`CC-BY-4.0`, `CC-BY-NC-SA-4.0`, `CC0-1.0`); `null` for copyright
    /// statements and anything not plainly a known licence.
    pub license: Option<String>,
}

/// The metadata part of the normalized record (the caller adds the envelope).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NormalizedRecord {
    /// All titles with languages; the one in the record's main language first.
    pub titles: Vec<LangValue>,
    /// Authors in order; per-locale copies of one author merged (see [`Person`]).
    pub creators: Vec<Person>,
    /// `dc:contributor` (sponsors, translators), never merged with creators.
    pub contributors: Vec<Person>,
    /// Keywords, lists split, deduplicated case-insensitively per language.
    pub subjects: Vec<LangValue>,
    /// Abstracts as plain text; paragraphs kept as blank lines.
    pub descriptions: Vec<LangValue>,
    pub publishers: Vec<String>,
    /// Publication date at the precision given: `2022`, `2022-06`, `2022-06-21`.
    pub issued: Option<String>,
    /// Work types from the small vocabulary (`article`, `review`, ... `other`).
    pub types: Vec<String>,
    /// Formats; MIME types lower-cased.
    pub formats: Vec<String>,
    /// `dc:language` as ISO 639-1 (else 639-3) codes; unknown values dropped.
    pub languages: Vec<String>,
    /// The article DOI, lower-case `10.NNNN/...`, from `dc:identifier` (else a sole
    /// `dc:relation` DOI); never from `dc:source` (that is the issue DOI).
    pub doi: Option<String>,
    /// Every `dc:identifier`, classified.
    pub identifiers: Vec<Identifier>,
    /// `null` when no source says anything.
    pub source_info: Option<SourceInfo>,
    pub relations: Vec<String>,
    pub coverage: Vec<String>,
    pub rights: Vec<Rights>,
}

impl NormalizedRecord {
    /// The primary title (in the record's main language when known), for display.
    pub fn title(&self) -> Option<&str> {
        self.titles.first().map(|t| t.value.as_str())
    }
}

/// Result of [`normalize`]: the record plus what the caller stores beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalized {
    pub record: NormalizedRecord,
    /// Sorted, deduplicated quality flags.
    pub flags: Vec<String>,
    /// Cross-source key: normalized DOI, else normalized landing URL.
    pub work_key: Option<String>,
    /// DOI of the issue (OJS puts it in `dc:source`).
    pub issue_doi: Option<String>,
}

/// Flag: the record has no title.
pub const FLAG_INCOMPLETE: &str = "incomplete";
/// Flag: mojibake was repaired in at least one value.
pub const FLAG_REPAIRED_ENCODING: &str = "repaired_encoding";
/// Flag: a declared `xml:lang` contradicts the script of its value.
pub const FLAG_LANG_CONFLICT: &str = "lang_conflict";
/// Flag: a date was an epoch placeholder or out of range and was not used.
pub const FLAG_DATE_OUT_OF_RANGE: &str = "date_out_of_range";
/// Flag: the issued year and the year in `dc:source` disagree (both kept).
pub const FLAG_YEAR_MISMATCH: &str = "year_mismatch";

/// Which contract field an element feeds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Title,
    Creator,
    Contributor,
    Subject,
    Description,
    Publisher,
    Date,
    Type,
    Format,
    Language,
    Identifier,
    Source,
    Relation,
    Coverage,
    Rights,
}

/// DC 1.1 names and the dcterms refinements seen inside `oai_dc` (under any namespace).
fn field_of(element: &str) -> Option<Field> {
    use Field::*;
    Some(match element {
        "title" | "alternative" => Title,
        "creator" => Creator,
        "contributor" => Contributor,
        "subject" => Subject,
        "description" | "abstract" | "tableOfContents" => Description,
        "publisher" => Publisher,
        "date" | "issued" | "created" | "available" | "dateAccepted" | "dateSubmitted"
        | "dateCopyrighted" | "dateIssued" | "datePublished" => Date,
        "type" => Type,
        "format" | "medium" => Format,
        "language" => Language,
        "identifier" => Identifier,
        "source" | "bibliographicCitation" => Source,
        "relation" | "isReferencedBy" | "references" | "isPartOf" | "hasPart" | "isVersionOf"
        | "hasVersion" | "isFormatOf" | "hasFormat" | "replaces" | "isReplacedBy" | "requires"
        | "isRequiredBy" | "conformsTo" => Relation,
        "coverage" | "spatial" | "temporal" => Coverage,
        "rights" | "license" | "accessRights" | "rightsHolder" => Rights,
        _ => return None,
    })
}

/// Working state while one record is normalized.
#[derive(Default)]
struct Ctx<'v> {
    flags: Vec<&'static str>,
    /// `xml:lang` tags already mapped in this record (a record uses two or three),
    /// borrowed from the record's values.
    lang_memo: Vec<(&'v str, Option<Code>)>,
}

impl<'v> Ctx<'v> {
    fn flag(&mut self, f: &'static str) {
        if !self.flags.contains(&f) {
            self.flags.push(f);
        }
    }

    fn clean<'a>(&mut self, raw: &'a str, mode: Mode) -> Option<Cow<'a, str>> {
        let c = text::clean(raw, mode)?;
        if c.repaired {
            self.flag(FLAG_REPAIRED_ENCODING);
        }
        Some(c.text)
    }

    /// An `xml:lang` tag as an ISO code (memoized: a record repeats two or three tags).
    fn declared_lang(&mut self, tag: Option<&'v str>) -> Option<Code> {
        let tag = tag?;
        if let Some((_, code)) = self.lang_memo.iter().find(|(t, _)| *t == tag) {
            return code.clone();
        }
        let code = language::language_code(tag);
        self.lang_memo.push((tag, code.clone()));
        code
    }

    /// Language of a value: declared (normalized) if any, with a conflict check; else
    /// guessed from the script when that is certain.
    fn lang_for(&mut self, declared: Option<&'v str>, text: &str) -> Option<Code> {
        match self.declared_lang(declared) {
            Some(code) => {
                if text::lang_conflicts(&code, text) {
                    self.flag(FLAG_LANG_CONFLICT);
                }
                Some(code)
            }
            None => text::guess_lang(text).map(Cow::Borrowed),
        }
    }
}

fn push_unique<T: PartialEq>(v: &mut Vec<T>, item: T) {
    if !v.contains(&item) {
        v.push(item);
    }
}

/// Normalizes the DC elements of one record.
pub fn normalize(values: &[DcValue]) -> Normalized {
    let mut ctx = Ctx::default();
    let mut by_field: Vec<(Field, &DcValue)> = Vec::with_capacity(values.len());
    by_field.extend(
        values
            .iter()
            .filter_map(|v| field_of(&v.element).map(|f| (f, v))),
    );
    let of = |f: Field| {
        by_field
            .iter()
            .filter(move |(g, _)| *g == f)
            .map(|(_, v)| *v)
    };

    // Languages first: the main language orders titles and picks primary name forms.
    let mut languages: Vec<String> = Vec::new();
    for v in of(Field::Language) {
        if let Some(t) = ctx.clean(&v.value, Mode::Line) {
            for code in language::language_list(&t) {
                if !languages.iter().any(|l| *l == code) {
                    languages.push(code.into_owned());
                }
            }
        }
    }

    let mut titles = lang_values(&mut ctx, of(Field::Title), Mode::Line);
    let descriptions = lang_values(&mut ctx, of(Field::Description), Mode::Block);
    let main_lang: Option<String> = languages
        .first()
        .cloned()
        .or_else(|| majority_lang(&titles, &descriptions));
    if let Some(main) = &main_lang {
        // Primary title first; the others are translations, order otherwise kept.
        titles.sort_by_key(|t| t.lang.as_deref() != Some(main.as_str()));
    }

    let mut identifiers: Vec<Identifier> = Vec::new();
    for v in of(Field::Identifier) {
        if let Some(t) = ctx.clean(&v.value, Mode::Line) {
            push_unique(
                &mut identifiers,
                identifiers::classify(&t, v.xsi_type.as_deref()),
            );
        }
    }
    let orcids: Vec<&str> = identifiers
        .iter()
        .filter(|i| i.scheme == "orcid")
        .map(|i| i.value.as_str())
        .collect();

    let mut creators = people(&mut ctx, of(Field::Creator), main_lang.as_deref());
    // An ORCID in dc:identifier is attached only when nobody else could own it.
    if let ([only], [id]) = (creators.as_mut_slice(), orcids.as_slice())
        && only.orcid.is_none()
    {
        only.orcid = Some((*id).to_owned());
    }
    let contributors = people(&mut ctx, of(Field::Contributor), main_lang.as_deref());
    let subjects = subjects(&mut ctx, of(Field::Subject));

    let mut relations: Vec<String> = Vec::new();
    for v in of(Field::Relation) {
        if let Some(t) = ctx.clean(&v.value, Mode::Line) {
            push_unique(&mut relations, t.into_owned());
        }
    }

    let mut doi = identifiers
        .iter()
        .find(|i| i.scheme == "doi")
        .map(|i| i.value.clone());
    if doi.is_none() {
        // A relation DOI counts only when the relation is nothing but that DOI (EPrints
        // official_url; a citation around it is a related work) and it is the only one
        // (else they are galleys).
        let mut found: Vec<String> = Vec::new();
        for r in &relations {
            if let Some(d) = identifiers::parse_doi(r) {
                push_unique(&mut found, d);
            }
        }
        if let [only] = found.as_slice() {
            doi = Some(only.clone());
        }
    }

    let (source_info, issue_doi) = source_info(
        &mut ctx,
        of(Field::Source),
        &identifiers,
        main_lang.as_deref(),
    );
    let issued = issued(&mut ctx, of(Field::Date));
    if let (Some(iso), Some(si)) = (&issued, &source_info)
        && let Some(sy) = si.year
        && iso.get(..4).and_then(|y| y.parse::<i32>().ok()) != Some(sy)
    {
        ctx.flag(FLAG_YEAR_MISMATCH);
    }

    let mut known_types: Vec<String> = Vec::new();
    let mut unknown_type = false;
    for v in of(Field::Type) {
        if let Some(t) = ctx.clean(&v.value, Mode::Line) {
            match types::map_type(&t) {
                types::TypeValue::Known(k) => push_unique(&mut known_types, k.to_owned()),
                types::TypeValue::Unknown => unknown_type = true,
                types::TypeValue::Ignored => {}
            }
        }
    }
    if known_types.is_empty() && unknown_type {
        known_types.push("other".to_owned());
    }

    let mut formats: Vec<String> = Vec::new();
    for v in of(Field::Format) {
        if let Some(t) = ctx.clean(&v.value, Mode::Line) {
            let t = if is_mime(&t) {
                t.to_ascii_lowercase()
            } else {
                t.into_owned()
            };
            push_unique(&mut formats, t);
        }
    }
    let publishers = plain_list(&mut ctx, of(Field::Publisher));
    let coverage = plain_list(&mut ctx, of(Field::Coverage));

    let mut rights: Vec<Rights> = Vec::new();
    for v in of(Field::Rights) {
        if let Some(t) = ctx.clean(&v.value, Mode::Block) {
            // The licence may hide in a link of an HTML copyright notice.
            let license = rights::license_id(&t).or_else(|| rights::license_from_url(&v.value));
            if !rights.iter().any(|r| r.value == t) {
                rights.push(Rights {
                    value: t.into_owned(),
                    license,
                });
            }
        }
    }

    if titles.is_empty() {
        ctx.flag(FLAG_INCOMPLETE);
    }
    let work_key = doi
        .clone()
        .or_else(|| landing_key(&identifiers, &relations));
    let mut flags: Vec<String> = ctx.flags.iter().map(|f| (*f).to_owned()).collect();
    flags.sort();

    Normalized {
        record: NormalizedRecord {
            titles,
            creators,
            contributors,
            subjects,
            descriptions,
            publishers,
            issued,
            types: known_types,
            formats,
            languages,
            doi,
            identifiers,
            source_info,
            relations,
            coverage,
            rights,
        },
        flags,
        work_key,
        issue_doi,
    }
}

fn is_mime(s: &str) -> bool {
    let mut parts = s.split('/');
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some(a), Some(b), None)
            if !a.is_empty() && !b.is_empty()
                && a.bytes().all(|c| c.is_ascii_alphabetic())
                && b.bytes().all(|c| c.is_ascii_alphanumeric() || b"+-.;=".contains(&c))
    )
}

fn lang_values<'a>(
    ctx: &mut Ctx<'a>,
    values: impl Iterator<Item = &'a DcValue>,
    mode: Mode,
) -> Vec<LangValue> {
    let mut out: Vec<LangValue> = Vec::new();
    for v in values {
        let Some(t) = ctx.clean(&v.value, mode) else {
            continue;
        };
        // The same text under two locales is one value (OJS falls back to the primary
        // locale); the first language stays.
        if out.iter().any(|o| o.value == t) {
            continue;
        }
        let lang = ctx.lang_for(v.lang.as_deref(), &t);
        out.push(LangValue {
            value: t.into_owned(),
            lang,
        });
    }
    out
}

/// The most frequent language among titles and descriptions (ties: first seen).
fn majority_lang(titles: &[LangValue], descriptions: &[LangValue]) -> Option<String> {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for l in titles
        .iter()
        .chain(descriptions)
        .filter_map(|v| v.lang.as_deref())
    {
        match counts.iter_mut().find(|(k, _)| *k == l) {
            Some((_, n)) => *n += 1,
            None => counts.push((l, 1)),
        }
    }
    let best = counts.iter().map(|(_, n)| *n).max()?;
    counts
        .iter()
        .find(|(_, n)| *n == best)
        .map(|(l, _)| (*l).to_owned())
}

fn plain_list<'a>(ctx: &mut Ctx<'a>, values: impl Iterator<Item = &'a DcValue>) -> Vec<String> {
    let mut out = Vec::new();
    for v in values {
        if let Some(t) = ctx.clean(&v.value, Mode::Line) {
            push_unique(&mut out, t.into_owned());
        }
    }
    out
}

fn people<'a>(
    ctx: &mut Ctx<'a>,
    values: impl Iterator<Item = &'a DcValue>,
    main_lang: Option<&str>,
) -> Vec<Person> {
    let mut found: Vec<(Person, Option<Code>)> = Vec::new();
    for v in values {
        let Some(t) = ctx.clean(&v.value, Mode::Line) else {
            continue;
        };
        let lang = ctx.declared_lang(v.lang.as_deref());
        names::split_people(&t, |unit| {
            if let Some(p) = names::person_from(&unit) {
                let dup = found.iter().any(|(q, l)| q.name == p.name && *l == lang);
                if !dup {
                    found.push((p, lang.clone()));
                }
            }
        });
    }
    names::assemble(found, main_lang)
}

/// Classification codes are subjects of their own and are never split on commas.
fn is_classification(s: &str) -> bool {
    let t = s.trim_start();
    // `to_lowercase` of the prefix only, char by char: no copy of every keyword.
    let starts_with_lower = |p: &str| {
        let mut lower = t.chars().flat_map(char::to_lowercase);
        p.chars().all(|pc| lower.next() == Some(pc))
    };
    [
        "удк",
        "udc",
        "ббк",
        "jel",
        "msc",
        "pacs",
        "грнти",
        "ddc",
        "lcc",
    ]
    .iter()
    .any(|p| starts_with_lower(p))
}

fn subjects<'a>(
    ctx: &mut Ctx<'a>,
    values: impl Iterator<Item = &'a DcValue> + Clone,
) -> Vec<LangValue> {
    // Sized once from the raw values (a value has at most one piece more than it has
    // separators; cleaning seldom adds any): the buffers regrew about five times a record.
    let (mut pieces, mut bytes) = (0, 0);
    for v in values.clone() {
        pieces += 1 + v.value.bytes().filter(|&b| b == b',' || b == b';').count();
        bytes += v.value.len();
    }
    let mut out: Vec<LangValue> = Vec::with_capacity(pieces);
    // Case-folded value of each `out` entry, end to end in one buffer (entry `i` ends at
    // `key_ends[i]`; its language is `out[i].lang`).
    let mut keys = String::with_capacity(bytes);
    let mut key_ends: Vec<usize> = Vec::with_capacity(pieces);
    for v in values {
        let Some(t) = ctx.clean(&v.value, Mode::Line) else {
            continue;
        };
        // Pieces in list order, without collecting them first.
        let pieces = t.split(';').flat_map(|part| {
            let split = part.matches(',').count() >= 2 && !is_classification(part);
            let (whole, parts) = if split {
                (None, Some(part.split(',')))
            } else {
                (Some(part), None)
            };
            whole.into_iter().chain(parts.into_iter().flatten())
        });
        keys.reserve(t.len());
        for piece in pieces {
            let p = text::trim(piece);
            // A closing dot ends the list, not the keyword; abbreviations (`U.S.`) keep it.
            let p = match p.strip_suffix('.') {
                Some(stem) if !stem.contains('.') => stem.trim_end(),
                _ => p,
            };
            if p.is_empty() || text::is_placeholder(p) {
                continue;
            }
            let lang = ctx.lang_for(v.lang.as_deref(), p);
            let start = keys.len();
            text::fold_case_into(p, &mut keys);
            let (seen, key) = keys.split_at(start);
            let dup = key_ends.iter().zip(&out).enumerate().any(|(i, (&end, o))| {
                let from = if i == 0 { 0 } else { key_ends[i - 1] };
                seen.get(from..end) == Some(key) && o.lang == lang
            });
            if dup {
                keys.truncate(start);
                continue;
            }
            key_ends.push(keys.len());
            out.push(LangValue {
                value: p.to_owned(),
                lang,
            });
        }
    }
    out
}

fn issued<'a>(ctx: &mut Ctx<'a>, values: impl Iterator<Item = &'a DcValue>) -> Option<String> {
    // (rank, is timestamp, order) — lowest wins: publication-date elements first, and
    // date-only values before system timestamps.
    let mut best: Option<((u8, bool, usize), String)> = None;
    for (i, v) in values.enumerate() {
        let Some(rank) = dates::element_rank(&v.element) else {
            continue;
        };
        let Some(t) = ctx.clean(&v.value, Mode::Line) else {
            continue;
        };
        let Some(d) = dates::parse_date(&t) else {
            continue;
        };
        if dates::out_of_range(&d) {
            ctx.flag(FLAG_DATE_OUT_OF_RANGE);
            continue;
        }
        let key = (rank, d.timestamp, i);
        if best.as_ref().is_none_or(|(k, _)| key < *k) {
            best = Some((key, d.iso));
        }
    }
    best.map(|(_, iso)| iso)
}

fn source_info<'a>(
    ctx: &mut Ctx<'a>,
    values: impl Iterator<Item = &'a DcValue>,
    identifiers: &[Identifier],
    main_lang: Option<&str>,
) -> (Option<SourceInfo>, Option<String>) {
    let mut issn: Option<String> = None;
    let mut issue_doi: Option<String> = None;
    let mut cites: Vec<(Option<Code>, String)> = Vec::new();
    for v in values {
        let Some(t) = ctx.clean(&v.value, Mode::Line) else {
            continue;
        };
        if let Some(i) = identifiers::parse_issn(&t) {
            issn.get_or_insert(i);
            continue;
        }
        if let Some(d) = identifiers::parse_doi(&t) {
            issue_doi.get_or_insert(d);
            continue;
        }
        if t.starts_with("http://") || t.starts_with("https://") {
            continue;
        }
        if let Some(d) = identifiers::find_dois(&t).into_iter().next() {
            issue_doi.get_or_insert(d);
        }
        // The citation ends where its DOI starts; what follows is no title or number.
        let cite = match identifiers::doi_start(&t) {
            Some(at) => &t[..at],
            None => &t[..],
        };
        // ISSNs go to `issn`, never into the citation text.
        let (issns, cite) = identifiers::take_issns(cite);
        if issn.is_none() {
            issn = issns.into_iter().next();
        }
        let lang = ctx.declared_lang(v.lang.as_deref());
        cites.push((lang, cite));
    }
    if issn.is_none() {
        issn = identifiers
            .iter()
            .find(|i| i.scheme == "issn")
            .map(|i| i.value.clone());
    }
    if issn.is_none() {
        // EPrints: the citation in dc:identifier ends with a labelled ISSN.
        issn = identifiers
            .iter()
            .filter(|i| i.scheme == "citation")
            .find_map(|i| identifiers::take_issns(&i.value).0.into_iter().next());
    }
    let primary_idx = main_lang
        .and_then(|m| cites.iter().position(|(l, _)| l.as_deref() == Some(m)))
        .unwrap_or(0);
    let mut parts = match cites.get(primary_idx) {
        Some((_, c)) => source::parse_source(c),
        // No dc:source: an EPrints citation in dc:identifier says where it appeared.
        None => identifiers
            .iter()
            .filter(|i| i.scheme == "citation")
            .find_map(|i| source::parse_eprints_citation(&i.value))
            .unwrap_or_default(),
    };
    // Other locales of the same citation fill what the primary one lacks (parsed only
    // when something is missing).
    for (i, (_, cite)) in cites.iter().enumerate() {
        let complete = parts.title.is_some()
            && parts.volume.is_some()
            && parts.issue.is_some()
            && parts.year.is_some()
            && parts.pages.is_some();
        if i == primary_idx || complete {
            continue;
        }
        let other = source::parse_source(cite);
        parts.title = parts.title.or(other.title);
        parts.volume = parts.volume.or(other.volume);
        parts.issue = parts.issue.or(other.issue);
        parts.year = parts.year.or(other.year);
        parts.pages = parts.pages.or(other.pages);
    }
    let info = SourceInfo {
        title: parts.title,
        volume: parts.volume,
        issue: parts.issue,
        year: parts.year,
        pages: parts.pages,
        issn,
    };
    let empty = info.title.is_none()
        && info.volume.is_none()
        && info.issue.is_none()
        && info.year.is_none()
        && info.pages.is_none()
        && info.issn.is_none();
    ((!empty).then_some(info), issue_doi)
}

/// Landing page: the first URL identifier that is not a file; else (EPrints) a relation
/// URL that a file identifier lives under.
fn landing_key(identifiers: &[Identifier], relations: &[String]) -> Option<String> {
    let urls: Vec<&str> = identifiers
        .iter()
        .filter(|i| i.scheme == "url")
        .map(|i| i.value.as_str())
        .collect();
    if let Some(u) = urls.iter().find(|u| !identifiers::is_file_url(u)) {
        return identifiers::url_key(u);
    }
    let file_keys: Vec<String> = urls
        .iter()
        .filter_map(|u| identifiers::url_key(u))
        .collect();
    relations.iter().find_map(|r| {
        let key = identifiers::url_key(r)?;
        file_keys
            .iter()
            .any(|f| f.starts_with(&format!("{key}/")))
            .then_some(key)
    })
}
