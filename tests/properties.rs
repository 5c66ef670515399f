//! Properties of `normalize`: it never panics on any input, its output obeys the contract's
//! invariants, and it is idempotent (normalized output fed back as DC values gives the
//! same record).

use proptest::prelude::*;
use sheaf::domain::{DcNamespace, DcValue};
use sheaf::normalize::{Normalized, NormalizedRecord, Person, normalize};

const ELEMENTS: &[&str] = &[
    "title",
    "creator",
    "contributor",
    "subject",
    "description",
    "publisher",
    "date",
    "type",
    "format",
    "language",
    "identifier",
    "source",
    "relation",
    "coverage",
    "rights",
    "license",
    "issued",
    "abstract",
    "isReferencedBy",
    "dateSubmitted",
    "alternative",
    "unknown",
];

/// Realistic pieces, combined with arbitrary text so both shapes and noise are covered.
const FRAGMENTS: &[&str] = &[
    "Russian Priorities and Approaches to the Korean Peninsula",
    "Российские приоритеты и подходы",
    "Lukin, Alexander V.",
    "Лукин, Александр Владимирович",
    "Zakharova, L. V.",
    "Захарова, Л. В.",
    "Asmolov K.V., Zakharova L.V.",
    "A.V. Lukin",
    "Benko Georges; Barta Györgyi",
    "Russia, the Korean Peninsula, DPRK",
    "экономика;регион ; инновации;",
    "<p>В статье&nbsp;рассмотрены H<sub>2</sub>O и p &lt; 0.05</p>",
    "<p>One.</p><p>Two.</p>",
    "21.06.2022",
    "2022-06-21",
    "2005-08-24T13:01:05Z",
    "June 2022",
    "Published in 1983",
    "1970-01-01",
    "info:eu-repo/semantics/article",
    "Peer-reviewed Article",
    "Рецензированная статья",
    "info:eu-repo/semantics/publishedVersion",
    "Text",
    "rus",
    "Русский, English",
    "fre",
    "10.22363/2313–0660–2020–20–3–585–604",
    "DOI: 10.24891/ni. 14. 7.1360",
    "https://doi.org/10.1234/ABC",
    "https://journal.org/article/view/19",
    "https://journal.org/article/view/19/45",
    "hdl:1902.29/10438",
    "0131-2812",
    "ISSN 1050-124X",
    "Problemy Dalnego Vostoka; Issue 3 (2022)",
    "Journal; Vol. 3 No. 2 (2022); 10-20",
    "Журнал. 2022. № 3. С. 5–17.",
    "Pakistan Journal of Chemistry, Vol 2, Iss 4, Pp 174-177 (2012)",
    "Copyright (c) 2022 Лукин А.В.",
    "https://creativecommons.org/licenses/by-nc-sa/4.0/deed.ru",
    "CC BY 4.0",
    "Ã©cole",
    "РџСЂРёРІРµС‚",
    "n/a",
    "-",
    "",
    "  ",
    "https://orcid.org/0000-0002-1825-0097",
];

const LANGS: &[&str] = &[
    "en-US", "ru-RU", "en_US", "ru", "en", "uk", "fr", "rus", "xx", "",
];

fn value_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(FRAGMENTS).prop_map(str::to_owned),
        2 => "\\PC{0,40}",
        1 => any::<String>(),
        2 => (
            proptest::sample::select(FRAGMENTS),
            proptest::sample::select(&[", ", "; ", " ", "", "<br>", ".", "\n\n"][..]),
            proptest::sample::select(FRAGMENTS),
        )
            .prop_map(|(a, sep, b)| format!("{a}{sep}{b}")),
    ]
}

fn dc_value_strategy() -> impl Strategy<Value = DcValue> {
    (
        proptest::sample::select(ELEMENTS),
        value_strategy(),
        proptest::option::of(prop_oneof![
            4 => proptest::sample::select(LANGS).prop_map(str::to_owned),
            1 => "\\PC{0,8}",
        ]),
        proptest::option::weighted(0.1, Just("dcterms:DOI".to_owned())),
        prop_oneof![
            Just(DcNamespace::Dc),
            Just(DcNamespace::Dcterms),
            Just(DcNamespace::Other("http://example.org/ns/".to_owned())),
        ],
    )
        .prop_map(|(element, value, lang, xsi_type, ns)| DcValue {
            ns,
            element: element.into(),
            value,
            lang: lang.map(Into::into),
            xsi_type,
        })
}

fn record_strategy() -> impl Strategy<Value = Vec<DcValue>> {
    proptest::collection::vec(dc_value_strategy(), 0..24)
}

fn v(element: &str, value: &str, lang: Option<&str>) -> DcValue {
    DcValue {
        ns: DcNamespace::Dc,
        element: element.to_owned().into(),
        value: value.to_owned(),
        lang: lang.map(|l| l.to_owned().into()),
        xsi_type: None,
    }
}

fn push_people(out: &mut Vec<DcValue>, element: &str, people: &[Person]) {
    for p in people {
        let orcid = p
            .orcid
            .as_ref()
            .map(|o| format!(" (https://orcid.org/{o})"))
            .unwrap_or_default();
        if p.variants.is_empty() {
            out.push(v(element, &format!("{}{orcid}", p.name), None));
        } else {
            for (i, var) in p.variants.iter().enumerate() {
                let suffix = if i == 0 { orcid.as_str() } else { "" };
                out.push(v(
                    element,
                    &format!("{}{suffix}", var.name),
                    var.lang.as_deref(),
                ));
            }
        }
    }
}

/// Writes a normalized record back as the DC values a platform would send for it.
fn to_values(n: &Normalized) -> Vec<DcValue> {
    let r: &NormalizedRecord = &n.record;
    let mut out = Vec::new();
    for t in &r.titles {
        out.push(v("title", &t.value, t.lang.as_deref()));
    }
    push_people(&mut out, "creator", &r.creators);
    push_people(&mut out, "contributor", &r.contributors);
    for s in &r.subjects {
        out.push(v("subject", &s.value, s.lang.as_deref()));
    }
    for d in &r.descriptions {
        out.push(v("description", &d.value, d.lang.as_deref()));
    }
    for p in &r.publishers {
        out.push(v("publisher", p, None));
    }
    if let Some(d) = &r.issued {
        out.push(v("date", d, None));
    }
    for t in &r.types {
        out.push(v("type", t, None));
    }
    for f in &r.formats {
        out.push(v("format", f, None));
    }
    for l in &r.languages {
        out.push(v("language", l, None));
    }
    for i in &r.identifiers {
        let value = match i.scheme.as_ref() {
            "handle" => format!("hdl:{}", i.value),
            "arxiv" => format!("arXiv:{}", i.value),
            "orcid" => format!("https://orcid.org/{}", i.value),
            _ => i.value.clone(),
        };
        out.push(v("identifier", &value, None));
    }
    if let Some(si) = &r.source_info {
        let mut label = Vec::new();
        if let Some(vol) = &si.volume {
            label.push(format!("Vol. {vol}"));
        }
        if let Some(no) = &si.issue {
            label.push(format!("No. {no}"));
        }
        if let Some(y) = si.year {
            label.push(format!("({y})"));
        }
        // ` ; ` rather than `; `: a title ending in `&le` must not become the entity `&le;`.
        let cite = format!(
            "{} ; {} ; {}",
            si.title.as_deref().unwrap_or(""),
            label.join(" "),
            si.pages.as_deref().unwrap_or("")
        );
        out.push(v("source", &cite, None));
        if let Some(issn) = &si.issn {
            out.push(v("source", issn, None));
        }
    }
    if let Some(d) = &n.issue_doi {
        out.push(v("source", d, None));
    }
    for x in &r.relations {
        out.push(v("relation", x, None));
    }
    for c in &r.coverage {
        out.push(v("coverage", c, None));
    }
    for x in &r.rights {
        out.push(v("rights", &x.value, None));
    }
    out
}

fn check_invariants(n: &Normalized) {
    let mut sorted = n.flags.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(n.flags, sorted, "flags sorted and unique");
    assert_eq!(
        n.record.titles.is_empty(),
        n.flags.iter().any(|f| f == "incomplete"),
        "incomplete exactly when no title"
    );
    let r = &n.record;
    let texts = r
        .titles
        .iter()
        .chain(&r.subjects)
        .chain(&r.descriptions)
        .map(|t| t.value.as_str())
        .chain(r.creators.iter().map(|p| p.name.as_str()))
        .chain(r.publishers.iter().map(String::as_str));
    for t in texts {
        assert!(!t.is_empty() && t.trim() == t, "trimmed non-empty: {t:?}");
        assert!(!t.contains("  "), "collapsed: {t:?}");
    }
    if let Some(doi) = &r.doi {
        assert!(doi.starts_with("10.") && doi.contains('/') && *doi == doi.to_lowercase());
        assert_eq!(n.work_key.as_ref(), Some(doi));
    }
    if let Some(d) = &r.issued {
        assert!(matches!(d.len(), 4 | 7 | 10), "precision kept: {d}");
    }
    for t in &r.types {
        assert!(
            [
                "article",
                "review",
                "book",
                "book-part",
                "thesis",
                "conference-paper",
                "report",
                "preprint",
                "dataset",
                "other"
            ]
            .contains(&t.as_str())
        );
    }
    for l in r
        .titles
        .iter()
        .chain(&r.subjects)
        .filter_map(|t| t.lang.as_deref())
    {
        assert!(l.len() == 2 || l.len() == 3, "ISO code: {l}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(cases()) })]

    #[test]
    fn never_panics_and_keeps_invariants(values in record_strategy()) {
        let n = normalize(&values);
        check_invariants(&n);
    }

    #[test]
    fn idempotent(values in record_strategy()) {
        let first = normalize(&values);
        let second = normalize(&to_values(&first));
        prop_assert_eq!(&second.record, &first.record);
        prop_assert_eq!(&second.work_key, &first.work_key);
        prop_assert_eq!(&second.issue_doi, &first.issue_doi);
    }
}

#[test]
fn idempotence_check_is_real() {
    // A non-trivial record really goes through the round trip.
    let values = vec![
        v("title", "Российские приоритеты", Some("ru-RU")),
        v("creator", "Лукин, А. В.", Some("ru-RU")),
        v("creator", "Lukin, A. V.", Some("en-US")),
        v("source", "Журнал. 2022. № 3. С. 5–17.", None),
        v("identifier", "hdl:1902.29/10438", None),
    ];
    let first = normalize(&values);
    let back = to_values(&first);
    assert!(back.len() >= values.len());
    assert_eq!(normalize(&back).record, first.record);
    assert_eq!(first.record.creators.len(), 1);
}

/// 512 by default; `PROPTEST_CASES` raises it for a long local run.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512)
}
