//! `sheaf db renormalize`: recompute normalized fields from the stored raw XML, so improved
//! rules apply without re-harvesting. Only records whose output changes are written (and
//! get a new change sequence); batches keep memory constant.

use crate::oai::response::parse_metadata_fragment;
use crate::store::reads::Renormalized;
use crate::store::{Store, StoreError};

/// What a re-normalization did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RenormalizeReport {
    /// Records looked at.
    pub examined: u64,
    /// Records whose normalized output changed (and were rewritten).
    pub changed: u64,
    /// Records whose stored raw XML no longer parses (left as they are).
    pub unparseable: u64,
}

/// Re-normalizes every live record with raw metadata, optionally of one source.
pub async fn renormalize(
    store: &Store,
    source_id: Option<i64>,
) -> Result<RenormalizeReport, StoreError> {
    let mut report = RenormalizeReport::default();
    let mut after = 0i64;
    loop {
        let batch = store.raw_batch(source_id, after, 500).await?;
        let Some(last) = batch.last() else { break };
        after = last.id;
        let batch_result = tokio::task::spawn_blocking(move || {
            let mut changed = Vec::new();
            let mut hashes = Vec::new();
            let mut unparseable = 0u64;
            let examined = batch.len() as u64;
            for r in batch {
                let Ok(dc) = parse_metadata_fragment(&r.raw_metadata) else {
                    unparseable += 1;
                    continue;
                };
                if dc.is_empty() {
                    continue;
                }
                let fields = super::page::normalized_fields(&dc);
                if r.normalized.as_ref() != Some(&fields.normalized) {
                    changed.push(Renormalized { id: r.id, ..fields });
                    hashes.push(r.content_hash);
                }
            }
            (changed, hashes, examined, unparseable)
        })
        .await
        .unwrap_or_default();
        let (changed, hashes, examined, unparseable) = batch_result;
        report.examined += examined;
        report.unparseable += unparseable;
        report.changed += store.apply_renormalized(&changed, &hashes).await?;
    }
    // Changed records are searchable by their new text when this returns.
    if let Err(e) = store.drain_search_index().await {
        tracing::warn!(error = %e, "search index not brought up to date; it catches up later");
    }
    Ok(report)
}
