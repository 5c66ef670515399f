//! The command line: clap definitions and the commands behind them. Commands print
//! results on stdout (tables on a TTY, JSON with `--json`) and logs on stderr.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Config;
use crate::harvest::{HarvestOptions, Harvester, Progress};
use crate::oai::HttpClient;
use crate::oai::client::parse_base_url;
use crate::store::{NewSource, PageCounts, Run, Source, Store, Trigger};

/// sheaf: harvest scholarly metadata over OAI-PMH into PostgreSQL.
#[derive(Debug, Parser)]
#[command(name = "sheaf", version, about)]
pub struct Cli {
    /// Configuration file (default: config/default.toml if present; env SHEAF_CONFIG).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Harvest one endpoint (a URL, registered on first use) or a registered source, in-process.
    Harvest(HarvestArgs),
    /// Manage sources.
    #[command(subcommand)]
    Sources(SourcesCmd),
    /// List harvest runs, newest first; `runs show <RUN>` for one run in detail.
    Runs(RunsArgs),
    /// Database administration.
    #[command(subcommand)]
    Db(DbCmd),
}

/// `sheaf harvest`
#[derive(Debug, Args)]
pub struct HarvestArgs {
    /// An OAI-PMH base URL or the name of a registered source.
    pub target: String,
    /// Name for a source registered from a URL (default: derived from the host).
    #[arg(long)]
    pub name: Option<String>,
    /// Harvest only this set (repeatable) when registering from a URL.
    #[arg(long = "set")]
    pub sets: Vec<String>,
    /// metadataPrefix when registering from a URL.
    #[arg(long, default_value = "oai_dc")]
    pub prefix: String,
    /// Harvest records changed on or after this date (YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ).
    #[arg(long)]
    pub from: Option<String>,
    /// Harvest records changed on or before this date.
    #[arg(long)]
    pub until: Option<String>,
    /// Ignore incremental state and re-harvest everything.
    #[arg(long, conflicts_with = "from")]
    pub full: bool,
    /// Print the finished run as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `sheaf sources …`
#[derive(Debug, Subcommand)]
pub enum SourcesCmd {
    /// List registered sources.
    List {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

/// `sheaf runs`
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// `show <RUN>`: one run with its warnings and quarantined records.
    #[command(subcommand)]
    pub show: Option<RunsCmd>,
    /// Only runs of this source.
    #[arg(long)]
    pub source: Option<String>,
    /// How many runs.
    #[arg(long, default_value_t = 20)]
    pub limit: i64,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// `sheaf runs show`
#[derive(Debug, Subcommand)]
pub enum RunsCmd {
    /// One run in detail.
    Show {
        /// The run id.
        run: i64,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

/// `sheaf db …`
#[derive(Debug, Subcommand)]
pub enum DbCmd {
    /// Apply pending migrations (they also run at every start).
    Migrate,
    /// Which database is in use and its migration state.
    Status,
}

/// Runs the parsed command.
pub async fn run(cli: Cli, cfg: Config) -> anyhow::Result<()> {
    match cli.command {
        Command::Harvest(args) => harvest(args, &cfg).await,
        Command::Sources(SourcesCmd::List { json }) => {
            let (store, _) = crate::db::open(&cfg).await?;
            sources_list(&store, json).await
        }
        Command::Runs(args) => {
            let (store, _) = crate::db::open(&cfg).await?;
            runs_list(&store, args).await
        }
        Command::Db(DbCmd::Migrate) => {
            let (store, kind) = crate::db::open(&cfg).await?;
            let st = store.migration_status().await?;
            println!(
                "{kind}\nmigrations applied: {}/{}",
                st.applied.len(),
                st.known.len()
            );
            Ok(())
        }
        Command::Db(DbCmd::Status) => db_status(&cfg).await,
    }
}

async fn db_status(cfg: &Config) -> anyhow::Result<()> {
    let (url, kind) = crate::db::resolve(cfg).await?;
    let store = Store::connect(&url, 1)
        .await
        .context("connecting to the database")?;
    let st = store.migration_status().await?;
    println!("database: {kind}");
    println!("server:   {}", store.server_version().await?);
    let pending: Vec<String> = st
        .known
        .iter()
        .filter(|v| !st.applied.contains(v))
        .map(|v| v.to_string())
        .collect();
    if pending.is_empty() {
        println!(
            "schema:   up to date ({} migrations applied)",
            st.applied.len()
        );
    } else {
        println!(
            "schema:   {} pending migration(s): {} (applied automatically at the next start, or `sheaf db migrate`)",
            pending.len(),
            pending.join(", ")
        );
    }
    Ok(())
}

/// Finds or registers the source `target` names.
async fn resolve_source(store: &Store, args: &HarvestArgs) -> anyhow::Result<Source> {
    if !args.target.contains("://") {
        return store.source_by_name(&args.target).await?.with_context(|| {
            format!(
                "no source named {:?}; pass an OAI-PMH URL to register one",
                args.target
            )
        });
    }
    let url = parse_base_url(&args.target)?;
    let mut sets = args.sets.clone();
    sets.sort();
    sets.dedup();
    let existing = store.sources_by_url(url.as_str()).await?;
    if let Some(s) = existing.into_iter().find(|s| {
        s.metadata_prefix == args.prefix
            && s.sets == sets
            && args.name.as_ref().is_none_or(|n| n == &s.name)
    }) {
        return Ok(s);
    }
    let name = match &args.name {
        Some(n) => n.clone(),
        None => free_name(store, &name_from_url(&url)).await?,
    };
    let source = store
        .insert_source(&NewSource {
            name: name.clone(),
            base_url: url.to_string(),
            metadata_prefix: args.prefix.clone(),
            sets,
            schedule: None,
        })
        .await
        .with_context(|| format!("registering source {name:?}"))?;
    eprintln!("registered source {} for {}", source.name, source.base_url);
    Ok(source)
}

/// A slug from the host: `journals.example.org` → `journals.example.org`.
pub fn name_from_url(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or("source").to_lowercase();
    let slug: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    slug.trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned()
}

async fn free_name(store: &Store, base: &str) -> anyhow::Result<String> {
    if store.source_by_name(base).await?.is_none() {
        return Ok(base.to_owned());
    }
    for n in 2..1000 {
        let candidate = format!("{base}-{n}");
        if store.source_by_name(&candidate).await?.is_none() {
            return Ok(candidate);
        }
    }
    bail!("no free source name derived from {base}; pass --name")
}

/// Progress as a bar on a terminal, as log lines elsewhere.
struct CliProgress {
    bar: Option<ProgressBar>,
}

impl CliProgress {
    fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {pos}/{len} records  {per_sec}  eta {eta}  {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar
        });
        Self { bar }
    }
}

impl Progress for CliProgress {
    fn page(&self, run_id: i64, seen: u64, complete_list_size: Option<u64>, counts: &PageCounts) {
        match &self.bar {
            Some(bar) => {
                if let Some(total) = complete_list_size {
                    bar.set_length(total.max(seen));
                }
                bar.set_position(seen);
                bar.set_message(format!("run {run_id}"));
            }
            None => crate::harvest::LogProgress.page(run_id, seen, complete_list_size, counts),
        }
    }

    fn note(&self, message: &str) {
        match &self.bar {
            Some(bar) => bar.println(message),
            None => tracing::info!("{message}"),
        }
    }
}

async fn harvest(args: HarvestArgs, cfg: &Config) -> anyhow::Result<()> {
    let (store, _) = crate::db::open(cfg).await?;
    let source = resolve_source(&store, &args).await?;
    let http = HttpClient::new(cfg.http.to_http_config())?;
    let harvester = Harvester::new(
        store,
        http,
        cfg.harvest.to_harvest_config(),
        crate::harvest::worker::worker_id(),
    );
    let opts = HarvestOptions {
        trigger: Trigger::Cli,
        full: args.full,
        from: args.from.clone(),
        until: args.until.clone(),
    };
    let progress = CliProgress::new();
    let result = harvester.harvest(&source, &opts, &progress).await;
    if let Some(bar) = &progress.bar {
        bar.finish_and_clear();
    }
    let run = result.with_context(|| format!("harvesting {}", source.name))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&run)?);
    } else {
        println!("{}", run_summary(&source.name, &run));
    }
    Ok(())
}

/// One line describing a finished run.
pub fn run_summary(source: &str, r: &Run) -> String {
    let secs = r
        .finished_at
        .map(|f| (f - r.started_at).num_milliseconds() as f64 / 1000.0)
        .unwrap_or(0.0);
    format!(
        "{source}: run {} {} — {} new, {} updated, {} unchanged, {} deleted, {} failed; {} pages, {} bytes, {} retries, {secs:.1}s",
        r.id,
        r.status,
        r.records_new,
        r.records_updated,
        r.records_unchanged,
        r.records_deleted,
        r.records_failed,
        r.pages,
        r.bytes,
        r.retries
    )
}

async fn sources_list(store: &Store, json: bool) -> anyhow::Result<()> {
    let sources = store.list_sources().await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&sources)?);
        return Ok(());
    }
    if sources.is_empty() {
        println!("no sources yet: `sheaf harvest <OAI-PMH URL>` registers one");
        return Ok(());
    }
    println!(
        "{:<28} {:<8} {:>9} {:>8}  {:<10} URL",
        "NAME", "PREFIX", "RECORDS", "DELETED", "GRANULAR."
    );
    for s in &sources {
        let (live, deleted) = store.record_counts(s.id).await?;
        let gran = match s.granularity.as_deref() {
            Some("YYYY-MM-DD") => "day",
            Some("YYYY-MM-DDThh:mm:ssZ") => "seconds",
            _ => "-",
        };
        let sets = if s.sets.is_empty() {
            String::new()
        } else {
            format!(" sets={}", s.sets.join(","))
        };
        println!(
            "{:<28} {:<8} {:>9} {:>8}  {:<10} {}{sets}",
            s.name, s.metadata_prefix, live, deleted, gran, s.base_url
        );
    }
    Ok(())
}

async fn run_show(store: &Store, id: i64, json: bool) -> anyhow::Result<()> {
    let run = store.run_by_id(id).await?;
    let quarantine = store.quarantine_of_run(id).await?;
    if json {
        let v = serde_json::json!({"run": run, "quarantine": quarantine});
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let source = store.source_by_id(run.source_id).await?;
    println!("{}", run_summary(&source.name, &run));
    println!(
        "window:    from {} until {}",
        run.window_from.as_deref().unwrap_or("(start)"),
        run.window_until.as_deref().unwrap_or("(open)")
    );
    if let Some(prev) = run.resumed_from {
        println!("resumed:   from run {prev}");
    }
    if let Some(e) = &run.error {
        println!("error:     {e}");
    }
    for w in &run.warnings {
        println!("warning:   {w}");
    }
    for q in &quarantine {
        let state = if q.resolved_at.is_some() {
            "resolved"
        } else {
            "unresolved"
        };
        println!(
            "quarantined: {} at byte {} ({state}): {}",
            q.oai_identifier.as_deref().unwrap_or("(no identifier)"),
            q.byte_offset.unwrap_or(0),
            q.error
        );
    }
    Ok(())
}

async fn runs_list(store: &Store, args: RunsArgs) -> anyhow::Result<()> {
    if let Some(RunsCmd::Show { run, json }) = args.show {
        return run_show(store, run, json).await;
    }
    let source_id = match &args.source {
        Some(name) => Some(
            store
                .source_by_name(name)
                .await?
                .with_context(|| format!("no source named {name:?}"))?
                .id,
        ),
        None => None,
    };
    let runs = store.list_runs(source_id, args.limit).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
        return Ok(());
    }
    let names: std::collections::HashMap<i64, String> = store
        .list_sources()
        .await?
        .into_iter()
        .map(|s| (s.id, s.name))
        .collect();
    println!(
        "{:>5} {:<20} {:<13} {:<8} {:<20} {:>6} {:>7} {:>7} {:>7} {:>7} {:>6}  ERROR",
        "RUN",
        "SOURCE",
        "STATUS",
        "TRIGGER",
        "STARTED",
        "PAGES",
        "NEW",
        "UPDATED",
        "UNCHG",
        "DELETED",
        "FAILED"
    );
    for r in runs {
        println!(
            "{:>5} {:<20} {:<13} {:<8} {:<20} {:>6} {:>7} {:>7} {:>7} {:>7} {:>6}  {}",
            r.id,
            names.get(&r.source_id).map(String::as_str).unwrap_or("?"),
            r.status,
            r.trigger,
            r.started_at.format("%Y-%m-%d %H:%M:%S"),
            r.pages,
            r.records_new,
            r.records_updated,
            r.records_unchanged,
            r.records_deleted,
            r.records_failed,
            r.error.unwrap_or_default()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn names_come_from_the_host() {
        let u = url::Url::parse("https://Journals.Example.org:8443/index.php/j/oai").unwrap();
        assert_eq!(name_from_url(&u), "journals.example.org");
    }
}
