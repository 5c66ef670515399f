//! Whole-record snapshots of what each platform sends, normalized: reviewed by eye as a
//! cataloguer would write them (`tests/snapshots/*.snap`).

use sheaf::domain::{DcNamespace, DcValue};
use sheaf::normalize::normalize;

fn dc(element: &str, value: &str) -> DcValue {
    DcValue::dc(element, value)
}

fn dl(element: &str, value: &str, lang: &str) -> DcValue {
    DcValue::dc_lang(element, value, lang)
}

/// OJS 3.3: every localized field once per locale (`en-US`, `ru-RU`), author-major
/// creators, escaped HTML abstracts, three `dc:type`, `rus` language, issue DOI and ISSN
/// in `dc:source`, galley URL in `dc:identifier`.
#[test]
fn ojs_3_3_bilingual() {
    let record = vec![
        dl(
            "title",
            "Russian Priorities and Approaches to the Korean Peninsula",
            "en-US",
        ),
        dl(
            "title",
            "Российские приоритеты и подходы к Корейскому полуострову",
            "ru-RU",
        ),
        dl("creator", "Lukin, Alexander V.", "en-US"),
        dl("creator", "Лукин, Александр Владимирович", "ru-RU"),
        dl("creator", "Zakharova, L. V.", "en-US"),
        dl("creator", "Захарова, Л. В.", "ru-RU"),
        dl("subject", "Russia; Korean Peninsula; DPRK", "en-US"),
        dl("subject", "Россия; Корейский полуостров; КНДР", "ru-RU"),
        dl(
            "description",
            "<p>The paper examines Russia&rsquo;s policy &amp; shows p &lt; 0.05.</p><p>Second paragraph.</p>",
            "en-US",
        ),
        dl(
            "description",
            "<p>В статье&nbsp;рассмотрены H<sub>2</sub>O и p &lt; 0.05</p>",
            "ru-RU",
        ),
        dl("publisher", "Russian Academy of Sciences", "en-US"),
        dl("publisher", "Российская академия наук", "ru-RU"),
        dl("contributor", "Russian Science Foundation", "en-US"),
        dc("date", "2022-06-21"),
        dc("type", "info:eu-repo/semantics/article"),
        dl("type", "Peer-reviewed Article", "en-US"),
        dl("type", "Рецензированная статья", "ru-RU"),
        dc("type", "info:eu-repo/semantics/publishedVersion"),
        dc("format", "application/pdf"),
        dc(
            "identifier",
            "https://journals.example.org/index.php/dv/article/view/19",
        ),
        dc("identifier", "10.31857/S013128120020016-6"),
        dl(
            "source",
            "Problemy Dalnego Vostoka; Vol. 50 No. 3 (2022); 5-17",
            "en-US",
        ),
        dl(
            "source",
            "Проблемы Дальнего Востока; Том 50 № 3 (2022); 5-17",
            "ru-RU",
        ),
        dc("source", "0131-2812"),
        dc("source", "10.31857/S013128120020016-0"),
        dc("language", "rus"),
        dc(
            "relation",
            "https://journals.example.org/index.php/dv/article/view/19/45",
        ),
        dl(
            "rights",
            "Copyright (c) 2022 Лукин А.В., Захарова Л.В.",
            "ru-RU",
        ),
        dc("rights", "https://creativecommons.org/licenses/by/4.0"),
    ];
    insta::assert_json_snapshot!(normalize(&record));
}

/// DSpace 7: accessioned/available timestamps before the issued date, a handle URL,
/// `dc.rights` plus `dc.rights.uri`, DOI with `doi:` prefix, English free-text type.
#[test]
fn dspace_7() {
    let record = vec![
        dc("title", "Sediment transport in the Gulf of Maine"),
        dc("creator", "Whitman, W."),
        dc("creator", "Smith, John A."),
        dc("contributor", "Woods Hole Oceanographic Institution"),
        dc("subject", "Sediment transport"),
        dc("subject", "Gulf of Maine"),
        dc(
            "description",
            "Thesis (Ph.D.)--Joint Program in Oceanography, 2010.",
        ),
        dc(
            "description",
            "This thesis describes the transport of sediment in the Gulf of Maine &amp; its basins.",
        ),
        dc("date", "2011-03-02T15:20:11Z"),
        dc("date", "2011-03-02T15:20:11Z"),
        dc("date", "2010-09"),
        dc("type", "Thesis"),
        dc("identifier", "https://hdl.handle.net/1912/4843"),
        dc("identifier", "doi:10.1575/1912/4843"),
        dc("language", "en_US"),
        dc(
            "publisher",
            "Massachusetts Institute of Technology and Woods Hole Oceanographic Institution",
        ),
        dc("rights", "Attribution-NonCommercial 4.0 International"),
        dc("rights", "http://creativecommons.org/licenses/by-nc/4.0/"),
        DcValue {
            ns: DcNamespace::Dcterms,
            ..dc("spatial", "Gulf of Maine")
        },
    ];
    insta::assert_json_snapshot!(normalize(&record));
}

/// EPrints: citation string and file URLs in `dc:identifier`, abstract page in
/// `dc:relation`, `Article` + `PeerReviewed`, `-00` date parts, translator appended with `;`.
#[test]
fn eprints() {
    let record = vec![
        dc("title", "Fungal evolution in the Pezizomycotina"),
        dc("creator", "Benko, Georges; Barta, Györgyi"),
        dc("subject", "Ascomycota, Pezizomycotina, fungal evolution"),
        dc("subject", "QK Botany"),
        dc(
            "description",
            "We describe the evolution of the Pezizomycotina using a new phylogeny.",
        ),
        dc("publisher", "Elsevier"),
        dc("date", "2019-06-00"),
        dc("type", "Article"),
        dc("type", "PeerReviewed"),
        dc("format", "text"),
        dc("language", "en"),
        dc(
            "identifier",
            "http://eprints.example.ac.uk/123/1/fungal.pdf",
        ),
        dc(
            "identifier",
            "Benko, Georges and Barta, Györgyi (2019) Fungal evolution in the Pezizomycotina. Mycological Research, 12 (3). pp. 101-120. ISSN 1050-124X",
        ),
        dc("relation", "http://eprints.example.ac.uk/123/"),
        dc("relation", "https://doi.org/10.1016/j.mycres.2019.01.002"),
    ];
    insta::assert_json_snapshot!(normalize(&record));
}

/// The seed article (`../shared/seeds`): journal and issue without volume, day-first
/// date, one comma-separated keyword line, reference DOIs with en dashes and spaces.
#[test]
fn seed_article() {
    let record = vec![
        dc(
            "title",
            "Russian Priorities and Approaches to the Korean Peninsula",
        ),
        dc("creator", "Lukin A.V."),
        dc(
            "subject",
            "Russia, the Korean Peninsula, DPRK, Republic of Korea, Six-Party Talks, Denuclearization, Unification, Russia-DPRK-RK",
        ),
        dc(
            "description",
            "The paper comprehensively examines Russia's foreign policy towards the Korean Peninsula. The methodology includes the systemic and geopolitical approaches.",
        ),
        dc("date", "21.06.2022"),
        dc("type", "Article"),
        dc("source", "Problemy Dalnego Vostoka; Issue 3 (2022)"),
        dc("language", "Russian"),
        dc(
            "relation",
            "Asmolov K.V., Zakharova L.V. Otnosheniya Rossii s KNDR v XXI veke. Vestnik RUDN. 2020. Vol. 20. No. 3. DOI: 10.22363/2313–0660–2020–20–3–585–604. (In Russ.)",
        ),
        dc(
            "relation",
            "Morozov Y.V. Severokorejskaya yadernaya problema. Nacional'nye interesy, 2018. Vol. 14. No. 7. DOI: 10.24891/ni. 14. 7.1360. (In Russ.)",
        ),
    ];
    insta::assert_json_snapshot!(normalize(&record));
}

/// Mojibake, lying `xml:lang`, epoch date, no title: the flags a record can carry.
#[test]
fn damaged_record() {
    let record = vec![
        dl("subject", " электронный каталог", "en-US"),
        dc("description", "ÐŸÑ€Ð¸Ð²ÐµÑ‚, Ð¼Ð¸Ñ€"),
        dc("date", "1970-01-01"),
        dc("language", "0"),
        dc("identifier", "http://example.org/record/7/"),
    ];
    insta::assert_json_snapshot!(normalize(&record));
}
