//! `config/sources.toml`: sources declared in a file and synced into the database when the
//! service starts. The database stays the source of truth at run time; the file only adds
//! sources and updates the fields it names. Sources missing from the file are left alone
//! (removing is explicit: `sheaf sources remove`).

use std::path::Path;

use serde::Deserialize;

use crate::schedule::CronSchedule;
use crate::store::{NewSource, SourcePatch, Store, StoreError};

/// The file: `[[source]]` tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourcesFile {
    /// The declared sources.
    #[serde(default)]
    pub source: Vec<DeclaredSource>,
}

/// One declared source.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredSource {
    /// Unique name.
    pub name: String,
    /// OAI-PMH base URL.
    pub url: String,
    /// metadataPrefix (default `oai_dc`).
    #[serde(default = "oai_dc")]
    pub prefix: String,
    /// Sets (default: all).
    #[serde(default)]
    pub sets: Vec<String>,
    /// Cron schedule.
    pub schedule: Option<String>,
    /// Enabled (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Per-source settings (`[source.settings]`); when given they replace the stored ones.
    pub settings: Option<crate::source_settings::SourceSettings>,
}

fn oai_dc() -> String {
    "oai_dc".into()
}

fn yes() -> bool {
    true
}

/// Why the file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SourcesFileError {
    /// Unreadable.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Not valid TOML or wrong keys.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong, with the key.
        message: String,
    },
    /// Writing to the database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Parses and checks the file (URLs, schedules) without touching the database.
pub fn load(path: &Path) -> Result<SourcesFile, SourcesFileError> {
    let p = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| SourcesFileError::Io {
        path: p.clone(),
        source,
    })?;
    let file: SourcesFile = toml::from_str(&text).map_err(|e| SourcesFileError::Invalid {
        path: p.clone(),
        message: e.to_string(),
    })?;
    for s in &file.source {
        let bad = |m: String| SourcesFileError::Invalid {
            path: p.clone(),
            message: format!("source {:?}: {m}", s.name),
        };
        crate::oai::client::parse_base_url(&s.url).map_err(|e| bad(format!("url: {e}")))?;
        if let Some(line) = &s.schedule {
            CronSchedule::parse(line).map_err(|e| bad(format!("schedule: {e}")))?;
        }
        if let Some(settings) = &s.settings {
            settings
                .validate()
                .map_err(|e| bad(format!("settings: {e}")))?;
        }
    }
    Ok(file)
}

/// Adds missing sources and updates changed ones; returns (added, updated).
pub async fn sync(store: &Store, file: &SourcesFile) -> Result<(usize, usize), SourcesFileError> {
    let (mut added, mut updated) = (0, 0);
    for d in &file.source {
        let mut sets = d.sets.clone();
        sets.sort();
        sets.dedup();
        if let Some(settings) = &d.settings
            && let Some(s) = store.source_by_name(&d.name).await?
            && s.settings != settings.to_json()
        {
            store.set_source_settings(s.id, &settings.to_json()).await?;
            updated += 1;
        }
        match store.source_by_name(&d.name).await? {
            None => {
                let created = store
                    .insert_source(&NewSource {
                        name: d.name.clone(),
                        base_url: d.url.clone(),
                        metadata_prefix: d.prefix.clone(),
                        sets,
                        schedule: d.schedule.clone(),
                    })
                    .await?;
                if let Some(settings) = d.settings.as_ref().filter(|s| !s.is_empty()) {
                    store
                        .set_source_settings(created.id, &settings.to_json())
                        .await?;
                }
                if !d.enabled {
                    store
                        .update_source(
                            &d.name,
                            &SourcePatch {
                                enabled: Some(false),
                                ..Default::default()
                            },
                        )
                        .await?;
                }
                added += 1;
            }
            Some(s) => {
                let changed = s.base_url != d.url
                    || s.metadata_prefix != d.prefix
                    || s.sets != sets
                    || s.schedule != d.schedule
                    || s.enabled != d.enabled;
                if changed {
                    let patch = SourcePatch {
                        base_url: Some(d.url.clone()),
                        metadata_prefix: Some(d.prefix.clone()),
                        sets: Some(sets),
                        schedule: (s.schedule != d.schedule).then(|| d.schedule.clone()),
                        enabled: Some(d.enabled),
                    };
                    store.update_source(&d.name, &patch).await?;
                    updated += 1;
                }
            }
        }
    }
    Ok((added, updated))
}
