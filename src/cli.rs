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
    /// Run the service: scheduler, workers and the HTTP API, until SIGTERM/SIGINT.
    Serve {
        /// HTTP API address (default: service.listen, 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
    },
    /// Ask the running service(s) to harvest a source now; prints the run id.
    Trigger {
        /// The source name.
        source: String,
        /// Ignore incremental state.
        #[arg(long)]
        full: bool,
        /// Harvest from this date.
        #[arg(long, conflicts_with = "full")]
        from: Option<String>,
    },
    /// Report on an endpoint: Identify, formats, sets, a sample, and every quirk seen.
    Check {
        /// The OAI-PMH base URL.
        url: String,
        /// Pages to sample.
        #[arg(long, default_value_t = 3)]
        pages: usize,
        /// metadataPrefix to sample.
        #[arg(long, default_value = "oai_dc")]
        prefix: String,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Configuration.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Harvested records.
    #[command(subcommand)]
    Records(RecordsCmd),
    /// Stream records as JSON lines, CSV or an oai_dc document, constant memory.
    Export {
        /// Output format.
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
        /// Only this source.
        #[arg(long)]
        source: Option<String>,
        /// Only records changed after a change cursor (an integer, the change_seq of the
        /// last record seen) or at or after a time (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        since: Option<String>,
        /// Write to this file instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

/// Export formats.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    /// One contract JSON object per line.
    Jsonl,
    /// One row per record, flat columns (lists joined with "; ").
    Csv,
    /// One OAI-PMH ListRecords document of regenerated oai_dc records.
    #[value(name = "oai_dc")]
    OaiDc,
}

/// `sheaf records …`
#[derive(Debug, Subcommand)]
pub enum RecordsCmd {
    /// Search live records by text and filters (the same query as `GET /api/records`):
    /// a table on a terminal, JSON lines (contract objects) with --json or when piped.
    Search(SearchArgs),
    /// Show a record by id, OAI identifier or DOI.
    Show {
        /// Record id, OAI identifier, or DOI.
        key: String,
        /// The contract JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `sheaf records search`
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Words, "a phrase", -excluded, or; matched in Russian, English and as written.
    pub query: Option<String>,
    /// Only this source.
    #[arg(long)]
    pub source: Option<String>,
    /// Only records in this set.
    #[arg(long)]
    pub set: Option<String>,
    /// Language: an ISO 639 code or name (ru, rus, Russian).
    #[arg(long)]
    pub language: Option<String>,
    /// Type: article, review, book, book-part, thesis, conference-paper, report, preprint,
    /// dataset, other.
    #[arg(long = "type")]
    pub record_type: Option<String>,
    /// Issued on or after (YYYY, YYYY-MM or YYYY-MM-DD).
    #[arg(long)]
    pub issued_from: Option<String>,
    /// Issued on or before (YYYY, YYYY-MM or YYYY-MM-DD).
    #[arg(long)]
    pub issued_until: Option<String>,
    /// This DOI (any usual spelling).
    #[arg(long)]
    pub doi: Option<String>,
    /// Only records with a DOI.
    #[arg(long)]
    pub has_doi: bool,
    /// At most this many records (1 to 1000).
    #[arg(long, default_value_t = 20)]
    pub limit: i64,
    /// JSON lines (the record contract), also the default when stdout is not a terminal.
    #[arg(long)]
    pub json: bool,
}

/// `sheaf config …`
#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Print the effective configuration (secrets redacted); fail on bad values.
    Check,
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
#[expect(
    clippy::large_enum_variant,
    reason = "parsed once per process; boxing would only obscure the clap derive"
)]
pub enum SourcesCmd {
    /// List registered sources.
    List {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Register a source after checking the endpoint (Identify, prefix, sets).
    Add {
        /// Unique name (lower-case letters, digits, `.`, `_`, `-`).
        name: String,
        /// OAI-PMH base URL.
        url: String,
        /// Harvest only this set (repeatable).
        #[arg(long = "set")]
        sets: Vec<String>,
        /// metadataPrefix.
        #[arg(long, default_value = "oai_dc")]
        prefix: String,
        /// Cron schedule: a crontab line (`0 3 * * *`), 6/7 fields, `@daily`; `CRON_TZ=Zone ` prefix for a time zone (UTC otherwise).
        #[arg(long)]
        schedule: Option<String>,
        /// Register without contacting the endpoint.
        #[arg(long)]
        no_check: bool,
        /// Extra request header `Name: value` (repeatable), e.g. an API key.
        #[arg(long = "header", value_name = "NAME: VALUE")]
        headers: Vec<String>,
        /// HTTP basic auth user; the password comes from --password-env or --password-file.
        #[arg(long, value_name = "USER")]
        basic_auth_user: Option<String>,
        /// Environment variable holding the basic auth password (read at each run).
        #[arg(long, value_name = "VAR", requires = "basic_auth_user")]
        password_env: Option<String>,
        /// File holding the basic auth password (read at each run).
        #[arg(long, value_name = "FILE", requires = "basic_auth_user")]
        password_file: Option<std::path::PathBuf>,
        /// PEM file of extra CA certificates to trust for this endpoint.
        #[arg(long, value_name = "FILE")]
        ca_bundle: Option<std::path::PathBuf>,
        /// Any other per-source setting as `key = value` in TOML (repeatable), e.g.
        /// `--setting 'request_timeout_secs = 600'` or `--setting 'window_days = 30'`.
        #[arg(long = "setting", value_name = "KEY = VALUE")]
        settings: Vec<String>,
    },
    /// Show one source.
    Show {
        /// The source name.
        name: String,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Remove a source with its runs and records.
    Remove {
        /// The source name.
        name: String,
    },
    /// Enable scheduled harvests of a source.
    Enable {
        /// The source name.
        name: String,
    },
    /// Disable scheduled harvests of a source (manual triggers still run).
    Disable {
        /// The source name.
        name: String,
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
    /// Recompute normalized fields from the stored raw XML (after rules improved).
    Renormalize {
        /// Only this source.
        #[arg(long)]
        source: Option<String>,
    },
    /// Which database is in use and its migration state.
    Status,
}

/// Runs the parsed command.
pub async fn run(cli: Cli, cfg: Config) -> anyhow::Result<()> {
    match cli.command {
        Command::Harvest(args) => harvest(args, &cfg).await,
        Command::Sources(cmd) => {
            let (store, _) = crate::db::open(&cfg).await?;
            sources_cmd(&store, &cfg, cmd).await
        }
        Command::Serve { listen } => serve(&cfg, listen).await,
        Command::Trigger { source, full, from } => {
            let (store, _) = crate::db::open(&cfg).await?;
            if let Some(f) = &from
                && crate::oai::datestamp::ProtocolDate::parse(f).is_none()
            {
                bail!("--from {f:?}: use YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ");
            }
            let s = store
                .source_by_name(&source)
                .await?
                .with_context(|| format!("no source named {source:?}"))?;
            let t = store.trigger(s.id, full, from.as_deref()).await?;
            if t.merged {
                println!("{} (joined the run already queued or running)", t.run_id);
            } else {
                println!("{}", t.run_id);
            }
            Ok(())
        }
        Command::Check {
            url,
            pages,
            prefix,
            json,
        } => {
            let http = HttpClient::new(cfg.http.to_http_config())?;
            let opts = crate::check::CheckOptions {
                sample_pages: pages,
                metadata_prefix: prefix,
                ..Default::default()
            };
            let report = crate::check::check_endpoint(&http, &url, &opts).await;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("{report}");
            }
            if !report.harvestable {
                bail!("{url} cannot be harvested as it is (see the errors above)");
            }
            Ok(())
        }
        Command::Config(ConfigCmd::Check) => {
            let file = &cfg.service.sources_file;
            if file.exists() {
                let declared = crate::sources_file::load(file)?;
                eprintln!(
                    "{}: {} source(s), valid",
                    file.display(),
                    declared.source.len()
                );
            }
            print!("{}", cfg.redacted_toml());
            Ok(())
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
        Command::Db(DbCmd::Renormalize { source }) => {
            let (store, _) = crate::db::open(&cfg).await?;
            let source_id = source_id(&store, source.as_deref()).await?;
            let r = crate::harvest::renormalize::renormalize(&store, source_id).await?;
            println!(
                "{} records examined, {} changed, {} unparseable",
                r.examined, r.changed, r.unparseable
            );
            Ok(())
        }
        Command::Records(RecordsCmd::Search(args)) => {
            let (store, _) = crate::db::open(&cfg).await?;
            records_search(&store, args).await
        }
        Command::Records(RecordsCmd::Show { key, json }) => {
            let (store, _) = crate::db::open(&cfg).await?;
            let found = store
                .find_records(&crate::store::reads::RecordKey::parse(&key))
                .await?;
            if found.is_empty() {
                bail!("no record matches {key:?}");
            }
            for row in &found {
                let v = crate::contract::record_json(row);
                if json {
                    println!("{}", serde_json::to_string_pretty(&v)?);
                } else {
                    print_record(&v);
                }
            }
            Ok(())
        }
        Command::Export {
            format,
            source,
            since,
            output,
        } => {
            let since = since.as_deref().map(parse_since).transpose()?;
            let (store, _) = crate::db::open(&cfg).await?;
            let source_id = source_id(&store, source.as_deref()).await?;
            export(&store, format, source_id, since, output.as_deref()).await
        }
    }
}

async fn source_id(store: &Store, name: Option<&str>) -> anyhow::Result<Option<i64>> {
    match name {
        Some(n) => Ok(Some(
            store
                .source_by_name(n)
                .await?
                .with_context(|| format!("no source named {n:?}"))?
                .id,
        )),
        None => Ok(None),
    }
}

fn parse_since(s: &str) -> anyhow::Result<crate::store::reads::Since> {
    use crate::store::reads::Since;
    if let Ok(seq) = s.trim().parse::<i64>() {
        return Ok(Since::ChangeSeq(seq));
    }
    crate::oai::datestamp::ProtocolDate::parse(s)
        .map(|d| Since::Time(d.instant))
        .with_context(|| {
            format!("--since {s:?}: use a change cursor (integer), YYYY-MM-DD or an RFC 3339 time")
        })
}

/// Streams rows into the format's writer: one row in memory at a time.
async fn export(
    store: &Store,
    format: ExportFormat,
    source_id: Option<i64>,
    since: Option<crate::store::reads::Since>,
    output: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    use crate::provider::export as x;
    use futures_util::StreamExt;
    use std::io::Write;
    let sink: Box<dyn Write> = match output {
        Some(p) => Box::new(
            std::fs::File::create(p).with_context(|| format!("cannot write {}", p.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let out = std::io::BufWriter::new(sink);
    let mut writer = match format {
        ExportFormat::Jsonl => x::jsonl(out),
        ExportFormat::Csv => x::csv(out)?,
        ExportFormat::OaiDc => x::oai_dc(out, chrono::Utc::now())?,
    };
    let mut rows = store.stream_records(source_id, since);
    let mut n = 0u64;
    while let Some(row) = rows.next().await {
        writer.write(&row?)?;
        n += 1;
    }
    writer.finish()?;
    tracing::info!(records = n, "export finished");
    Ok(())
}

async fn records_search(store: &Store, a: SearchArgs) -> anyhow::Result<()> {
    let params = crate::api::records::SearchParams {
        q: a.query,
        source: a.source,
        set: a.set,
        language: a.language,
        record_type: a.record_type,
        issued_from: a.issued_from,
        issued_until: a.issued_until,
        doi: a.doi,
        has_doi: a.has_doi.then(|| "true".to_owned()),
        limit: Some(a.limit.to_string()),
        ..Default::default()
    };
    // The API's validation, with its parameter names spelled as flags.
    let query = params.to_query().map_err(|e| {
        let flag = match e.param.as_str() {
            "type" => "--type".to_owned(),
            p => format!("--{}", p.replace('_', "-")),
        };
        anyhow::anyhow!("{flag}: {}", e.message)
    })?;
    source_id(store, query.source.as_deref()).await?;
    let page = store.search_records(&query).await?;
    let stdout = std::io::stdout();
    if a.json || !stdout.is_terminal() {
        use std::io::Write;
        let mut out = std::io::BufWriter::new(stdout.lock());
        for row in &page.items {
            serde_json::to_writer(&mut out, &crate::contract::record_json(row))?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        return Ok(());
    }
    let width = console::Term::stdout().size().1 as usize;
    print!("{}", search_table(&page.items, width));
    if page.next_cursor.is_some() {
        eprintln!("more records match: raise --limit (up to 1000) or narrow the search");
    }
    Ok(())
}

/// Search results as a table `width` columns wide: id, issued, source, title (truncated).
fn search_table(rows: &[crate::contract::RecordRowView], width: usize) -> String {
    if rows.is_empty() {
        return "no records match\n".to_owned();
    }
    let id_w = rows
        .iter()
        .map(|r| r.id.to_string().len())
        .max()
        .unwrap_or(2)
        .max(2);
    let src_w = rows
        .iter()
        .map(|r| r.source.chars().count())
        .max()
        .unwrap_or(6)
        .clamp(6, 20);
    let title_w = width.saturating_sub(id_w + 10 + src_w + 6).max(20);
    let mut out = format!(
        "{:>id_w$}  {:<10}  {:<src_w$}  TITLE\n",
        "ID", "ISSUED", "SOURCE"
    );
    for r in rows {
        let field = |k: &str| r.normalized.as_ref().and_then(|n| n.get(k)).cloned();
        let issued = field("issued").and_then(|v| v.as_str().map(str::to_owned));
        let title = field("titles")
            .and_then(|t| {
                t.get(0)
                    .and_then(|t| t["value"].as_str().map(str::to_owned))
            })
            .unwrap_or_default();
        out += &format!(
            "{:>id_w$}  {:<10}  {:<src_w$}  {}\n",
            r.id,
            issued.as_deref().unwrap_or("-"),
            console::truncate_str(&r.source, src_w, "…"),
            console::truncate_str(&title, title_w, "…"),
        );
    }
    out
}

fn print_record(v: &serde_json::Value) {
    let list = |key: &str, field: &str| -> String {
        v[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x[field].as_str().or(x.as_str()))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default()
    };
    println!(
        "{} {} ({}){}",
        v["id"],
        v["oai_identifier"].as_str().unwrap_or(""),
        v["source"].as_str().unwrap_or(""),
        if v["deleted"] == true { " DELETED" } else { "" }
    );
    println!("  title:     {}", list("titles", "value"));
    println!("  creators:  {}", list("creators", "name"));
    println!("  issued:    {}", v["issued"].as_str().unwrap_or("-"));
    println!("  doi:       {}", v["doi"].as_str().unwrap_or("-"));
    println!(
        "  source:    {}",
        v["source_info"]["title"].as_str().unwrap_or("-")
    );
    println!("  subjects:  {}", list("subjects", "value"));
    println!("  languages: {}", list("languages", ""));
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
    if pending.is_empty() {
        let lag = store.search_index_lag().await?;
        if lag == 0 {
            println!("search:   up to date");
        } else {
            println!("search:   {lag} change(s) not yet indexed (`sheaf serve` indexes them)");
        }
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

async fn sources_cmd(store: &Store, cfg: &Config, cmd: SourcesCmd) -> anyhow::Result<()> {
    match cmd {
        SourcesCmd::List { json } => sources_list(store, json).await,
        SourcesCmd::Add {
            name,
            url,
            mut sets,
            prefix,
            schedule,
            no_check,
            headers,
            basic_auth_user,
            password_env,
            password_file,
            ca_bundle,
            settings,
        } => {
            let base = parse_base_url(&url)?;
            let settings = source_settings_from_flags(
                &settings,
                &headers,
                basic_auth_user.map(|username| crate::source_settings::BasicAuth {
                    username,
                    password_env,
                    password_file,
                }),
                ca_bundle,
            )?;
            if let Some(line) = &schedule {
                crate::schedule::CronSchedule::parse(line)?;
            }
            sets.sort();
            sets.dedup();
            let repo = if no_check {
                None
            } else {
                let http = HttpClient::new(cfg.http.to_http_config())?
                    .for_endpoint(&settings.endpoint_options()?)?;
                let client = crate::oai::OaiClient::new(http, base.as_str())?;
                Some(
                    crate::oai::validate::validate_endpoint(&client, &prefix, &sets)
                        .await
                        .with_context(|| format!("{base} cannot be added"))?,
                )
            };
            let s = store
                .insert_source(&NewSource {
                    name: name.clone(),
                    base_url: base.to_string(),
                    metadata_prefix: prefix,
                    sets,
                    schedule,
                })
                .await
                .map_err(|e| match e {
                    crate::store::StoreError::Conflict(_) => {
                        anyhow::anyhow!("a source named {name:?} already exists")
                    }
                    crate::store::StoreError::Db(_) => anyhow::anyhow!(
                        "invalid name {name:?}: use lower-case letters, digits, '.', '_' and '-'"
                    ),
                    other => other.into(),
                })?;
            if !settings.is_empty() {
                store.set_source_settings(s.id, &settings.to_json()).await?;
            }
            match repo {
                Some(r) => println!("added {} ({r}) for {}", s.name, s.base_url),
                None => println!("added {} for {} (not checked)", s.name, s.base_url),
            }
            Ok(())
        }
        SourcesCmd::Show { name, json } => {
            let s = store
                .source_by_name(&name)
                .await?
                .with_context(|| format!("no source named {name:?}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
                return Ok(());
            }
            let (live, deleted) = store.record_counts(s.id).await?;
            println!("name:        {}", s.name);
            println!("url:         {}", s.base_url);
            println!(
                "prefix:      {}  sets: {}",
                s.metadata_prefix,
                if s.sets.is_empty() {
                    "(all)".into()
                } else {
                    s.sets.join(", ")
                }
            );
            println!(
                "repository:  {}",
                s.repository_name.as_deref().unwrap_or("-")
            );
            if s.settings.as_object().is_some_and(|m| !m.is_empty()) {
                println!("settings:    {}", serde_json::to_value(&s)?["settings"]);
            }
            println!(
                "schedule:    {}  enabled: {}",
                s.schedule.as_deref().unwrap_or("(none)"),
                s.enabled
            );
            println!(
                "next run:    {}",
                s.next_run_at
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_else(|| "-".into())
            );
            println!(
                "last run:    {} {}",
                s.last_run_status.as_deref().unwrap_or("-"),
                s.last_run_at.map(|t| t.to_rfc3339()).unwrap_or_default()
            );
            println!("failures:    {} in a row", s.consecutive_failures);
            if let Some(nb) = s.not_before {
                println!("not before:  {}", nb.to_rfc3339());
            }
            println!("records:     {live} live, {deleted} deleted");
            println!("quirks:      {}", s.quirks);
            Ok(())
        }
        SourcesCmd::Remove { name } => {
            store.remove_source(&name).await?;
            println!("removed {name}");
            Ok(())
        }
        SourcesCmd::Enable { name } => set_enabled(store, &name, true).await,
        SourcesCmd::Disable { name } => set_enabled(store, &name, false).await,
    }
}

async fn set_enabled(store: &Store, name: &str, enabled: bool) -> anyhow::Result<()> {
    let patch = crate::store::SourcePatch {
        enabled: Some(enabled),
        ..Default::default()
    };
    store.update_source(name, &patch).await?;
    println!("{name} {}", if enabled { "enabled" } else { "disabled" });
    Ok(())
}

/// Most connections `sheaf serve` opens on its own account, well under PostgreSQL's default
/// `max_connections` of 100.
const SERVE_POOL_CAP: u32 = 64;

async fn serve(cfg: &Config, listen: Option<std::net::SocketAddr>) -> anyhow::Result<()> {
    use tokio_util::sync::CancellationToken;
    // Every running harvest holds a connection while it stores a page; the search indexer,
    // the scheduler's claims and the API need a few more. A pool smaller than that made
    // runs queue for connections (up to 11 s with 64 runs and the old 8).
    let wanted = (cfg.service.max_concurrent_runs as u32 + 4).min(SERVE_POOL_CAP);
    let pool = cfg.database.max_connections.max(wanted);
    let (store, kind) = crate::db::open_with_pool(cfg, pool).await?;
    let file = &cfg.service.sources_file;
    if file.exists() {
        let declared = crate::sources_file::load(file)?;
        let (added, updated) = crate::sources_file::sync(&store, &declared).await?;
        tracing::info!(file = %file.display(), added, updated, "sources file synced");
    }
    let addr = match listen {
        Some(a) => a,
        None => cfg.service.listen.parse().context("service.listen")?,
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let worker = crate::harvest::worker::worker_id();
    let http = HttpClient::new(cfg.http.to_http_config())?;
    let hcfg = cfg.harvest.to_harvest_config();
    let lease_ttl = hcfg.lease_ttl;
    let harvester = Harvester::new(store.clone(), http, hcfg, worker.clone());
    let shutdown = CancellationToken::new();
    tracing::info!(listen = %listener.local_addr()?, database = %kind, worker = %worker, "sheaf serve started");
    let signals = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutdown requested");
            shutdown.cancel();
        })
    };
    crate::provider::configure(cfg.provider_settings());
    let state = crate::api::AppState {
        store: store.clone(),
        admin_token: cfg.service.admin_token().map(Into::into),
    };
    let api = tokio::spawn(crate::api::serve(listener, state, shutdown.clone()));
    crate::service::run_scheduler(
        store,
        harvester,
        worker,
        lease_ttl,
        cfg.service.to_service_config(),
        shutdown.clone(),
    )
    .await?;
    shutdown.cancel();
    signals.abort();
    api.await.context("API task")?.context("API server")?;
    tracing::info!("sheaf serve stopped");
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            // Without signal handlers only Ctrl-C can stop us.
            let _ = tokio::signal::ctrl_c().await;
        }
    }
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

/// Per-source settings from `sources add` flags: `--setting` TOML lines first, then the
/// dedicated flags; checked (header syntax, password source, CA file) before anything is
/// stored.
fn source_settings_from_flags(
    lines: &[String],
    headers: &[String],
    basic_auth: Option<crate::source_settings::BasicAuth>,
    ca_bundle: Option<std::path::PathBuf>,
) -> anyhow::Result<crate::source_settings::SourceSettings> {
    let mut table = toml::Table::new();
    for line in lines {
        let t: toml::Table = toml::from_str(line)
            .with_context(|| format!("--setting {line:?}: not `key = value`"))?;
        for (key, value) in t {
            // Checked one key at a time so the error names the key.
            let one = toml::Table::from_iter([(key.clone(), value.clone())]);
            one.try_into::<crate::source_settings::SourceSettings>()
                .map_err(|e| anyhow::anyhow!("--setting {key}: {}", e.message()))?;
            table.insert(key, value);
        }
    }
    let mut settings: crate::source_settings::SourceSettings = table
        .try_into()
        .map_err(|e: toml::de::Error| anyhow::anyhow!("--setting: {}", e.message()))?;
    for h in headers {
        let (name, value) = h
            .split_once(':')
            .with_context(|| format!("--header {h:?}: use `Name: value`"))?;
        settings
            .headers
            .insert(name.trim().to_owned(), value.trim().to_owned());
    }
    if basic_auth.is_some() {
        settings.basic_auth = basic_auth;
    }
    if ca_bundle.is_some() {
        settings.ca_bundle = ca_bundle;
    }
    settings.validate()?;
    Ok(settings)
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
    fn search_tables_fit_the_terminal() {
        let at = chrono::DateTime::parse_from_rfc3339("2022-06-21T00:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let row = |id: i64, title: &str| crate::contract::RecordRowView {
            id,
            source: "dvostok".into(),
            oai_identifier: format!("oai:x:{id}"),
            datestamp: None,
            deleted: false,
            sets: vec![],
            normalized: Some(
                serde_json::json!({"issued": "2022-06-21", "titles": [{"value": title}]}),
            ),
            updated_at: at,
        };
        let long = "Российские приоритеты и подходы к Корейскому полуострову ".repeat(3);
        let t = search_table(&[row(7, &long), row(1234, "Short")], 60);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3, "{t}");
        assert!(
            lines[0].starts_with("  ID  ISSUED      SOURCE   TITLE"),
            "{t}"
        );
        assert!(
            lines.iter().all(|l| console::measure_text_width(l) <= 60),
            "{t}"
        );
        assert!(
            lines[1].ends_with('…') && lines[1].contains("   7  2022-06-21  dvostok  Российские"),
            "{t}"
        );
        assert!(
            lines[2].ends_with("1234  2022-06-21  dvostok  Short"),
            "{t}"
        );
        assert_eq!(search_table(&[], 80), "no records match\n");
    }

    #[test]
    fn names_come_from_the_host() {
        let u = url::Url::parse("https://Journals.Example.org:8443/index.php/j/oai").unwrap();
        assert_eq!(name_from_url(&u), "journals.example.org");
    }
}
