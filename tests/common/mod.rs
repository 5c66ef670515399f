//! Helpers shared by integration tests.

// Each test binary compiles this module but uses only part of it, so unused helpers are
// expected per binary; `expect` would fail in binaries that do use everything.
#![allow(dead_code)]

pub mod db;
pub mod fake_provider;
pub mod harness;
