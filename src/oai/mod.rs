//! OAI-PMH 2.0 over HTTP: request building ([`request`]), the HTTP client with politeness,
//! retries and size caps ([`client`]), body decoding ([`decode`]), the streaming response
//! parser ([`response`]) and protocol dates ([`datestamp`]).
//!
//! **Architecture invariant:** this module knows nothing of SQL or of normalization. It turns
//! a base URL and a [`Request`] into typed [`Response`]s and typed errors.

pub mod client;
pub mod datestamp;
pub mod decode;
pub mod error;
pub mod request;
pub mod response;
pub mod validate;

pub use client::{EndpointOptions, HttpClient, HttpConfig, OaiClient};
pub use datestamp::Granularity;
pub use error::{OaiError, OaiErrorCode, ProtocolError};
pub use request::{ListArgs, Request, Verb};
pub use response::{
    Header, Identify, MetadataFormat, OaiRecord, Payload, RecordMetadata, Response,
    ResumptionToken, SetInfo,
};

/// Namespace of the OAI-PMH envelope.
pub const OAI_NS: &str = "http://www.openarchives.org/OAI/2.0/";
/// Namespace of the `oai_dc` container element.
pub const OAI_DC_NS: &str = "http://www.openarchives.org/OAI/2.0/oai_dc/";
