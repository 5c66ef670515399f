//! The search index (`record_search`, filled by the indexer that follows the change feed):
//! what a harvest stored is searchable when the harvest returns, changes and deletions
//! reach the index, a change that commits late is not skipped, Russian prefixes become the
//! lexemes the index holds, and migrating a database
//! that already holds records carries their vectors over.

mod common;

use chrono::Duration;
use common::db::TestDb;
use common::fake_provider::{FakeProvider, FakeRecord, ProviderConfig, utc};
use common::harness::{add_source, harvest_ok, harvester, opts};
use sheaf::harvest::HarvestOptions;
use sheaf::store::search::RecordQuery;
use sheaf::store::{Store, lock_change_feed};

async fn find(store: &Store, q: &str) -> Vec<String> {
    let page = store
        .search_records(&RecordQuery {
            q: Some(q.into()),
            limit: 100,
            ..RecordQuery::default()
        })
        .await
        .expect("search");
    let mut ids: Vec<String> = page.items.into_iter().map(|r| r.oai_identifier).collect();
    ids.sort();
    ids
}

async fn indexed(store: &Store) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM record_search")
        .fetch_one(store.pool())
        .await
        .expect("count record_search")
}

#[tokio::test]
async fn harvested_records_are_searchable_when_the_harvest_returns_and_follow_changes() {
    let db = TestDb::new().await;
    let t0 = utc("2024-01-01T00:00:00Z");
    let mut records = FakeRecord::series(30, t0);
    records[3] = FakeRecord::dc("oai:fake:3", t0, &[], "Glaciers of Svalbard");
    records[7] = FakeRecord::dc("oai:fake:7", t0, &[], "Permafrost carbon");
    let provider = FakeProvider::start(ProviderConfig::default(), records).await;
    let src = add_source(&db.store, "fake", &provider.base_url(), &[]).await;
    let h = harvester(&db.store);

    harvest_ok(&h, &src, &opts()).await;
    assert_eq!(db.store.search_index_lag().await.unwrap(), 0);
    assert_eq!(indexed(&db.store).await, 30, "one vector per live record");
    assert_eq!(find(&db.store, "glaciers").await, vec!["oai:fake:3"]);
    assert_eq!(find(&db.store, "permafrost").await, vec!["oai:fake:7"]);

    // A retitled record is found by its new words only; a deleted one by none.
    let t1 = t0 + Duration::days(2);
    provider.upsert_record(FakeRecord::dc("oai:fake:3", t1, &[], "Fjords of Norway"));
    assert!(provider.delete_record("oai:fake:7", t1));
    let full = HarvestOptions {
        full: true,
        ..opts()
    };
    harvest_ok(&h, &src, &full).await;
    assert_eq!(db.store.search_index_lag().await.unwrap(), 0);
    assert!(find(&db.store, "glaciers").await.is_empty());
    assert_eq!(find(&db.store, "fjords").await, vec!["oai:fake:3"]);
    assert!(find(&db.store, "permafrost").await.is_empty());
    assert_eq!(
        indexed(&db.store).await,
        29,
        "the tombstone lost its vector"
    );
    let stale: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM record_search s JOIN records r ON r.id = s.record_id \
         WHERE s.change_seq <> r.change_seq",
    )
    .fetch_one(db.store.pool())
    .await
    .unwrap();
    assert_eq!(stale, 0, "every vector is of the record's current version");

    // Removing the source removes its vectors with its records.
    sqlx::query("DELETE FROM sources WHERE id = $1")
        .bind(src.id)
        .execute(db.store.pool())
        .await
        .unwrap();
    assert_eq!(indexed(&db.store).await, 0);
}

async fn insert_record(conn: &mut sqlx::PgConnection, source_id: i64, id: &str, title: &str) {
    insert_titled(conn, source_id, id, title, "en").await;
}

async fn insert_titled(
    conn: &mut sqlx::PgConnection,
    source_id: i64,
    id: &str,
    title: &str,
    lang: &str,
) {
    sqlx::query(
        "INSERT INTO records (source_id, oai_identifier, content_hash, normalized) \
         VALUES ($1, $2, '\\x00', jsonb_build_object('titles', jsonb_build_array( \
             jsonb_build_object('value', $3::text, 'lang', $4::text))))",
    )
    .bind(source_id)
    .bind(id)
    .bind(title)
    .bind(lang)
    .execute(conn)
    .await
    .expect("insert record");
}

async fn search_query(store: &Store, words: &str) -> String {
    sqlx::query_scalar("SELECT sheaf_search_query($1)::text")
        .bind(words)
        .fetch_one(store.pool())
        .await
        .expect("sheaf_search_query")
}

/// Migration 0015: a Cyrillic stem is matched as a prefix by the exact lexemes the index
/// holds (which the indexer adds as it writes vectors), so inflected forms still meet
/// while GIN reads exact entries; a prefix of more than 32 lexemes stays a prefix.
#[tokio::test]
async fn a_russian_prefix_becomes_the_lexemes_the_index_holds() {
    let db = TestDb::new().await;
    let src = add_source(&db.store, "s", "http://127.0.0.1:9/oai", &[]).await;
    let mut conn = db.store.pool().acquire().await.unwrap();
    insert_titled(&mut conn, src.id, "oai:x:1", "Корейский полуостров", "ru").await;
    insert_titled(
        &mut conn,
        src.id,
        "oai:x:2",
        "К Корейскому полуострову",
        "ru",
    )
    .await;
    insert_titled(&mut conn, src.id, "oai:x:3", "Полезные ископаемые", "ru").await;
    drop(conn);
    db.store.drain_search_index().await.unwrap();

    let known: Vec<String> =
        sqlx::query_scalar("SELECT lexeme FROM search_lexemes WHERE lexeme LIKE 'полуостр%'")
            .fetch_all(db.store.pool())
            .await
            .unwrap();
    assert!(
        known.iter().any(|l| l == "полуостров"),
        "the indexer added the vectors' lexemes: {known:?}"
    );
    let q = search_query(&db.store, "полуостров").await;
    assert!(!q.contains(":*"), "{q}");
    // Snowball stems the two forms differently (`полуостр`, `полуостров`): both are there.
    assert!(
        q.contains("'полуостр' |") && q.contains("'полуостров'"),
        "every lexeme with the prefix: {q}"
    );
    assert_eq!(
        find(&db.store, "полуостров").await,
        vec!["oai:x:1", "oai:x:2"]
    );
    assert_eq!(
        find(&db.store, "\"корейский полуостров\"").await,
        vec!["oai:x:1", "oai:x:2"]
    );
    assert_eq!(find(&db.store, "ископаемых").await, vec!["oai:x:3"]);
    // No lexeme with the prefix: matches nothing, as the prefix would.
    assert!(find(&db.store, "война").await.is_empty());

    sqlx::query(
        "INSERT INTO search_lexemes SELECT 'абвгд' || chr(1072 + g) FROM generate_series(0, 32) g",
    )
    .execute(db.store.pool())
    .await
    .unwrap();
    let q = search_query(&db.store, "абвгд").await;
    assert!(q.contains("'абвгд':*"), "33 lexemes: the prefix stays: {q}");
}

#[tokio::test]
async fn the_indexer_does_not_pass_a_change_that_commits_after_it_ran() {
    let db = TestDb::new().await;
    let src = add_source(&db.store, "s", "http://127.0.0.1:9/oai", &[]).await;
    let mut conn = db.store.pool().acquire().await.unwrap();
    insert_record(&mut conn, src.id, "oai:x:1", "Early tundra").await;
    drop(conn);

    // A page transaction holds the change-feed lock and has written a row, not committed.
    let mut late = db.store.pool().begin().await.unwrap();
    lock_change_feed(&mut late).await.unwrap();
    insert_record(&mut late, src.id, "oai:x:2", "Late taiga").await;

    assert_eq!(db.store.drain_search_index().await.unwrap(), 1);
    assert_eq!(find(&db.store, "tundra").await, vec!["oai:x:1"]);
    assert!(find(&db.store, "taiga").await.is_empty());

    late.commit().await.unwrap();
    assert_eq!(db.store.search_index_lag().await.unwrap(), 1);
    assert_eq!(db.store.drain_search_index().await.unwrap(), 1);
    assert_eq!(find(&db.store, "taiga").await, vec!["oai:x:2"]);
    assert_eq!(db.store.drain_search_index().await.unwrap(), 0);
}

#[tokio::test]
async fn re_normalization_reindexes_the_records_it_changes() {
    let db = TestDb::new().await;
    let src = add_source(&db.store, "s", "http://127.0.0.1:9/oai", &[]).await;
    let raw = common::fake_provider::dc_xml("oai:x:1", utc("2024-01-01T00:00:00Z"), "Boreal");
    // A stored record whose normalized copy is stale (as if an older rule had made it).
    sqlx::query(
        "INSERT INTO records (source_id, oai_identifier, content_hash, raw_metadata, normalized) \
         VALUES ($1, 'oai:x:1', '\\x00', $2, jsonb_build_object('titles', jsonb_build_array( \
             jsonb_build_object('value', 'Outdated words', 'lang', 'en'))))",
    )
    .bind(src.id)
    .bind(&raw)
    .execute(db.store.pool())
    .await
    .unwrap();
    db.store.drain_search_index().await.unwrap();
    assert_eq!(find(&db.store, "outdated").await, vec!["oai:x:1"]);

    let report = sheaf::harvest::renormalize::renormalize(&db.store, None)
        .await
        .unwrap();
    assert_eq!(report.changed, 1);
    assert!(find(&db.store, "outdated").await.is_empty());
    assert_eq!(find(&db.store, "boreal").await, vec!["oai:x:1"]);
}

#[tokio::test]
async fn migrating_a_database_with_records_carries_their_vectors_over() {
    let db = TestDb::empty().await;
    // The schema as it was before the vectors moved (migration 8), with records in it.
    sheaf::store::MIGRATOR
        .run_to(20261128000008, db.store.pool())
        .await
        .expect("migrate to version 8");
    let src = add_source(&db.store, "s", "http://127.0.0.1:9/oai", &[]).await;
    let mut conn = db.store.pool().acquire().await.unwrap();
    insert_record(&mut conn, src.id, "oai:x:1", "Steppe ecology").await;
    insert_record(&mut conn, src.id, "oai:x:2", "Steppe fires").await;
    insert_titled(&mut conn, src.id, "oai:x:3", "Степи Монголии", "ru").await;
    sqlx::query(
        "UPDATE records SET deleted = true, normalized = NULL WHERE oai_identifier = 'oai:x:2'",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    drop(conn);

    db.store
        .migrate()
        .await
        .expect("migrate to the latest version");
    assert_eq!(
        indexed(&db.store).await,
        2,
        "the live records' vectors, not the tombstone's"
    );
    let same: bool = sqlx::query_scalar(
        "SELECT bool_and(s.search = sheaf_search_vector(r.normalized)) FROM record_search s \
         JOIN records r ON r.id = s.record_id",
    )
    .fetch_one(db.store.pool())
    .await
    .unwrap();
    assert!(same, "the carried vectors equal fresh ones");
    assert_eq!(db.store.search_index_lag().await.unwrap(), 0);
    assert_eq!(db.store.drain_search_index().await.unwrap(), 0);
    assert_eq!(find(&db.store, "steppe").await, vec!["oai:x:1"]);
    // Migration 0015 took the carried vectors' Cyrillic lexemes into its dictionary.
    assert_eq!(find(&db.store, "степь").await, vec!["oai:x:3"]);
}
