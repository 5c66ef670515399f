//! Parse + normalize throughput on seed-like OJS records, beside a bare quick-xml event
//! scan of the same bytes (the ceiling). See `docs/benchmarks.md` for figures and targets.
//!
//! Run: `cargo bench --bench parse_normalize`
//!
//! The page is generated in code (deterministic, no files): one `ListRecords` response of
//! [`RECORDS`] records modelled on `../shared/seeds/*.txt` and
//! `tests/data/seed_article_oai_dc.xml` — a Russian journal article in English with title,
//! creators, keywords, abstract, publisher and source in `en-US` and `ru-RU`, HTML-escaped
//! abstracts (`&lt;p&gt;…&amp;rsquo;…`), `dc:date` `21.06.2022`, three `dc:type`s as OJS
//! writes them, a landing URL, a DOI, `dc:language` `rus` and a licence URL. Titles,
//! identifiers, DOIs, names and abstract lengths vary per record, so each record is
//! distinct and 3–6 KB long.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group};
use quick_xml::Reader;
use quick_xml::events::Event;

use sheaf::harvest::page::prepare;
use sheaf::normalize::normalize;
use sheaf::oai::decode::decode_body;
use sheaf::oai::response::parse;
use sheaf::oai::{Payload, Verb};

/// The binary's allocator and its settings (`src/alloc.rs`), so the bench measures what
/// the binary runs.
#[global_allocator]
static GLOBAL: sheaf::alloc::Allocator = sheaf::alloc::Allocator;

/// Records per page (what OJS sends per `ListRecords` page).
const RECORDS: usize = 100;

/// A small deterministic generator (SplitMix64), so runs compare like with like.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const TOPICS_EN: &[&str] = &[
    "the Korean Peninsula",
    "Northeast Asia",
    "the Russian Far East",
    "Sino-Russian Relations",
    "the Arctic Shipping Route",
    "Japanese Foreign Policy",
    "ASEAN Economies",
    "Mongolia's Energy Sector",
    "the Taiwan Strait",
    "Border Trade in Primorye",
];
const TOPICS_RU: &[&str] = &[
    "Корейскому полуострову",
    "Северо-Восточной Азии",
    "Дальнему Востоку России",
    "российско-китайским отношениям",
    "Северному морскому пути",
    "внешней политике Японии",
    "экономикам АСЕАН",
    "энергетике Монголии",
    "Тайваньскому проливу",
    "приграничной торговле Приморья",
];
const HEADS_EN: &[&str] = &[
    "Russian Priorities and Approaches to",
    "Economic Cooperation and Security in",
    "Historical Memory and Politics Regarding",
    "Regional Integration and Competition over",
    "Demographic Trends and Migration Related to",
];
const HEADS_RU: &[&str] = &[
    "Российские приоритеты и подходы к",
    "Экономическое сотрудничество и безопасность по",
    "Историческая память и политика по",
    "Региональная интеграция и конкуренция по",
    "Демографические тренды и миграция по",
];
const SURNAMES: &[(&str, &str)] = &[
    ("Lukin", "Лукин"),
    ("Zakharova", "Захарова"),
    ("Asmolov", "Асмолов"),
    ("Davydov", "Давыдов"),
    ("Denisov", "Денисов"),
    ("Dyachkov", "Дьячков"),
    ("Torkunov", "Торкунов"),
    ("Larin", "Ларин"),
    ("Kireeva", "Киреева"),
    ("Streltsov", "Стрельцов"),
    ("Volodin", "Володин"),
    ("Pavlyatenko", "Павлятенко"),
];
const GIVEN: &[(&str, &str)] = &[
    ("Artyom", "Артём"),
    ("Liudmila", "Людмила"),
    ("Konstantin", "Константин"),
    ("Oleg", "Олег"),
    ("Valery", "Валерий"),
    ("Ilya", "Илья"),
    ("Anatoly", "Анатолий"),
    ("Viktor", "Виктор"),
    ("Anna", "Анна"),
    ("Dmitry", "Дмитрий"),
];
/// Abstract sentences; `’` and `—` appear as HTML entities (`&rsquo;`, `&mdash;`) in the
/// output because OJS stores abstracts as HTML and then XML-escapes the markup.
const SENTENCES_EN: &[&str] = &[
    "The paper comprehensively examines Russia’s foreign policy towards the region.",
    "Its scientific relevance is defined by the unsettled issues in the region, including the nuclear one, and the region’s geographical proximity to the Russian Far East.",
    "The aim of the study is to analyze Russian approaches to the regional settlement.",
    "The methodology includes the systemic and geopolitical approaches.",
    "Russia is interested in a peaceful situation, denuclearization and the development of multilateral economic cooperation there.",
    "In principle, Russia would not object to a settlement, provided that the process would occur peacefully in conditions of social stability and would not cause serious conflicts between the regional powers.",
    "However, it is not ready to take any active steps to achieve that aim — the reason is Russia’s unwillingness to exacerbate the existing tensions.",
    "Russia prioritizes the multilateral talks format for a comprehensive settlement of the crisis in the context of reformatting the security architecture in Northeast Asia.",
    "It is unlikely that the Russian proposals will be implemented in the medium and long term.",
    "The current acute confrontation between the great powers makes it practically unrealistic to create a united front.",
    "The authors believe that resolving the problem without direct Russian participation would be more profitable for Russia than the status quo.",
];
const SENTENCES_RU: &[&str] = &[
    "В статье всесторонне рассматривается внешняя политика России в отношении региона.",
    "Научная актуальность определяется нерешёнными проблемами региона, включая ядерную, и его географической близостью к Дальнему Востоку России.",
    "Цель исследования — проанализировать российские подходы к урегулированию.",
    "Методология включает системный и геополитический подходы.",
    "Россия заинтересована в мирной обстановке, денуклеаризации и развитии многостороннего экономического сотрудничества.",
    "В принципе Россия не возражала бы против урегулирования при условии, что процесс будет происходить мирно и не вызовет серьёзных конфликтов между региональными державами.",
    "Однако она не готова предпринимать активные шаги для достижения этой цели.",
    "Россия отдаёт приоритет многостороннему формату переговоров в контексте переформатирования архитектуры безопасности в Северо-Восточной Азии.",
    "Маловероятно, что российские предложения будут реализованы в средне- и долгосрочной перспективе.",
    "Авторы полагают, что решение проблемы без прямого участия России было бы для неё выгоднее статус-кво.",
];
const KEYWORDS_EN: &[&str] = &[
    "Russia",
    "DPRK",
    "Republic of Korea",
    "Six-Party Talks",
    "Denuclearization",
    "Unification",
    "China",
    "Japan",
    "security",
    "economic cooperation",
    "geopolitics",
    "Far East",
];
const KEYWORDS_RU: &[&str] = &[
    "Россия",
    "КНДР",
    "Республика Корея",
    "шестисторонние переговоры",
    "денуклеаризация",
    "объединение",
    "Китай",
    "Япония",
    "безопасность",
    "экономическое сотрудничество",
    "геополитика",
    "Дальний Восток",
];

/// Escapes text for XML element content.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// An OJS-style HTML abstract (`<p>…</p>` paragraphs, `&rsquo;`/`&mdash;` entities),
/// XML-escaped as it travels in `dc:description`.
fn html_abstract(rng: &mut Rng, sentences: &[&str], n: usize) -> String {
    let mut html = String::from("<p>");
    for i in 0..n {
        if i > 0 && i % 4 == 0 {
            html.push_str("</p><p>");
        } else if i > 0 {
            html.push(' ');
        }
        let s = sentences[rng.below(sentences.len())]
            .replace('’', "&rsquo;")
            .replace('—', "&mdash;");
        html.push_str(&s);
    }
    html.push_str("</p>");
    esc(&html)
}

fn keyword_line(rng: &mut Rng, words: &[&str]) -> String {
    let n = 4 + rng.below(5);
    let start = rng.below(words.len());
    (0..n)
        .map(|i| words[(start + i * 5) % words.len()])
        .collect::<Vec<_>>()
        .join(", ")
}

/// One `<record>` (header + oai_dc metadata), modelled on an OJS 3.3 export.
fn record(rng: &mut Rng, i: usize, out: &mut String) {
    let t = rng.below(TOPICS_EN.len());
    let h = rng.below(HEADS_EN.len());
    let year = 2018 + i % 6;
    let issue = 1 + i % 6;
    let article = 20_000 + i * 7;
    let w = |out: &mut String, el: &str, lang: Option<&str>, text: &str| {
        match lang {
            Some(l) => writeln!(out, "      <dc:{el} xml:lang=\"{l}\">{text}</dc:{el}>"),
            None => writeln!(out, "      <dc:{el}>{text}</dc:{el}>"),
        }
        .unwrap();
    };

    writeln!(out, "  <record>\n    <header>").unwrap();
    writeln!(
        out,
        "      <identifier>oai:ojs.dvostok.example.org:article/{article}</identifier>"
    )
    .unwrap();
    writeln!(
        out,
        "      <datestamp>2022-06-21T{:02}:{:02}:{:02}Z</datestamp>",
        i % 24,
        i % 60,
        (i * 7) % 60
    )
    .unwrap();
    writeln!(
        out,
        "      <setSpec>dvostok:ART</setSpec>\n      <setSpec>driver</setSpec>\n    </header>"
    )
    .unwrap();
    writeln!(out, "    <metadata>").unwrap();
    writeln!(
        out,
        "    <oai_dc:dc xmlns:oai_dc=\"http://www.openarchives.org/OAI/2.0/oai_dc/\" \
         xmlns:dc=\"http://purl.org/dc/elements/1.1/\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
         xsi:schemaLocation=\"http://www.openarchives.org/OAI/2.0/oai_dc/ http://www.openarchives.org/OAI/2.0/oai_dc.xsd\">"
    )
    .unwrap();
    w(
        out,
        "title",
        Some("en-US"),
        &esc(&format!("{} {} ({i})", HEADS_EN[h], TOPICS_EN[t])),
    );
    w(
        out,
        "title",
        Some("ru-RU"),
        &esc(&format!("{} {} ({i})", HEADS_RU[h], TOPICS_RU[t])),
    );
    let creators = 2 + rng.below(3);
    let mut names = Vec::with_capacity(creators);
    for _ in 0..creators {
        names.push((
            SURNAMES[rng.below(SURNAMES.len())],
            GIVEN[rng.below(GIVEN.len())],
        ));
    }
    for ((sur_en, _), (giv_en, _)) in &names {
        w(
            out,
            "creator",
            Some("en-US"),
            &format!("{sur_en}, {giv_en}"),
        );
    }
    for ((_, sur_ru), (_, giv_ru)) in &names {
        w(
            out,
            "creator",
            Some("ru-RU"),
            &format!("{sur_ru}, {giv_ru}"),
        );
    }
    w(
        out,
        "subject",
        Some("en-US"),
        &esc(&keyword_line(rng, KEYWORDS_EN)),
    );
    w(
        out,
        "subject",
        Some("ru-RU"),
        &esc(&keyword_line(rng, KEYWORDS_RU)),
    );
    let n_en = 4 + rng.below(8);
    let n_ru = 3 + rng.below(7);
    w(
        out,
        "description",
        Some("en-US"),
        &html_abstract(rng, SENTENCES_EN, n_en),
    );
    w(
        out,
        "description",
        Some("ru-RU"),
        &html_abstract(rng, SENTENCES_RU, n_ru),
    );
    w(
        out,
        "publisher",
        Some("en-US"),
        "Russian Academy of Sciences",
    );
    w(out, "publisher", Some("ru-RU"), "Российская академия наук");
    w(out, "date", None, "21.06.2022");
    w(out, "type", Some("en-US"), "info:eu-repo/semantics/article");
    w(
        out,
        "type",
        Some("en-US"),
        "info:eu-repo/semantics/publishedVersion",
    );
    w(out, "type", Some("en-US"), "Peer-reviewed Article");
    w(out, "format", None, "application/pdf");
    w(
        out,
        "identifier",
        None,
        &format!("https://dvostok.example.org/index.php/pdv/article/view/{article}"),
    );
    w(
        out,
        "identifier",
        None,
        &format!("10.31857/S0131281200{:05}-{}", article, i % 10),
    );
    w(
        out,
        "source",
        Some("en-US"),
        &format!("Problemy Dalnego Vostoka; Issue {issue} ({year})"),
    );
    w(
        out,
        "source",
        Some("ru-RU"),
        &format!("Проблемы Дальнего Востока; № {issue} ({year})"),
    );
    w(out, "source", None, "0131-2812");
    w(out, "language", None, "rus");
    w(
        out,
        "relation",
        None,
        &format!(
            "https://dvostok.example.org/index.php/pdv/article/view/{article}/{}",
            article + 3
        ),
    );
    w(
        out,
        "rights",
        Some("en-US"),
        "Copyright (c) 2022 Russian Academy of Sciences",
    );
    w(
        out,
        "rights",
        Some("en-US"),
        "https://creativecommons.org/licenses/by/4.0/",
    );
    writeln!(out, "    </oai_dc:dc>\n    </metadata>\n  </record>").unwrap();
}

/// A `ListRecords` page of `n` records, with a resumption token, as OJS sends it.
fn page(n: usize, seed: u64) -> String {
    let mut rng = Rng(seed);
    let mut out = String::with_capacity(n * 6 * 1024);
    out.push_str(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <OAI-PMH xmlns=\"http://www.openarchives.org/OAI/2.0/\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
         xsi:schemaLocation=\"http://www.openarchives.org/OAI/2.0/ http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd\">\n\
         \t<responseDate>2022-06-21T12:00:00Z</responseDate>\n\
         \t<request verb=\"ListRecords\" metadataPrefix=\"oai_dc\">https://dvostok.example.org/index.php/pdv/oai</request>\n\
         \t<ListRecords>\n",
    );
    for i in 0..n {
        record(&mut rng, i, &mut out);
    }
    out.push_str(
        "\t\t<resumptionToken expirationDate=\"2022-06-22T12:00:00Z\" completeListSize=\"4213\" cursor=\"0\">\
         a7f3c2e1d0b9a8f7e6d5c4b3a2918070</resumptionToken>\n\t</ListRecords>\n</OAI-PMH>\n",
    );
    out
}

/// Counts quick-xml events: the least any parser of these bytes has to do.
fn bare_scan(xml: &str) -> usize {
    let mut reader = Reader::from_str(xml);
    let mut events = 0usize;
    loop {
        match reader.read_event() {
            Ok(Event::Eof) => break,
            Ok(ev) => {
                black_box(&ev);
                events += 1;
            }
            Err(e) => panic!("bare scan: {e}"),
        }
    }
    events
}

fn records_of(xml: &str) -> Vec<sheaf::oai::OaiRecord> {
    match parse(xml, Verb::ListRecords, "bench")
        .expect("page parses")
        .payload
    {
        Payload::Records(r) => r,
        other => panic!("unexpected payload {other:?}"),
    }
}

/// `normalize` over every record that has metadata.
fn normalize_all(records: &[sheaf::oai::OaiRecord]) -> Vec<sheaf::normalize::Normalized> {
    records
        .iter()
        .filter_map(|r| r.metadata.as_ref())
        .map(|md| normalize(&md.dc))
        .collect()
}

/// Checks the fixture is what the benchmark claims before timing anything.
fn check_fixture(xml: &str) {
    let records = records_of(xml);
    assert_eq!(records.len(), RECORDS);
    let sizes: Vec<usize> = records
        .iter()
        .map(|r| r.metadata.as_ref().expect("metadata").raw_xml.len())
        .collect();
    let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
    assert!(
        *min >= 3 * 1024 - 512 && *max <= 6 * 1024 + 512,
        "record sizes {min}..{max}"
    );
    let first = &records[0].metadata.as_ref().unwrap().dc;
    let n = normalize(first);
    assert!(n.record.title().is_some(), "title");
    assert!(
        n.record
            .doi
            .as_deref()
            .is_some_and(|d| d.starts_with("10.31857/")),
        "doi {:?}",
        n.record.doi
    );
    assert_eq!(n.record.issued.as_deref(), Some("2022-06-21"));
    assert_eq!(n.record.descriptions.len(), 2, "bilingual abstracts");
    assert!(
        !n.record.descriptions[0].value.contains("&lt;"),
        "HTML unescaped"
    );
    let prepared = prepare(records);
    assert_eq!(prepared.rows.len(), RECORDS, "no identifier collides");
    eprintln!(
        "fixture: {RECORDS} records, page {} bytes ({:.2} KB/record avg incl. header; \
         metadata {min}..{max} bytes), {} quick-xml events",
        xml.len(),
        xml.len() as f64 / RECORDS as f64 / 1024.0,
        bare_scan(xml)
    );
}

fn benches(c: &mut Criterion) {
    let xml = page(RECORDS, 0x5eed_0001);
    let bytes = xml.clone().into_bytes();
    check_fixture(&xml);

    let mut g = c.benchmark_group("page100");
    g.throughput(Throughput::Elements(RECORDS as u64));

    g.bench_function("bare_scan", |b| b.iter(|| bare_scan(black_box(&xml))));

    g.bench_function("parse", |b| {
        b.iter(|| parse(black_box(&xml), Verb::ListRecords, "bench").unwrap())
    });

    g.bench_function("parse_normalize", |b| {
        b.iter(|| {
            let records = records_of(black_box(&xml));
            let mut out = Vec::with_capacity(records.len());
            for r in &records {
                if let Some(md) = &r.metadata {
                    out.push(normalize(&md.dc));
                }
            }
            (records, out)
        })
    });

    g.bench_function("prepare", |b| {
        b.iter(|| prepare(records_of(black_box(&xml))))
    });

    g.bench_function("decode_parse_normalize", |b| {
        b.iter(|| {
            let (text, _report) = decode_body(black_box(&bytes), Some("utf-8"));
            prepare(records_of(&text))
        })
    });

    // Breakdown: the stages on their own (inputs built outside the timed part).
    let parsed = records_of(&xml);
    g.bench_function("normalize_only", |b| {
        b.iter(|| {
            parsed
                .iter()
                .filter_map(|r| r.metadata.as_ref())
                .map(|md| normalize(black_box(&md.dc)))
                .collect::<Vec<_>>()
        })
    });
    g.bench_function("prepare_only", |b| {
        b.iter_batched(|| parsed.clone(), prepare, BatchSize::LargeInput)
    });
    g.bench_function("decode_only", |b| {
        b.iter(|| decode_body(black_box(&bytes), Some("utf-8")))
    });
    g.finish();
}

criterion_group! {
    name = parse_normalize;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5))
        .sample_size(20);
    targets = benches
}

/// `PN_STAGE=<stage>`: run one stage ten times on the page and exit, without criterion,
/// for counting instructions under valgrind (deterministic, unlike wall time on a shared
/// machine). Stages: `none` (fixture and warm-up only, to subtract), `bare_scan`, `parse`,
/// `parse_normalize`, `normalize_only`.
fn run_stage(stage: &str) {
    let xml = page(RECORDS, 0x5eed_0001);
    let parsed = records_of(&xml);
    // Warm-up outside the counted part: regexes compile on first use.
    black_box(normalize_all(&parsed));
    for _ in 0..10 {
        match stage {
            "none" => {}
            "bare_scan" => {
                black_box(bare_scan(&xml));
            }
            "parse" => {
                black_box(records_of(&xml));
            }
            "parse_normalize" => {
                let records = records_of(&xml);
                let out = normalize_all(&records);
                black_box((records, out));
            }
            "normalize_only" => {
                black_box(normalize_all(&parsed));
            }
            other => panic!("unknown PN_STAGE {other:?}"),
        }
    }
}

fn main() {
    sheaf::alloc::configure();
    if let Ok(stage) = std::env::var("PN_STAGE") {
        run_stage(&stage);
        return;
    }
    // What `criterion_main!` expands to.
    parse_normalize();
    Criterion::default().configure_from_args().final_summary();
}
