//! sheaf harvests scholarly metadata over OAI-PMH into PostgreSQL.
//!
//! See `ARCHITECTURE.md` at the repository root for the map of modules and the data flow.

pub mod domain;
pub mod oai;
