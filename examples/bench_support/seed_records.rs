//! Seed-like `oai_dc` records for the harvest benchmarks (`examples/static_provider.rs`):
//! OJS-style articles of a Russian journal in English and Russian (titles, 2–4 creators,
//! keyword lines, HTML-escaped abstracts, publisher, `dc:source`, three `dc:type`s, landing
//! URL, DOI, ISSN, licence), 5–6 KB each with the OAI header. Deterministic (SplitMix64).
//!
//! A record is a *template*: the text holds [`NUMBER`] wherever the record's number goes
//! (title, landing URL, DOI, relation), so a server can turn a few hundred templates into
//! any number of distinct records by concatenation alone.

use std::fmt::Write as _;

/// Stands for the record's number in a template.
pub const NUMBER: char = '\u{0}';

/// SplitMix64: small, deterministic, good enough to vary the fixture.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

const SUBJECTS: &[(&str, &str)] = &[
    ("Arctic Logistics", "арктической логистике"),
    (
        "Pacific Trade Corridors",
        "тихоокеанским торговым коридорам",
    ),
    (
        "Cross-Border Energy Projects",
        "трансграничным энергетическим проектам",
    ),
    (
        "Regional Security Dialogue",
        "региональному диалогу по безопасности",
    ),
    (
        "Migration from Central Asia",
        "миграции из Центральной Азии",
    ),
    (
        "Port Cities of the Sea of Japan",
        "портовым городам Японского моря",
    ),
    ("Fisheries Management", "управлению рыболовством"),
    (
        "Digital Public Services",
        "цифровым государственным услугам",
    ),
];
const FRAMES: &[(&str, &str)] = &[
    ("New Evidence on", "Новые данные по"),
    ("Policy Choices in", "Политический выбор по"),
    ("A Comparative View of", "Сравнительный взгляд на"),
    ("Long-Term Trends in", "Долгосрочные тренды по"),
];
const PEOPLE: &[(&str, &str, &str, &str)] = &[
    ("Belova", "Irina", "Белова", "Ирина"),
    ("Grishin", "Pavel", "Гришин", "Павел"),
    ("Kozlova", "Maria", "Козлова", "Мария"),
    ("Orlov", "Sergei", "Орлов", "Сергей"),
    ("Semenova", "Olga", "Семёнова", "Ольга"),
    ("Tikhonov", "Nikolai", "Тихонов", "Николай"),
    ("Fedorova", "Elena", "Федорова", "Елена"),
    ("Markov", "Andrei", "Марков", "Андрей"),
];
// `’` and `—` become `&rsquo;`/`&mdash;` in the HTML, which is then XML-escaped, as OJS does.
const EN: &[&str] = &[
    "This article reviews the region’s experience over the last two decades and places it in a wider comparative frame.",
    "The study draws on official statistics, interviews with practitioners and archival documents that have not been published before.",
    "We argue that institutional capacity — rather than funding alone — explains most of the variation between provinces.",
    "The findings suggest that local governments adapt national programmes to their own priorities more than is usually assumed.",
    "A mixed-methods design combines a panel regression over forty municipalities with three detailed case studies.",
    "The results are robust to alternative specifications, including the exclusion of the two largest cities.",
    "Policy implications concern the coordination of federal and regional agencies and the stability of long-term budgets.",
    "The paper concludes with an agenda for further research on cross-border cooperation in the Pacific region.",
];
const RU: &[&str] = &[
    "В статье рассматривается опыт региона за последние два десятилетия в широком сравнительном контексте.",
    "Исследование опирается на официальную статистику, интервью с практиками и ранее не публиковавшиеся архивные документы.",
    "Авторы показывают, что институциональные возможности — а не только финансирование — объясняют большую часть различий между регионами.",
    "Результаты указывают на то, что органы местного самоуправления адаптируют федеральные программы к собственным приоритетам.",
    "Смешанный дизайн исследования сочетает панельную регрессию по сорока муниципалитетам и три подробных кейса.",
    "Выводы касаются координации федеральных и региональных ведомств и устойчивости долгосрочных бюджетов.",
    "В заключение предлагается программа дальнейших исследований трансграничного сотрудничества в Тихоокеанском регионе.",
];
const KEYWORDS: &[(&str, &str)] = &[
    ("regional policy", "региональная политика"),
    ("Far East", "Дальний Восток"),
    ("Asia-Pacific", "Азиатско-Тихоокеанский регион"),
    ("federalism", "федерализм"),
    ("local government", "местное самоуправление"),
    ("energy", "энергетика"),
    ("migration", "миграция"),
    ("trade", "торговля"),
    ("security", "безопасность"),
    ("municipal budgets", "муниципальные бюджеты"),
];

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `n` sentences as HTML paragraphs (4 to a paragraph), XML-escaped for `dc:description`.
fn html_abstract(rng: &mut Rng, sentences: &[&str], n: usize) -> String {
    let mut html = String::from("<p>");
    for i in 0..n {
        if i > 0 {
            html.push_str(if i % 4 == 0 { "</p><p>" } else { " " });
        }
        html.push_str(
            &rng.pick(sentences)
                .replace('’', "&rsquo;")
                .replace('—', "&mdash;"),
        );
    }
    html.push_str("</p>");
    xml_escape(&html)
}

/// The `oai_dc:dc` element of template `k` (deterministic in `k`), [`NUMBER`] marking where
/// the record number goes.
pub fn metadata_template(k: u64) -> String {
    let mut rng = Rng(0x5eed_0002 ^ k.wrapping_mul(0x9E37_79B9));
    let (subject_en, subject_ru) = *rng.pick(SUBJECTS);
    let (frame_en, frame_ru) = *rng.pick(FRAMES);
    let year = 2015 + rng.below(11);
    let issue = 1 + rng.below(6);
    let mut out = String::with_capacity(6 * 1024);
    let mut el = |name: &str, lang: Option<&str>, text: &str| {
        let _ = match lang {
            Some(l) => writeln!(out, "<dc:{name} xml:lang=\"{l}\">{text}</dc:{name}>"),
            None => writeln!(out, "<dc:{name}>{text}</dc:{name}>"),
        };
    };
    let n = NUMBER;
    el(
        "title",
        Some("en-US"),
        &format!("{frame_en} {subject_en} (No. {n})"),
    );
    el(
        "title",
        Some("ru-RU"),
        &format!("{frame_ru} {subject_ru} (№ {n})"),
    );
    let people: Vec<_> = (0..2 + rng.below(3)).map(|_| *rng.pick(PEOPLE)).collect();
    for (sur, given, _, _) in &people {
        el("creator", Some("en-US"), &format!("{sur}, {given}"));
    }
    for (_, _, sur, given) in &people {
        el("creator", Some("ru-RU"), &format!("{sur}, {given}"));
    }
    let first = rng.below(KEYWORDS.len());
    let count = 4 + rng.below(4);
    let words = |ru: bool| {
        (0..count)
            .map(|i| {
                let (en, r) = KEYWORDS[(first + i * 3) % KEYWORDS.len()];
                if ru { r } else { en }
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    el("subject", Some("en-US"), &words(false));
    el("subject", Some("ru-RU"), &words(true));
    let (n_en, n_ru) = (5 + rng.below(8), 4 + rng.below(7));
    el(
        "description",
        Some("en-US"),
        &html_abstract(&mut rng, EN, n_en),
    );
    el(
        "description",
        Some("ru-RU"),
        &html_abstract(&mut rng, RU, n_ru),
    );
    el("publisher", Some("en-US"), "Russian Academy of Sciences");
    el("publisher", Some("ru-RU"), "Российская академия наук");
    el(
        "date",
        None,
        &format!("{:02}.{:02}.{year}", 1 + k % 28, issue * 2),
    );
    el("type", Some("en-US"), "info:eu-repo/semantics/article");
    el(
        "type",
        Some("en-US"),
        "info:eu-repo/semantics/publishedVersion",
    );
    el("type", Some("en-US"), "Peer-reviewed Article");
    el("format", None, "application/pdf");
    let landing = format!("https://journal.example.org/index.php/pj/article/view/{n}");
    el("identifier", None, &landing);
    el(
        "identifier",
        None,
        &format!("10.31857/S2686{year}-{issue}-{n}"),
    );
    el(
        "source",
        Some("en-US"),
        &format!("Pacific Journal; Vol. {} No. {issue} ({year})", year - 2000),
    );
    el(
        "source",
        Some("ru-RU"),
        &format!(
            "Тихоокеанский журнал; Том {} № {issue} ({year})",
            year - 2000
        ),
    );
    el("source", None, "2686-6730");
    el("language", None, "rus");
    el("relation", None, &format!("{landing}/pdf"));
    el(
        "rights",
        Some("en-US"),
        &format!("Copyright (c) {year} Russian Academy of Sciences"),
    );
    el(
        "rights",
        Some("en-US"),
        "https://creativecommons.org/licenses/by/4.0/",
    );
    format!(
        "<oai_dc:dc xmlns:oai_dc=\"http://www.openarchives.org/OAI/2.0/oai_dc/\" \
         xmlns:dc=\"http://purl.org/dc/elements/1.1/\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
         xsi:schemaLocation=\"http://www.openarchives.org/OAI/2.0/oai_dc/ \
         http://www.openarchives.org/OAI/2.0/oai_dc.xsd\">\n{out}</oai_dc:dc>"
    )
}
