//! Records: the bulk page upsert (one round trip, content-hash skip) committed together
//! with the run's checkpoint, and reads. Also the change-feed lock and the `sheaf_records`
//! notification every record-writing transaction uses.

use chrono::{DateTime, Utc};

use super::runs::Checkpoint;
use super::sources::renew_lease_on;
use super::{Store, StoreError};

/// One record ready to store: header, normalized fields and raw XML.
#[derive(Debug, Clone, Default)]
pub struct RecordRow {
    /// OAI identifier.
    pub oai_identifier: String,
    /// Parsed datestamp.
    pub datestamp: Option<DateTime<Utc>>,
    /// Datestamp as written.
    pub datestamp_raw: String,
    /// Tombstone.
    pub deleted: bool,
    /// Set specs.
    pub sets: Vec<String>,
    /// The record contract fields (JSON), `None` for tombstones and missing metadata.
    pub normalized: Option<serde_json::Value>,
    /// First title, for display and sorting.
    pub title: Option<String>,
    /// Canonical DOI.
    pub doi: Option<String>,
    /// Issued date, ISO 8601 at its precision.
    pub issued: Option<String>,
    /// ISO 639 codes.
    pub languages: Vec<String>,
    /// Controlled types.
    pub types: Vec<String>,
    /// Normalization and harvest flags.
    pub flags: Vec<String>,
    /// Cross-source work key.
    pub work_key: Option<String>,
    /// Raw `<metadata>` child XML; `None` for tombstones and live records sent without it.
    pub raw_metadata: Option<String>,
    /// Hash of what makes the record change (deleted flag, sets, raw XML).
    pub content_hash: Vec<u8>,
}

/// What a page did to the database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageCounts {
    /// Newly inserted live records.
    pub new: i64,
    /// Live records whose content changed (including resurrections).
    pub updated: i64,
    /// Records seen again unchanged (nothing written).
    pub unchanged: i64,
    /// Records that became or arrived as tombstones.
    pub deleted: i64,
}

// Text arrays cannot be UNNESTed per row (PostgreSQL flattens 2-D arrays), so each
// row's list travels as one string joined by U+001F, a character XML cannot contain.
const SEP: char = '\u{1f}';

fn join(v: &[String]) -> String {
    v.join(&SEP.to_string())
}

/// PostgreSQL text cannot hold U+0000.
fn clean(s: &str) -> String {
    if s.contains('\0') {
        s.replace('\0', "")
    } else {
        s.to_owned()
    }
}

fn clean_opt(s: &Option<String>) -> Option<String> {
    s.as_deref().map(clean)
}

/// Key of the advisory lock every transaction that assigns `records.change_seq` holds.
const CHANGE_FEED_LOCK: i64 = 0x5348_4541_4643_4847; // "SHEAFCHG"

/// The PostgreSQL channel a `NOTIFY` goes to after each committed page (and sweep or
/// re-normalization batch); the payload is described in README "Querying".
pub const RECORDS_CHANNEL: &str = "sheaf_records";

/// Serializes the writers of `records.change_seq` until the transaction ends.
///
/// `change_seq` comes from a sequence when a row is written, but becomes visible when the
/// transaction commits. Without this lock a transaction that drew seq 10 could commit after
/// one that drew seq 11, and a change-feed reader that had already moved past 11 would
/// never see 10. Holding one exclusive lock from the first `nextval` to the commit makes
/// sequence order equal commit order. Call it right before the first statement that
/// assigns a `change_seq` (the lock is released by COMMIT or ROLLBACK).
pub async fn lock_change_feed(conn: &mut sqlx::PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(CHANGE_FEED_LOCK)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// What one committed write did, for the `sheaf_records` notification.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChangeNote<'a> {
    /// `page`, `sweep` or `renormalize`.
    pub kind: &'a str,
    pub source_id: Option<i64>,
    pub run_id: Option<i64>,
    pub counts: PageCounts,
    /// Highest `change_seq` this transaction wrote; `None` when it changed nothing.
    pub last_change_seq: Option<i64>,
}

impl ChangeNote<'static> {
    fn page(source_id: i64, run_id: i64, counts: PageCounts, last_change_seq: Option<i64>) -> Self {
        Self {
            kind: "page",
            source_id: Some(source_id),
            run_id: Some(run_id),
            counts,
            last_change_seq,
        }
    }
}

/// Queues the `sheaf_records` notification; PostgreSQL delivers it only if the
/// transaction commits, and in commit order.
pub(crate) async fn notify_change(
    conn: &mut sqlx::PgConnection,
    note: &ChangeNote<'_>,
) -> Result<(), StoreError> {
    sqlx::query(
        "SELECT pg_notify($1, json_build_object('kind', $2::text, \
         'source', (SELECT name FROM sources WHERE id = $3), 'run', $4::bigint, \
         'pages', (SELECT pages FROM harvest_runs WHERE id = $4), 'new', $5::bigint, \
         'updated', $6::bigint, 'deleted', $7::bigint, 'unchanged', $8::bigint, \
         'last_change_seq', $9::bigint)::text)",
    )
    .bind(RECORDS_CHANNEL)
    .bind(note.kind)
    .bind(note.source_id)
    .bind(note.run_id)
    .bind(note.counts.new)
    .bind(note.counts.updated)
    .bind(note.counts.deleted)
    .bind(note.counts.unchanged)
    .bind(note.last_change_seq)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl Store {
    /// Writes a page of records and the run's checkpoint in one transaction, renewing the
    /// source lease in the same transaction (so a worker that lost its lease writes nothing).
    ///
    /// Records with an unchanged content hash are not rewritten. A live record that
    /// arrives without metadata never overwrites a stored copy.
    pub async fn store_page(
        &self,
        run_id: i64,
        source_id: i64,
        lease: (&str, std::time::Duration),
        rows: &[RecordRow],
        quarantine: &[QuarantineRow],
        checkpoint: &Checkpoint,
    ) -> Result<PageCounts, StoreError> {
        let mut tx = self.pool.begin().await?;
        renew_lease_on(&mut *tx, source_id, lease.0, lease.1).await?;

        let (counts, last_change_seq) = upsert_rows(&mut tx, run_id, source_id, rows).await?;
        insert_quarantine(&mut tx, run_id, source_id, quarantine).await?;

        let res = sqlx::query(
            "UPDATE harvest_runs SET pages = pages + 1, records_new = records_new + $2, \
             records_updated = records_updated + $3, records_unchanged = records_unchanged + $4, \
             records_deleted = records_deleted + $5, bytes = bytes + $6, retries = retries + $7, \
             records_failed = records_failed + $15, set_index = $8, resumption_token = $9, list_cursor = $10, complete_list_size = $11, \
             high_water = GREATEST(high_water, $12), warnings = warnings || $13, heartbeat_at = now() \
             WHERE id = $1 AND status = 'running' AND worker = $14",
        )
        .bind(run_id)
        .bind(counts.new)
        .bind(counts.updated)
        .bind(counts.unchanged)
        .bind(counts.deleted)
        .bind(checkpoint.bytes)
        .bind(checkpoint.retries)
        .bind(checkpoint.set_index)
        .bind(&checkpoint.resumption_token)
        .bind(checkpoint.cursor)
        .bind(checkpoint.complete_list_size)
        .bind(checkpoint.high_water)
        .bind(&checkpoint.warnings)
        .bind(lease.0)
        .bind(quarantine.len() as i64)
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() != 1 {
            return Err(StoreError::LeaseLost(format!(
                "run {run_id} is no longer ours"
            )));
        }
        super::runs::write_list_position(&mut tx, run_id, &checkpoint.list).await?;
        notify_change(
            &mut tx,
            &ChangeNote::page(source_id, run_id, counts, last_change_seq),
        )
        .await?;
        tx.commit().await?;
        Ok(counts)
    }

    /// Stores records fetched again for quarantined entries and marks those resolved, in
    /// one transaction; counts go to `run_id`.
    pub async fn store_resolved(
        &self,
        run_id: i64,
        source_id: i64,
        lease: (&str, std::time::Duration),
        rows: &[RecordRow],
        resolved: &[i64],
    ) -> Result<PageCounts, StoreError> {
        let mut tx = self.pool.begin().await?;
        renew_lease_on(&mut *tx, source_id, lease.0, lease.1).await?;
        let (counts, last_change_seq) = upsert_rows(&mut tx, run_id, source_id, rows).await?;
        sqlx::query(
            "UPDATE quarantine SET resolved_at = now(), resolved_by_run = $2 WHERE id = ANY($1)",
        )
        .bind(resolved)
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE harvest_runs SET records_new = records_new + $2, records_updated = records_updated + $3, \
             records_unchanged = records_unchanged + $4, records_deleted = records_deleted + $5 WHERE id = $1",
        )
        .bind(run_id)
        .bind(counts.new)
        .bind(counts.updated)
        .bind(counts.unchanged)
        .bind(counts.deleted)
        .execute(&mut *tx)
        .await?;
        notify_change(
            &mut tx,
            &ChangeNote::page(source_id, run_id, counts, last_change_seq),
        )
        .await?;
        tx.commit().await?;
        Ok(counts)
    }

    /// Unresolved quarantine entries of a source, oldest first.
    pub async fn unresolved_quarantine(
        &self,
        source_id: i64,
        limit: i64,
    ) -> Result<Vec<QuarantineEntry>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, run_id, oai_identifier, byte_offset, error, resolved_at FROM quarantine \
             WHERE source_id = $1 AND resolved_at IS NULL ORDER BY id LIMIT $2",
        )
        .bind(source_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Quarantine entries created by a run.
    pub async fn quarantine_of_run(&self, run_id: i64) -> Result<Vec<QuarantineEntry>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, run_id, oai_identifier, byte_offset, error, resolved_at FROM quarantine WHERE run_id = $1 ORDER BY id",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Counts of live and deleted records of a source.
    pub async fn record_counts(&self, source_id: i64) -> Result<(i64, i64), StoreError> {
        Ok(sqlx::query_as(
            "SELECT count(*) FILTER (WHERE NOT deleted), count(*) FILTER (WHERE deleted) FROM records WHERE source_id = $1",
        )
        .bind(source_id)
        .fetch_one(&self.pool)
        .await?)
    }
}

/// One quarantined record or fragment.
#[derive(Debug, Clone, Default)]
pub struct QuarantineRow {
    /// The identifier, when known.
    pub oai_identifier: Option<String>,
    /// Byte offset in the page.
    pub byte_offset: Option<i64>,
    /// Why it was quarantined.
    pub error: String,
    /// The bytes as received.
    pub raw: Vec<u8>,
}

/// An unresolved quarantine entry to retry.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct QuarantineEntry {
    /// Primary key.
    pub id: i64,
    /// The run that quarantined it.
    pub run_id: Option<i64>,
    /// The identifier, when known.
    pub oai_identifier: Option<String>,
    /// Byte offset in the page.
    pub byte_offset: Option<i64>,
    /// Why.
    pub error: String,
    /// When it was resolved by a later run.
    pub resolved_at: Option<DateTime<Utc>>,
}

async fn insert_quarantine(
    tx: &mut sqlx::PgConnection,
    run_id: i64,
    source_id: i64,
    rows: &[QuarantineRow],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<Option<String>> = rows.iter().map(|q| clean_opt(&q.oai_identifier)).collect();
    let offsets: Vec<Option<i64>> = rows.iter().map(|q| q.byte_offset).collect();
    let errors: Vec<String> = rows.iter().map(|q| clean(&q.error)).collect();
    let raws: Vec<Vec<u8>> = rows.iter().map(|q| q.raw.clone()).collect();
    sqlx::query(
        "INSERT INTO quarantine (source_id, run_id, oai_identifier, byte_offset, error, raw) \
         SELECT $1, $2, * FROM UNNEST($3::text[], $4::bigint[], $5::text[], $6::bytea[])",
    )
    .bind(source_id)
    .bind(run_id)
    .bind(&ids)
    .bind(&offsets)
    .bind(&errors)
    .bind(&raws)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Upserts a page; returns its counts and the highest `change_seq` it wrote.
async fn upsert_rows(
    tx: &mut sqlx::PgConnection,
    run_id: i64,
    source_id: i64,
    rows: &[RecordRow],
) -> Result<(PageCounts, Option<i64>), StoreError> {
    let mut counts = PageCounts::default();
    let mut last_change_seq = None;
    if !rows.is_empty() {
        let n = rows.len();
        let mut ids = Vec::with_capacity(n);
        let mut datestamps = Vec::with_capacity(n);
        let mut datestamp_raws = Vec::with_capacity(n);
        let mut deleted = Vec::with_capacity(n);
        let mut sets = Vec::with_capacity(n);
        let mut normalized = Vec::with_capacity(n);
        let mut titles = Vec::with_capacity(n);
        let mut dois = Vec::with_capacity(n);
        let mut issued = Vec::with_capacity(n);
        let mut languages = Vec::with_capacity(n);
        let mut types = Vec::with_capacity(n);
        let mut flags = Vec::with_capacity(n);
        let mut work_keys = Vec::with_capacity(n);
        let mut raws = Vec::with_capacity(n);
        let mut hashes = Vec::with_capacity(n);
        for r in rows {
            ids.push(clean(&r.oai_identifier));
            datestamps.push(r.datestamp);
            datestamp_raws.push(clean(&r.datestamp_raw));
            deleted.push(r.deleted);
            sets.push(clean(&join(&r.sets)));
            // Sent as text: stored as is for the change feed and parsed into the jsonb.
            normalized.push(r.normalized.as_ref().map(|v| v.to_string()));
            titles.push(clean_opt(&r.title));
            dois.push(clean_opt(&r.doi));
            issued.push(clean_opt(&r.issued));
            languages.push(join(&r.languages));
            types.push(join(&r.types));
            flags.push(join(&r.flags));
            work_keys.push(clean_opt(&r.work_key));
            raws.push(clean_opt(&r.raw_metadata));
            hashes.push(r.content_hash.clone());
        }
        lock_change_feed(tx).await?;
        let (inserted_live, updated_live, deleted_n, max_seq): (i64, i64, i64, Option<i64>) =
            sqlx::query_as(UPSERT)
                .bind(source_id)
                .bind(run_id)
                .bind(&ids)
                .bind(&datestamps)
                .bind(&datestamp_raws)
                .bind(&deleted)
                .bind(&sets)
                .bind(&normalized)
                .bind(&titles)
                .bind(&dois)
                .bind(&issued)
                .bind(&languages)
                .bind(&types)
                .bind(&flags)
                .bind(&work_keys)
                .bind(&raws)
                .bind(&hashes)
                .fetch_one(&mut *tx)
                .await?;
        counts = PageCounts {
            new: inserted_live,
            updated: updated_live,
            deleted: deleted_n,
            unchanged: n as i64 - inserted_live - updated_live - deleted_n,
        };
        last_change_seq = max_seq;
    }

    Ok((counts, last_change_seq))
}

/// The page upsert. Unchanged rows (same content hash) are skipped by the `WHERE` of
/// `DO UPDATE`, so they cost no write, no index churn and no change sequence.
const UPSERT: &str = r#"
WITH input AS (
    SELECT * FROM UNNEST($3::text[], $4::timestamptz[], $5::text[], $6::bool[], $7::text[], $8::text[],
                         $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[],
                         $15::text[], $16::text[], $17::bytea[])
        AS u(oai_identifier, datestamp, datestamp_raw, deleted, sets, normalized_text, title, doi, issued,
             languages, types, flags, work_key, raw_metadata, content_hash)
), upserted AS (
    INSERT INTO records AS r (source_id, oai_identifier, datestamp, datestamp_raw, deleted, sets, normalized,
                              normalized_text, title, doi, issued, languages, types, flags, work_key,
                              raw_metadata, content_hash, last_run_id)
    SELECT $1, oai_identifier, datestamp, datestamp_raw, deleted,
           COALESCE(string_to_array(NULLIF(sets, ''), E'\x1f'), '{}'), normalized_text::jsonb, normalized_text,
           title, doi, issued,
           COALESCE(string_to_array(NULLIF(languages, ''), E'\x1f'), '{}'),
           COALESCE(string_to_array(NULLIF(types, ''), E'\x1f'), '{}'),
           COALESCE(string_to_array(NULLIF(flags, ''), E'\x1f'), '{}'),
           work_key, raw_metadata, content_hash, $2
    FROM input
    ON CONFLICT (source_id, oai_identifier) DO UPDATE SET
        datestamp = EXCLUDED.datestamp, datestamp_raw = EXCLUDED.datestamp_raw, deleted = EXCLUDED.deleted,
        sets = EXCLUDED.sets, normalized = EXCLUDED.normalized, normalized_text = EXCLUDED.normalized_text,
        title = EXCLUDED.title, doi = EXCLUDED.doi,
        issued = EXCLUDED.issued, languages = EXCLUDED.languages, types = EXCLUDED.types,
        flags = EXCLUDED.flags, work_key = EXCLUDED.work_key, raw_metadata = EXCLUDED.raw_metadata,
        content_hash = EXCLUDED.content_hash, last_run_id = EXCLUDED.last_run_id,
        last_harvested_at = now(), updated_at = now(), change_seq = nextval('record_change_seq')
    WHERE r.content_hash IS DISTINCT FROM EXCLUDED.content_hash
      -- A live record sent without metadata never blanks the stored copy (quirks #13).
      AND (EXCLUDED.deleted OR EXCLUDED.raw_metadata IS NOT NULL)
    RETURNING (xmax = 0) AS inserted, r.deleted, r.change_seq
)
SELECT count(*) FILTER (WHERE inserted AND NOT deleted),
       count(*) FILTER (WHERE NOT inserted AND NOT deleted),
       count(*) FILTER (WHERE deleted),
       max(change_seq)
FROM upserted
"#;
