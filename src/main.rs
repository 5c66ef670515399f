//! The `sheaf` binary: parse the command line, load configuration, set up logging,
//! dispatch. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc, tuned in `sheaf::alloc` (fewer instructions per record than glibc).
#[global_allocator]
static GLOBAL: sheaf::alloc::Allocator = sheaf::alloc::Allocator;

fn main() -> ExitCode {
    // Before any thread starts: the allocator's settings are process-wide.
    sheaf::alloc::configure();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run())
}

async fn run() -> ExitCode {
    let cli = sheaf::cli::Cli::parse();
    let cfg = match sheaf::config::Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    sheaf::telemetry::init(&cfg.log.format, &cfg.log.level);
    match sheaf::cli::run(cli, cfg).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the context chain joined, as operators read it.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
