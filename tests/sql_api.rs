//! The stable SQL surface, `sheaf_api` (docs/schema.md): every example query of the docs runs,
//! as the read-only role, against a harvested database and its result is checked; the role
//! reads the views and nothing else; the views' columns, their comments and their docs are
//! pinned, because a change would break users' queries.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use common::db::TestDb;
use common::fake_provider::{FakeProvider, FakeRecord, Fault, ProviderConfig, When, utc};
use common::harness::*;
use sheaf::contract::record_json;
use sheaf::harvest::LogProgress;
use sheaf::store::reads::RecordKey;
use sqlx::postgres::PgRow;
use sqlx::{Connection, PgConnection, Row};

const SEED_OAI: &str = "oai:dvostok.example.org:article/123";
const SEED_DOI: &str = "10.31857/s013128120020016-6";
const ORCID: &str = "0000-0002-1825-0097";

/// Russian, 2022, no DOI: the "with a DOI" filter must drop it.
const RU_NO_DOI: &str = r#"<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <dc:title xml:lang="ru-RU">Экономическое сотрудничество России и Республики Корея</dc:title>
  <dc:creator xml:lang="ru-RU">Петров, Иван</dc:creator>
  <dc:subject xml:lang="en-US">Russia; Republic of Korea; trade</dc:subject>
  <dc:date>2022-03-01</dc:date>
  <dc:type>info:eu-repo/semantics/article</dc:type>
  <dc:identifier>https://dvostok.example.org/article/124</dc:identifier>
  <dc:source xml:lang="en-US">Problemy Dalnego Vostoka; Issue 1 (2022)</dc:source>
  <dc:language>rus</dc:language>
</oai_dc:dc>"#;

/// Russian, with a DOI, but 2021: the year filter must drop it.
const RU_2021: &str = r#"<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <dc:title xml:lang="ru-RU">Санкции и экономика КНДР</dc:title>
  <dc:creator xml:lang="ru-RU">Сидорова, Анна</dc:creator>
  <dc:subject xml:lang="en-US">Russia; DPRK; sanctions</dc:subject>
  <dc:date>2021-11-15</dc:date>
  <dc:type>info:eu-repo/semantics/article</dc:type>
  <dc:identifier>10.31857/S013128120020017-7</dc:identifier>
  <dc:source xml:lang="en-US">Problemy Dalnego Vostoka; Issue 6 (2021)</dc:source>
  <dc:language>rus</dc:language>
</oai_dc:dc>"#;

/// English, 2022, DOI, one author with an ORCID iD, a sponsor, a copyright statement: the language
/// filter must drop it; the English search (without "nuclear") finds only it.
const EN_2022: &str = r#"<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <dc:title xml:lang="en-US">Security on the Korean Peninsula after the Singapore summit</dc:title>
  <dc:creator>Kim, Ji-hoon</dc:creator>
  <dc:contributor>Korea Foundation</dc:contributor>
  <dc:subject xml:lang="en-US">Russia; DPRK; security</dc:subject>
  <dc:description xml:lang="en-US">The article traces the security dialogue between the two Koreas since 2018.</dc:description>
  <dc:date>2022-09-01</dc:date>
  <dc:type>info:eu-repo/semantics/article</dc:type>
  <dc:identifier>https://doi.org/10.1234/KPS.2022.7</dc:identifier>
  <dc:identifier>https://orcid.org/0000-0002-1825-0097</dc:identifier>
  <dc:source xml:lang="en-US">Problemy Dalnego Vostoka; Vol 5, No 2 (2022); 10-20</dc:source>
  <dc:language>eng</dc:language>
  <dc:rights>© The authors, 2022</dc:rights>
</oai_dc:dc>"#;

/// A DSpace record in the aggregator, from another field.
const DSPACE: &str = r#"<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <dc:title>Soil carbon in boreal forests</dc:title>
  <dc:creator>Virtanen, Matti</dc:creator><dc:creator>Korhonen, Anna</dc:creator>
  <dc:subject>carbon; soil; boreal forests</dc:subject>
  <dc:date>2019-03-04</dc:date>
  <dc:type>Article</dc:type>
  <dc:identifier>doi:10.1016/J.GEODERMA.2018.01.001</dc:identifier>
  <dc:language>eng</dc:language>
</oai_dc:dc>"#;

/// Harvested test data: a Russian journal (`dvostok`: the seed article, three more and a
/// tombstone), an aggregator (`mirror`: the seed article again and a DSpace record) and a
/// source whose harvest fails (`offline`).
struct World {
    db: TestDb,
    /// Record id by (source, OAI identifier).
    ids: BTreeMap<(String, String), i64>,
    /// Providers stay up for the test's life.
    _providers: Vec<FakeProvider>,
}

impl World {
    fn id(&self, source: &str, oai: &str) -> i64 {
        self.ids[&(source.to_owned(), oai.to_owned())]
    }

    async fn reader(&self) -> PgConnection {
        let mut c = PgConnection::connect(&self.db.url).await.expect("connect");
        sqlx::query("SET ROLE sheaf_reader")
            .execute(&mut c)
            .await
            .expect("the migration created sheaf_reader");
        c
    }
}

async fn harvested() -> World {
    let db = TestDb::new().await;
    let seed = std::fs::read_to_string("tests/data/seed_article_oai_dc.xml").expect("seed");
    let t = |s: &str| utc(s);
    let journal = FakeProvider::start(
        ProviderConfig::default(),
        vec![
            FakeRecord::raw(SEED_OAI, t("2022-06-21T00:00:00Z"), &["dvostok"], &seed),
            FakeRecord::raw(
                "oai:dvostok.example.org:article/124",
                t("2022-06-22T00:00:00Z"),
                &["dvostok"],
                RU_NO_DOI,
            ),
            FakeRecord::raw(
                "oai:dvostok.example.org:article/125",
                t("2022-06-23T00:00:00Z"),
                &["dvostok"],
                RU_2021,
            ),
            FakeRecord::raw(
                "oai:dvostok.example.org:article/126",
                t("2022-06-24T00:00:00Z"),
                &["dvostok"],
                EN_2022,
            ),
            FakeRecord::deleted(
                "oai:dvostok.example.org:article/9",
                t("2022-06-25T00:00:00Z"),
                &["dvostok"],
            ),
        ],
    )
    .await;
    let mirror = FakeProvider::start(
        ProviderConfig {
            repository_name: "Aggregator".into(),
            ..ProviderConfig::default()
        },
        vec![
            FakeRecord::raw("oai:agg.example:1", t("2022-07-01T00:00:00Z"), &[], &seed),
            FakeRecord::raw("oai:agg.example:2", t("2022-07-02T00:00:00Z"), &[], DSPACE),
        ],
    )
    .await;
    let offline = FakeProvider::start(ProviderConfig::default(), vec![]).await;
    offline.inject_always(
        When::Verb("ListRecords".into()),
        Fault::oai_error("badArgument", "this repository is broken"),
    );

    let h = harvester(&db.store);
    let dvostok = add_source(&db.store, "dvostok", &journal.base_url(), &[]).await;
    harvest_ok(&h, &dvostok, &opts()).await;
    let agg = add_source(&db.store, "mirror", &mirror.base_url(), &[]).await;
    harvest_ok(&h, &agg, &opts()).await;
    let broken = add_source(&db.store, "offline", &offline.base_url(), &[]).await;
    let failed = h.harvest(&broken, &opts(), &LogProgress).await;
    assert!(failed.is_err(), "the offline source's harvest fails");

    let ids = sqlx::query_as::<_, (String, String, i64)>(
        "SELECT s.name, r.oai_identifier, r.id FROM records r JOIN sources s ON s.id = r.source_id",
    )
    .fetch_all(db.store.pool())
    .await
    .expect("ids")
    .into_iter()
    .map(|(s, o, id)| ((s, o), id))
    .collect::<BTreeMap<_, _>>();
    assert_eq!(ids.len(), 7);
    World {
        db,
        ids,
        _providers: vec![journal, mirror, offline],
    }
}

/// The ```` ```sql name=NAME ```` blocks of docs/schema.md, in order.
fn doc_examples() -> Vec<(String, String)> {
    let doc = std::fs::read_to_string("docs/schema.md").expect("docs/schema.md");
    let mut out = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in doc.lines() {
        match &mut current {
            None => {
                if let Some(name) = line.trim().strip_prefix("```sql name=") {
                    current = Some((name.trim().to_owned(), String::new()));
                }
            }
            Some((_, sql)) if line.trim() == "```" => {
                let _ = sql;
                out.extend(current.take());
            }
            Some((_, sql)) => {
                sql.push_str(line);
                sql.push('\n');
            }
        }
    }
    assert!(
        current.is_none(),
        "unterminated sql block in docs/schema.md"
    );
    out
}

fn col<T>(row: &PgRow, name: &str) -> T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(name)
        .unwrap_or_else(|e| panic!("column {name}: {e}"))
}

/// Every example of docs/schema.md runs as `sheaf_reader` and returns what the harvested
/// data says it must; an example without a check here fails the test (so none is untested).
#[tokio::test]
async fn every_documented_example_query_runs_as_the_reader_and_returns_the_expected_rows() {
    let w = harvested().await;
    let examples = doc_examples();
    let names: BTreeSet<&str> = examples.iter().map(|(n, _)| n.as_str()).collect();
    let checked: BTreeSet<&str> = [
        "articles-2022-ru-doi",
        "keywords-per-journal",
        "search-russian",
        "search-english",
        "changed-since",
        "change-feed",
        "shared-works",
        "failed-runs-last-week",
        "authors-of-doi",
        "records-per-licence",
        "source-health",
    ]
    .into();
    assert_eq!(names, checked, "docs/schema.md examples vs checks here");
    assert_eq!(names.len(), examples.len(), "example names are unique");

    let mut reader = w.reader().await;
    let seeds: BTreeSet<i64> = [
        w.id("dvostok", SEED_OAI),
        w.id("mirror", "oai:agg.example:1"),
    ]
    .into();
    let en = w.id("dvostok", "oai:dvostok.example.org:article/126");
    for (name, sql) in &examples {
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .fetch_all(&mut reader)
            .await
            .unwrap_or_else(|e| panic!("example {name} fails: {e}\n{sql}"));
        let ids = |rows: &[PgRow]| rows.iter().map(|r| col::<i64>(r, "id")).collect::<Vec<_>>();
        match name.as_str() {
            "articles-2022-ru-doi" => {
                // The seed article in both sources; not the one without DOI, nor 2021, nor English.
                assert_eq!(
                    ids(&rows).into_iter().collect::<BTreeSet<_>>(),
                    seeds,
                    "{name}"
                );
                for r in &rows {
                    assert_eq!(col::<String>(r, "doi"), SEED_DOI);
                    assert_eq!(col::<String>(r, "issued"), "2022-06-21");
                }
            }
            "keywords-per-journal" => {
                let got: Vec<(String, String, i64)> = rows
                    .iter()
                    .map(|r| (col(r, "journal"), col(r, "keyword"), col(r, "records")))
                    .collect();
                // Russia: both seed copies, the 2022 no-DOI, 2021 and English articles.
                assert_eq!(
                    got.first(),
                    Some(&("Problemy Dalnego Vostoka".into(), "russia".into(), 5)),
                    "{got:?}"
                );
                assert_eq!(got[1].1, "dprk", "{got:?}");
                assert_eq!(got[1].2, 4, "{got:?}");
                assert!(got.len() <= 10, "ten per journal at most: {got:?}");
                assert!(got.windows(2).all(|p| p[0].2 >= p[1].2), "{got:?}");
            }
            "search-russian" => {
                // Inflected forms: the query's "корейский полуостров" is "к Корейскому полуострову".
                assert_eq!(
                    ids(&rows).into_iter().collect::<BTreeSet<_>>(),
                    seeds,
                    "{name}"
                );
                assert!(col::<f32>(&rows[0], "rank") > 0.0);
            }
            "search-english" => {
                // The seed's abstract says "nuclear", which the query excludes.
                assert_eq!(ids(&rows), [en], "{name}");
            }
            "changed-since" => {
                assert_eq!(rows.len(), 7, "everything was harvested just now");
                assert_eq!(
                    rows.iter().filter(|r| col::<bool>(r, "deleted")).count(),
                    1,
                    "the tombstone is a change too"
                );
                let times: Vec<DateTime<Utc>> = rows.iter().map(|r| col(r, "updated_at")).collect();
                assert!(times.windows(2).all(|p| p[0] <= p[1]));
            }
            "change-feed" => {
                assert_eq!(rows.len(), 7);
                let seqs: Vec<i64> = rows.iter().map(|r| col(r, "change_seq")).collect();
                assert!(seqs.windows(2).all(|p| p[0] < p[1]), "{seqs:?}");
                // The view's record JSON is the contract, tombstones included.
                for r in &rows {
                    let id: i64 = col(r, "id");
                    let stored =
                        w.db.store
                            .find_records(&RecordKey::Id(id))
                            .await
                            .expect("find");
                    let json: serde_json::Value = col(r, "record");
                    assert_eq!(json, record_json(&stored[0]), "record {id}");
                }
            }
            "shared-works" => {
                assert_eq!(rows.len(), 1, "{name}");
                assert_eq!(col::<String>(&rows[0], "work_key"), SEED_DOI);
                assert_eq!(
                    col::<Vec<String>>(&rows[0], "sources"),
                    ["dvostok", "mirror"]
                );
                assert_eq!(col::<i64>(&rows[0], "records"), 2);
            }
            "failed-runs-last-week" => {
                assert_eq!(rows.len(), 1, "{name}");
                assert_eq!(col::<String>(&rows[0], "source"), "offline");
                let error: Option<String> = col(&rows[0], "error");
                assert!(error.is_some_and(|e| !e.is_empty()));
            }
            "authors-of-doi" => {
                assert_eq!(rows.len(), 1, "{name}");
                assert_eq!(col::<i32>(&rows[0], "position"), 1);
                assert_eq!(col::<String>(&rows[0], "family"), "Kim");
                assert_eq!(
                    col::<Option<String>>(&rows[0], "orcid").as_deref(),
                    Some(ORCID)
                );
            }
            "records-per-licence" => {
                let got: Vec<(String, i64)> = rows
                    .iter()
                    .map(|r| (col(r, "license"), col(r, "records")))
                    .collect();
                assert_eq!(
                    got,
                    [("CC-BY-4.0".into(), 2), ("not a known licence".into(), 1)],
                    "{name}"
                );
            }
            "source-health" => {
                let got: Vec<(String, i64)> = rows
                    .iter()
                    .map(|r| (col(r, "name"), col(r, "live_records")))
                    .collect();
                assert_eq!(
                    got,
                    [
                        ("dvostok".into(), 4),
                        ("mirror".into(), 2),
                        ("offline".into(), 0)
                    ],
                    "{name}"
                );
                assert_eq!(
                    col::<Option<String>>(&rows[1], "repository_name").as_deref(),
                    Some("Aggregator")
                );
            }
            other => panic!("no check for example {other}"),
        }
    }
}

/// The list views hold exactly the contract's lists, in order, keyed by record.
#[tokio::test]
async fn list_views_unfold_the_contract_lists_in_order() {
    let w = harvested().await;
    let mut reader = w.reader().await;
    let seed = w.id("dvostok", SEED_OAI);
    let stored =
        w.db.store
            .find_records(&RecordKey::Id(seed))
            .await
            .expect("find");
    let contract = record_json(&stored[0]);

    let pairs = |key: &str, a: &str, b: &str| -> Vec<(Option<String>, Option<String>)> {
        contract[key]
            .as_array()
            .expect("list")
            .iter()
            .map(|v| {
                (
                    v[a].as_str().map(str::to_owned),
                    v[b].as_str().map(str::to_owned),
                )
            })
            .collect()
    };
    for (view, key, a, b) in [
        ("titles", "titles", "value", "lang"),
        ("subjects", "subjects", "value", "lang"),
        ("descriptions", "descriptions", "value", "lang"),
        ("identifiers", "identifiers", "scheme", "value"),
        ("rights", "rights", "value", "license"),
        ("creators", "creators", "name", "family"),
    ] {
        let sql = format!(
            "SELECT position, {a}, {b} FROM sheaf_api.{view} WHERE record_id = $1 ORDER BY position"
        );
        let rows: Vec<(i32, Option<String>, Option<String>)> =
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(seed)
                .fetch_all(&mut reader)
                .await
                .expect(view);
        let expected = pairs(key, a, b);
        assert!(!expected.is_empty(), "the seed has {key}");
        assert_eq!(
            rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            (1..=expected.len() as i32).collect::<Vec<_>>(),
            "{view} positions"
        );
        assert_eq!(
            rows.into_iter().map(|r| (r.1, r.2)).collect::<Vec<_>>(),
            expected,
            "{view}"
        );
    }

    let (journal, issue, issue_year, year, publishers): (String, String, i32, i32, Vec<String>) =
        sqlx::query_as(
            "SELECT journal, issue, issue_year, issued_year, publishers FROM sheaf_api.records WHERE id = $1",
        )
        .bind(seed)
        .fetch_one(&mut reader)
        .await
        .expect("record");
    assert_eq!(
        (journal.as_str(), issue.as_str(), issue_year, year),
        ("Problemy Dalnego Vostoka", "3", 2022, 2022)
    );
    assert_eq!(publishers, ["Russian Academy of Sciences"]);

    // A tombstone has no list rows and no metadata, but keeps its identity.
    let dead = w.id("dvostok", "oai:dvostok.example.org:article/9");
    let (deleted, title, n): (bool, Option<String>, i64) = sqlx::query_as(
        "SELECT deleted, title, (SELECT count(*) FROM sheaf_api.titles t WHERE t.record_id = r.id) \
         FROM sheaf_api.records r WHERE id = $1",
    )
    .bind(dead)
    .fetch_one(&mut reader)
    .await
    .expect("tombstone");
    assert_eq!((deleted, title, n), (true, None, 0));
}

/// `sheaf_reader` reads every view and searches, but may not touch sheaf's own tables nor
/// write through the views.
#[tokio::test]
async fn the_reader_role_reads_the_views_and_is_refused_everything_else() {
    let w = harvested().await;
    let mut reader = w.reader().await;
    for view in PINNED.iter().map(|(v, _)| v) {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM sheaf_api.{view}"
        )))
        .fetch_one(&mut reader)
        .await
        .unwrap_or_else(|e| panic!("sheaf_api.{view}: {e}"));
        assert!(n > 0, "sheaf_api.{view} has rows");
    }
    let hits: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sheaf_api.records WHERE search @@ sheaf_api.search_query('Korea')",
    )
    .fetch_one(&mut reader)
    .await
    .expect("search as reader");
    assert!(hits >= 3, "{hits}");

    let refused = [
        "SELECT count(*) FROM records",
        "SELECT raw_metadata FROM records LIMIT 1",
        "SELECT count(*) FROM sources",
        "SELECT count(*) FROM harvest_runs",
        "SELECT count(*) FROM quarantine",
        "SELECT count(*) FROM _sqlx_migrations",
        "UPDATE sheaf_api.sources SET enabled = false",
        "DELETE FROM sheaf_api.sources",
        "INSERT INTO sheaf_api.sources (name) VALUES ('x')",
        "CREATE VIEW sheaf_api.mine AS SELECT 1",
    ];
    for sql in refused {
        let err = sqlx::query(sql).execute(&mut reader).await.expect_err(sql);
        let code = err
            .as_database_error()
            .and_then(|e| e.code())
            .map(|c| c.into_owned());
        assert_eq!(code.as_deref(), Some("42501"), "{sql}: {err}");
    }
}

/// Columns of the people lists (creators, contributors).
const PERSON_LIST: &[(&str, &str)] = &[
    ("record_id", "bigint"),
    ("position", "integer"),
    ("name", "text"),
    ("family", "text"),
    ("given", "text"),
    ("orcid", "text"),
];
/// Columns of the text lists (titles, subjects, descriptions).
const TEXT_LIST: &[(&str, &str)] = &[
    ("record_id", "bigint"),
    ("position", "integer"),
    ("value", "text"),
    ("lang", "text"),
];

/// The view columns users' queries depend on, in order, with their types.
const PINNED: &[(&str, &[(&str, &str)])] = &[
    ("contributors", PERSON_LIST),
    ("creators", PERSON_LIST),
    ("descriptions", TEXT_LIST),
    (
        "identifiers",
        &[
            ("record_id", "bigint"),
            ("position", "integer"),
            ("scheme", "text"),
            ("value", "text"),
        ],
    ),
    (
        "records",
        &[
            ("id", "bigint"),
            ("source", "text"),
            ("oai_identifier", "text"),
            ("datestamp", "timestamp with time zone"),
            ("deleted", "boolean"),
            ("sets", "ARRAY"),
            ("title", "text"),
            ("doi", "text"),
            ("issued", "text"),
            ("issued_year", "integer"),
            ("languages", "ARRAY"),
            ("types", "ARRAY"),
            ("publishers", "ARRAY"),
            ("journal", "text"),
            ("volume", "text"),
            ("issue", "text"),
            ("issue_year", "integer"),
            ("pages", "text"),
            ("issn", "text"),
            ("work_key", "text"),
            ("flags", "ARRAY"),
            ("search", "tsvector"),
            ("first_harvested_at", "timestamp with time zone"),
            ("updated_at", "timestamp with time zone"),
            ("change_seq", "bigint"),
            ("raw_metadata", "text"),
            ("record", "jsonb"),
        ],
    ),
    (
        "rights",
        &[
            ("record_id", "bigint"),
            ("position", "integer"),
            ("value", "text"),
            ("license", "text"),
        ],
    ),
    (
        "runs",
        &[
            ("id", "bigint"),
            ("source", "text"),
            ("trigger", "text"),
            ("status", "text"),
            ("full_harvest", "boolean"),
            ("metadata_prefix", "text"),
            ("sets", "ARRAY"),
            ("window_from", "text"),
            ("window_until", "text"),
            ("resumed_from", "bigint"),
            ("pages", "integer"),
            ("records_new", "bigint"),
            ("records_updated", "bigint"),
            ("records_unchanged", "bigint"),
            ("records_deleted", "bigint"),
            ("records_failed", "bigint"),
            ("bytes", "bigint"),
            ("retries", "integer"),
            ("warnings", "ARRAY"),
            ("error", "text"),
            ("started_at", "timestamp with time zone"),
            ("finished_at", "timestamp with time zone"),
        ],
    ),
    (
        "sources",
        &[
            ("name", "text"),
            ("base_url", "text"),
            ("metadata_prefix", "text"),
            ("sets", "ARRAY"),
            ("schedule", "text"),
            ("enabled", "boolean"),
            ("repository_name", "text"),
            ("granularity", "text"),
            ("earliest_datestamp", "text"),
            ("deleted_record", "text"),
            ("last_run_status", "text"),
            ("last_run_at", "timestamp with time zone"),
            ("next_run_at", "timestamp with time zone"),
            ("consecutive_failures", "integer"),
            ("created_at", "timestamp with time zone"),
            ("updated_at", "timestamp with time zone"),
        ],
    ),
    ("subjects", TEXT_LIST),
    ("titles", TEXT_LIST),
];

/// The views and their columns are exactly the pinned ones (removing or retyping a column
/// breaks users: do it only with a migration path, then update this list and the docs);
/// every view and column has a comment, and docs/schema.md names every column.
#[tokio::test]
async fn the_views_columns_are_pinned_commented_and_documented() {
    let db = TestDb::new().await;
    let rows: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT c.table_name::text, c.column_name::text, c.data_type::text, \
                col_description(format('sheaf_api.%I', c.table_name)::regclass, c.ordinal_position::int) \
         FROM information_schema.columns c WHERE c.table_schema = 'sheaf_api' \
         ORDER BY c.table_name, c.ordinal_position",
    )
    .fetch_all(db.store.pool())
    .await
    .expect("columns");
    let mut got: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for (t, c, ty, comment) in &rows {
        got.entry(t).or_default().push((c, ty));
        assert!(
            comment.as_deref().is_some_and(|s| !s.is_empty()),
            "sheaf_api.{t}.{c} has no comment"
        );
    }
    let pinned: BTreeMap<&str, Vec<(&str, &str)>> =
        PINNED.iter().map(|(v, cols)| (*v, cols.to_vec())).collect();
    assert_eq!(got, pinned);

    let view_comments: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT c.relname::text, obj_description(c.oid, 'pg_class') FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'sheaf_api' ORDER BY 1",
    )
    .fetch_all(db.store.pool())
    .await
    .expect("views");
    assert_eq!(view_comments.len(), PINNED.len());
    for (v, comment) in view_comments {
        assert!(
            comment.is_some_and(|s| !s.is_empty()),
            "sheaf_api.{v} has no comment"
        );
    }

    let doc = std::fs::read_to_string("docs/schema.md").expect("docs/schema.md");
    for (view, cols) in PINNED {
        assert!(
            doc.contains(&format!("`sheaf_api.{view}`")) || doc.contains(&format!("`{view}`")),
            "{view}"
        );
        for (c, _) in *cols {
            assert!(
                doc.contains(&format!("`{c}`")),
                "docs/schema.md does not name {view}.{c}"
            );
        }
    }
}

/// Filtering on the indexed columns through the view uses the indexes: the view must not hide
/// them (a plan change here would turn million-record queries into scans).
#[tokio::test]
async fn filters_through_the_records_view_use_the_indexes() {
    let db = TestDb::new().await;
    let mut c = PgConnection::connect(&db.url).await.expect("connect");
    // An empty table would always be scanned; make scans look expensive instead.
    sqlx::query("SET enable_seqscan = off")
        .execute(&mut c)
        .await
        .expect("set");
    // Migration 0014's VACUUM FULL records `records` as known to be empty, and every plan
    // rightly starts from a table of no rows; give it back the size the planner assumes for
    // a table never vacuumed (ten pages), as a table with rows in it would have.
    sqlx::query("UPDATE pg_class SET reltuples = -1 WHERE oid = 'records'::regclass")
        .execute(&mut c)
        .await
        .expect("forget the empty table's statistics");
    for (filter, index) in [
        (
            "search @@ sheaf_api.search_query('korea')",
            "records_search",
        ),
        ("issued_year = 2022", "records_issued_year"),
        (
            "updated_at > now() - interval '1 day'",
            "records_updated_at",
        ),
        ("change_seq > 42", "records_change_seq"),
        ("work_key = '10.1/x'", "records_work_key"),
        ("languages @> '{ru}'", "records_languages"),
    ] {
        let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "EXPLAIN SELECT id FROM sheaf_api.records WHERE {filter}"
        )))
        .fetch_all(&mut c)
        .await
        .expect("explain");
        let plan = plan.join("\n");
        assert!(
            plan.contains(index),
            "{filter} does not use {index}:\n{plan}"
        );
    }
}
