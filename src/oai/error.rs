//! Errors of the protocol layer. Normal protocol outcomes (`noRecordsMatch`,
//! `noSetHierarchy`) are not errors: the parser turns them into empty results.

use std::time::Duration;

/// The error codes of OAI-PMH 2.0 (spec §3.6), plus whatever else a server invents.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OaiErrorCode {
    /// Illegal or missing argument.
    BadArgument,
    /// The token is invalid or expired.
    BadResumptionToken,
    /// Unknown verb.
    BadVerb,
    /// The metadata format is not supported for the item or the repository.
    CannotDisseminateFormat,
    /// Unknown identifier.
    IdDoesNotExist,
    /// The list is empty.
    NoRecordsMatch,
    /// No formats for the item.
    NoMetadataFormats,
    /// The repository has no sets.
    NoSetHierarchy,
    /// A code outside the spec, kept verbatim.
    Other(String),
}

impl OaiErrorCode {
    /// Parses the `code` attribute.
    pub fn parse(code: &str) -> Self {
        match code.trim() {
            "badArgument" => Self::BadArgument,
            "badResumptionToken" => Self::BadResumptionToken,
            "badVerb" => Self::BadVerb,
            "cannotDisseminateFormat" => Self::CannotDisseminateFormat,
            "idDoesNotExist" => Self::IdDoesNotExist,
            "noRecordsMatch" => Self::NoRecordsMatch,
            "noMetadataFormats" => Self::NoMetadataFormats,
            "noSetHierarchy" => Self::NoSetHierarchy,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The code as the spec spells it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::BadArgument => "badArgument",
            Self::BadResumptionToken => "badResumptionToken",
            Self::BadVerb => "badVerb",
            Self::CannotDisseminateFormat => "cannotDisseminateFormat",
            Self::IdDoesNotExist => "idDoesNotExist",
            Self::NoRecordsMatch => "noRecordsMatch",
            Self::NoMetadataFormats => "noMetadataFormats",
            Self::NoSetHierarchy => "noSetHierarchy",
            Self::Other(s) => s,
        }
    }
}

/// One `<error code="…">message</error>` of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    /// The code.
    pub code: OaiErrorCode,
    /// The server's message, trimmed.
    pub message: String,
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.message.is_empty() {
            write!(f, "{}", self.code.as_str())
        } else {
            write!(f, "{}: {}", self.code.as_str(), self.message)
        }
    }
}

/// Everything that can go wrong talking to an OAI-PMH endpoint.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OaiError {
    /// The base URL or a redirect target is not an acceptable http(s) URL.
    #[error("invalid URL {url}: {reason}")]
    InvalidUrl {
        /// The offending URL.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// Connection refused/reset, DNS failure, or an I/O error mid-body.
    #[error("network error for {url}: {source}")]
    Network {
        /// The request URL.
        url: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// The TLS handshake or certificate check failed.
    #[error("TLS error for {url}: {message}")]
    Tls {
        /// The request URL.
        url: String,
        /// The cause, as text.
        message: String,
    },
    /// No answer within the request deadline.
    #[error("timed out after {after:?} for {url}")]
    Timeout {
        /// The request URL.
        url: String,
        /// The deadline that passed.
        after: Duration,
    },
    /// An HTTP status that is not success and carries no OAI error.
    #[error("HTTP {status} from {url}")]
    HttpStatus {
        /// The request URL.
        url: String,
        /// The status code.
        status: u16,
        /// The server's `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
    /// The body exceeded the configured cap (a decompression bomb or an endless stream).
    #[error("response too large from {url}: more than {limit} bytes")]
    TooLarge {
        /// The request URL.
        url: String,
        /// The cap in bytes.
        limit: u64,
    },
    /// The body is not well-formed XML, or uses a forbidden construct (DTD, deep nesting).
    #[error("malformed XML from {url} at byte {position}: {message}")]
    Xml {
        /// The request URL.
        url: String,
        /// Byte offset of the problem.
        position: u64,
        /// What is wrong.
        message: String,
    },
    /// A 200 response that is not an OAI-PMH document (an HTML page, an empty body).
    #[error("not an OAI-PMH response from {url}: {detail}")]
    NotOai {
        /// The request URL.
        url: String,
        /// What was found instead.
        detail: String,
    },
    /// The server asked to come back later than sheaf is willing to wait in-process.
    #[error("deferred by {url} until {until}")]
    Deferred {
        /// The request URL.
        url: String,
        /// The earliest time to ask again.
        until: chrono::DateTime<chrono::Utc>,
    },
    /// The server answered with OAI-PMH error(s) that end the request.
    #[error("OAI-PMH error from {url}: {}", .errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Protocol {
        /// The request URL.
        url: String,
        /// The errors, in document order.
        errors: Vec<ProtocolError>,
    },
}

impl OaiError {
    /// Whether retrying the same request may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Network { .. } | Self::Timeout { .. } | Self::NotOai { .. } => true,
            Self::HttpStatus { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }

    /// The first protocol error code, if this is a protocol error.
    pub fn protocol_code(&self) -> Option<&OaiErrorCode> {
        match self {
            Self::Protocol { errors, .. } => errors.first().map(|e| &e.code),
            _ => None,
        }
    }
}
