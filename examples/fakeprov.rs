//! The fake OAI-PMH provider of the integration tests as a standalone server, for manual checks
//! and benchmarks:
//! `cargo run --example fakeprov -- --port 8080 --records 5000 --page-size 100 --gzip`
//! then `curl 'http://127.0.0.1:8080/oai?verb=ListRecords&metadataPrefix=oai_dc'`.

// Shared with the tests so manual runs exercise exactly the tested provider.
#[path = "../tests/common/fake_provider.rs"]
// The example uses only part of the test helper's API (faults, predicates, …).
#[expect(dead_code)]
mod fake_provider;

use std::net::SocketAddr;

use clap::Parser;
use fake_provider::{FakeProvider, FakeRecord, Granularity, ProviderConfig, TokenStyle};

#[derive(Parser)]
struct Args {
    /// Port on 127.0.0.1.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Number of generated oai_dc records (one minute apart from 2024-01-01).
    #[arg(long, default_value_t = 1000)]
    records: usize,
    #[arg(long, default_value_t = 100)]
    page_size: usize,
    /// Declare and enforce day granularity.
    #[arg(long)]
    day: bool,
    /// Advertise and serve gzip/deflate.
    #[arg(long)]
    gzip: bool,
    /// Spread records over this many sets `journal0..` (0 = no sets).
    #[arg(long, default_value_t = 0)]
    sets: usize,
    /// Every n-th record is a tombstone (0 = none).
    #[arg(long, default_value_t = 0)]
    deleted_every: usize,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let start = chrono::DateTime::UNIX_EPOCH + chrono::TimeDelta::days(19_723); // 2024-01-01
    let mut records = FakeRecord::series(args.records, start);
    for (i, r) in records.iter_mut().enumerate() {
        if args.sets > 0 {
            r.sets = vec![format!("journal{}", i % args.sets)];
        }
        if args.deleted_every > 0 && (i + 1) % args.deleted_every == 0 {
            r.deleted = true;
            r.metadata = None;
        }
    }
    let config = ProviderConfig {
        page_size: args.page_size,
        granularity: if args.day {
            Granularity::Day
        } else {
            Granularity::Seconds
        },
        compression: args.gzip,
        token_style: TokenStyle::SelfClosingWithAttrs,
        sets: (0..args.sets)
            .map(|i| (format!("journal{i}"), format!("Journal {i}")))
            .collect(),
        ..ProviderConfig::default()
    };
    let bind = SocketAddr::from(([127, 0, 0, 1], args.port));
    let provider = FakeProvider::start_on(bind, config, records).await;
    println!(
        "fake OAI-PMH provider at {} (Ctrl-C stops)",
        provider.base_url()
    );
    let _ = tokio::signal::ctrl_c().await;
    println!("{} requests served", provider.requests().len());
    provider.shutdown().await;
}
