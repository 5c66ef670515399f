//! Bounded ranking of text queries (`store::search`): the newest `RANKED_CANDIDATES`
//! matches come first by relevance, then older matches newest first, and a walk through
//! every page returns each match exactly once, also while records are added.

mod common;

use common::db::TestDb;
use common::harness::add_source;
use sheaf::contract::RecordRowView;
use sheaf::store::search::{RANKED_CANDIDATES, RecordQuery, SearchCursor};

/// `n` records whose English titles say "policy" once, or three times for every seventh.
async fn insert(db: &TestDb, source_id: i64, from: i64, n: i64) {
    sqlx::query(
        "INSERT INTO records (source_id, oai_identifier, content_hash, normalized) \
         SELECT $1, 'oai:x:' || g, '\\x00', jsonb_build_object('titles', jsonb_build_array( \
             jsonb_build_object('value', CASE WHEN g % 7 = 0 THEN 'policy policy policy ' || g \
                                              ELSE 'policy and trade ' || g END, 'lang', 'en'))) \
         FROM generate_series($2::bigint, $2 + $3 - 1) g",
    )
    .bind(source_id)
    .bind(from)
    .bind(n)
    .execute(db.store.pool())
    .await
    .expect("insert records");
    // As a harvest does before it returns: the new records become searchable.
    db.store
        .drain_search_index()
        .await
        .expect("index the new records");
}

/// Every page of a walk from the first, following the cursors.
async fn walk(db: &TestDb, query: RecordQuery) -> Vec<Vec<RecordRowView>> {
    let mut pages = Vec::new();
    let mut cursor = None;
    for _ in 0..100 {
        let page = db
            .store
            .search_records(&RecordQuery {
                cursor,
                ..query.clone()
            })
            .await
            .unwrap();
        pages.push(page.items);
        cursor = page.next_cursor;
        if cursor.is_none() {
            return pages;
        }
    }
    panic!("the walk does not end within 100 pages");
}

fn query(cursor: Option<SearchCursor>) -> RecordQuery {
    RecordQuery {
        q: Some("policy".into()),
        limit: 150,
        cursor,
        ..RecordQuery::default()
    }
}

#[tokio::test]
async fn a_broad_query_ranks_the_newest_matches_then_walks_the_rest_exactly_once() {
    let db = TestDb::new().await;
    let src = add_source(&db.store, "s", "http://127.0.0.1:9/oai", &[]).await;
    let n = RANKED_CANDIDATES + 300;
    insert(&db, src.id, 1, n).await;
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM records ORDER BY id")
        .fetch_all(db.store.pool())
        .await
        .unwrap();
    let floor = ids[ids.len() - RANKED_CANDIDATES as usize];

    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = db.store.search_records(&query(cursor)).await.unwrap();
        seen.extend(page.items.iter().map(|r| r.id));
        pages += 1;
        if pages == 2 {
            // Added mid-walk: newer than the floor, so part of the ranked part.
            insert(&db, src.id, 10_000, 3).await;
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
        assert!(pages < 50, "the walk ends");
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no record twice");
    for id in &ids {
        assert!(seen.contains(id), "record {id} missing");
    }
    // The ranked part first: every id at or above the floor before any below it.
    let first_older = seen.iter().position(|id| *id < floor).unwrap();
    assert!(seen[first_older..].iter().all(|id| *id < floor));
    assert!(first_older >= RANKED_CANDIDATES as usize);
    // Within it, the triple-"policy" titles (ids divisible by 7 in insert order) lead.
    let top: Vec<i64> = seen[..20].to_vec();
    let strong: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM records WHERE normalized->'titles'->0->>'value' LIKE 'policy policy%'",
    )
    .fetch_all(db.store.pool())
    .await
    .unwrap();
    assert!(top.iter().all(|id| strong.contains(id)), "{top:?}");
    // Below the floor: newest first.
    let older = &seen[first_older..];
    assert!(older.windows(2).all(|w| w[0] > w[1]));
}

#[tokio::test]
async fn a_narrow_query_ranks_every_match() {
    let db = TestDb::new().await;
    let src = add_source(&db.store, "s", "http://127.0.0.1:9/oai", &[]).await;
    insert(&db, src.id, 1, 40).await;
    let page = db
        .store
        .search_records(&RecordQuery {
            limit: 100,
            ..query(None)
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 40);
    assert!(page.next_cursor.is_none());
    // Ranked throughout: the five strong titles first.
    let strong = page.items[..5].iter().all(|r| {
        r.normalized.as_ref().unwrap()["titles"][0]["value"]
            .as_str()
            .unwrap()
            .starts_with("policy policy")
    });
    assert!(strong);
}

/// A phrase whose words are also in other records: a walk returns exactly the phrase
/// matches, each once, with and without a filter (the filtered floor joins `records`, the
/// other reads `record_search` alone), newest first below the floor.
#[tokio::test]
async fn a_phrase_walk_returns_exactly_its_matches_once() {
    let db = TestDb::new().await;
    let a = add_source(&db.store, "a", "http://127.0.0.1:9/oai", &[]).await;
    let b = add_source(&db.store, "b", "http://127.0.0.1:10/oai", &[]).await;
    for (src, from) in [(a.id, 1), (b.id, 100_000)] {
        sqlx::query(
            "INSERT INTO records (source_id, oai_identifier, content_hash, normalized) \
             SELECT $1, 'oai:x:' || g, '\\x00', jsonb_build_object('titles', jsonb_build_array( \
                 jsonb_build_object('value', CASE WHEN g % 2 = 0 THEN 'open trade policy ' || g \
                                                  ELSE 'policy on trade ' || g END, 'lang', 'en'))) \
             FROM generate_series($2::bigint, $2 + $3 - 1) g",
        )
        .bind(src)
        .bind(from)
        .bind(RANKED_CANDIDATES * 3)
        .execute(db.store.pool())
        .await
        .expect("insert records");
    }
    db.store.drain_search_index().await.expect("index");
    for source in [None, Some("a")] {
        let want: Vec<i64> = sqlx::query_scalar(
            "SELECT r.id FROM records r JOIN sources s ON s.id = r.source_id \
             WHERE r.normalized->'titles'->0->>'value' LIKE 'open trade policy%' \
             AND ($1::text IS NULL OR s.name = $1) ORDER BY r.id",
        )
        .bind(source)
        .fetch_all(db.store.pool())
        .await
        .unwrap();
        assert!(want.len() > 100, "{}", want.len());
        let seen: Vec<i64> = walk(
            &db,
            RecordQuery {
                q: Some("\"trade policy\"".into()),
                source: source.map(str::to_owned),
                limit: 40,
                ..RecordQuery::default()
            },
        )
        .await
        .iter()
        .flatten()
        .map(|r| r.id)
        .collect();
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(
            sorted, want,
            "source {source:?}: every phrase match exactly once"
        );
        // Some of them were walked past the ranked part, newest first.
        let tail = &seen[seen.len() - 20..];
        assert!(tail.windows(2).all(|w| w[0] > w[1]), "{tail:?}");
    }
}

/// A word in one record of 25: its 500 newest matches span more ids than a walk reads,
/// so they are found through the full-text index (intersected with a window of the newest
/// ids), on the first page and on every later page of the ranked part. The ranked part is
/// still exactly the 500 newest matches, and the walk returns every match once.
#[tokio::test]
async fn a_sparse_word_is_ranked_from_a_window_read_through_the_index() {
    let db = TestDb::new().await;
    let src = add_source(&db.store, "s", "http://127.0.0.1:9/oai", &[]).await;
    sqlx::query(
        "INSERT INTO records (source_id, oai_identifier, content_hash, normalized) \
         SELECT $1, 'oai:x:' || g, '\\x00', jsonb_build_object('titles', jsonb_build_array( \
             jsonb_build_object('value', CASE WHEN g % 50 = 0 THEN 'sparse policy ' || g \
                                              WHEN g % 50 = 1 THEN 'sparse sparse sparse ' || g \
                                              ELSE 'open trade ' || g END, 'lang', 'en'))) \
         FROM generate_series(1, 15000) g",
    )
    .bind(src.id)
    .execute(db.store.pool())
    .await
    .expect("insert records");
    db.store.drain_search_index().await.expect("index");
    let matches: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM records WHERE normalized->'titles'->0->>'value' LIKE 'sparse%' ORDER BY id",
    )
    .fetch_all(db.store.pool())
    .await
    .unwrap();
    assert_eq!(matches.len(), 600);
    let floor = matches[matches.len() - RANKED_CANDIDATES as usize];
    // More ids than one walk reads lie between the floor and the newest record.
    let newest = *matches.last().unwrap();
    assert!(newest - floor > 8_192, "{floor}..{newest}");

    let pages = walk(
        &db,
        RecordQuery {
            q: Some("sparse".into()),
            limit: 60,
            ..RecordQuery::default()
        },
    )
    .await;
    // The strongest matches (the word three times) lead the first page.
    let first = &pages[0][0].normalized.as_ref().unwrap()["titles"][0]["value"];
    assert!(
        first.as_str().unwrap().starts_with("sparse sparse"),
        "{first}"
    );
    let seen: Vec<i64> = pages.iter().flatten().map(|r| r.id).collect();
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(sorted, matches, "every match exactly once");
    let ranked: Vec<i64> = seen[..RANKED_CANDIDATES as usize].to_vec();
    assert!(
        ranked.iter().all(|id| *id >= floor),
        "the ranked part first"
    );
    // Ranked, not in id order: the strong titles of the ranked part lead it.
    assert!(
        ranked[..250].iter().all(|id| (id - 1) % 50 == 0),
        "{:?}",
        &ranked[..10]
    );
    let older = &seen[RANKED_CANDIDATES as usize..];
    assert!(older.iter().all(|id| *id < floor));
    assert!(
        older.windows(2).all(|w| w[0] > w[1]),
        "newest first below the floor"
    );
}
