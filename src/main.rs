//! The `sheaf` binary: parse the command line, load configuration, set up logging,
//! dispatch. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
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
