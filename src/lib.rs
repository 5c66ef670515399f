//! sheaf harvests scholarly metadata over OAI-PMH into PostgreSQL.
//!
//! See `ARCHITECTURE.md` at the repository root for the map of modules and the data flow.

pub mod alloc;
pub mod api;
pub mod check;
pub mod cli;
pub mod config;
pub mod contract;
pub mod db;
pub mod domain;
pub mod harvest;
pub mod normalize;
pub mod oai;
pub mod provider;
pub mod schedule;
pub mod service;
pub mod source_settings;
pub mod sources_file;
pub mod store;
pub mod telemetry;
