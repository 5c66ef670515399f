//! Reading records back: single records in the contract's shape, streamed exports, and
//! the batches `db renormalize` rewrites.

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use super::records::{ChangeNote, lock_change_feed, notify_change};
use super::{Store, StoreError};
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::contract::{ContractRowRef, RecordRowView};

const VIEW: &str = "SELECT r.id, s.name AS source, r.oai_identifier, r.datestamp, r.deleted, r.sets, r.normalized, r.updated_at \
                    FROM records r JOIN sources s ON s.id = r.source_id";

/// How a user names a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordKey {
    /// The numeric id.
    Id(i64),
    /// A DOI (`10.…`, any case, resolver prefix allowed).
    Doi(String),
    /// An OAI identifier.
    OaiIdentifier(String),
}

impl RecordKey {
    /// Reads what the user typed.
    pub fn parse(s: &str) -> Self {
        let t = s.trim();
        if let Ok(id) = t.parse() {
            return Self::Id(id);
        }
        let lower = t.to_lowercase();
        let doi = [
            "https://doi.org/",
            "http://doi.org/",
            "https://dx.doi.org/",
            "doi:",
        ]
        .iter()
        .find_map(|p| lower.strip_prefix(p))
        .unwrap_or(&lower);
        if doi.starts_with("10.") && doi.contains('/') {
            return Self::Doi(doi.to_owned());
        }
        Self::OaiIdentifier(t.to_owned())
    }
}

/// Where an export starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// Records changed at or after this time.
    Time(DateTime<Utc>),
    /// Records whose change sequence number is above this cursor.
    ChangeSeq(i64),
}

/// One entry of the change feed as PostgreSQL sent it: the record as it is now and the
/// sequence number of its last change. Its fields are read in place by position
/// (`change`), never copied into owned values.
#[derive(Debug)]
pub struct ChangeRow(PgRow);

impl ChangeRow {
    /// The change sequence number and the record, borrowed from the row.
    pub fn change(&self) -> Result<(i64, ContractRowRef<'_>), StoreError> {
        let r = &self.0;
        let row = ContractRowRef {
            id: r.try_get(1)?,
            source: r.try_get(2)?,
            oai_identifier: r.try_get(3)?,
            datestamp: r.try_get(4)?,
            deleted: r.try_get(5)?,
            sets: r.try_get(6)?,
            normalized: r.try_get::<Option<StoredText<'_>>, _>(7)?.map(|t| t.0),
            updated_at: r.try_get(8)?,
        };
        Ok((r.try_get(0)?, row))
    }
}

/// A `text` value's bytes as sent: the server's encoding is UTF-8, so checking it again
/// was a sixth of the feed's CPU in sheaf.
struct StoredText<'r>(&'r [u8]);

impl sqlx::Type<sqlx::Postgres> for StoredText<'_> {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <String as sqlx::Type<sqlx::Postgres>>::type_info()
    }

    fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
        <String as sqlx::Type<sqlx::Postgres>>::compatible(ty)
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Postgres> for StoredText<'r> {
    fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        Ok(Self(value.as_bytes()?))
    }
}

/// One record's stored normalization inputs and outputs, for re-normalization.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RawRecord {
    /// Record id.
    pub id: i64,
    /// Raw metadata XML.
    pub raw_metadata: String,
    /// What is stored now.
    pub normalized: Option<serde_json::Value>,
    /// Content hash when read: the rewrite only applies if the record is unchanged since.
    pub content_hash: Vec<u8>,
}

/// New normalized fields for one record.
#[derive(Debug, Clone, Default)]
pub struct Renormalized {
    /// Record id.
    pub id: i64,
    /// Contract fields.
    pub normalized: serde_json::Value,
    /// First title.
    pub title: Option<String>,
    /// DOI.
    pub doi: Option<String>,
    /// Issued.
    pub issued: Option<String>,
    /// Languages.
    pub languages: Vec<String>,
    /// Types.
    pub types: Vec<String>,
    /// Flags.
    pub flags: Vec<String>,
    /// Work key.
    pub work_key: Option<String>,
}

impl Store {
    /// Records matching a key (a DOI or OAI identifier may match several sources).
    pub async fn find_records(&self, key: &RecordKey) -> Result<Vec<RecordRowView>, StoreError> {
        let q = match key {
            RecordKey::Id(id) => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!("{VIEW} WHERE r.id = $1"))).bind(*id)
            }
            RecordKey::Doi(d) => sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{VIEW} WHERE r.doi = $1 ORDER BY r.id"
            )))
            .bind(d.clone()),
            RecordKey::OaiIdentifier(o) => sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{VIEW} WHERE r.oai_identifier = $1 ORDER BY r.id"
            )))
            .bind(o.clone()),
        };
        Ok(q.fetch_all(&self.pool).await?)
    }

    /// Streams records in id order, optionally of one source and changed since a time or
    /// change cursor. Memory stays constant whatever the number of records.
    pub fn stream_records(
        &self,
        source_id: Option<i64>,
        since: Option<Since>,
    ) -> BoxStream<'_, Result<RecordRowView, StoreError>> {
        let (time, seq) = match since {
            Some(Since::Time(t)) => (Some(t), None),
            Some(Since::ChangeSeq(n)) => (None, Some(n)),
            None => (None, None),
        };
        let sql = format!(
            "{VIEW} WHERE ($1::bigint IS NULL OR r.source_id = $1) AND ($2::timestamptz IS NULL OR r.updated_at >= $2) \
             AND ($3::bigint IS NULL OR r.change_seq > $3) ORDER BY r.id"
        );
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(source_id)
            .bind(time)
            .bind(seq)
            .fetch(&self.pool)
            .map(|r| r.map_err(StoreError::from))
            .boxed()
    }

    /// Records changed after `since` in change order, tombstones included, at most
    /// `limit + 1` (the extra row tells the caller that more are waiting), streamed as
    /// PostgreSQL sends them. Because every writer holds `lock_change_feed` from its first
    /// `change_seq` to its commit, a reader that has seen sequence N has already seen every
    /// committed change below N. The normalized fields come as text so the feed can copy
    /// them instead of parsing them.
    pub fn change_rows(
        &self,
        since: i64,
        limit: i64,
    ) -> BoxStream<'_, Result<ChangeRow, StoreError>> {
        // Columns are read by position in `ChangeRow::change`: keep the order.
        sqlx::query(
            "SELECT r.change_seq, r.id, s.name AS source, r.oai_identifier, r.datestamp, r.deleted, r.sets, \
             CASE WHEN NOT r.deleted THEN COALESCE(r.normalized_text, r.normalized::text) END AS normalized, r.updated_at \
             FROM records r JOIN sources s ON s.id = r.source_id \
             WHERE r.change_seq > $1 ORDER BY r.change_seq LIMIT $2",
        )
        .bind(since)
        .bind(limit.max(0).saturating_add(1))
        .fetch(&self.pool)
        .map(|r| r.map(ChangeRow).map_err(StoreError::from))
        .boxed()
    }

    /// The next batch of live records with raw metadata after `after_id`.
    pub async fn raw_batch(
        &self,
        source_id: Option<i64>,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<RawRecord>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, raw_metadata, normalized, content_hash FROM records WHERE id > $1 AND raw_metadata IS NOT NULL AND NOT deleted \
             AND ($2::bigint IS NULL OR source_id = $2) ORDER BY id LIMIT $3",
        )
        .bind(after_id)
        .bind(source_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Writes re-normalized fields; each changed record gets a new change sequence.
    /// `read_hashes[i]` is the content hash `rows[i]` was computed from: a record a harvest
    /// changed (or tombstoned) since its batch was read is left alone, so stale fields never
    /// overwrite fresh ones.
    pub async fn apply_renormalized(
        &self,
        rows: &[Renormalized],
        read_hashes: &[Vec<u8>],
    ) -> Result<u64, StoreError> {
        if rows.is_empty() {
            return Ok(0);
        }
        if rows.len() != read_hashes.len() {
            return Err(StoreError::BadData(
                "one read hash per re-normalized row".into(),
            ));
        }
        let sep = "\u{1f}";
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let norm: Vec<String> = rows.iter().map(|r| r.normalized.to_string()).collect();
        let titles: Vec<Option<String>> = rows.iter().map(|r| r.title.clone()).collect();
        let dois: Vec<Option<String>> = rows.iter().map(|r| r.doi.clone()).collect();
        let issued: Vec<Option<String>> = rows.iter().map(|r| r.issued.clone()).collect();
        let langs: Vec<String> = rows.iter().map(|r| r.languages.join(sep)).collect();
        let types: Vec<String> = rows.iter().map(|r| r.types.join(sep)).collect();
        let flags: Vec<String> = rows.iter().map(|r| r.flags.join(sep)).collect();
        let keys: Vec<Option<String>> = rows.iter().map(|r| r.work_key.clone()).collect();
        let mut tx = self.pool.begin().await?;
        lock_change_feed(&mut tx).await?;
        let (changed, last_change_seq): (i64, Option<i64>) = sqlx::query_as(
            "WITH changed AS (UPDATE records r SET normalized = u.normalized::jsonb, normalized_text = u.normalized, title = u.title, doi = u.doi, issued = u.issued, \
             languages = COALESCE(string_to_array(NULLIF(u.languages, ''), E'\\x1f'), '{}'), \
             types = COALESCE(string_to_array(NULLIF(u.types, ''), E'\\x1f'), '{}'), \
             flags = COALESCE(string_to_array(NULLIF(u.flags, ''), E'\\x1f'), '{}'), \
             work_key = u.work_key, updated_at = now(), change_seq = nextval('record_change_seq') \
             FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::bytea[]) \
                  AS u(id, normalized, title, doi, issued, languages, types, flags, work_key, read_hash) \
             WHERE r.id = u.id AND NOT r.deleted AND r.content_hash = u.read_hash RETURNING r.change_seq) \
             SELECT count(*), max(change_seq) FROM changed",
        )
        .bind(&ids)
        .bind(&norm)
        .bind(&titles)
        .bind(&dois)
        .bind(&issued)
        .bind(&langs)
        .bind(&types)
        .bind(&flags)
        .bind(&keys)
        .bind(read_hashes)
        .fetch_one(&mut *tx)
        .await?;
        if changed > 0 {
            let note = ChangeNote {
                kind: "renormalize",
                source_id: None,
                run_id: None,
                counts: super::PageCounts {
                    updated: changed,
                    ..Default::default()
                },
                last_change_seq,
            };
            notify_change(&mut tx, &note).await?;
        }
        tx.commit().await?;
        Ok(changed as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_keys_are_recognised() {
        assert_eq!(RecordKey::parse("42"), RecordKey::Id(42));
        assert_eq!(
            RecordKey::parse("https://doi.org/10.31857/S013128120020016-6"),
            RecordKey::Doi("10.31857/s013128120020016-6".into())
        );
        assert_eq!(
            RecordKey::parse("doi:10.1/X"),
            RecordKey::Doi("10.1/x".into())
        );
        assert_eq!(
            RecordKey::parse("oai:j.example:article/1"),
            RecordKey::OaiIdentifier("oai:j.example:article/1".into())
        );
    }
}
