//! Checks done before a source is registered: the endpoint answers Identify, offers the
//! metadata prefix, and has the sets asked for. Each failure says what to change.

use super::client::OaiClient;
use super::error::OaiError;
use super::request::Request;
use super::response::Payload;

/// Why an endpoint cannot be registered as asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// The endpoint did not answer Identify properly.
    #[error("Identify failed: {0}")]
    Identify(#[source] OaiError),
    /// The prefix is not offered.
    #[error("the endpoint does not offer metadataPrefix {prefix:?}; it offers: {offered}")]
    NoPrefix {
        /// Asked for.
        prefix: String,
        /// What ListMetadataFormats listed.
        offered: String,
    },
    /// Some sets do not exist.
    #[error("unknown set(s) {missing:?}; the endpoint has {available} set(s), e.g. {examples}")]
    NoSuchSets {
        /// Sets asked for that are not listed.
        missing: Vec<String>,
        /// How many sets exist.
        available: usize,
        /// A few existing set specs.
        examples: String,
    },
    /// A request other than Identify failed.
    #[error(transparent)]
    Oai(#[from] OaiError),
}

/// Validates an endpoint for registration; returns the repository name.
pub async fn validate_endpoint(
    client: &OaiClient,
    prefix: &str,
    sets: &[String],
) -> Result<String, ValidationError> {
    let (identify, _) = client
        .request(&Request::Identify)
        .await
        .map_err(ValidationError::Identify)?;
    let name = match identify.payload {
        Payload::Identify(i) => i.repository_name,
        _ => String::new(),
    };
    let (formats, _) = client
        .request(&Request::ListMetadataFormats { identifier: None })
        .await?;
    if let Payload::MetadataFormats(f) = formats.payload
        && !f.iter().any(|m| m.prefix == prefix)
    {
        let offered = f
            .iter()
            .map(|m| m.prefix.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(ValidationError::NoPrefix {
            prefix: prefix.to_owned(),
            offered,
        });
    }
    if !sets.is_empty() {
        let mut known = Vec::new();
        let mut req = Request::ListSets;
        loop {
            let (page, _) = client.request(&req).await?;
            if let Payload::Sets(s) = &page.payload {
                known.extend(s.iter().map(|s| s.spec.clone()));
            }
            match page.next_token() {
                Some(t) if known.len() < 100_000 => {
                    req = Request::Resume {
                        verb: super::Verb::ListSets,
                        token: t.to_owned(),
                    }
                }
                _ => break,
            }
        }
        let missing: Vec<String> = sets
            .iter()
            .filter(|s| !known.contains(s))
            .cloned()
            .collect();
        if !missing.is_empty() {
            let examples = known.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
            return Err(ValidationError::NoSuchSets {
                missing,
                available: known.len(),
                examples,
            });
        }
    }
    Ok(name)
}
