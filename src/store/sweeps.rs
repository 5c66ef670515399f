//! Deletion sweeps: the identifiers a complete ListIdentifiers list showed, and the
//! tombstoning of stored records it did not show.

use super::records::{ChangeNote, lock_change_feed, notify_change};
use super::{PageCounts, Store, StoreError};

impl Store {
    /// Remembers identifiers seen by the sweep of `run_id`.
    pub async fn sweep_add(&self, run_id: i64, identifiers: &[String]) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO sweep_seen (run_id, oai_identifier) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING")
            .bind(run_id)
            .bind(identifiers)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Tombstones live records of the source that the sweep did not see, counts them on
    /// the run, stamps the sweep time, and forgets the seen set. Returns the count.
    pub async fn sweep_finish(&self, run_id: i64, source_id: i64) -> Result<i64, StoreError> {
        let mut tx = self.pool.begin().await?;
        lock_change_feed(&mut tx).await?;
        let (gone, last_change_seq): (i64, Option<i64>) = sqlx::query_as(
            "WITH gone AS (UPDATE records r SET deleted = true, normalized = NULL, raw_metadata = NULL, title = NULL, doi = NULL, \
             issued = NULL, languages = '{}', types = '{}', work_key = NULL, flags = array_append(flags, 'swept'), \
             content_hash = '\\x7377657074'::bytea, updated_at = now(), change_seq = nextval('record_change_seq'), \
             last_run_id = $1 \
             WHERE r.source_id = $2 AND NOT r.deleted \
             AND NOT EXISTS (SELECT 1 FROM sweep_seen s WHERE s.run_id = $1 AND s.oai_identifier = r.oai_identifier) \
             RETURNING r.change_seq) \
             SELECT count(*), max(change_seq) FROM gone",
        )
        .bind(run_id)
        .bind(source_id)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("UPDATE harvest_runs SET records_deleted = records_deleted + $2 WHERE id = $1")
            .bind(run_id)
            .bind(gone)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE sources SET last_sweep_at = now() WHERE id = $1")
            .bind(source_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sweep_seen WHERE run_id = $1")
            .bind(run_id)
            .execute(&mut *tx)
            .await?;
        if gone > 0 {
            let note = ChangeNote {
                kind: "sweep",
                source_id: Some(source_id),
                run_id: Some(run_id),
                counts: PageCounts {
                    deleted: gone,
                    ..PageCounts::default()
                },
                last_change_seq,
            };
            notify_change(&mut tx, &note).await?;
        }
        tx.commit().await?;
        Ok(gone)
    }

    /// Forgets a sweep that did not complete.
    pub async fn sweep_abort(&self, run_id: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sweep_seen WHERE run_id = $1")
            .bind(run_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
