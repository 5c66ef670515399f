//! Language codes: `xml:lang` tags and `dc:language` values to ISO 639-1 (else 639-3).

use isolang::Language;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::LazyLock;

/// A language code: almost always one of isolang's static strings, so no allocation.
pub type Code = Cow<'static, str>;

/// ISO 639-2/B codes that differ from 639-2/T (isolang knows only the latter).
fn bibliographic_to_terminologic(code: &str) -> &str {
    match code {
        "alb" => "sqi",
        "arm" => "hye",
        "baq" => "eus",
        "bur" => "mya",
        "chi" => "zho",
        "cze" => "ces",
        "dut" => "nld",
        "fre" => "fra",
        "geo" => "kat",
        "ger" => "deu",
        "gre" => "ell",
        "ice" => "isl",
        "mac" => "mkd",
        "mao" => "mri",
        "may" => "msa",
        "per" => "fas",
        "rum" => "ron",
        "slo" => "slk",
        "tib" => "bod",
        "wel" => "cym",
        other => other,
    }
}

/// Lower-case English names and autonyms, plus the Russian names OJS 2 sites type in.
static NAMES: LazyLock<HashMap<String, Language>> = LazyLock::new(|| {
    let mut map = HashMap::new();
    for lang in isolang::languages() {
        // Only languages with a 639-1 code: the long tail of 639-3 names holds homonyms.
        if lang.to_639_1().is_none() {
            continue;
        }
        map.entry(lang.to_name().to_lowercase()).or_insert(lang);
        if let Some(auto) = lang.to_autonym() {
            for part in auto.split([',', ';']) {
                let key = part.trim().to_lowercase();
                if !key.is_empty() {
                    map.entry(key).or_insert(lang);
                }
            }
        }
    }
    for (name, code) in [
        ("русский", "rus"),
        ("русский язык", "rus"),
        ("английский", "eng"),
        ("английский язык", "eng"),
        ("немецкий", "deu"),
        ("французский", "fra"),
        ("испанский", "spa"),
        ("итальянский", "ita"),
        ("китайский", "zho"),
        ("японский", "jpn"),
        ("украинский", "ukr"),
        ("белорусский", "bel"),
        ("казахский", "kaz"),
        ("татарский", "tat"),
        ("польский", "pol"),
        ("чешский", "ces"),
        ("болгарский", "bul"),
        ("сербский", "srp"),
        ("корейский", "kor"),
        ("арабский", "ara"),
        ("узбекский", "uzb"),
        ("кыргызский", "kir"),
        ("киргизский", "kir"),
        ("таджикский", "tgk"),
        ("армянский", "hye"),
        ("грузинский", "kat"),
        ("азербайджанский", "aze"),
        ("russian", "rus"),
        ("english", "eng"),
        ("french", "fra"),
        ("german", "deu"),
        ("spanish", "spa"),
        ("greek", "ell"),
        ("modern greek", "ell"),
    ] {
        if let Some(l) = Language::from_639_3(code) {
            map.insert(name.to_owned(), l);
        }
    }
    map
});

fn code_of(lang: Language) -> Code {
    Cow::Borrowed(lang.to_639_1().unwrap_or_else(|| lang.to_639_3()))
}

/// One language value (`rus`, `ru_RU`, `Russian`, `русский`, `fre`) to its ISO code.
pub(crate) fn language_code(raw: &str) -> Option<Code> {
    let s = raw.trim().trim_end_matches('.');
    if s.is_empty() || s.len() > 40 {
        return None;
    }
    // ASCII tags (`en-US`, `rus`) are lower-cased on the stack: three a record otherwise
    // took an allocation each.
    let mut buf = [0u8; 40];
    let lower = super::text::lowercase_in(s, &mut buf);
    let lower: &str = &lower;
    // Locale forms: `ru_RU`, `ru-RU`, `en_US.UTF-8`, `x-default` is not a language.
    let head = lower.split(['-', '_', '.']).next().unwrap_or(lower);
    if head.len() != lower.len() && (2..=3).contains(&head.len()) {
        return iso_code(head);
    }
    if let Some(code) = iso_code(lower) {
        return Some(code);
    }
    if let Some(l) = NAMES.get(lower) {
        return Some(code_of(*l));
    }
    // `Russian (ru)`, `English (United States)`: the name, else the code in parentheses.
    let (before, inside) = lower.split_once('(')?;
    let inside = inside.trim_end_matches(')').trim();
    NAMES
        .get(before.trim())
        .map(|l| code_of(*l))
        .or_else(|| iso_code(inside))
}

fn iso_code(code: &str) -> Option<Code> {
    // Undetermined / multiple / no linguistic content say nothing about the text.
    if !code.bytes().all(|b| b.is_ascii_lowercase())
        || matches!(code, "und" | "mul" | "zxx" | "mis")
    {
        return None;
    }
    match code.len() {
        2 => Language::from_639_1(code).map(|l| match l.to_639_1() {
            Some(c) if c == code => Cow::Borrowed(c),
            _ => Cow::Owned(code.to_owned()),
        }),
        3 => Language::from_639_3(bibliographic_to_terminologic(code)).map(code_of),
        _ => None,
    }
}

/// A `dc:language` value that may list several languages (`Русский, English`).
pub(crate) fn language_list(raw: &str) -> Vec<Code> {
    let mut out = Vec::new();
    if let Some(code) = language_code(raw) {
        out.push(code);
        return out;
    }
    for part in raw.split([',', ';', '/', '|']) {
        if let Some(code) = language_code(part)
            && !out.contains(&code)
        {
            out.push(code);
        }
    }
    out
}
