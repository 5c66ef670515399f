//! The full-text index: one vector per live record in `record_search`, kept in step with
//! `records` by following the change feed from the cursor in `search_index_state`.
//!
//! Stemming a record costs about as much as storing it, so it is not done inside the page
//! transaction (which holds the change-feed lock): the indexer reads the changes after its
//! cursor in `change_seq` order, which is commit order, so it never skips a change that
//! commits late. One indexer works at a time (the cursor row is locked for the batch);
//! several processes may call it, each batch is done once.

use super::{Store, StoreError};

/// Changes indexed per transaction: big enough that a batch's fixed costs vanish, small
/// enough that a batch holds its locks well under a second (stemming is ~0.5 ms a record,
/// several times that on a busy machine).
pub const INDEX_BATCH: i64 = 200;

/// Attempts per batch when it collides with a concurrent removal of records.
const BATCH_ATTEMPTS: usize = 3;

impl Store {
    /// Indexes up to `limit` changes after the cursor in one transaction; returns how many
    /// changes it consumed (0 when the index is up to date).
    pub async fn index_search_batch(&self, limit: i64) -> Result<u64, StoreError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_index_batch(limit).await {
                // A record deleted (its source removed) after the batch read it fails the
                // foreign key, or deadlocks with the cascade; the next try no longer sees it.
                Err(StoreError::Db(sqlx::Error::Database(e)))
                    if attempt < BATCH_ATTEMPTS
                        && matches!(e.code().as_deref(), Some("23503" | "40P01")) =>
                {
                    tracing::debug!(error = %e, "search index batch retried");
                }
                other => return other,
            }
        }
    }

    async fn try_index_batch(&self, limit: i64) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let cursor: i64 = sqlx::query_scalar(
            "SELECT last_change_seq FROM search_index_state WHERE singleton FOR UPDATE",
        )
        .fetch_one(&mut *tx)
        .await?;
        let (n, last): (i64, Option<i64>) = sqlx::query_as(INDEX_BATCH_SQL)
            .bind(cursor)
            .bind(limit)
            .fetch_one(&mut *tx)
            .await?;
        if let Some(last) = last {
            sqlx::query("UPDATE search_index_state SET last_change_seq = $1 WHERE singleton")
                .bind(last)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Indexes every change committed so far; returns how many it consumed.
    pub async fn drain_search_index(&self) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let n = self.index_search_batch(INDEX_BATCH).await?;
            total += n;
            if n == 0 {
                return Ok(total);
            }
        }
    }

    /// Committed changes the search index has not consumed yet.
    pub async fn search_index_lag(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT count(*) FROM records \
             WHERE change_seq > (SELECT last_change_seq FROM search_index_state WHERE singleton)",
        )
        .fetch_one(&self.pool)
        .await?)
    }
}

/// One batch: the changes after `$1` in feed order; live records get their vector
/// (re)computed, tombstones and records without metadata lose theirs. The Cyrillic lexemes
/// of the vectors written join `search_lexemes`, which `sheaf_search_query` expands a
/// query's prefixes from (migration 0015): in the same transaction, so a record is never
/// searchable by a word the dictionary does not know yet. Data-modifying CTEs
/// always run, whether or not the final SELECT reads them.
const INDEX_BATCH_SQL: &str = r#"
WITH batch AS MATERIALIZED (
    SELECT id, change_seq, normalized, NOT deleted AND normalized IS NOT NULL AS live
    FROM records
    WHERE change_seq > $1
    ORDER BY change_seq
    LIMIT $2
), gone AS (
    DELETE FROM record_search s USING batch b
    WHERE s.record_id = b.id AND NOT b.live
), put AS (
    INSERT INTO record_search AS s (record_id, change_seq, search)
    SELECT id, change_seq, sheaf_search_vector(normalized) FROM batch WHERE live
    ON CONFLICT (record_id) DO UPDATE SET change_seq = EXCLUDED.change_seq, search = EXCLUDED.search
    WHERE s.change_seq < EXCLUDED.change_seq
    RETURNING s.search
), words AS (
    INSERT INTO search_lexemes (lexeme)
    SELECT DISTINCT u.lexeme FROM put, unnest(put.search) u WHERE u.lexeme ~ '[а-яё]'
    ON CONFLICT DO NOTHING
)
SELECT count(*), max(change_seq) FROM batch
"#;
