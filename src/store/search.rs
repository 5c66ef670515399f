//! Reads behind the records API and `sheaf records search`: filtered, full-text, keyset-paged
//! record lists; the raw metadata of one record. (The change feed is in `reads`.)
//!
//! Every statement is built from fixed SQL fragments; values only ever travel as bound
//! parameters.
//!
//! **Paging guarantee.** Pages are keyset pages, never OFFSET pages. Without a text query
//! they are ordered by `id`; with one by `(rank DESC, id)`, where rank is `ts_rank` of the
//! record against the query. The cursor carries the last row's sort key, and the next page
//! starts strictly after it. So a record that matches the filters for the whole walk and
//! whose sort key does not change (its id never does; its rank changes only if its text
//! does) is returned exactly once, whatever is inserted, updated or deleted meanwhile.
//! Records inserted during the walk appear if they sort after the cursor; records that stop
//! matching are not returned afterwards. Only a record whose text (and so rank) changes
//! mid-walk can be seen twice or not at all in a text-query walk.
//!
//! **Bounded ranking.** Ranking reads every candidate's search vector, so ranking all of a
//! broad query's matches (a common keyword matches a sixth of a million-record database)
//! costs seconds. A text-query walk therefore ranks the [`RANKED_CANDIDATES`] most recently
//! stored matches (ids at or above a floor fixed by the first page and carried in the
//! cursor) and then continues with the older matches newest first. Every match is still
//! returned exactly once; only the order beyond the ranked part is by recency.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{Postgres, QueryBuilder};

use super::{Store, StoreError};
use crate::contract::RecordRowView;

/// The columns `RecordRowView` is read from.
const VIEW_COLUMNS: &str = "r.id, s.name AS source, r.oai_identifier, r.datestamp, r.deleted, r.sets, \
                            r.normalized, r.updated_at";

/// Largest page a caller may ask for.
pub const MAX_LIMIT: i64 = 1000;

/// Matches of a text query that are ranked by relevance (the most recently stored ones);
/// older matches follow newest first. Keeps a broad query within tens of milliseconds.
pub const RANKED_CANDIDATES: i64 = 500;

/// How many of the newest ids a text query first walks, checking each vector: a word in a
/// quarter of the records has its newest matches there, and the count found tells how wide
/// a window the rest need.
const FIRST_WALK_IDS: i64 = 2_048;
/// Widest id window read by walking it; wider ones are read through the full-text index
/// ([`Plan::for_window`]; docs/benchmarks.md).
const MAX_WALK_IDS: i64 = 8_192;
/// How much a window grows while it holds too few matches.
const WINDOW_GROWTH: i64 = 8;

/// A filtered, optionally full-text, page request over live records.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordQuery {
    /// Web-search syntax (`words`, `"a phrase"`, `-not`, `or`), matched in Russian, English
    /// and language-neutral readings (`sheaf_search_query`).
    pub q: Option<String>,
    /// Source name.
    pub source: Option<String>,
    /// Set spec the record is in.
    pub set: Option<String>,
    /// Language code as stored (ISO 639-1, else 639-3).
    pub language: Option<String>,
    /// Controlled type (`article`, …).
    pub record_type: Option<String>,
    /// Issued on or after (at the coarser of the two precisions).
    pub issued_from: Option<IssuedDate>,
    /// Issued on or before (at the coarser of the two precisions).
    pub issued_until: Option<IssuedDate>,
    /// Canonical DOI.
    pub doi: Option<String>,
    /// Has a DOI (`true`) or has none (`false`).
    pub has_doi: Option<bool>,
    /// Changed at or after.
    pub updated_since: Option<DateTime<Utc>>,
    /// Page size, 1..=[`MAX_LIMIT`].
    pub limit: i64,
    /// Where the previous page ended.
    pub cursor: Option<SearchCursor>,
    /// Also count every match (one more query).
    pub with_total: bool,
}

impl Default for RecordQuery {
    fn default() -> Self {
        Self {
            q: None,
            source: None,
            set: None,
            language: None,
            record_type: None,
            issued_from: None,
            issued_until: None,
            doi: None,
            has_doi: None,
            updated_since: None,
            limit: 50,
            cursor: None,
            with_total: false,
        }
    }
}

/// One page of matching records.
#[derive(Debug, Clone)]
pub struct RecordPage {
    /// The records, in page order.
    pub items: Vec<RecordRowView>,
    /// Cursor of the next page; `None` on the last page.
    pub next_cursor: Option<SearchCursor>,
    /// Number of matches, when asked for.
    pub total: Option<i64>,
}

/// An issued-date bound at year, month or day precision (`2022`, `2022-06`, `2022-06-21`),
/// the precisions `issued` is stored at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedDate(String);

impl IssuedDate {
    /// Reads `YYYY`, `YYYY-MM` or `YYYY-MM-DD` (a real calendar date).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let full = match s.len() {
            4 => format!("{s}-01-01"),
            7 => format!("{s}-01"),
            10 => s.to_owned(),
            _ => return None,
        };
        // chrono accepts signs and short fields; insist on the plain ISO shape.
        let shape_ok = s.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
        (shape_ok && NaiveDate::parse_from_str(&full, "%Y-%m-%d").is_ok())
            .then(|| Self(s.to_owned()))
    }

    /// The date as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn year(&self) -> i32 {
        self.0[..4].parse().unwrap_or(0)
    }
}

/// Where a page ended: the sort key of its last row. Opaque to clients.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SearchCursor {
    /// Id order (no text query).
    Id(i64),
    /// Rank order (text query): the exact `real` rank and the id.
    Rank {
        /// `ts_rank` of the last row.
        rank: f32,
        /// Its id.
        id: i64,
        /// The ranked part of the walk holds the matches with ids at or above this.
        floor: i64,
    },
    /// Past the ranked part of a text-query walk: matches with ids below this, newest first.
    Older(i64),
}

/// A cursor string that this version did not write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a cursor returned by this API")]
pub struct BadCursor;

impl fmt::Display for SearchCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The rank travels as its bit pattern so the next page compares the exact value.
            Self::Id(id) => write!(f, "i{id}"),
            Self::Rank { rank, id, floor } => {
                write!(f, "r{:08x}.{id}.{floor}", rank.to_bits())
            }
            Self::Older(id) => write!(f, "o{id}"),
        }
    }
}

impl FromStr for SearchCursor {
    type Err = BadCursor;

    fn from_str(s: &str) -> Result<Self, BadCursor> {
        let id = |t: &str| -> Result<i64, BadCursor> {
            t.parse::<i64>().ok().filter(|v| *v >= 0).ok_or(BadCursor)
        };
        if let Some(rest) = s.strip_prefix('i') {
            return Ok(Self::Id(id(rest)?));
        }
        if let Some(rest) = s.strip_prefix('o') {
            return Ok(Self::Older(id(rest)?));
        }
        let rest = s.strip_prefix('r').ok_or(BadCursor)?;
        let (bits, rest) = rest.split_once('.').ok_or(BadCursor)?;
        if bits.len() != 8 {
            return Err(BadCursor);
        }
        let rank = f32::from_bits(u32::from_str_radix(bits, 16).map_err(|_| BadCursor)?);
        if !rank.is_finite() {
            return Err(BadCursor);
        }
        // Cursors written before the floor existed rank everything (floor 0).
        let (last, floor) = rest.split_once('.').unwrap_or((rest, "0"));
        Ok(Self::Rank {
            rank,
            id: id(last)?,
            floor: id(floor)?,
        })
    }
}

/// The stored metadata of one record, for `/raw`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RawMetadata {
    /// Tombstone.
    pub deleted: bool,
    /// The `<metadata>` child as received; `None` for tombstones.
    pub raw_metadata: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Hit {
    #[sqlx(flatten)]
    row: RecordRowView,
    rank: Option<f32>,
}

/// `FROM` of the page, the floor and the count: the full-text vectors live in
/// `record_search` (filled by the search indexer), joined only when there is a text query.
fn push_from(qb: &mut QueryBuilder<Postgres>, q: &RecordQuery) {
    qb.push(" FROM records r JOIN sources s ON s.id = r.source_id");
    if q.q.is_some() {
        qb.push(" JOIN record_search rs ON rs.record_id = r.id");
    }
}

/// `rs.search @@ <the query>`; `text` is the tsquery `sheaf_search_query` made of the
/// user's words (`Store::search_records` asks for it once).
fn push_text_match(qb: &mut QueryBuilder<Postgres>, text: &str) {
    qb.push(" rs.search @@ ")
        .push_bind(text.to_owned())
        .push("::tsquery");
}

/// Whether a condition other than the text query applies.
fn has_filters(q: &RecordQuery) -> bool {
    q.source.is_some()
        || q.set.is_some()
        || q.language.is_some()
        || q.record_type.is_some()
        || q.issued_from.is_some()
        || q.issued_until.is_some()
        || q.doi.is_some()
        || q.has_doi.is_some()
        || q.updated_since.is_some()
}

/// `WHERE` conditions shared by the page and the count.
fn push_filters(qb: &mut QueryBuilder<Postgres>, q: &RecordQuery) {
    qb.push(" WHERE NOT r.deleted");
    if let Some(text) = &q.q {
        qb.push(" AND");
        push_text_match(qb, text);
    }
    if let Some(v) = &q.source {
        qb.push(" AND s.name = ").push_bind(v.clone());
    }
    // `@>` rather than `= ANY`, so the GIN indexes on the arrays can answer.
    if let Some(v) = &q.set {
        qb.push(" AND r.sets @> ARRAY[")
            .push_bind(v.clone())
            .push("]::text[]");
    }
    if let Some(v) = &q.language {
        qb.push(" AND r.languages @> ARRAY[")
            .push_bind(v.clone())
            .push("]::text[]");
    }
    if let Some(v) = &q.record_type {
        qb.push(" AND r.types @> ARRAY[")
            .push_bind(v.clone())
            .push("]::text[]");
    }
    // `issued` has the precision the source gave (`2022`, `2022-06`, `2022-06-21`), so bounds
    // compare on the shorter of the two: `2022` is within `issued_from=2022-06-01`. The
    // year range in front is what the B-tree index can use.
    if let Some(d) = &q.issued_from {
        qb.push(" AND r.issued >= ")
            .push_bind(format!("{:04}", d.year()))
            .push(" AND left(r.issued, ")
            .push_bind(d.as_str().len() as i32)
            .push(") >= left(")
            .push_bind(d.as_str().to_owned())
            .push("::text, length(r.issued))");
    }
    if let Some(d) = &q.issued_until {
        qb.push(" AND r.issued < ")
            .push_bind(format!("{:04}", d.year() + 1))
            .push(" AND left(r.issued, ")
            .push_bind(d.as_str().len() as i32)
            .push(") <= left(")
            .push_bind(d.as_str().to_owned())
            .push("::text, length(r.issued))");
    }
    if let Some(v) = &q.doi {
        qb.push(" AND r.doi = ").push_bind(v.clone());
    }
    match q.has_doi {
        Some(true) => {
            qb.push(" AND r.doi IS NOT NULL");
        }
        Some(false) => {
            qb.push(" AND r.doi IS NULL");
        }
        None => {}
    }
    if let Some(t) = q.updated_since {
        qb.push(" AND r.updated_at >= ").push_bind(t);
    }
}

/// Which matches the ranked part of a text query ranks.
enum Candidates {
    /// These ids (found by [`window_matches`]); still checked against the query.
    Ids(Vec<i64>),
    /// Every match with an id at or above the floor (with filters on `records`).
    AtOrAbove,
}

/// How the matches in a window of ids are read: [`Plan::for_window`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// A backward walk of the primary key, checking each row's vector.
    Walk,
    /// The full-text index's matches intersected with the key range's rows.
    IndexAndRange,
    /// The full-text index's matches alone, each visited for its id.
    Index,
}

impl Plan {
    /// The cheapest plan for a window of `width` ids below `newest`. A walk costs a vector
    /// check per id; the index a step per match in the whole table (the part the window
    /// cannot save) plus a visit per match it keeps; the key range an eighth of a visit per
    /// id in the window, which pays while it saves more visits than that. The planner
    /// cannot weigh these (it does not know that a walk reads vectors one by one, nor how
    /// many rows a word matches beyond its most common ones), so it is told.
    fn for_window(width: i64, newest: i64) -> Self {
        if width <= MAX_WALK_IDS {
            return Self::Walk;
        }
        // A window this wide is read because about RANKED_CANDIDATES matches are expected
        // in it, so the whole table holds about RANKED_CANDIDATES * newest / width.
        let visits_saved = (RANKED_CANDIDATES as f64) * (newest as f64) / (width as f64);
        if (width as f64) / 8.0 < visits_saved {
            Self::IndexAndRange
        } else {
            Self::Index
        }
    }
}

/// Candidates ranked beyond a page, for tombstones not yet removed from `record_search`.
const RANK_SLACK: i64 = 32;

/// `WHERE` the rank/id keyset continues after `after` (on `m.rank`, `m.id`).
fn push_rank_after(qb: &mut QueryBuilder<Postgres>, after: Option<(f32, i64)>) {
    if let Some((rank, id)) = after {
        qb.push(" WHERE (m.rank < ")
            .push_bind(rank)
            .push(" OR (m.rank = ")
            .push_bind(rank)
            .push(" AND m.id > ")
            .push_bind(id)
            .push("))");
    }
}

/// The ranked page over candidate ids: the `ranked` best candidates after `after` by their
/// vectors alone (all of them for `None`), then joined to their live records.
fn ranked_ids_query(
    text: &str,
    ids: &[i64],
    after: Option<(f32, i64)>,
    ranked: Option<i64>,
    limit: i64,
) -> QueryBuilder<Postgres> {
    let mut qb = QueryBuilder::<Postgres>::new("SELECT ");
    qb.push(VIEW_COLUMNS)
        .push(", m.rank FROM (SELECT * FROM (SELECT rs.record_id AS id, ts_rank(rs.search, ")
        .push_bind(text.to_owned())
        .push("::tsquery) AS rank FROM record_search rs WHERE rs.record_id = ANY(")
        .push_bind(ids.to_vec())
        .push(") AND");
    push_text_match(&mut qb, text);
    qb.push(") m");
    push_rank_after(&mut qb, after);
    qb.push(" ORDER BY m.rank DESC, m.id LIMIT ")
        .push_bind(ranked)
        .push(") m JOIN records r ON r.id = m.id JOIN sources s ON s.id = r.source_id")
        .push(" WHERE NOT r.deleted ORDER BY m.rank DESC, m.id LIMIT ")
        .push_bind(limit + 1);
    qb
}

/// Ids of the matches of `text` at or above `low` (of ids up to `newest`), newest first,
/// at most `limit`, read with [`Plan::for_window`] under settings local to `tx`.
async fn window_matches(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    text: &str,
    low: i64,
    newest: i64,
    limit: Option<i64>,
) -> Result<Vec<i64>, StoreError> {
    let plan = Plan::for_window(newest.saturating_sub(low).saturating_add(1), newest);
    let walk = plan == Plan::Walk;
    // work_mem: a bitmap of a prefix or phrase query's candidates that outgrows the default
    // 4 MB turns lossy, and every row of its pages is then checked (1.0 s instead of 0.5 s
    // for a phrase of two common words on 1M records).
    sqlx::query(
        "SELECT set_config('enable_seqscan', 'off', true), \
                set_config('enable_indexscan', $1, true), \
                set_config('enable_bitmapscan', $2, true), \
                set_config('work_mem', '32MB', true)",
    )
    .bind(if walk { "on" } else { "off" })
    .bind(if walk { "off" } else { "on" })
    .execute(&mut **tx)
    .await?;
    let mut qb = QueryBuilder::<Postgres>::new("SELECT rs.record_id FROM record_search rs WHERE");
    push_text_match(&mut qb, text);
    // `+ 0` keeps the key's index out of the plan.
    qb.push(if plan == Plan::Index {
        " AND rs.record_id + 0 >= "
    } else {
        " AND rs.record_id >= "
    })
    .push_bind(low)
    .push(" ORDER BY rs.record_id DESC LIMIT ")
    .push_bind(limit);
    Ok(qb
        .build_query_scalar()
        .persistent(false)
        .fetch_all(&mut **tx)
        .await?)
}

impl Store {
    /// One page of live records matching `q`, in id order, or by relevance when `q.q` is
    /// set. See the module documentation for what the cursor guarantees.
    pub async fn search_records(&self, q: &RecordQuery) -> Result<RecordPage, StoreError> {
        // The user's words become a tsquery once, here: `sheaf_search_query` reads the
        // lexeme table (it is STABLE, not IMMUTABLE), so in a statement's select list it
        // would run again for every row ranked.
        let with_tsquery;
        let q = match &q.q {
            Some(words) => {
                let tsquery: String = sqlx::query_scalar("SELECT sheaf_search_query($1)::text")
                    .bind(words)
                    .fetch_one(&self.pool)
                    .await?;
                with_tsquery = RecordQuery {
                    q: Some(tsquery),
                    ..q.clone()
                };
                &with_tsquery
            }
            None => q,
        };
        let limit = q.limit.clamp(1, MAX_LIMIT);
        let (mut hits, next_cursor) = match (&q.q, q.cursor) {
            (None, None) => self.id_page(q, None, limit).await?,
            (None, Some(SearchCursor::Id(after))) => self.id_page(q, Some(after), limit).await?,
            (Some(text), None) if !has_filters(q) => {
                let (floor, ids) = self.newest_matches(text).await?;
                self.ranked_page(q, floor, Candidates::Ids(ids), None, limit)
                    .await?
            }
            (Some(_), None) => {
                let floor = self.filtered_rank_floor(q).await?;
                self.ranked_page(q, floor, Candidates::AtOrAbove, None, limit)
                    .await?
            }
            (Some(text), Some(SearchCursor::Rank { rank, id, floor })) => {
                let candidates = if has_filters(q) {
                    Candidates::AtOrAbove
                } else {
                    Candidates::Ids(self.matches_at_or_above(text, floor).await?)
                };
                self.ranked_page(q, floor, candidates, Some((rank, id)), limit)
                    .await?
            }
            (Some(_), Some(SearchCursor::Older(below))) => self.older_page(q, below, limit).await?,
            // A cursor of the other ordering would silently restart or skip.
            (_, Some(_)) => return Err(StoreError::BadData("cursor: wrong ordering".into())),
        };
        hits.truncate(limit as usize);
        let total = if q.with_total {
            let mut count = QueryBuilder::<Postgres>::new("SELECT count(*)");
            push_from(&mut count, q);
            push_filters(&mut count, q);
            Some(count.build_query_scalar().fetch_one(&self.pool).await?)
        } else {
            None
        };
        Ok(RecordPage {
            items: hits.into_iter().map(|h| h.row).collect(),
            next_cursor,
            total,
        })
    }

    /// Pushes `SELECT <view columns>, <rank> FROM records r JOIN sources s … WHERE <filters>`.
    fn push_hits(qb: &mut QueryBuilder<Postgres>, q: &RecordQuery) {
        qb.push("SELECT ").push(VIEW_COLUMNS);
        match &q.q {
            Some(text) => qb
                .push(", ts_rank(rs.search, ")
                .push_bind(text.clone())
                .push("::tsquery) AS rank"),
            None => qb.push(", NULL::real AS rank"),
        };
        push_from(qb, q);
        push_filters(qb, q);
    }

    async fn fetch_hits(&self, mut qb: QueryBuilder<Postgres>) -> Result<Vec<Hit>, StoreError> {
        // Not a named prepared statement: the plan must see the query text (a rare word and
        // a common one want different plans), which a generic cached plan would not.
        Ok(qb
            .build_query_as()
            .persistent(false)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn id_page(
        &self,
        q: &RecordQuery,
        after: Option<i64>,
        limit: i64,
    ) -> Result<(Vec<Hit>, Option<SearchCursor>), StoreError> {
        let mut qb = QueryBuilder::<Postgres>::new("");
        Self::push_hits(&mut qb, q);
        if let Some(id) = after {
            qb.push(" AND r.id > ").push_bind(id);
        }
        qb.push(" ORDER BY r.id LIMIT ").push_bind(limit + 1);
        let hits = self.fetch_hits(qb).await?;
        let next =
            (hits.len() as i64 > limit).then(|| SearchCursor::Id(hits[limit as usize - 1].row.id));
        Ok((hits, next))
    }

    /// The [`RANKED_CANDIDATES`] newest matches of a text query (without other filters),
    /// newest first, and the floor of the ranked part: the lowest of them, or 0 when there
    /// are fewer (then they are all the matches). Any floor keeps every match exactly once,
    /// since it travels in the cursor. (Relaxing phrases to all their words here made the
    /// floor cheaper but left few phrase matches above it, and the page then topped up from
    /// the older matches with a slow walk: phrase p95 6.6 s over HTTP on 1M records.)
    ///
    /// Read from `record_search` alone (tombstones have no vector there), in windows of the
    /// newest ids: the full-text index gives row addresses, not ids, so every match it
    /// returns costs a step and a heap visit, and a common word matches a fifth of the
    /// records. The first window is walked; the matches found there size the next one.
    async fn newest_matches(&self, text: &str) -> Result<(i64, Vec<i64>), StoreError> {
        let Some(newest) = self.newest_indexed().await? else {
            return Ok((0, Vec::new()));
        };
        let mut tx = self.pool.begin().await?;
        let mut window = FIRST_WALK_IDS;
        let ids = loop {
            let low = newest.saturating_sub(window - 1);
            let ids = window_matches(&mut tx, text, low, newest, Some(RANKED_CANDIDATES)).await?;
            if ids.len() as i64 == RANKED_CANDIDATES || low <= 1 {
                break ids;
            }
            // Matches per id so far say how wide a window holds enough of them; a margin
            // for the spread, and at least the usual growth when none were found.
            let found = ids.len() as i64;
            window = if found == 0 {
                window.saturating_mul(WINDOW_GROWTH)
            } else {
                let wanted = RANKED_CANDIDATES.saturating_mul(window) / found;
                wanted
                    .saturating_add(wanted / 4)
                    .max(window.saturating_mul(2))
            };
        };
        tx.commit().await?;
        let floor = if ids.len() as i64 == RANKED_CANDIDATES {
            ids.last().copied().unwrap_or(0)
        } else {
            0
        };
        Ok((floor, ids))
    }

    /// Every match of a text query with an id at or above `floor` (the ranked part of a
    /// walk, for its later pages).
    async fn matches_at_or_above(&self, text: &str, floor: i64) -> Result<Vec<i64>, StoreError> {
        let Some(newest) = self.newest_indexed().await? else {
            return Ok(Vec::new());
        };
        let mut tx = self.pool.begin().await?;
        let ids = window_matches(&mut tx, text, floor, newest, None).await?;
        tx.commit().await?;
        Ok(ids)
    }

    /// The highest id with a search vector.
    async fn newest_indexed(&self) -> Result<Option<i64>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT max(record_id) FROM record_search")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// The floor of [`Self::newest_matches`] with filters on `records`: every match joined
    /// to its record.
    async fn filtered_rank_floor(&self, q: &RecordQuery) -> Result<i64, StoreError> {
        let mut qb = QueryBuilder::<Postgres>::new("SELECT CASE WHEN count(*) < ");
        qb.push_bind(RANKED_CANDIDATES)
            .push(" THEN 0 ELSE min(id) END FROM (SELECT rs.record_id AS id");
        push_from(&mut qb, q);
        push_filters(&mut qb, q);
        // `+ 0` keeps the planner off a backward walk of the primary key, which it picks when
        // it over-estimates the matches and which then reads row after row (15 s for some
        // words on 1M records). For a word in a fifth of the records it prefers a sequential
        // scan, which reads every vector (5 s); the index path reads them only to check phrases.
        qb.push(" ORDER BY rs.record_id + 0 DESC LIMIT ")
            .push_bind(RANKED_CANDIDATES)
            .push(") c");
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET LOCAL enable_seqscan = off")
            .execute(&mut *tx)
            .await?;
        let floor = qb
            .build_query_scalar()
            .persistent(false)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(floor)
    }

    /// The ranked part (ids at or above `floor`, by rank), topped up from the older matches
    /// when it runs out within this page.
    async fn ranked_page(
        &self,
        q: &RecordQuery,
        floor: i64,
        candidates: Candidates,
        after: Option<(f32, i64)>,
        limit: i64,
    ) -> Result<(Vec<Hit>, Option<SearchCursor>), StoreError> {
        let mut hits = match (&candidates, &q.q) {
            (Candidates::Ids(ids), Some(text)) => {
                // Ranked from the vectors first and joined to `records` for the page only:
                // the join reads a row of `records` per candidate otherwise, most of a
                // query's time. A tombstone the indexer has not reached yet still has a
                // vector, so a few more are ranked than the page needs; should the page
                // come out short all the same (also at the end of the ranked part), it
                // is read again with every candidate joined.
                let slack = limit + 1 + RANK_SLACK;
                let hits = self
                    .fetch_hits(ranked_ids_query(text, ids, after, Some(slack), limit))
                    .await?;
                if hits.len() as i64 > limit {
                    hits
                } else {
                    self.fetch_hits(ranked_ids_query(text, ids, after, None, limit))
                        .await?
                }
            }
            _ => {
                let mut qb = QueryBuilder::<Postgres>::new("SELECT * FROM (");
                Self::push_hits(&mut qb, q);
                // On the vectors' key, so the range can narrow the full-text index's
                // candidates.
                qb.push(" AND rs.record_id >= ")
                    .push_bind(floor)
                    .push(") m");
                push_rank_after(&mut qb, after);
                qb.push(" ORDER BY m.rank DESC, m.id LIMIT ")
                    .push_bind(limit + 1);
                self.fetch_hits(qb).await?
            }
        };
        if hits.len() as i64 > limit {
            let last = &hits[limit as usize - 1];
            let next = SearchCursor::Rank {
                rank: last.rank.unwrap_or(0.0),
                id: last.row.id,
                floor,
            };
            return Ok((hits, Some(next)));
        }
        if floor == 0 {
            return Ok((hits, None));
        }
        // The ranked part ends in this page: fill it with the newest older matches.
        let room = limit - hits.len() as i64;
        let (older, more) = self.older_page(q, floor, room.max(0)).await?;
        hits.extend(older);
        let next = match more {
            Some(cursor) => Some(cursor),
            // The page is full and older matches remain: continue below the floor.
            None if room == 0 && hits.len() as i64 > limit => Some(SearchCursor::Older(floor)),
            None => None,
        };
        Ok((hits, next))
    }

    /// Matches with ids below `below`, newest first.
    async fn older_page(
        &self,
        q: &RecordQuery,
        below: i64,
        limit: i64,
    ) -> Result<(Vec<Hit>, Option<SearchCursor>), StoreError> {
        let mut qb = QueryBuilder::<Postgres>::new("");
        Self::push_hits(&mut qb, q);
        qb.push(" AND r.id < ")
            .push_bind(below)
            .push(" ORDER BY r.id DESC LIMIT ")
            .push_bind(limit + 1);
        let hits = self.fetch_hits(qb).await?;
        let next = (limit > 0 && hits.len() as i64 > limit)
            .then(|| SearchCursor::Older(hits[limit as usize - 1].row.id));
        Ok((hits, next))
    }

    /// The raw metadata of record `id`, `None` when there is no such record.
    pub async fn raw_metadata(&self, id: i64) -> Result<Option<RawMetadata>, StoreError> {
        Ok(
            sqlx::query_as("SELECT deleted, raw_metadata FROM records WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_what_they_did_not_write() {
        for c in [
            SearchCursor::Id(0),
            SearchCursor::Id(9_007_199_254_740_993),
            SearchCursor::Rank {
                rank: 0.0607927,
                id: 42,
                floor: 7,
            },
            SearchCursor::Rank {
                rank: 1e-20,
                id: 1,
                floor: 0,
            },
            SearchCursor::Older(12),
        ] {
            assert_eq!(c.to_string().parse::<SearchCursor>(), Ok(c), "{c}");
        }
        // A rank cursor from before the floor existed ranks everything.
        assert_eq!(
            "r3f800000.5".parse::<SearchCursor>(),
            Ok(SearchCursor::Rank {
                rank: 1.0,
                id: 5,
                floor: 0
            })
        );
        for bad in [
            "",
            "i",
            "i-1",
            "ix",
            "42",
            "r3f800000",
            "r3f8.1",
            "r7f800000.1",
            "rzzzzzzzz.1",
            "r3f800000.1.x",
            "o",
            "o-3",
            "i1 ",
        ] {
            assert_eq!(bad.parse::<SearchCursor>(), Err(BadCursor), "{bad:?}");
        }
    }

    #[test]
    fn windows_are_walked_when_narrow_and_read_through_the_index_when_wide() {
        let m = 1_000_000;
        assert_eq!(Plan::for_window(2_048, m), Plan::Walk);
        assert_eq!(Plan::for_window(MAX_WALK_IDS, m), Plan::Walk);
        // A word in ~3% of the records: the key range saves most of its 30k visits.
        assert_eq!(Plan::for_window(16_384, m), Plan::IndexAndRange);
        // A word in ~0.4%: a range of 128k ids costs more than its 4k visits.
        assert_eq!(Plan::for_window(131_072, m), Plan::Index);
        assert_eq!(Plan::for_window(m, m), Plan::Index);
        // The crossover grows with the table.
        assert_eq!(Plan::for_window(131_072, 10 * m), Plan::IndexAndRange);
    }

    #[test]
    fn issued_dates_take_the_three_stored_precisions_only() {
        for ok in ["2022", "2022-06", "2022-06-21", "2024-02-29"] {
            assert_eq!(IssuedDate::parse(ok).map(|d| d.0), Some(ok.to_owned()));
        }
        for bad in [
            "22",
            "2022-6",
            "2022-13",
            "2023-02-29",
            "2022/06/21",
            "+2022",
            "June 2022",
            "",
        ] {
            assert_eq!(IssuedDate::parse(bad), None, "{bad:?}");
        }
    }
}
