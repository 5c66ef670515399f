//! Reads behind sheaf's own OAI-PMH data provider (`crate::provider`): keyset pages of
//! records with their aggregator-mode facts, single records by identifier, the set
//! hierarchy and the earliest datestamp.
//!
//! The provider's datestamp is `updated_at` (when sheaf last changed the row), so a
//! harvester of sheaf sees re-normalizations and deletions as changes.

use chrono::{DateTime, Utc};

use super::{Store, StoreError};

/// One record as the provider serves it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OaiItem {
    /// Record id (the keyset position).
    pub id: i64,
    /// Source name.
    pub source: String,
    /// The metadataPrefix the source was harvested with.
    pub source_prefix: String,
    /// The identifier as harvested.
    pub oai_identifier: String,
    /// Another source registered earlier holds the same identifier.
    pub shadowed: bool,
    /// The provider's datestamp.
    pub updated_at: DateTime<Utc>,
    /// Tombstone.
    pub deleted: bool,
    /// The original set specs.
    pub sets: Vec<String>,
    /// Normalized contract fields, when asked for and present.
    pub normalized: Option<serde_json::Value>,
    /// The harvested metadata fragment, when asked for and present.
    pub raw_metadata: Option<String>,
}

/// Which records a list request selects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OaiFilter {
    /// `updated_at >= from`.
    pub from: Option<DateTime<Utc>>,
    /// `updated_at < until` (the caller turns the inclusive protocol bound into this).
    pub until: Option<DateTime<Utc>>,
    /// Only this source.
    pub source: Option<String>,
    /// Only records in this original set or one below it (`a` holds `a:b`); needs `source`.
    pub set: Option<String>,
    /// `None`: records with normalized fields (or tombstones). `Some(prefix)`: records
    /// with raw metadata (or tombstones) of sources harvested with that prefix.
    pub raw_of_prefix: Option<String>,
}

/// What to load with each row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OaiPayload {
    /// Headers only.
    Header,
    /// The normalized fields.
    Normalized,
    /// The raw metadata.
    Raw,
}

/// One source and the original set specs its records carry.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OaiSetRow {
    /// Source name.
    pub source: String,
    /// What the source's Identify called the repository.
    pub repository_name: Option<String>,
    /// One set spec found on its records; `None` for a source without sets.
    pub spec: Option<String>,
}

// Selected columns: the shadow test probes the (source_id, oai_identifier) unique index once
// per earlier source, so it stays cheap without an index on the identifier alone.
const ITEM: &str = "SELECT r.id, s.name AS source, s.metadata_prefix AS source_prefix, r.oai_identifier, \
     EXISTS (SELECT 1 FROM sources o JOIN records d ON d.source_id = o.id AND d.oai_identifier = r.oai_identifier \
             WHERE o.id < r.source_id) AS shadowed, \
     r.updated_at, r.deleted, r.sets, \
     CASE WHEN $1 = 'normalized' THEN r.normalized END AS normalized, \
     CASE WHEN $1 = 'raw' THEN r.raw_metadata END AS raw_metadata";

const FILTER: &str = "FROM records r JOIN sources s ON s.id = r.source_id \
     WHERE ($2::timestamptz IS NULL OR r.updated_at >= $2) \
       AND ($3::timestamptz IS NULL OR r.updated_at < $3) \
       AND ($4::text IS NULL OR s.name = $4) \
       AND ($5::text IS NULL OR $5 = ANY (r.sets) \
            OR EXISTS (SELECT 1 FROM unnest(r.sets) AS x WHERE starts_with(x, $5 || ':'))) \
       AND (CASE WHEN $6::text IS NULL THEN r.deleted OR r.normalized IS NOT NULL \
                 ELSE s.metadata_prefix = $6 AND (r.deleted OR r.raw_metadata IS NOT NULL) END)";

fn payload_name(p: OaiPayload) -> &'static str {
    match p {
        OaiPayload::Header => "header",
        OaiPayload::Normalized => "normalized",
        OaiPayload::Raw => "raw",
    }
}

impl Store {
    /// Up to `limit` records matching `filter` with an id above `after_id`, in id order.
    pub async fn oai_page(
        &self,
        filter: &OaiFilter,
        payload: OaiPayload,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<OaiItem>, StoreError> {
        let sql = format!("{ITEM} {FILTER} AND r.id > $7 ORDER BY r.id LIMIT $8");
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(payload_name(payload))
            .bind(filter.from)
            .bind(filter.until)
            .bind(filter.source.as_deref())
            .bind(filter.set.as_deref())
            .bind(filter.raw_of_prefix.as_deref())
            .bind(after_id)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    /// How many records match `filter` (the list's completeListSize).
    pub async fn oai_count(&self, filter: &OaiFilter) -> Result<i64, StoreError> {
        // $1 is unused here but keeps the parameter numbers of FILTER.
        let sql = format!("SELECT count(*) {FILTER} AND $1::text IS NOT NULL");
        Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind("count")
            .bind(filter.from)
            .bind(filter.until)
            .bind(filter.source.as_deref())
            .bind(filter.set.as_deref())
            .bind(filter.raw_of_prefix.as_deref())
            .fetch_one(&self.pool)
            .await?)
    }

    /// The record stored under `identifier`: in `source` when given, else the one of the
    /// earliest registered source holding it. Normalized and raw metadata are both loaded.
    pub async fn oai_item(
        &self,
        identifier: &str,
        source: Option<&str>,
    ) -> Result<Option<OaiItem>, StoreError> {
        // One unique-index probe per source (there is no index on the identifier alone).
        let sql = "SELECT r.id, s.name AS source, s.metadata_prefix AS source_prefix, r.oai_identifier, \
             EXISTS (SELECT 1 FROM sources o JOIN records d ON d.source_id = o.id AND d.oai_identifier = r.oai_identifier \
                     WHERE o.id < r.source_id) AS shadowed, \
             r.updated_at, r.deleted, r.sets, r.normalized, r.raw_metadata \
             FROM sources s CROSS JOIN LATERAL \
                  (SELECT * FROM records x WHERE x.source_id = s.id AND x.oai_identifier = $1) AS r \
             WHERE ($2::text IS NULL OR s.name = $2) ORDER BY s.id LIMIT 1";
        Ok(sqlx::query_as(sql)
            .bind(identifier)
            .bind(source)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Every source with the distinct set specs found on its records, by name and spec.
    pub async fn oai_sets(&self) -> Result<Vec<OaiSetRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT s.name AS source, s.repository_name, x.spec FROM sources s \
             LEFT JOIN LATERAL (SELECT DISTINCT unnest(r.sets) AS spec FROM records r WHERE r.source_id = s.id) AS x ON true \
             ORDER BY s.name, x.spec",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// The oldest `updated_at` of any record (the provider's earliestDatestamp).
    pub async fn oai_earliest(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(sqlx::query_scalar("SELECT min(updated_at) FROM records")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Whether any source is registered (else the repository has no set hierarchy).
    pub async fn oai_has_sources(&self) -> Result<bool, StoreError> {
        Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM sources)")
            .fetch_one(&self.pool)
            .await?)
    }
}
