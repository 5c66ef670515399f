//! Table-driven cases for every normalization rule; each row names the platform behaviour
//! it stands for (DESIGN.md "Normalized record — contract", quirks.md §C 56–73).

use serde_json::{Value, json};
use sheaf::normalize::{normalize, normalize_text};

use sheaf::domain::{DcNamespace, DcValue};
use sheaf::normalize::Normalized;

/// `dc:<element>` without language.
pub fn dc(element: &str, value: &str) -> DcValue {
    DcValue::dc(element, value)
}

/// `dc:<element xml:lang=..>`.
pub fn dl(element: &str, value: &str, lang: &str) -> DcValue {
    DcValue::dc_lang(element, value, lang)
}

/// `dc:<element xsi:type=..>`.
pub fn dt(element: &str, value: &str, xsi_type: &str) -> DcValue {
    DcValue {
        xsi_type: Some(xsi_type.to_owned()),
        ..DcValue::dc(element, value)
    }
}

/// `dcterms:<element>`.
pub fn dct(element: &str, value: &str) -> DcValue {
    DcValue {
        ns: DcNamespace::Dcterms,
        ..DcValue::dc(element, value)
    }
}

/// The record fields plus `flags`, `work_key`, `issue_doi` as one JSON object.
pub fn flat(n: &Normalized) -> Value {
    let mut v = serde_json::to_value(&n.record).unwrap();
    let obj = v.as_object_mut().unwrap();
    obj.insert("flags".into(), json!(n.flags));
    obj.insert("work_key".into(), json!(n.work_key));
    obj.insert("issue_doi".into(), json!(n.issue_doi));
    v
}

/// One table row: platform behaviour, input, expected values of the keys it names.
pub type Case = (&'static str, Vec<DcValue>, Value);

/// Normalizes every row and compares each named key; reports all mismatches at once.
pub fn run(cases: Vec<Case>) {
    let mut failures = Vec::new();
    for (name, input, expected) in &cases {
        let got = flat(&normalize(input));
        let exp = expected.as_object().expect("expected must be an object");
        assert!(!exp.is_empty(), "{name}: a case must check something");
        for (key, want) in exp {
            let have = got
                .get(key)
                .unwrap_or_else(|| panic!("{name}: no key {key}"));
            if have != want {
                failures.push(format!(
                    "{name}\n  {key}: expected {want}\n  {key}:      got {have}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn p(name: &str, family: Option<&str>, given: Option<&str>) -> Value {
    json!({"name": name, "family": family, "given": given})
}

fn lv(value: &str, lang: Option<&str>) -> Value {
    json!({"value": value, "lang": lang})
}

#[test]
fn text_rule_cases() {
    let cases: Vec<(&str, &str, Option<&str>)> = vec![
        ("plain value trimmed", "  Title  ", Some("Title")),
        ("internal whitespace collapsed", "A \t\n  B", Some("A B")),
        ("NBSP collapsed", "A\u{a0}\u{a0}B", Some("A B")),
        ("NFD input composed to NFC", "Cafe\u{301}", Some("Café")),
        ("OJS abstract in <p>", "<p>Text</p>", Some("Text")),
        (
            "HTML entity after tags (quirk 60)",
            "<p>В статье&nbsp;рассмотрены H<sub>2</sub>O и p &lt; 0.05</p>",
            Some("В статье рассмотрены H2O и p < 0.05"),
        ),
        (
            "bare less-than survives",
            "p < 0.05 and q > 1",
            Some("p < 0.05 and q > 1"),
        ),
        (
            "script removed with content",
            "a<script>alert(1)</script>b",
            Some("ab"),
        ),
        (
            "style removed with content",
            "<style>p{color:red}</style>Text",
            Some("Text"),
        ),
        ("HTML comment removed", "A<!-- hidden -->B", Some("AB")),
        (
            "unknown angle words kept",
            "<unknown> value",
            Some("<unknown> value"),
        ),
        (
            "br becomes a space on one line",
            "one<br/>two",
            Some("one two"),
        ),
        (
            "triple-escaped markup stripped",
            "&lt;p&gt;Text&lt;/p&gt;",
            Some("Text"),
        ),
        ("numeric entity decoded", "Caf&#233;", Some("Café")),
        ("empty dropped", "", None),
        ("whitespace only dropped", " \n\t ", None),
        ("dash placeholder dropped", "-", None),
        ("n/a placeholder dropped", "N/A", None),
        ("tags only dropped", "<p></p>", None),
        ("zero-width space removed", "A\u{200b}B", Some("AB")),
        (
            "soft hyphen removed",
            "Inter\u{ad}national",
            Some("International"),
        ),
        (
            "mojibake UTF-8 read as cp1252 repaired (quirk 70)",
            "Ã©cole",
            Some("école"),
        ),
        (
            "mojibake Cyrillic via cp1252 repaired",
            "ÐŸÑ€Ð¸Ð²ÐµÑ‚",
            Some("Привет"),
        ),
        (
            "mojibake Cyrillic via cp1251 repaired",
            "РџСЂРёРІРµС‚",
            Some("Привет"),
        ),
        (
            "mojibake smart quote repaired",
            "Russiaâ€™s policy",
            Some("Russia’s policy"),
        ),
        (
            "legit Portuguese Ã kept",
            "JOÃO São Paulo",
            Some("JOÃO São Paulo"),
        ),
        (
            "legit Russian not touched",
            "Россия и Корея",
            Some("Россия и Корея"),
        ),
        (
            "JATS-namespaced tags stripped",
            "<jats:p>Abstract</jats:p>",
            Some("Abstract"),
        ),
        ("AT&T not mangled", "AT&T research", Some("AT&T research")),
        (
            "mojibake next to real Cyrillic repaired alone",
            "Привет, Ã©cole",
            Some("Привет, école"),
        ),
        ("mojibake of a no-break space", "10Â\u{a0}km", Some("10 km")),
        (
            "decomposed mojibake lead still seen",
            "A\u{302}© 2020",
            Some("© 2020"),
        ),
        (
            "double space collapsed (fast path off)",
            "a  b",
            Some("a b"),
        ),
        ("tab inside ASCII collapsed", "a\tb", Some("a b")),
        ("trailing space trimmed", "ab ", Some("ab")),
        (
            "clean Cyrillic passes unchanged",
            "Лукин А. В.",
            Some("Лукин А. В."),
        ),
        ("combining mark from entity composed", "e&#x301;", Some("é")),
    ];
    let mut failures = Vec::new();
    for (name, input, want) in &cases {
        let got = normalize_text(input);
        if got.as_deref() != *want {
            failures.push(format!("{name}: {input:?} → {got:?}, want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn title_and_lang_cases() {
    let cases: Vec<Case> = vec![
        (
            "OJS 3.3 emits xml:lang ru-RU",
            vec![dl("title", "Российские приоритеты", "ru-RU")],
            json!({"titles": [lv("Российские приоритеты", Some("ru"))]}),
        ),
        (
            "OJS 3.3 emits xml:lang en-US",
            vec![dl("title", "Russian Priorities", "en-US")],
            json!({"titles": [lv("Russian Priorities", Some("en"))]}),
        ),
        (
            "OJS 2 locale form en_US",
            vec![dl("title", "Russian Priorities", "en_US")],
            json!({"titles": [lv("Russian Priorities", Some("en"))]}),
        ),
        (
            "OJS 3.4 raw locale ru",
            vec![dl("title", "Заголовок", "ru")],
            json!({"titles": [lv("Заголовок", Some("ru"))]}),
        ),
        (
            "no xml:lang, Cyrillic text guessed ru",
            vec![dc("title", "Российские приоритеты и подходы")],
            json!({"titles": [lv("Российские приоритеты и подходы", Some("ru"))]}),
        ),
        (
            "no xml:lang, English sentence guessed en",
            vec![dc(
                "title",
                "Russian Priorities and Approaches to the Korean Peninsula",
            )],
            json!({"titles": [lv("Russian Priorities and Approaches to the Korean Peninsula", Some("en"))]}),
        ),
        (
            "no xml:lang, short Latin term not guessed",
            vec![dc("title", "Denuclearization")],
            json!({"titles": [lv("Denuclearization", None)]}),
        ),
        (
            "no xml:lang, French not taken for English",
            vec![dc("title", "La politique de la Russie en Asie")],
            json!({"titles": [lv("La politique de la Russie en Asie", None)]}),
        ),
        (
            "no xml:lang, Ukrainian letters not called ru",
            vec![dc("title", "Україна і світ")],
            json!({"titles": [lv("Україна і світ", None)]}),
        ),
        (
            "xml:lang lies: Russian text tagged en (quirk 57)",
            vec![dl("title", "электронный каталог", "en-US")],
            json!({"titles": [lv("электронный каталог", Some("en"))], "flags": ["lang_conflict"]}),
        ),
        (
            "xml:lang lies: English sentence tagged ru",
            vec![dl("title", "The role of the state in economy", "ru-RU")],
            json!({"titles": [lv("The role of the state in economy", Some("ru"))], "flags": ["lang_conflict"]}),
        ),
        (
            "Latin acronym tagged ru is no conflict",
            vec![dl("title", "COVID-19", "ru-RU")],
            json!({"flags": []}),
        ),
        (
            "Ukrainian text tagged uk is no conflict",
            vec![dl("title", "Українська мова", "uk-UA")],
            json!({"flags": []}),
        ),
        (
            "parallel titles kept as (lang, value) pairs (quirk 56)",
            vec![
                dl("title", "Russian Priorities", "en-US"),
                dl("title", "Российские приоритеты", "ru-RU"),
            ],
            json!({"titles": [lv("Russian Priorities", Some("en")), lv("Российские приоритеты", Some("ru"))]}),
        ),
        (
            "primary title in record language goes first",
            vec![
                dl("title", "Russian Priorities", "en-US"),
                dl("title", "Российские приоритеты", "ru-RU"),
                dc("language", "rus"),
            ],
            json!({"titles": [lv("Российские приоритеты", Some("ru")), lv("Russian Priorities", Some("en"))]}),
        ),
        (
            "same title under two locales kept once (OJS fallback)",
            vec![dl("title", "Same", "en-US"), dl("title", "Same", "ru-RU")],
            json!({"titles": [lv("Same", Some("en"))]}),
        ),
        (
            "exact duplicate title dropped",
            vec![dc("title", "Same"), dc("title", " Same ")],
            json!({"titles": [lv("Same", None)]}),
        ),
        (
            "empty localized title dropped (quirk 71)",
            vec![dl("title", "", "en-US"), dl("title", "Заголовок", "ru-RU")],
            json!({"titles": [lv("Заголовок", Some("ru"))], "flags": []}),
        ),
        (
            "record without title flagged incomplete",
            vec![dc("creator", "Lukin, A.V.")],
            json!({"titles": [], "flags": ["incomplete"]}),
        ),
        (
            "placeholder title only: incomplete",
            vec![dc("title", "n/a")],
            json!({"titles": [], "flags": ["incomplete"]}),
        ),
        (
            "title with mojibake flagged repaired_encoding",
            vec![dc("title", "Ã‰tudes")],
            json!({"titles": [lv("Études", None)], "flags": ["repaired_encoding"]}),
        ),
        (
            "dcterms alternative is a title",
            vec![dc("title", "Main"), dct("alternative", "Other")],
            json!({"titles": [lv("Main", None), lv("Other", None)]}),
        ),
        (
            "abstract HTML double-escaped (OJS, quirk 60)",
            vec![dl(
                "description",
                "<p>В статье&nbsp;рассмотрены H<sub>2</sub>O и p &lt; 0.05</p>",
                "ru-RU",
            )],
            json!({"descriptions": [lv("В статье рассмотрены H2O и p < 0.05", Some("ru"))]}),
        ),
        (
            "abstract paragraphs kept as blank line",
            vec![dl(
                "description",
                "<p>First paragraph.</p><p>Second paragraph.</p>",
                "en-US",
            )],
            json!({"descriptions": [lv("First paragraph.\n\nSecond paragraph.", Some("en"))]}),
        ),
        (
            "empty dc:description dropped",
            vec![dc("description", "")],
            json!({"descriptions": []}),
        ),
        (
            "dcterms abstract is a description",
            vec![dct("abstract", "Summary of the work")],
            json!({"descriptions": [lv("Summary of the work", Some("en"))]}),
        ),
        (
            "publisher list kept as strings",
            vec![
                dl("publisher", "MGIMO", "en-US"),
                dl("publisher", "МГИМО", "ru-RU"),
                dc("publisher", "MGIMO"),
            ],
            json!({"publishers": ["MGIMO", "МГИМО"]}),
        ),
        (
            "formats lower-cased mime",
            vec![
                dc("format", "Application/PDF"),
                dc("format", "application/pdf"),
            ],
            json!({"formats": ["application/pdf"]}),
        ),
        (
            "non-mime format kept as written",
            vec![dc("format", "48 pages")],
            json!({"formats": ["48 pages"]}),
        ),
        (
            "coverage and spatial collected",
            vec![dc("coverage", "Russia"), dct("spatial", "Korea")],
            json!({"coverage": ["Russia", "Korea"]}),
        ),
        (
            "unknown elements ignored without failing",
            vec![dc("title", "T"), dc("foo", "bar")],
            json!({"titles": [lv("T", None)]}),
        ),
    ];
    run(cases);
}

#[test]
fn creator_cases() {
    let cases: Vec<Case> = vec![
        (
            "OJS family-first with comma",
            vec![dc("creator", "Lukin, Alexander V.")],
            json!({"creators": [p("Lukin, Alexander V.", Some("Lukin"), Some("Alexander V."))]}),
        ),
        (
            "comma form with initials spaced",
            vec![dc("creator", "Lukin, A.V.")],
            json!({"creators": [p("Lukin, A.V.", Some("Lukin"), Some("A. V."))]}),
        ),
        (
            "Family I.I. without comma",
            vec![dc("creator", "Lukin A.V.")],
            json!({"creators": [p("Lukin A.V.", Some("Lukin"), Some("A. V."))]}),
        ),
        (
            "I.I. Family order",
            vec![dc("creator", "A.V. Lukin")],
            json!({"creators": [p("A.V. Lukin", Some("Lukin"), Some("A. V."))]}),
        ),
        (
            "I. I. Family with spaces",
            vec![dc("creator", "L. S. Timonina")],
            json!({"creators": [p("L. S. Timonina", Some("Timonina"), Some("L. S."))]}),
        ),
        (
            "Cyrillic Family И. И.",
            vec![dc("creator", "Лукин А. В.")],
            json!({"creators": [p("Лукин А. В.", Some("Лукин"), Some("А. В."))]}),
        ),
        (
            "Cyrillic initials first",
            vec![dc("creator", "Р.Ю. Иванов")],
            json!({"creators": [p("Р.Ю. Иванов", Some("Иванов"), Some("Р. Ю."))]}),
        ),
        (
            "Cyrillic full name with patronymic, family first",
            vec![dc("creator", "Лукин Александр Владимирович")],
            json!({"creators": [p("Лукин Александр Владимирович", Some("Лукин"), Some("Александр Владимирович"))]}),
        ),
        (
            "Cyrillic comma form full",
            vec![dc("creator", "Лукин, Александр Владимирович")],
            json!({"creators": [p("Лукин, Александр Владимирович", Some("Лукин"), Some("Александр Владимирович"))]}),
        ),
        (
            "upper-case family kept as written",
            vec![dc("creator", "LUKIN A.V.")],
            json!({"creators": [p("LUKIN A.V.", Some("LUKIN"), Some("A. V."))]}),
        ),
        (
            "single initial",
            vec![dc("creator", "Whitman, W.")],
            json!({"creators": [p("Whitman, W.", Some("Whitman"), Some("W."))]}),
        ),
        (
            "two-letter initial Yu.",
            vec![dc("creator", "Morozov Yu.V.")],
            json!({"creators": [p("Morozov Yu.V.", Some("Morozov"), Some("Yu. V."))]}),
        ),
        (
            "Given Family is ambiguous: not split",
            vec![dc("creator", "Alexander Lukin")],
            json!({"creators": [p("Alexander Lukin", None, None)]}),
        ),
        (
            "Chinese family-first name not guessed",
            vec![dc("creator", "Liu Fenghua")],
            json!({"creators": [p("Liu Fenghua", None, None)]}),
        ),
        (
            "organisation creator not parsed as person",
            vec![dc(
                "creator",
                "Moscow State University, Department of History",
            )],
            json!({"creators": [p("Moscow State University, Department of History", None, None)]}),
        ),
        (
            "two people in one element (seed refs)",
            vec![dc("creator", "Asmolov K.V., Zakharova L.V.")],
            json!({"creators": [p("Asmolov K.V.", Some("Asmolov"), Some("K. V.")), p("Zakharova L.V.", Some("Zakharova"), Some("L. V."))]}),
        ),
        (
            "semicolon list split (translator appended)",
            vec![dc("creator", "Benko, Georges; Barta, Györgyi")],
            json!({"creators": [p("Benko, Georges", Some("Benko"), Some("Georges")), p("Barta, Györgyi", Some("Barta"), Some("Györgyi"))]}),
        ),
        (
            "comma pairs list Family, I., Family, I.",
            vec![dc("creator", "Lukin, A.V., Zakharova, L.V.")],
            json!({"creators": [p("Lukin, A.V.", Some("Lukin"), Some("A. V.")), p("Zakharova, L.V.", Some("Zakharova"), Some("L. V."))]}),
        ),
        (
            "mixed list with a full name is not split on commas",
            vec![dc("creator", "Kortunov A.V., Liu Fenghua")],
            json!({"creators": [p("Kortunov A.V., Liu Fenghua", None, None)]}),
        ),
        (
            "trailing semicolon ignored",
            vec![dc("creator", "Lukin, A.V.;")],
            json!({"creators": [p("Lukin, A.V.", Some("Lukin"), Some("A. V."))]}),
        ),
        (
            "exact duplicate creator dropped",
            vec![dc("creator", "Lukin, A.V."), dc("creator", "Lukin, A.V.")],
            json!({"creators": [p("Lukin, A.V.", Some("Lukin"), Some("A. V."))]}),
        ),
        (
            "ORCID in creator string lifted out",
            vec![dc(
                "creator",
                "Lukin, A.V. (https://orcid.org/0000-0002-1825-0097)",
            )],
            json!({"creators": [{"name": "Lukin, A.V.", "family": "Lukin", "given": "A. V.", "orcid": "0000-0002-1825-0097"}]}),
        ),
        (
            "ORCID identifier attached to sole creator",
            vec![
                dc("creator", "Lukin, A.V."),
                dc("identifier", "https://orcid.org/0000-0002-1825-0097"),
            ],
            json!({"creators": [{"name": "Lukin, A.V.", "family": "Lukin", "given": "A. V.", "orcid": "0000-0002-1825-0097"}]}),
        ),
        (
            "ORCID identifier not attached when two creators",
            vec![
                dc("creator", "Lukin, A.V."),
                dc("creator", "Zakharova, L.V."),
                dc("identifier", "https://orcid.org/0000-0002-1825-0097"),
            ],
            json!({"creators": [p("Lukin, A.V.", Some("Lukin"), Some("A. V.")), p("Zakharova, L.V.", Some("Zakharova"), Some("L. V."))]}),
        ),
        (
            "invalid ORCID checksum not attached",
            vec![dc("creator", "Lukin, A.V. 0000-0002-1825-0098")],
            json!({"creators": [p("Lukin, A.V. 0000-0002-1825-0098", None, None)]}),
        ),
        (
            "OJS 3.4 author-major per-locale duplicates merged (quirk 58)",
            vec![
                dl("creator", "Лукин, Александр Владимирович", "ru-RU"),
                dl("creator", "Lukin, Alexander V.", "en-US"),
                dl("creator", "Захарова, Л. В.", "ru-RU"),
                dl("creator", "Zakharova, L. V.", "en-US"),
                dc("language", "ru"),
            ],
            json!({"creators": [
            {"name": "Лукин, Александр Владимирович", "family": "Лукин", "given": "Александр Владимирович", "variants": [
                {"name": "Лукин, Александр Владимирович", "family": "Лукин", "given": "Александр Владимирович", "lang": "ru"},
                {"name": "Lukin, Alexander V.", "family": "Lukin", "given": "Alexander V.", "lang": "en"}]},
            {"name": "Захарова, Л. В.", "family": "Захарова", "given": "Л. В.", "variants": [
                {"name": "Захарова, Л. В.", "family": "Захарова", "given": "Л. В.", "lang": "ru"},
                {"name": "Zakharova, L. V.", "family": "Zakharova", "given": "L. V.", "lang": "en"}]}]}),
        ),
        (
            "per-locale duplicates: primary follows record language en",
            vec![
                dl("creator", "Лукин, А. В.", "ru-RU"),
                dl("creator", "Lukin, A. V.", "en-US"),
                dc("language", "eng"),
            ],
            json!({"creators": [{"name": "Lukin, A. V.", "family": "Lukin", "given": "A. V.", "variants": [
            {"name": "Лукин, А. В.", "family": "Лукин", "given": "А. В.", "lang": "ru"},
            {"name": "Lukin, A. V.", "family": "Lukin", "given": "A. V.", "lang": "en"}]}]}),
        ),
        (
            "locale-major order (all ru then all en) merged",
            vec![
                dl("creator", "Лукин, А. В.", "ru"),
                dl("creator", "Захарова, Л. В.", "ru"),
                dl("creator", "Lukin, A. V.", "en"),
                dl("creator", "Zakharova, L. V.", "en"),
            ],
            json!({"creators": [
            {"name": "Лукин, А. В.", "family": "Лукин", "given": "А. В.", "variants": [
                {"name": "Лукин, А. В.", "family": "Лукин", "given": "А. В.", "lang": "ru"},
                {"name": "Lukin, A. V.", "family": "Lukin", "given": "A. V.", "lang": "en"}]},
            {"name": "Захарова, Л. В.", "family": "Захарова", "given": "Л. В.", "variants": [
                {"name": "Захарова, Л. В.", "family": "Захарова", "given": "Л. В.", "lang": "ru"},
                {"name": "Zakharova, L. V.", "family": "Zakharova", "given": "L. V.", "lang": "en"}]}]}),
        ),
        (
            "ELPUB initials per locale merged (Тимонина / Timonina)",
            vec![
                dl("creator", "Л. С. Тимонина", "ru-RU"),
                dl("creator", "L. S. Timonina", "en-US"),
            ],
            json!({"creators": [{"name": "Л. С. Тимонина", "family": "Тимонина", "given": "Л. С.", "variants": [
            {"name": "Л. С. Тимонина", "family": "Тимонина", "given": "Л. С.", "lang": "ru"},
            {"name": "L. S. Timonina", "family": "Timonina", "given": "L. S.", "lang": "en"}]}]}),
        ),
        (
            "two different people in two locales are never merged",
            vec![
                dl("creator", "Иванов, И. И.", "ru-RU"),
                dl("creator", "Smith, John", "en-US"),
            ],
            json!({"creators": [p("Иванов, И. И.", Some("Иванов"), Some("И. И.")), p("Smith, John", Some("Smith"), Some("John"))]}),
        ),
        (
            "unequal counts per locale: nothing merged",
            vec![
                dl("creator", "Лукин, А. В.", "ru-RU"),
                dl("creator", "Lukin, A. V.", "en-US"),
                dl("creator", "Захарова, Л. В.", "ru-RU"),
            ],
            json!({"creators": [p("Лукин, А. В.", Some("Лукин"), Some("А. В.")), p("Lukin, A. V.", Some("Lukin"), Some("A. V.")), p("Захарова, Л. В.", Some("Захарова"), Some("Л. В."))]}),
        ),
        (
            "ELPUB without xml:lang: one author in two scripts merged, languages unknown",
            vec![
                dc("creator", "Л. С. Тимонина"),
                dc("creator", "L. S. Timonina"),
            ],
            json!({"creators": [{"name": "Л. С. Тимонина", "family": "Тимонина", "given": "Л. С.", "variants": [
            {"name": "Л. С. Тимонина", "family": "Тимонина", "given": "Л. С.", "lang": null},
            {"name": "L. S. Timonina", "family": "Timonina", "given": "L. S.", "lang": null}]}]}),
        ),
        (
            "no xml:lang, two authors author-major in two scripts merged; Latin leads for an English record",
            vec![
                dc("creator", "Дьячков И. В."),
                dc("creator", "Dyachkov I. V."),
                dc("creator", "Захарова Л. В."),
                dc("creator", "Zakharova L. V."),
                dc("language", "eng"),
            ],
            json!({"creators": [
            {"name": "Dyachkov I. V.", "family": "Dyachkov", "given": "I. V.", "variants": [
                {"name": "Дьячков И. В.", "family": "Дьячков", "given": "И. В.", "lang": null},
                {"name": "Dyachkov I. V.", "family": "Dyachkov", "given": "I. V.", "lang": null}]},
            {"name": "Zakharova L. V.", "family": "Zakharova", "given": "L. V.", "variants": [
                {"name": "Захарова Л. В.", "family": "Захарова", "given": "Л. В.", "lang": null},
                {"name": "Zakharova L. V.", "family": "Zakharova", "given": "L. V.", "lang": null}]}]}),
        ),
        (
            "no xml:lang: similar-looking but different family names never merged (Петров/Peterson)",
            vec![
                dc("creator", "Петров П. П."),
                dc("creator", "Peterson P. P."),
            ],
            json!({"creators": [p("Петров П. П.", Some("Петров"), Some("П. П.")), p("Peterson P. P.", Some("Peterson"), Some("P. P."))]}),
        ),
        (
            "no xml:lang: same family, different initials (relatives) never merged",
            vec![dc("creator", "Лукин А. В."), dc("creator", "Lukin P. S.")],
            json!({"creators": [p("Лукин А. В.", Some("Лукин"), Some("А. В.")), p("Lukin P. S.", Some("Lukin"), Some("P. S."))]}),
        ),
        (
            "no xml:lang: Russian and English co-authors never merged",
            vec![dc("creator", "Иванов И. И."), dc("creator", "Smith, John")],
            json!({"creators": [p("Иванов И. И.", Some("Иванов"), Some("И. И.")), p("Smith, John", Some("Smith"), Some("John"))]}),
        ),
        (
            "no xml:lang: unparsed names in two scripts never merged",
            vec![
                dc("creator", "Александр Лукин"),
                dc("creator", "Alexander Lukin"),
            ],
            json!({"creators": [p("Александр Лукин", None, None), p("Alexander Lukin", None, None)]}),
        ),
        (
            "some creators with xml:lang, some without: grouped by script, strict check",
            vec![
                dl("creator", "Лукин, А. В.", "ru"),
                dc("creator", "Lukin, A. V."),
            ],
            json!({"creators": [{"name": "Лукин, А. В.", "family": "Лукин", "given": "А. В.", "variants": [
            {"name": "Лукин, А. В.", "family": "Лукин", "given": "А. В.", "lang": null},
            {"name": "Lukin, A. V.", "family": "Lukin", "given": "A. V.", "lang": null}]}]}),
        ),
        (
            "interleaving neither author- nor locale-major: not merged",
            vec![
                dl("creator", "Лукин, А. В.", "ru"),
                dl("creator", "Lukin, A. V.", "en"),
                dl("creator", "Zakharova, L. V.", "en"),
                dl("creator", "Захарова, Л. В.", "ru"),
            ],
            json!({"creators": [p("Лукин, А. В.", Some("Лукин"), Some("А. В.")), p("Lukin, A. V.", Some("Lukin"), Some("A. V.")), p("Zakharova, L. V.", Some("Zakharova"), Some("L. V.")), p("Захарова, Л. В.", Some("Захарова"), Some("Л. В."))]}),
        ),
        (
            "contributors kept apart from creators (quirk 72)",
            vec![
                dc("creator", "Lukin, A.V."),
                dc("contributor", "Russian Science Foundation"),
            ],
            json!({"creators": [p("Lukin, A.V.", Some("Lukin"), Some("A. V."))], "contributors": [p("Russian Science Foundation", None, None)]}),
        ),
        (
            "OJS 3.4 sponsors split on ;",
            vec![dc("contributor", "RFBR; Russian Science Foundation")],
            json!({"contributors": [p("RFBR", None, None), p("Russian Science Foundation", None, None)]}),
        ),
        (
            "contributor same as creator stays in both lists",
            vec![
                dc("creator", "Lukin, A.V."),
                dc("contributor", "Lukin, A.V."),
            ],
            json!({"creators": [p("Lukin, A.V.", Some("Lukin"), Some("A. V."))], "contributors": [p("Lukin, A.V.", Some("Lukin"), Some("A. V."))]}),
        ),
        (
            "placeholder creator dropped",
            vec![dc("creator", "-")],
            json!({"creators": []}),
        ),
        (
            "HTML in creator stripped",
            vec![dc("creator", "<b>Lukin</b>, A.V.")],
            json!({"creators": [p("Lukin, A.V.", Some("Lukin"), Some("A. V."))]}),
        ),
    ];
    run(cases);
}

#[test]
fn subject_cases() {
    let cases: Vec<Case> = vec![
        (
            "seed: one comma-separated keyword line (quirk 61)",
            vec![dl("subject", "Russia, the Korean Peninsula, DPRK", "en-US")],
            json!({"subjects": [lv("Russia", Some("en")), lv("the Korean Peninsula", Some("en")), lv("DPRK", Some("en"))]}),
        ),
        (
            "OJS 2 semicolon list with stray spaces",
            vec![dl("subject", "экономика;регион ; инновации;", "ru-RU")],
            json!({"subjects": [lv("экономика", Some("ru")), lv("регион", Some("ru")), lv("инновации", Some("ru"))]}),
        ),
        (
            "single comma is not a list",
            vec![dc("subject", "Korea, North")],
            json!({"subjects": [lv("Korea, North", None)]}),
        ),
        (
            "semicolon wins over commas",
            vec![dc("subject", "Korea, North; Russia")],
            json!({"subjects": [lv("Korea, North", None), lv("Russia", None)]}),
        ),
        (
            "part of a semicolon list with 2 commas split too",
            vec![dc("subject", "a, b, c; d")],
            json!({"subjects": [lv("a", None), lv("b", None), lv("c", None), lv("d", None)]}),
        ),
        (
            "fungal keywords with commas",
            vec![dc(
                "subject",
                "Ascomycota, Pezizomycotina, fungal evolution",
            )],
            json!({"subjects": [lv("Ascomycota", None), lv("Pezizomycotina", None), lv("fungal evolution", None)]}),
        ),
        (
            "trailing dot dropped",
            vec![dc("subject", "Foreign policy.")],
            json!({"subjects": [lv("Foreign policy", None)]}),
        ),
        (
            "abbreviation dot kept",
            vec![dc("subject", "U.S.")],
            json!({"subjects": [lv("U.S.", None)]}),
        ),
        (
            "case-insensitive dedupe",
            vec![
                dc("subject", "Russia"),
                dc("subject", "russia"),
                dc("subject", "RUSSIA"),
            ],
            json!({"subjects": [lv("Russia", None)]}),
        ),
        (
            "dedupe per language keeps both locales",
            vec![
                dl("subject", "COVID-19", "en-US"),
                dl("subject", "COVID-19", "ru-RU"),
            ],
            json!({"subjects": [lv("COVID-19", Some("en")), lv("COVID-19", Some("ru"))]}),
        ),
        (
            "Russian keyword tagged en (quirk 57) kept, flagged",
            vec![dl("subject", " электронный каталог", "en-US")],
            json!({"subjects": [lv("электронный каталог", Some("en"))], "flags": ["incomplete", "lang_conflict"]}),
        ),
        (
            "untagged Cyrillic keyword guessed ru",
            vec![dc("subject", "экономика")],
            json!({"subjects": [lv("экономика", Some("ru"))]}),
        ),
        (
            "classification code kept whole",
            vec![dc("subject", "УДК 327.8, 94, 327")],
            json!({"subjects": [lv("УДК 327.8, 94, 327", Some("ru"))]}),
        ),
        (
            "JEL code kept whole",
            vec![dc("subject", "JEL F51, F52, F53")],
            json!({"subjects": [lv("JEL F51, F52, F53", None)]}),
        ),
        (
            "empty pieces dropped",
            vec![dc("subject", ";;")],
            json!({"subjects": []}),
        ),
        (
            "placeholder pieces dropped",
            vec![dc("subject", "a; -; b")],
            json!({"subjects": [lv("a", None), lv("b", None)]}),
        ),
        (
            "HTML entity inside keyword decoded",
            vec![dc("subject", "R&amp;D")],
            json!({"subjects": [lv("R&D", None)]}),
        ),
        (
            "keywords across elements keep order",
            vec![dc("subject", "b"), dc("subject", "a")],
            json!({"subjects": [lv("b", None), lv("a", None)]}),
        ),
        (
            "dcterms subject under dc namespace",
            vec![dct("subject", "history")],
            json!({"subjects": [lv("history", None)]}),
        ),
    ];
    run(cases);
}

#[test]
fn date_cases() {
    let cases: Vec<Case> = vec![
        (
            "OJS date-only",
            vec![dc("date", "2022-06-21")],
            json!({"issued": "2022-06-21"}),
        ),
        (
            "seed: Russian day-first dotted date",
            vec![dc("date", "21.06.2022")],
            json!({"issued": "2022-06-21"}),
        ),
        (
            "dotted date never US order (hepcrawl#169)",
            vec![dc("date", "01.09.2017")],
            json!({"issued": "2017-09-01"}),
        ),
        (
            "single-digit dotted date",
            vec![dc("date", "1.9.2017")],
            json!({"issued": "2017-09-01"}),
        ),
        (
            "year only keeps precision",
            vec![dc("date", "2022")],
            json!({"issued": "2022"}),
        ),
        (
            "year-month keeps precision",
            vec![dc("date", "2022-06")],
            json!({"issued": "2022-06"}),
        ),
        (
            "EPrints -00 unknown day",
            vec![dc("date", "2022-06-00")],
            json!({"issued": "2022-06"}),
        ),
        (
            "EPrints -00-00 unknown month",
            vec![dc("date", "2022-00-00")],
            json!({"issued": "2022"}),
        ),
        (
            "timestamp reduced to day (DOAJ)",
            vec![dc("date", "2005-08-24T13:01:05Z")],
            json!({"issued": "2005-08-24"}),
        ),
        (
            "timestamp with offset",
            vec![dc("date", "2005-08-24T13:01:05+03:00")],
            json!({"issued": "2005-08-24"}),
        ),
        (
            "space-separated timestamp",
            vec![dc("date", "2005-08-24 13:01:05")],
            json!({"issued": "2005-08-24"}),
        ),
        (
            "slash date YYYY/MM/DD",
            vec![dc("date", "2022/06/21")],
            json!({"issued": "2022-06-21"}),
        ),
        (
            "English month year",
            vec![dc("date", "June 2022")],
            json!({"issued": "2022-06"}),
        ),
        (
            "abbreviated month",
            vec![dc("date", "Jun. 2022")],
            json!({"issued": "2022-06"}),
        ),
        (
            "day month year English",
            vec![dc("date", "21 June 2022")],
            json!({"issued": "2022-06-21"}),
        ),
        (
            "US long form",
            vec![dc("date", "June 21, 2022")],
            json!({"issued": "2022-06-21"}),
        ),
        (
            "Russian month genitive",
            vec![dc("date", "21 июня 2022 г.")],
            json!({"issued": "2022-06-21"}),
        ),
        (
            "Russian month nominative",
            vec![dc("date", "май 2021")],
            json!({"issued": "2021-05"}),
        ),
        (
            "Published in 1983",
            vec![dc("date", "Published in 1983")],
            json!({"issued": "1983"}),
        ),
        (
            "season year",
            vec![dc("date", "Spring 2020")],
            json!({"issued": "2020"}),
        ),
        (
            "ambiguous slash date not guessed",
            vec![dc("date", "03/04/2020")],
            json!({"issued": null}),
        ),
        (
            "unambiguous slash date day-first",
            vec![dc("date", "21/06/2022")],
            json!({"issued": "2022-06-21"}),
        ),
        (
            "impossible day rejected",
            vec![dc("date", "2022-02-30")],
            json!({"issued": null}),
        ),
        (
            "garbage not parsed",
            vec![dc("date", "unknown")],
            json!({"issued": null}),
        ),
        (
            "nested dc:day/month/year concatenated does not crash",
            vec![dc("date", "06062022")],
            json!({"issued": null}),
        ),
        (
            "epoch 1970-01-01 flagged, not used (pkp#9082)",
            vec![dc("date", "1970-01-01")],
            json!({"issued": null, "flags": ["date_out_of_range", "incomplete"]}),
        ),
        (
            "epoch timestamp flagged",
            vec![dc("date", "1970-01-01T00:00:00Z")],
            json!({"issued": null, "flags": ["date_out_of_range", "incomplete"]}),
        ),
        (
            "year beyond cap flagged",
            vec![dc("date", "2202-01-01")],
            json!({"issued": null, "flags": ["date_out_of_range", "incomplete"]}),
        ),
        (
            "epoch ignored, real date kept",
            vec![dc("date", "1970-01-01"), dc("date", "2019-05-05")],
            json!({"issued": "2019-05-05", "flags": ["date_out_of_range", "incomplete"]}),
        ),
        (
            "DSpace accessioned/available timestamps lose to issued date",
            vec![
                dc("date", "2015-03-02T10:11:12Z"),
                dc("date", "2015-03-02T10:11:12Z"),
                dc("date", "2014"),
            ],
            json!({"issued": "2014"}),
        ),
        (
            "DSpace issued as midnight timestamp beats accessioned/available",
            vec![
                dc("date", "2011-03-02T15:20:11Z"),
                dc("date", "2011-03-02T15:20:11Z"),
                dc("date", "2010-09-15T00:00:00Z"),
            ],
            json!({"issued": "2010-09-15"}),
        ),
        (
            "all real timestamps: the first one",
            vec![
                dc("date", "2011-03-02T15:20:11Z"),
                dc("date", "2012-01-01T10:00:00Z"),
            ],
            json!({"issued": "2011-03-02"}),
        ),
        (
            "two date-only values: first wins",
            vec![dc("date", "2020-01-01"), dc("date", "2021-01-01")],
            json!({"issued": "2020-01-01"}),
        ),
        (
            "dcterms issued beats dc:date",
            vec![dc("date", "2021-03-03"), dct("issued", "2020")],
            json!({"issued": "2020"}),
        ),
        (
            "dateSubmitted used only when nothing else",
            vec![dct("dateSubmitted", "2019-11-11")],
            json!({"issued": "2019-11-11"}),
        ),
        (
            "dateSubmitted loses to date",
            vec![dct("dateSubmitted", "2019-11-11"), dc("date", "2020-02-02")],
            json!({"issued": "2020-02-02"}),
        ),
        (
            "modified never issued",
            vec![dct("modified", "2023-01-01")],
            json!({"issued": null}),
        ),
        (
            "issued year differs from source year: flagged, both kept",
            vec![
                dc("date", "2017"),
                dc("source", "Journal; Vol 5, No 2 (2007); 10-20"),
            ],
            json!({"issued": "2017", "source_info": {"title": "Journal", "volume": "5", "issue": "2", "year": 2007, "pages": "10-20", "issn": null}, "flags": ["incomplete", "year_mismatch"]}),
        ),
    ];
    run(cases);
}

#[test]
fn type_cases() {
    let cases: Vec<Case> = vec![
        (
            "OJS three dc:type elements (quirk 67)",
            vec![
                dc("type", "info:eu-repo/semantics/article"),
                dl("type", "Peer-reviewed Article", "en-US"),
                dc("type", "info:eu-repo/semantics/publishedVersion"),
            ],
            json!({"types": ["article"]}),
        ),
        (
            "OJS Russian locale type",
            vec![dl("type", "Рецензированная статья", "ru-RU")],
            json!({"types": ["article"]}),
        ),
        (
            "Russian Статья",
            vec![dc("type", "Статья")],
            json!({"types": ["article"]}),
        ),
        (
            "EPrints Article + PeerReviewed",
            vec![dc("type", "Article"), dc("type", "PeerReviewed")],
            json!({"types": ["article"]}),
        ),
        (
            "EPrints NonPeerReviewed alone is not a type",
            vec![dc("type", "NonPeerReviewed")],
            json!({"types": []}),
        ),
        (
            "DCMI Text ignored",
            vec![dc("type", "Text")],
            json!({"types": []}),
        ),
        (
            "DCMI Text URI ignored",
            vec![dc("type", "http://purl.org/dc/dcmitype/Text")],
            json!({"types": []}),
        ),
        (
            "DCMI Dataset",
            vec![dc("type", "Dataset")],
            json!({"types": ["dataset"]}),
        ),
        (
            "DCMI Image is other",
            vec![dc("type", "Image")],
            json!({"types": ["other"]}),
        ),
        (
            "eu-repo bookPart",
            vec![dc("type", "info:eu-repo/semantics/bookPart")],
            json!({"types": ["book-part"]}),
        ),
        (
            "eu-repo doctoralThesis",
            vec![dc("type", "info:eu-repo/semantics/doctoralThesis")],
            json!({"types": ["thesis"]}),
        ),
        (
            "eu-repo conferenceObject",
            vec![dc("type", "info:eu-repo/semantics/conferenceObject")],
            json!({"types": ["conference-paper"]}),
        ),
        (
            "eu-repo workingPaper",
            vec![dc("type", "info:eu-repo/semantics/workingPaper")],
            json!({"types": ["report"]}),
        ),
        (
            "eu-repo preprint",
            vec![dc("type", "info:eu-repo/semantics/preprint")],
            json!({"types": ["preprint"]}),
        ),
        (
            "eu-repo review",
            vec![dc("type", "info:eu-repo/semantics/review")],
            json!({"types": ["review"]}),
        ),
        (
            "eu-repo version only",
            vec![dc("type", "info:eu-repo/semantics/acceptedVersion")],
            json!({"types": []}),
        ),
        (
            "COAR journal article",
            vec![dc("type", "http://purl.org/coar/resource_type/c_6501")],
            json!({"types": ["article"]}),
        ),
        (
            "COAR review article",
            vec![dc("type", "http://purl.org/coar/resource_type/c_dcae04bc")],
            json!({"types": ["review"]}),
        ),
        (
            "COAR text ignored",
            vec![dc("type", "http://purl.org/coar/resource_type/c_18cf")],
            json!({"types": []}),
        ),
        (
            "COAR version URI ignored",
            vec![dc(
                "type",
                "http://purl.org/coar/version/c_970fb48d4fbd8a85",
            )],
            json!({"types": []}),
        ),
        (
            "DSpace Book chapter",
            vec![dc("type", "Book chapter")],
            json!({"types": ["book-part"]}),
        ),
        (
            "EPrints Book Section",
            vec![dc("type", "Book Section")],
            json!({"types": ["book-part"]}),
        ),
        (
            "EPrints Conference or Workshop Item → conference-paper",
            vec![dc("type", "Conference or Workshop Item")],
            json!({"types": ["conference-paper"]}),
        ),
        (
            "EPrints Thesis",
            vec![dc("type", "Thesis")],
            json!({"types": ["thesis"]}),
        ),
        (
            "Russian обзорная статья",
            vec![dc("type", "Обзорная статья")],
            json!({"types": ["review"]}),
        ),
        (
            "Russian диссертация",
            vec![dc("type", "Диссертация")],
            json!({"types": ["thesis"]}),
        ),
        (
            "OJS section name alone → other",
            vec![dc("type", "International Relations")],
            json!({"types": ["other"]}),
        ),
        (
            "section name ignored when a real type exists",
            vec![
                dc("type", "info:eu-repo/semantics/article"),
                dc("type", "International Relations"),
            ],
            json!({"types": ["article"]}),
        ),
        (
            "Russian Статья в журнале by keyword",
            vec![dc("type", "Статья в журнале")],
            json!({"types": ["article"]}),
        ),
        (
            "Journal Article (Peer-reviewed) by keyword",
            vec![dc("type", "Journal Article (Peer-reviewed)")],
            json!({"types": ["article"]}),
        ),
        (
            "Review of a book by keyword",
            vec![dc("type", "Review of a book")],
            json!({"types": ["review"]}),
        ),
        (
            "book review free text",
            vec![dc("type", "Book Review")],
            json!({"types": ["review"]}),
        ),
        (
            "Editorial is other",
            vec![dc("type", "Editorial")],
            json!({"types": ["other"]}),
        ),
        (
            "vocabulary words map to themselves",
            vec![dc("type", "conference-paper"), dc("type", "book-part")],
            json!({"types": ["conference-paper", "book-part"]}),
        ),
    ];
    run(cases);
}

#[test]
fn language_cases() {
    let cases: Vec<Case> = vec![
        (
            "OJS 3.1–3.3 ISO 639-2 rus",
            vec![dc("language", "rus")],
            json!({"languages": ["ru"]}),
        ),
        (
            "OJS 3.4 raw locale ru",
            vec![dc("language", "ru")],
            json!({"languages": ["ru"]}),
        ),
        (
            "locale ru_RU",
            vec![dc("language", "ru_RU")],
            json!({"languages": ["ru"]}),
        ),
        (
            "locale ru-RU",
            vec![dc("language", "ru-RU")],
            json!({"languages": ["ru"]}),
        ),
        (
            "upper-case RUS",
            vec![dc("language", "RUS")],
            json!({"languages": ["ru"]}),
        ),
        (
            "English name Russian",
            vec![dc("language", "Russian")],
            json!({"languages": ["ru"]}),
        ),
        (
            "Russian name русский",
            vec![dc("language", "русский")],
            json!({"languages": ["ru"]}),
        ),
        (
            "Russian name capitalized Русский",
            vec![dc("language", "Русский")],
            json!({"languages": ["ru"]}),
        ),
        (
            "eng",
            vec![dc("language", "eng")],
            json!({"languages": ["en"]}),
        ),
        (
            "en_US",
            vec![dc("language", "en_US")],
            json!({"languages": ["en"]}),
        ),
        (
            "639-2/B fre",
            vec![dc("language", "fre")],
            json!({"languages": ["fr"]}),
        ),
        (
            "639-2/T fra",
            vec![dc("language", "fra")],
            json!({"languages": ["fr"]}),
        ),
        (
            "639-2/B ger",
            vec![dc("language", "ger")],
            json!({"languages": ["de"]}),
        ),
        (
            "list Русский, English",
            vec![dc("language", "Русский, English")],
            json!({"languages": ["ru", "en"]}),
        ),
        (
            "list with semicolons",
            vec![dc("language", "rus; eng")],
            json!({"languages": ["ru", "en"]}),
        ),
        (
            "OJS 2 zero placeholder dropped",
            vec![dc("language", "0")],
            json!({"languages": []}),
        ),
        (
            "unknown language dropped",
            vec![dc("language", "Klingonese")],
            json!({"languages": []}),
        ),
        (
            "name with code in parentheses",
            vec![dc("language", "Russian (ru)")],
            json!({"languages": ["ru"]}),
        ),
        (
            "name with region in parentheses",
            vec![dc("language", "English (United States)")],
            json!({"languages": ["en"]}),
        ),
        (
            "duplicates across elements dropped",
            vec![dc("language", "rus"), dc("language", "ru")],
            json!({"languages": ["ru"]}),
        ),
        (
            "639-3 only language kept as 639-3",
            vec![dc("language", "ast")],
            json!({"languages": ["ast"]}),
        ),
        (
            "French autonym",
            vec![dc("language", "français")],
            json!({"languages": ["fr"]}),
        ),
        (
            "Deutsch autonym",
            vec![dc("language", "Deutsch")],
            json!({"languages": ["de"]}),
        ),
        (
            "und is no language",
            vec![dc("language", "und")],
            json!({"languages": []}),
        ),
        (
            "xml:lang 3-letter rus mapped",
            vec![dl("title", "Заголовок", "rus")],
            json!({"titles": [lv("Заголовок", Some("ru"))]}),
        ),
        (
            "xml:lang upper-case EN",
            vec![dl("title", "Title", "EN")],
            json!({"titles": [lv("Title", Some("en"))]}),
        ),
    ];
    run(cases);
}

#[test]
fn identifier_cases() {
    let id = |scheme: &str, value: &str| json!({"scheme": scheme, "value": value});
    let cases: Vec<Case> = vec![
        (
            "OJS 3 bare DOI in dc:identifier",
            vec![dc("identifier", "10.31857/S013128120020016-6")],
            json!({"doi": "10.31857/s013128120020016-6", "identifiers": [id("doi", "10.31857/s013128120020016-6")], "work_key": "10.31857/s013128120020016-6"}),
        ),
        (
            "older OJS xsi:type dcterms:DOI",
            vec![dt("identifier", "10.1234/abc", "dcterms:DOI")],
            json!({"doi": "10.1234/abc"}),
        ),
        (
            "DSpace doi: prefix",
            vec![dc("identifier", "doi:10.1575/1912/4843")],
            json!({"doi": "10.1575/1912/4843"}),
        ),
        (
            "DOI: label with space",
            vec![dc("identifier", "DOI: 10.1575/1912/4843")],
            json!({"doi": "10.1575/1912/4843"}),
        ),
        (
            "Dataverse dx.doi.org URL",
            vec![dc("identifier", "http://dx.doi.org/10.7910/DVN/QWXPUA")],
            json!({"doi": "10.7910/dvn/qwxpua", "identifiers": [id("doi", "10.7910/dvn/qwxpua")]}),
        ),
        (
            "https doi.org URL",
            vec![dc("identifier", "https://doi.org/10.1234/ABC.def")],
            json!({"doi": "10.1234/abc.def"}),
        ),
        (
            "info:doi/ form",
            vec![dc("identifier", "info:doi/10.1234/x")],
            json!({"doi": "10.1234/x"}),
        ),
        (
            "seed: DOI with en dashes (quirk 62)",
            vec![dc("identifier", "10.22363/2313–0660–2020–20–3–585–604")],
            json!({"doi": "10.22363/2313-0660-2020-20-3-585-604"}),
        ),
        (
            "seed: DOI with spaces after dots",
            vec![dc("identifier", "10.24891/ni. 14. 7.1360")],
            json!({"doi": "10.24891/ni.14.7.1360"}),
        ),
        (
            "DOI with trailing period",
            vec![dc("identifier", "doi:10.1234/abc.")],
            json!({"doi": "10.1234/abc"}),
        ),
        (
            "DOI with SICI parentheses kept",
            vec![dc(
                "identifier",
                "10.1002/(SICI)1097-4636(199706)35:4<497::AID-JBM11>3.0.CO;2-M",
            )],
            json!({"doi": "10.1002/(sici)1097-4636(199706)35:4<497::aid-jbm11>3.0.co;2-m"}),
        ),
        (
            "URL-escaped slash in resolver link",
            vec![dc("identifier", "https://doi.org/10.1234%2Fabc")],
            json!({"doi": "10.1234/abc"}),
        ),
        (
            "not a DOI: 10.12/short registrant",
            vec![dc("identifier", "10.12/abc")],
            json!({"doi": null, "identifiers": [id("other", "10.12/abc")]}),
        ),
        (
            "identifier DOI A beats source DOI B (issue DOI)",
            vec![
                dc("identifier", "10.1111/aaa"),
                dc("source", "10.1111/issue.3"),
            ],
            json!({"doi": "10.1111/aaa", "issue_doi": "10.1111/issue.3"}),
        ),
        (
            "source DOI alone is never the article DOI",
            vec![dc("source", "10.1111/issue.3")],
            json!({"doi": null, "issue_doi": "10.1111/issue.3", "source_info": null}),
        ),
        (
            "EPrints official_url DOI in dc:relation used when sole",
            vec![dc("relation", "https://doi.org/10.5555/rel")],
            json!({"doi": "10.5555/rel", "relations": ["https://doi.org/10.5555/rel"]}),
        ),
        (
            "two relation DOIs (galleys): none chosen",
            vec![
                dc("relation", "https://doi.org/10.5555/g1"),
                dc("relation", "https://doi.org/10.5555/g2"),
            ],
            json!({"doi": null}),
        ),
        (
            "identifier DOI beats relation DOI",
            vec![
                dc("identifier", "10.5555/id"),
                dc("relation", "https://doi.org/10.5555/rel"),
            ],
            json!({"doi": "10.5555/id"}),
        ),
        (
            "OJS landing URL classified url",
            vec![dc(
                "identifier",
                "https://journal.org/index.php/j/article/view/19",
            )],
            json!({"identifiers": [id("url", "https://journal.org/index.php/j/article/view/19")], "work_key": "https://journal.org/index.php/j/article/view/19"}),
        ),
        (
            "work key: http and https equal, trailing slash dropped (quirk 73)",
            vec![dc("identifier", "http://Journal.org/article/view/19/")],
            json!({"work_key": "https://journal.org/article/view/19"}),
        ),
        (
            "work key skips OJS galley URL",
            vec![
                dc("identifier", "https://j.org/article/view/19/45"),
                dc("identifier", "https://j.org/article/view/19"),
            ],
            json!({"work_key": "https://j.org/article/view/19"}),
        ),
        (
            "only a file URL: no work key",
            vec![dc("identifier", "https://j.org/article/download/19/45")],
            json!({"work_key": null}),
        ),
        (
            "EPrints: files as identifiers, abstract page as relation",
            vec![
                dc("identifier", "http://eprints.x.ac.uk/123/1/paper.pdf"),
                dc("relation", "http://eprints.x.ac.uk/123/"),
            ],
            json!({"work_key": "https://eprints.x.ac.uk/123"}),
        ),
        (
            "DOI wins the work key over URL",
            vec![
                dc("identifier", "https://j.org/article/view/19"),
                dc("identifier", "10.1234/x"),
            ],
            json!({"work_key": "10.1234/x"}),
        ),
        (
            "handle hdl: form",
            vec![dc("identifier", "hdl:1902.29/10438")],
            json!({"identifiers": [id("handle", "1902.29/10438")]}),
        ),
        (
            "handle resolver URL",
            vec![dc("identifier", "https://hdl.handle.net/1902.29/10438")],
            json!({"identifiers": [id("handle", "1902.29/10438")]}),
        ),
        (
            "URN kept",
            vec![dc("identifier", "urn:nbn:de:0168-ssoar-12345")],
            json!({"identifiers": [id("urn", "urn:nbn:de:0168-ssoar-12345")]}),
        ),
        (
            "ISSN with valid check digit",
            vec![dc("identifier", "ISSN 0131-2812")],
            json!({"identifiers": [id("issn", "0131-2812")], "source_info": {"title": null, "volume": null, "issue": null, "year": null, "pages": null, "issn": "0131-2812"}}),
        ),
        (
            "ISSN with X check digit",
            vec![dc("identifier", "1050-124x")],
            json!({"identifiers": [id("issn", "1050-124X")]}),
        ),
        (
            "ISSN with bad check digit is other",
            vec![dc("identifier", "0131-2813")],
            json!({"identifiers": [id("other", "0131-2813")]}),
        ),
        (
            "ISBN-13",
            vec![dc("identifier", "ISBN 978-3-16-148410-0")],
            json!({"identifiers": [id("isbn", "9783161484100")]}),
        ),
        (
            "ISBN-10 with X",
            vec![dc("identifier", "0-8044-2957-X")],
            json!({"identifiers": [id("isbn", "080442957X")]}),
        ),
        (
            "ORCID URL",
            vec![dc("identifier", "https://orcid.org/0000-0002-1825-0097")],
            json!({"identifiers": [id("orcid", "0000-0002-1825-0097")]}),
        ),
        (
            "arXiv id",
            vec![dc("identifier", "arXiv:2101.00001v2")],
            json!({"identifiers": [id("arxiv", "2101.00001v2")]}),
        ),
        (
            "arXiv abs URL",
            vec![dc("identifier", "https://arxiv.org/abs/hep-th/9901001")],
            json!({"identifiers": [id("arxiv", "hep-th/9901001")]}),
        ),
        (
            "EPrints citation string (quirk 63)",
            vec![dc(
                "identifier",
                "Lukin, A. and Zakharova, L. (2022) Title of paper. Journal, 3 (2). pp. 10-20. ISSN 1234-5679",
            )],
            json!({"identifiers": [id("citation", "Lukin, A. and Zakharova, L. (2022) Title of paper. Journal, 3 (2). pp. 10-20. ISSN 1234-5679")], "doi": null}),
        ),
        (
            "opaque local id is other",
            vec![dc("identifier", "oai:example.org:123")],
            json!({"identifiers": [id("other", "oai:example.org:123")]}),
        ),
        (
            "duplicate identifiers dropped",
            vec![
                dc("identifier", "10.1234/X"),
                dc("identifier", "https://doi.org/10.1234/x"),
            ],
            json!({"identifiers": [id("doi", "10.1234/x")]}),
        ),
    ];
    run(cases);
}

#[test]
fn source_cases() {
    let si = |title: Option<&str>,
              volume: Option<&str>,
              issue: Option<&str>,
              year: Option<i32>,
              pages: Option<&str>,
              issn: Option<&str>| {
        json!({"title": title, "volume": volume, "issue": issue, "year": year, "pages": pages, "issn": issn})
    };
    let cases: Vec<Case> = vec![
        (
            "OJS 2 Journal; Vol 5, No 2 (2022); 10-20",
            vec![dc("source", "Journal of Things; Vol 5, No 2 (2022); 10-20")],
            json!({"source_info": si(Some("Journal of Things"), Some("5"), Some("2"), Some(2022), Some("10-20"), None)}),
        ),
        (
            "OJS 3 Vol. 3 No. 2 (2022)",
            vec![dc(
                "source",
                "Journal of Things; Vol. 3 No. 2 (2022); 10-20",
            )],
            json!({"source_info": si(Some("Journal of Things"), Some("3"), Some("2"), Some(2022), Some("10-20"), None)}),
        ),
        (
            "OJS 3 Russian labels Том 3 № 2",
            vec![dl("source", "Вестник; Том 3 № 2 (2022); 10-20", "ru-RU")],
            json!({"source_info": si(Some("Вестник"), Some("3"), Some("2"), Some(2022), Some("10-20"), None)}),
        ),
        (
            "Russian dotted citation Журнал. 2022. № 3. С. 5–17.",
            vec![dc("source", "Журнал. 2022. № 3. С. 5–17.")],
            json!({"source_info": si(Some("Журнал"), None, Some("3"), Some(2022), Some("5-17"), None)}),
        ),
        (
            "Russian dotted citation with Т.",
            vec![dc(
                "source",
                "Проблемы Дальнего Востока. 2020. Т. 20, № 3. С. 585–604.",
            )],
            json!({"source_info": si(Some("Проблемы Дальнего Востока"), Some("20"), Some("3"), Some(2020), Some("585-604"), None)}),
        ),
        (
            "DOAJ comma style",
            vec![dc(
                "source",
                "Pakistan Journal of Chemistry, Vol 2, Iss 4, Pp 174-177 (2012)",
            )],
            json!({"source_info": si(Some("Pakistan Journal of Chemistry"), Some("2"), Some("4"), Some(2012), Some("174-177"), None)}),
        ),
        (
            "seed: issue without volume never shifted",
            vec![dc("source", "Problemy Dalnego Vostoka; No 3 (2022)")],
            json!({"source_info": si(Some("Problemy Dalnego Vostoka"), None, Some("3"), Some(2022), None, None)}),
        ),
        (
            "year-only issue",
            vec![dc("source", "Journal of Things; (2022); 1-9")],
            json!({"source_info": si(Some("Journal of Things"), None, None, Some(2022), Some("1-9"), None)}),
        ),
        (
            "volume-only issue",
            vec![dc("source", "Journal of Things; Vol 7 (2019)")],
            json!({"source_info": si(Some("Journal of Things"), Some("7"), None, Some(2019), None, None)}),
        ),
        (
            "title only",
            vec![dc("source", "Journal of Things")],
            json!({"source_info": si(Some("Journal of Things"), None, None, None, None, None)}),
        ),
        (
            "title-only issue label is not a number",
            vec![dc("source", "Journal of Things; Special Issue")],
            json!({"source_info": si(Some("Journal of Things"), None, None, None, None, None)}),
        ),
        (
            "bare ISSN in separate dc:source goes to issn",
            vec![
                dc("source", "Journal of Things; Vol 5, No 2 (2022)"),
                dc("source", "0131-2812"),
            ],
            json!({"source_info": si(Some("Journal of Things"), Some("5"), Some("2"), Some(2022), None, Some("0131-2812"))}),
        ),
        (
            "ISSN with bad check digit is not an ISSN",
            vec![dc("source", "0131-2813")],
            json!({"source_info": null}),
        ),
        (
            "ISSN from dc:identifier when source lacks one",
            vec![
                dc("source", "J; Vol 1, No 1 (2001)"),
                dc("identifier", "ISSN 0131-2812"),
            ],
            json!({"source_info": si(Some("J"), Some("1"), Some("1"), Some(2001), None, Some("0131-2812"))}),
        ),
        (
            "issue DOI in dc:source stored apart (OJS)",
            vec![
                dc("source", "Journal; Vol 5, No 2 (2022)"),
                dc("source", "10.1111/issue.5.2"),
            ],
            json!({"issue_doi": "10.1111/issue.5.2", "source_info": si(Some("Journal"), Some("5"), Some("2"), Some(2022), None, None)}),
        ),
        (
            "two locales of one citation: primary by record language",
            vec![
                dl(
                    "source",
                    "Journal of Things; Vol. 3 No. 2 (2022); 10-20",
                    "en-US",
                ),
                dl("source", "Вестник; Том 3 № 2 (2022); 10-20", "ru-RU"),
                dc("language", "rus"),
            ],
            json!({"source_info": si(Some("Вестник"), Some("3"), Some("2"), Some(2022), Some("10-20"), None)}),
        ),
        (
            "issue with supplementary number No. 3 (101)",
            vec![dc("source", "Rossiya i ATR. 2018. No. 3 (101).")],
            json!({"source_info": si(Some("Rossiya i ATR"), None, Some("3"), Some(2018), None, None)}),
        ),
        (
            "issue range No 1-2",
            vec![dc("source", "Journal; Vol 5, No 1-2 (2020)")],
            json!({"source_info": si(Some("Journal"), Some("5"), Some("1-2"), Some(2020), None, None)}),
        ),
        (
            "Вып. label",
            vec![dc("source", "Известия; Вып. 4 (2015)")],
            json!({"source_info": si(Some("Известия"), None, Some("4"), Some(2015), None, None)}),
        ),
        (
            "labelled ISSN inside citation",
            vec![dc("source", "Journal; Vol 1 (2001); ISSN 0131-2812")],
            json!({"source_info": si(Some("Journal"), Some("1"), None, Some(2001), None, Some("0131-2812"))}),
        ),
        (
            "no dc:source: null",
            vec![dc("title", "T")],
            json!({"source_info": null}),
        ),
        (
            "URL in dc:source ignored",
            vec![dc("source", "https://journal.org/issue/5")],
            json!({"source_info": null}),
        ),
        (
            "citation with trailing DOI: DOI is the issue DOI, not title text",
            vec![dc(
                "source",
                "Journal; Vol 1 (2001); 10-20. DOI: 10.1234/abc",
            )],
            json!({"issue_doi": "10.1234/abc", "source_info": si(Some("Journal"), Some("1"), None, Some(2001), Some("10-20"), None)}),
        ),
        (
            "bare page-like number is no ISSN",
            vec![dc("source", "Journal; Vol 1 (2001); 1001-1010")],
            json!({"source_info": si(Some("Journal"), Some("1"), None, Some(2001), Some("1001-1010"), None)}),
        ),
        (
            "EPrints citation in dc:identifier gives source_info when no dc:source (quirk 63)",
            vec![dc(
                "identifier",
                "Lukin, A. and Zakharova, L. (2022) Russian priorities. Problemy Dalnego Vostoka, 50 (3). pp. 5-17. ISSN 0131-2812",
            )],
            json!({"source_info": si(Some("Problemy Dalnego Vostoka"), Some("50"), Some("3"), Some(2022), Some("5-17"), Some("0131-2812"))}),
        ),
        (
            "dc:source wins over an EPrints citation",
            vec![
                dc("source", "Journal; Vol 1 (2001)"),
                dc(
                    "identifier",
                    "Lukin, A. (2022) Title. Other Journal, 50 (3). pp. 5-17.",
                ),
            ],
            json!({"source_info": si(Some("Journal"), Some("1"), None, Some(2001), None, None)}),
        ),
        (
            "EPrints citation without issue",
            vec![dc(
                "identifier",
                "Smith, J. (2010) A study of things. Journal of Stuff, 7. pp. 1-9.",
            )],
            json!({"source_info": si(Some("Journal of Stuff"), Some("7"), None, Some(2010), Some("1-9"), None)}),
        ),
        (
            "APA-style volume(issue) and pages",
            vec![dc(
                "source",
                "Journal of Applied Chemistry, 2019, 45(3), 123-130",
            )],
            json!({"source_info": si(Some("Journal of Applied Chemistry"), Some("45"), Some("3"), Some(2019), Some("123-130"), None)}),
        ),
        (
            "APA-style without year",
            vec![dc("source", "Journal of Applied Chemistry, 45(3):123-130")],
            json!({"source_info": si(Some("Journal of Applied Chemistry"), Some("45"), Some("3"), None, Some("123-130"), None)}),
        ),
        (
            "labelled issue with supplement number is not vol(issue)",
            vec![dc("source", "Vestnik MGIMO; No. 4(37) (2014)")],
            json!({"source_info": si(Some("Vestnik MGIMO"), None, Some("4"), Some(2014), None, None)}),
        ),
        (
            "Russian citation Т. 5, вып. 2",
            vec![dc("source", "Известия вузов. Т. 5, вып. 2. 2019. С. 10-20")],
            json!({"source_info": si(Some("Известия вузов"), Some("5"), Some("2"), Some(2019), Some("10-20"), None)}),
        ),
        (
            "English dotted citation with P.",
            vec![dc(
                "source",
                "Russian Journal of Economics. 2020. Vol. 6, Issue 2. P. 101–115.",
            )],
            json!({"source_info": si(Some("Russian Journal of Economics"), Some("6"), Some("2"), Some(2020), Some("101-115"), None)}),
        ),
        (
            "OJS 3 issue with title after colon",
            vec![dc(
                "source",
                "Journal; Vol. 3 No. 2 (2022): Special issue on Korea; 10-20",
            )],
            json!({"source_info": si(Some("Journal"), Some("3"), Some("2"), Some(2022), Some("10-20"), None)}),
        ),
        (
            "dcterms bibliographicCitation parsed as source",
            vec![dct(
                "bibliographicCitation",
                "Journal of Things; Vol 5, No 2 (2022); 10-20",
            )],
            json!({"source_info": si(Some("Journal of Things"), Some("5"), Some("2"), Some(2022), Some("10-20"), None)}),
        ),
    ];
    run(cases);
}

#[test]
fn rights_cases() {
    let r = |value: &str, license: Option<&str>| json!({"value": value, "license": license});
    let cases: Vec<Case> = vec![
        (
            "OJS 3 licence URL",
            vec![dc("rights", "https://creativecommons.org/licenses/by/4.0")],
            json!({"rights": [r("https://creativecommons.org/licenses/by/4.0", Some("CC-BY-4.0"))]}),
        ),
        (
            "trailing slash and http",
            vec![dc("rights", "http://creativecommons.org/licenses/by/4.0/")],
            json!({"rights": [r("http://creativecommons.org/licenses/by/4.0/", Some("CC-BY-4.0"))]}),
        ),
        (
            "deed.ru suffix (quirk 68)",
            vec![dc(
                "rights",
                "http://creativecommons.org/licenses/by-nc/4.0/deed.ru",
            )],
            json!({"rights": [r("http://creativecommons.org/licenses/by-nc/4.0/deed.ru", Some("CC-BY-NC-4.0"))]}),
        ),
        (
            "by-nc-sa URL",
            vec![dc(
                "rights",
                "https://creativecommons.org/licenses/by-nc-sa/4.0/",
            )],
            json!({"rights": [r("https://creativecommons.org/licenses/by-nc-sa/4.0/", Some("CC-BY-NC-SA-4.0"))]}),
        ),
        (
            "by-nc-nd 3.0 URL",
            vec![dc(
                "rights",
                "https://creativecommons.org/licenses/by-nc-nd/3.0/",
            )],
            json!({"rights": [r("https://creativecommons.org/licenses/by-nc-nd/3.0/", Some("CC-BY-NC-ND-3.0"))]}),
        ),
        (
            "ported licence keeps jurisdiction",
            vec![dc(
                "rights",
                "https://creativecommons.org/licenses/by/3.0/ru/",
            )],
            json!({"rights": [r("https://creativecommons.org/licenses/by/3.0/ru/", Some("CC-BY-3.0-RU"))]}),
        ),
        (
            "CC0 URL",
            vec![dc(
                "rights",
                "https://creativecommons.org/publicdomain/zero/1.0/",
            )],
            json!({"rights": [r("https://creativecommons.org/publicdomain/zero/1.0/", Some("CC0-1.0"))]}),
        ),
        (
            "text CC BY 4.0",
            vec![dc("rights", "CC BY 4.0")],
            json!({"rights": [r("CC BY 4.0", Some("CC-BY-4.0"))]}),
        ),
        (
            "text CC-BY-NC-SA 4.0",
            vec![dc("rights", "Licensed under CC-BY-NC-SA 4.0")],
            json!({"rights": [r("Licensed under CC-BY-NC-SA 4.0", Some("CC-BY-NC-SA-4.0"))]}),
        ),
        (
            "long licence name",
            vec![dc(
                "rights",
                "Creative Commons Attribution-NonCommercial 4.0 International License",
            )],
            json!({"rights": [r("Creative Commons Attribution-NonCommercial 4.0 International License", Some("CC-BY-NC-4.0"))]}),
        ),
        (
            "copyright statement kept, no licence",
            vec![dc("rights", "Copyright (c) 2022 Лукин А.В.")],
            json!({"rights": [r("Copyright (c) 2022 Лукин А.В.", None)]}),
        ),
        (
            "OJS 3 statement + licence URL",
            vec![
                dc("rights", "Copyright (c) 2022 Лукин А.В."),
                dc("rights", "https://creativecommons.org/licenses/by/4.0"),
            ],
            json!({"rights": [r("Copyright (c) 2022 Лукин А.В.", None), r("https://creativecommons.org/licenses/by/4.0", Some("CC-BY-4.0"))]}),
        ),
        (
            "OJS 2 HTML copyright notice stripped; licence from link",
            vec![dc(
                "rights",
                "<p>Authors retain copyright. <a href=\"http://creativecommons.org/licenses/by/4.0/\">License</a></p>",
            )],
            json!({"rights": [r("Authors retain copyright. License", Some("CC-BY-4.0"))]}),
        ),
        (
            "dcterms license mapped to rights (quirk 69)",
            vec![dc(
                "license",
                "https://creativecommons.org/licenses/by-sa/4.0/",
            )],
            json!({"rights": [r("https://creativecommons.org/licenses/by-sa/4.0/", Some("CC-BY-SA-4.0"))]}),
        ),
        (
            "duplicate rights dropped",
            vec![dc("rights", "CC BY 4.0"), dc("rights", "CC BY 4.0")],
            json!({"rights": [r("CC BY 4.0", Some("CC-BY-4.0"))]}),
        ),
        (
            "open access statement without licence",
            vec![dc("rights", "info:eu-repo/semantics/openAccess")],
            json!({"rights": [r("info:eu-repo/semantics/openAccess", None)]}),
        ),
    ];
    run(cases);
}

#[test]
fn relation_and_mapping_cases() {
    let cases: Vec<Case> = vec![
        (
            "dcterms isReferencedBy under dc namespace is a relation",
            vec![dc("isReferencedBy", "https://example.org/x")],
            json!({"relations": ["https://example.org/x"]}),
        ),
        (
            "dcterms issued under dc namespace is a date",
            vec![dc("issued", "2020-05")],
            json!({"issued": "2020-05"}),
        ),
        (
            "dct:isPartOf is a relation",
            vec![dct("isPartOf", "Journal of Things")],
            json!({"relations": ["Journal of Things"]}),
        ),
        (
            "relation duplicates dropped",
            vec![dc("relation", "a"), dc("relation", "a")],
            json!({"relations": ["a"]}),
        ),
        (
            "empty record: only incomplete",
            vec![],
            json!({"flags": ["incomplete"], "titles": [], "issued": null, "doi": null, "work_key": null}),
        ),
        (
            "flags sorted and deduplicated",
            vec![
                dc("date", "1970-01-01"),
                dc("subject", "Ã©cole"),
                dc("subject", "Ã©tude"),
            ],
            json!({"flags": ["date_out_of_range", "incomplete", "repaired_encoding"]}),
        ),
    ];
    run(cases);
}

/// The seed article of `../shared/seeds`, as its OJS-like endpoint would send it.
/// The seed page does not print author names; the creators here are fixture values.
fn seed_record() -> Vec<sheaf::domain::DcValue> {
    vec![
        dl(
            "title",
            "Russian Priorities and Approaches to the Korean Peninsula",
            "en-US",
        ),
        dl("creator", "Lukin, Alexander V.", "en-US"),
        dl(
            "subject",
            "Russia, the Korean Peninsula, DPRK, Republic of Korea, Six-Party Talks, Denuclearization, Unification, Russia-DPRK-RK",
            "en-US",
        ),
        dl(
            "description",
            "<p>The paper comprehensively examines Russia's foreign policy towards the Korean Peninsula. Its scientific relevance is defined by the unsettled issues on the Korean Peninsula, including the nuclear one, and the peninsula’s geographical proximity to the Russian Far East.</p>",
            "en-US",
        ),
        dl("publisher", "Russian Academy of Sciences", "en-US"),
        dc("date", "21.06.2022"),
        dc("type", "info:eu-repo/semantics/article"),
        dl("type", "Article", "en-US"),
        dc("format", "application/pdf"),
        dc(
            "identifier",
            "https://dvostok.example.org/s013128120020016-6-1/",
        ),
        dc("identifier", "10.31857/S013128120020016-6"),
        dl(
            "source",
            "Problemy Dalnego Vostoka; Issue 3 (2022)",
            "en-US",
        ),
        dc("language", "rus"),
        dl(
            "relation",
            "Asmolov K.V., Zakharova L.V. Otnosheniya Rossii s KNDR v XXI veke. 2020. Vol. 20. No. 3. DOI: 10.22363/2313–0660–2020–20–3–585–604. (In Russ.)",
            "en-US",
        ),
        dl(
            "relation",
            "Morozov Y.V. Severokorejskaya yadernaya problema. 2018. Vol. 14. No. 7. DOI: 10.24891/ni. 14. 7.1360. (In Russ.)",
            "en-US",
        ),
    ]
}

#[test]
fn seed_article_full_record() {
    let n = normalize(&seed_record());
    let r = &n.record;
    assert_eq!(
        r.title(),
        Some("Russian Priorities and Approaches to the Korean Peninsula")
    );
    assert_eq!(r.titles[0].lang.as_deref(), Some("en"));
    assert_eq!(r.creators.len(), 1);
    assert_eq!(r.creators[0].family.as_deref(), Some("Lukin"));
    assert_eq!(r.creators[0].given.as_deref(), Some("Alexander V."));
    let si = r.source_info.as_ref().expect("source_info");
    assert_eq!(si.title.as_deref(), Some("Problemy Dalnego Vostoka"));
    assert_eq!(si.issue.as_deref(), Some("3"));
    assert_eq!(si.volume, None);
    assert_eq!(si.year, Some(2022));
    assert_eq!(r.issued.as_deref(), Some("2022-06-21"));
    assert!(
        r.descriptions[0]
            .value
            .starts_with("The paper comprehensively examines Russia's")
    );
    assert!(!r.descriptions[0].value.contains('<'));
    let subjects: Vec<&str> = r.subjects.iter().map(|s| s.value.as_str()).collect();
    assert_eq!(
        subjects,
        [
            "Russia",
            "the Korean Peninsula",
            "DPRK",
            "Republic of Korea",
            "Six-Party Talks",
            "Denuclearization",
            "Unification",
            "Russia-DPRK-RK"
        ]
    );
    assert!(r.subjects.iter().all(|s| s.lang.as_deref() == Some("en")));
    assert_eq!(r.types, ["article"]);
    assert_eq!(r.languages, ["ru"]);
    // Two reference DOIs in relations: neither may become the article DOI.
    assert_eq!(r.doi.as_deref(), Some("10.31857/s013128120020016-6"));
    assert_eq!(n.work_key.as_deref(), Some("10.31857/s013128120020016-6"));
    assert_eq!(n.issue_doi, None);
    assert!(n.flags.is_empty(), "{:?}", n.flags);
}

#[test]
fn seed_reference_dois_are_found_in_free_text() {
    // References in dc:relation are related works: their DOIs never become the article's.
    let mut rec = seed_record();
    rec.retain(|v| !(v.element == "identifier" && v.value.starts_with("10.")));
    let n = normalize(&rec);
    assert_eq!(n.record.doi, None);
    assert_eq!(
        n.work_key.as_deref(),
        Some("https://dvostok.example.org/s013128120020016-6-1")
    );
    let one = normalize(&[dc(
        "relation",
        "Morozov Y.V. Title. 2018. Vol. 14. No. 7. DOI: 10.24891/ni. 14. 7.1360. (In Russ.)",
    )]);
    assert_eq!(one.record.doi, None);
    // Inside a citation string the tolerant extractor repairs spaces and en dashes.
    let spaced = normalize(&[dc(
        "source",
        "Nacional'nye interesy, 2018. Vol. 14. No. 7. DOI: 10.24891/ni. 14. 7.1360. (In Russ.)",
    )]);
    assert_eq!(spaced.issue_doi.as_deref(), Some("10.24891/ni.14.7.1360"));
    let si = spaced.record.source_info.expect("source_info");
    assert_eq!(si.title.as_deref(), Some("Nacional'nye interesy"));
    assert_eq!(si.volume.as_deref(), Some("14"));
    assert_eq!(si.issue.as_deref(), Some("7"));
    let dashed = normalize(&[dc(
        "source",
        "Vestnik RUDN. 2020. Vol. 20. No. 3. DOI: 10.22363/2313–0660–2020–20–3–585–604. (In Russ.)",
    )]);
    assert_eq!(
        dashed.issue_doi.as_deref(),
        Some("10.22363/2313-0660-2020-20-3-585-604")
    );
}

#[test]
fn serialized_shape_matches_contract() {
    let n = normalize(&seed_record());
    let v = serde_json::to_value(&n.record).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut want = vec![
        "titles",
        "creators",
        "contributors",
        "subjects",
        "descriptions",
        "publishers",
        "issued",
        "types",
        "formats",
        "languages",
        "doi",
        "identifiers",
        "source_info",
        "relations",
        "coverage",
        "rights",
    ];
    want.sort_unstable();
    let mut keys_sorted = keys.clone();
    keys_sorted.sort_unstable();
    assert_eq!(keys_sorted, want);
    // Optional person keys are absent, not null, when empty.
    let creator = &v["creators"][0];
    assert!(creator.get("orcid").is_none());
    assert!(creator.get("variants").is_none());
    // Round trip through serde.
    let back: sheaf::normalize::NormalizedRecord = serde_json::from_value(v).unwrap();
    assert_eq!(back, n.record);
}
