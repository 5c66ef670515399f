//! `dc:type` values to the small work-type vocabulary.

use std::cell::RefCell;

use super::memo::{Memo, memoized};

/// The work-type vocabulary every `types` value comes from (`../shared/DESIGN.md`).
pub const TYPE_VOCABULARY: &[&str] = &[
    "article",
    "review",
    "book",
    "book-part",
    "thesis",
    "conference-paper",
    "report",
    "preprint",
    "dataset",
    "other",
];

/// What one `dc:type` value says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TypeValue {
    /// A work type in the vocabulary.
    Known(&'static str),
    /// Not a work type at all: `Text`, `…Version`, `PeerReviewed`.
    Ignored,
    /// Some type we cannot map (a section name, "Editorial" is mapped, "Poems" is not).
    Unknown,
}

fn from_eu_repo(term: &str) -> TypeValue {
    use TypeValue::*;
    let t = term.to_ascii_lowercase();
    if t.ends_with("version") {
        return Ignored;
    }
    Known(match t.as_str() {
        "article" | "contributiontoperiodical" | "journalarticle" => "article",
        "review" | "bookreview" => "review",
        "book" => "book",
        "bookpart" => "book-part",
        "doctoralthesis" | "masterthesis" | "bachelorthesis" | "studentthesis" => "thesis",
        "conferenceobject"
        | "conferencepaper"
        | "conferenceposter"
        | "conferenceproceedings"
        | "conferencecontribution" => "conference-paper",
        "report" | "workingpaper" | "technicaldocumentation" | "researchreport" => "report",
        "preprint" => "preprint",
        "dataset" => "dataset",
        "other" | "lecture" | "patent" | "annotation" | "image" | "sound" | "video" => "other",
        _ => return Unknown,
    })
}

fn from_coar(code: &str) -> TypeValue {
    use TypeValue::*;
    Known(match code {
        "c_6501" | "c_2df8fbb1" | "c_beb9" | "c_3e5a" | "c_998f" => "article",
        "c_dcae04bc" | "c_efa0" | "c_ba08" => "review",
        "c_2f33" => "book",
        "c_3248" => "book-part",
        "c_db06" | "c_bdcc" | "c_46ec" | "c_7a1f" => "thesis",
        "c_5794" | "c_c94f" | "c_6670" | "c_f744" | "c_18cp" => "conference-paper",
        "c_93fc" | "c_8042" | "c_18ws" | "c_18gh" => "report",
        "c_816b" => "preprint",
        "c_ddb1" => "dataset",
        "c_18cf" => return Ignored,
        _ => "other",
    })
}

thread_local! {
    static MAPPED: RefCell<Memo<TypeValue>> = const { RefCell::new(Memo::new()) };
}

/// What a `dc:type` value says (memoized: every record repeats the journal's types).
pub(crate) fn map_type(value: &str) -> TypeValue {
    memoized(&MAPPED, value, map_type_once)
}

/// Maps one normalized `dc:type` value.
fn map_type_once(value: &str) -> TypeValue {
    use TypeValue::*;
    let value = value.trim();
    // Short ASCII values (most: `info:eu-repo/semantics/article`) are lower-cased on the
    // stack, the same as `to_lowercase` for ASCII.
    let mut buf = [0u8; 64];
    let lower = super::text::lowercase_in(value, &mut buf);
    let lower: &str = &lower;
    if let Some(term) = lower.strip_prefix("info:eu-repo/semantics/") {
        return from_eu_repo(term);
    }
    if lower.contains("purl.org/coar/version/") || lower.contains("purl.org/coar/access_right/") {
        return Ignored;
    }
    if let Some(pos) = lower.find("purl.org/coar/resource_type/") {
        let code = lower[pos + "purl.org/coar/resource_type/".len()..].trim_end_matches('/');
        return from_coar(code);
    }
    let lower = lower
        .strip_prefix("http://purl.org/dc/dcmitype/")
        .or_else(|| lower.strip_prefix("https://purl.org/dc/dcmitype/"))
        .or_else(|| lower.strip_prefix("dcmitype:"))
        .unwrap_or(lower);
    // Peer review status is not a type; "Peer-reviewed Article" is an article.
    let mut rest = lower.trim();
    for prefix in [
        "peer-reviewed",
        "peer reviewed",
        "peerreviewed",
        "nonpeerreviewed",
        "non-peer-reviewed",
        "not peer-reviewed",
        "refereed",
        "рецензированная",
        "рецензируемая",
    ] {
        if let Some(r) = rest.strip_prefix(prefix) {
            rest = r.trim_start_matches([' ', '-', ':']).trim();
            break;
        }
    }
    if rest.is_empty() {
        return Ignored;
    }
    let rest = rest.trim_end_matches('.');
    Known(match rest {
        "text"
        | "текст"
        | "info:eu-repo/semantics/text"
        | "publishedversion"
        | "acceptedversion"
        | "submittedversion"
        | "draft" => return Ignored,
        "article"
        | "articles"
        | "journal article"
        | "journal-article"
        | "research article"
        | "original article"
        | "original research"
        | "original paper"
        | "research paper"
        | "scientific article"
        | "paper"
        | "short communication"
        | "brief report"
        | "case report"
        | "full article"
        | "full-length article"
        | "статья"
        | "статьи"
        | "научная статья"
        | "оригинальная статья"
        | "исследовательская статья"
        | "научные статьи"
        | "оригинальное исследование"
        | "краткое сообщение" => "article",
        "review"
        | "review article"
        | "book review"
        | "literature review"
        | "systematic review"
        | "reviews"
        | "обзор"
        | "обзорная статья"
        | "рецензия"
        | "рецензии"
        | "обзоры"
        | "book-review" => "review",
        "book" | "monograph" | "книга" | "монография" | "edited book" => "book",
        "book chapter"
        | "chapter"
        | "book part"
        | "book section"
        | "book-part"
        | "book-chapter"
        | "глава"
        | "глава книги"
        | "глава в книге" => "book-part",
        "thesis"
        | "dissertation"
        | "phd thesis"
        | "doctoral thesis"
        | "master's thesis"
        | "masters thesis"
        | "master thesis"
        | "bachelor thesis"
        | "диссертация"
        | "автореферат"
        | "автореферат диссертации"
        | "диссертация на соискание ученой степени" => "thesis",
        "conference paper"
        | "conference item"
        | "conference object"
        | "conference proceedings"
        | "proceedings"
        | "conference-paper"
        | "conference poster"
        | "proceedings paper"
        | "доклад"
        | "материалы конференции"
        | "тезисы"
        | "тезисы доклада"
        | "статья в сборнике" => "conference-paper",
        "report" | "technical report" | "working paper" | "research report" | "отчет" | "отчёт" => {
            "report"
        }
        "preprint" | "pre-print" | "препринт" => "preprint",
        "dataset" | "data set" | "data" | "набор данных" | "датасет" => "dataset",
        "other"
        | "editorial"
        | "letter"
        | "letter to the editor"
        | "commentary"
        | "comment"
        | "erratum"
        | "correction"
        | "obituary"
        | "interview"
        | "news"
        | "image"
        | "stillimage"
        | "movingimage"
        | "sound"
        | "software"
        | "interactiveresource"
        | "collection"
        | "physicalobject"
        | "event"
        | "service"
        | "редакционная статья"
        | "письмо в редакцию"
        | "некролог"
        | "интервью"
        | "хроника"
        | "другое" => "other",
        _ => return by_keyword(rest),
    })
}

/// Free text that is not in the table but names its kind plainly ("Статья в журнале",
/// "Journal Article (Peer-reviewed)"); the more specific words are tried first.
fn by_keyword(text: &str) -> TypeValue {
    // Peer review says nothing about the kind of work.
    let text = text
        .replace("non-peer-reviewed", "")
        .replace("peer-reviewed", "")
        .replace("peer reviewed", "")
        .replace("рецензируемая", "")
        .replace("рецензированная", "");
    const KEYWORDS: &[(&[&str], &str)] = &[
        (&["book review", "review", "обзор", "рецензи"], "review"),
        (
            &["chapter", "book part", "book section", "глава"],
            "book-part",
        ),
        (&["thesis", "dissertation", "диссертац"], "thesis"),
        (
            &["conference", "proceedings", "конференц", "доклад"],
            "conference-paper",
        ),
        (&["preprint", "pre-print", "препринт"], "preprint"),
        (&["dataset", "data set", "набор данных"], "dataset"),
        (&["working paper", "report", "отчет", "отчёт"], "report"),
        (&["article", "paper", "статья", "статьи"], "article"),
        (&["monograph", "book", "монограф", "книга"], "book"),
    ];
    KEYWORDS
        .iter()
        .find(|(words, _)| words.iter().any(|w| text.contains(w)))
        .map_or(TypeValue::Unknown, |(_, t)| TypeValue::Known(t))
}
