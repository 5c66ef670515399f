//! A private PostgreSQL cluster that sheaf creates and manages itself when no `DATABASE_URL`
//! is configured, using the PostgreSQL server binaries installed on the machine.
//!
//! Layout under the data directory `D`:
//! - `D/pg/` is the cluster (PGDATA): owned by the cluster OS user, mode 0700.
//!   `D/pg/server.log` is the server log.
//! - `D/run/` holds the Unix socket `.s.PGSQL.54329`: owned by the cluster user, mode 0700.
//!   Only that user and root can reach it, which is what makes `trust` authentication safe.
//!   There is no TCP listener (`listen_addresses = ''`); the port number only names the socket.
//!   When `D/run/.s.PGSQL.54329` would exceed the 107-byte `sun_path` limit (or `D` contains
//!   characters that need quoting), the socket lives in `/tmp/sheaf-<hash of D>` instead; that
//!   directory is checked to be a real directory owned by the cluster user before use, so
//!   another local user cannot plant a fake server there.
//! - `D/pg.lock` is an exclusive `flock` held around check/initdb/start/stop, so two sheaf
//!   processes on one data directory never race; PostgreSQL's own `postmaster.pid` interlock
//!   is the second line of defence.
//! - `D/pg.initdb/` is the temporary initdb target, renamed to `D/pg` only once initdb succeeded:
//!   a killed initdb never leaves a half-made cluster that looks real.
//!
//! As root, the cluster runs as the unprivileged `postgres` OS user (initdb and postgres refuse
//! to run as root), like Debian's tools do; otherwise it runs as the current user. The server
//! keeps running after sheaf exits so later invocations reuse it; [`EmbeddedCluster::stop`]
//! stops it.

use std::fs::{self, DirBuilder, File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use sqlx::Connection;

/// Port number of the embedded server. It only names the socket file (`.s.PGSQL.54329`), as
/// there is no TCP listener; it differs from 5432 so it is never mistaken for a system server.
pub const SOCKET_PORT: u16 = 54329;
/// Environment variable naming the directory with `initdb`, `pg_ctl` and `postgres`; when set,
/// no other place is searched.
pub const BINDIR_ENV: &str = "SHEAF_PG_BINDIR";

/// OS user that runs the cluster when sheaf runs as root.
const CLUSTER_OS_USER: &str = "postgres";
/// Database superuser created by initdb; the URL connects as it.
const SUPERUSER: &str = "postgres";
/// `sun_path` holds 108 bytes including the terminating NUL.
const MAX_SOCKET_PATH: usize = 107;
/// Longer than initdb + a `pg_ctl -t 60` start, so a healthy concurrent starter is waited for.
const LOCK_TIMEOUT: Duration = Duration::from_secs(150);
const PG_CTL_TIMEOUT_SECS: u32 = 60;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
const LOG_TAIL_LINES: usize = 20;
/// Binaries a directory must contain to be usable.
const SERVER_BINARIES: [&str; 3] = ["initdb", "pg_ctl", "postgres"];

/// Fallback data directory when `SHEAF_DATA_DIR` is not configured: the platform data dir
/// (`~/.local/share/sheaf` on Linux), but `/var/lib/sheaf` when running as root, because
/// `/root` is mode 0700 and the `postgres` user running the cluster could not reach it.
pub fn default_data_dir() -> PathBuf {
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/var/lib/sheaf");
    }
    // No home directory at all (rare: system accounts): use the working directory.
    dirs::data_dir().map_or_else(|| PathBuf::from(".sheaf"), |d| d.join("sheaf"))
}

/// Why the embedded cluster could not be set up, started or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// No directory containing `initdb`, `pg_ctl` and `postgres` was found.
    #[error(
        "no PostgreSQL server binaries (initdb, pg_ctl, postgres) found (searched: {}); install the PostgreSQL server (e.g. `apt-get install postgresql`) or set DATABASE_URL to use an existing server",
        display_paths(searched)
    )]
    NoBinaries {
        /// Directories that were looked at, in search order.
        searched: Vec<PathBuf>,
    },
    /// The existing cluster was created by a major version whose binaries are not installed.
    #[error(
        "the cluster in {} was created by PostgreSQL {cluster_version}, but only server binaries of version {found} are installed; install the PostgreSQL {cluster_version} server, upgrade the cluster with pg_upgrade, or set DATABASE_URL",
        pgdata.display()
    )]
    VersionMismatch {
        /// The cluster directory.
        pgdata: PathBuf,
        /// Major version from its `PG_VERSION` file.
        cluster_version: String,
        /// Versions of the binaries that were found.
        found: String,
    },
    /// Running as root, but there is no `postgres` OS user to run the cluster as.
    #[error(
        "running as root, but there is no `postgres` OS user to run the PostgreSQL cluster as (PostgreSQL refuses to run as root); install the PostgreSQL server package (which creates it), run sheaf as an ordinary user, or set DATABASE_URL"
    )]
    NoClusterUser,
    /// The cluster user cannot search a directory on the way to the data directory.
    #[error(
        "the OS user `{user}` that runs the cluster cannot reach {} ({} lacks search permission for it); set SHEAF_DATA_DIR to a directory it can reach (e.g. under /var/lib), or set DATABASE_URL",
        path.display(), blocking.display()
    )]
    Unreachable {
        /// The data directory.
        path: PathBuf,
        /// The directory lacking the permission.
        blocking: PathBuf,
        /// The cluster OS user.
        user: String,
    },
    /// The cluster belongs to another OS user, and sheaf is not root.
    #[error(
        "{} is owned by uid {owner}, but sheaf runs as uid {uid}; run sheaf as that user (or as root) or use another data directory",
        path.display()
    )]
    ForeignOwner {
        /// The cluster directory.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The current effective uid.
        uid: u32,
    },
    /// The socket directory exists but cannot be trusted.
    #[error("refusing to use socket directory {}: {reason}", path.display())]
    UnsafeSocketDir {
        /// The socket directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The data directory path cannot be used.
    #[error("unusable data directory {}: {reason}", path.display())]
    InvalidDataDir {
        /// The data directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A file-system or process-spawning operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: io::Error,
    },
    /// A PostgreSQL program (`initdb`, `pg_ctl`) exited unsuccessfully.
    #[error("`{command}` failed ({status}): {output}")]
    CommandFailed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// Its stdout and stderr.
        output: String,
    },
    /// `pg_ctl start` failed; includes the end of the server log.
    #[error("PostgreSQL did not start: {output}\nlast lines of {}:\n{log_tail}", log.display())]
    StartFailed {
        /// Output of `pg_ctl start`.
        output: String,
        /// The server log file.
        log: PathBuf,
        /// Its last lines.
        log_tail: String,
    },
    /// Another process held the cluster lock for too long.
    #[error(
        "waited {waited:?} for the lock {} (another sheaf process is starting or stopping the cluster)",
        path.display()
    )]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// How long we waited.
        waited: Duration,
    },
    /// The server runs but does not accept connections.
    #[error("cannot connect to the embedded PostgreSQL at {url}: {source}")]
    Connect {
        /// The URL tried.
        url: String,
        /// The last connection error.
        source: sqlx::Error,
    },
}

fn display_paths(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "nothing".to_owned();
    }
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn io_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> ClusterError {
    let context = context.into();
    move |source| ClusterError::Io { context, source }
}

/// The OS user the cluster runs as.
#[derive(Debug, Clone)]
struct ClusterUser {
    name: String,
    uid: u32,
    gid: u32,
    /// True when sheaf is root and must switch to this user for PostgreSQL programs.
    switch: bool,
}

/// Handle on the private cluster of one data directory.
///
/// Cheap to clone; it holds only paths and the chosen binaries. The server it describes may or
/// may not be running: [`EmbeddedCluster::start`] makes sure it is.
#[derive(Debug, Clone)]
pub struct EmbeddedCluster {
    data_dir: PathBuf,
    pgdata: PathBuf,
    socket_dir: PathBuf,
    port: u16,
    bindir: PathBuf,
    version: String,
    user: ClusterUser,
}

impl EmbeddedCluster {
    /// Finds the binaries, creates the cluster if needed, starts it unless it already runs
    /// (idempotent, safe from several processes at once) and waits until it accepts connections.
    pub async fn ensure_started(data_dir: &Path) -> Result<Self, ClusterError> {
        Self::ensure_started_with(data_dir, None).await
    }

    /// [`Self::ensure_started`] with an explicit binary directory (searched alone).
    pub async fn ensure_started_with(
        data_dir: &Path,
        bindir: Option<&Path>,
    ) -> Result<Self, ClusterError> {
        let mut cluster = Self::locate(data_dir, bindir).await?;
        cluster.start().await?;
        Ok(cluster)
    }

    /// Works out paths, cluster user and binaries without changing anything on disk
    /// (for `sheaf db status` / `sheaf db stop`).
    ///
    /// Binaries: `bindir`, else `$SHEAF_PG_BINDIR`, else the highest version found via
    /// `pg_config --bindir`, `PATH`, `/usr/lib/postgresql/*/bin` and `/usr/pgsql-*/bin`. An
    /// existing cluster needs binaries of its own major version.
    pub async fn locate(data_dir: &Path, bindir: Option<&Path>) -> Result<Self, ClusterError> {
        let data_dir = std::path::absolute(data_dir)
            .map_err(io_error(format!("cannot resolve {}", data_dir.display())))?;
        // pg_ctl hands -D and -l to /bin/sh inside double quotes.
        if let Some(&c) = data_dir
            .as_os_str()
            .as_bytes()
            .iter()
            .find(|b| b"\"$`\\\n".contains(b))
        {
            return Err(ClusterError::InvalidDataDir {
                path: data_dir,
                reason: format!("it contains {:?}, which pg_ctl cannot quote", char::from(c)),
            });
        }
        let pgdata = data_dir.join("pg");
        let user = cluster_user(&pgdata)?;
        let explicit = bindir.map(Path::to_path_buf).or_else(|| {
            std::env::var_os(BINDIR_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        });
        let cluster_version = fs::read_to_string(pgdata.join("PG_VERSION"))
            .ok()
            .map(|v| v.trim().to_owned());
        let (bindir, version) =
            find_binaries(explicit, cluster_version.as_deref(), &pgdata).await?;
        let socket_dir = choose_socket_dir(&data_dir, SOCKET_PORT);
        Ok(Self {
            data_dir,
            pgdata,
            socket_dir,
            port: SOCKET_PORT,
            bindir,
            version,
            user,
        })
    }

    /// Creates the cluster if needed and starts it unless it already runs, then waits until it
    /// accepts connections. Holds the data directory's lock meanwhile.
    ///
    /// When the server was already running with another socket directory or port (e.g. started
    /// by another sheaf with a different spelling of the data directory), this handle adopts
    /// them from `postmaster.pid`.
    pub async fn start(&mut self) -> Result<(), ClusterError> {
        let _lock = self.lock().await?;
        self.check_reachable()?;
        self.ensure_socket_dir()?;
        self.ensure_initialised().await?;
        if !self.status().await? {
            tracing::info!(pgdata = %self.pgdata.display(), "starting embedded PostgreSQL");
            if let Err(err) = self.pg_ctl_start().await {
                // Someone started it outside our lock (e.g. by hand): that is fine.
                if !self.status().await? {
                    return Err(err);
                }
                tracing::warn!("embedded PostgreSQL was started concurrently: {err}");
            }
        }
        self.adopt_postmaster_pid();
        self.wait_connectable().await
    }

    /// Stops the server (`pg_ctl stop -m fast`) if it runs; a no-op otherwise.
    pub async fn stop(&self) -> Result<(), ClusterError> {
        if !self.pgdata.join("PG_VERSION").exists() {
            return Ok(());
        }
        let _lock = self.lock().await?;
        if !self.status().await? {
            return Ok(());
        }
        tracing::info!(pgdata = %self.pgdata.display(), "stopping embedded PostgreSQL");
        let (line, out) = self.run(self.stop_command()).await?;
        check_output(line, out).map(drop)
    }

    /// Synchronous stop without taking the lock, for `Drop` guards and shutdown paths without
    /// a runtime. Returns an error if the server was not running.
    pub fn stop_blocking(&self) -> Result<(), ClusterError> {
        let mut cmd = self.stop_command();
        let line = command_line(&cmd);
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .map_err(io_error(format!("cannot run `{line}`")))?;
        check_output(line, out).map(drop)
    }

    /// Whether the server runs (`pg_ctl status`).
    pub async fn is_running(&self) -> Result<bool, ClusterError> {
        if !self.pgdata.join("PG_VERSION").exists() {
            return Ok(false);
        }
        self.status().await
    }

    /// sqlx connection URL: Unix socket, superuser `postgres`, database `postgres`.
    pub fn url(&self) -> String {
        format!(
            "postgres:///postgres?host={}&port={}&user={SUPERUSER}",
            encode_query_value(self.socket_dir.as_os_str().as_bytes()),
            self.port
        )
    }

    /// One-paragraph description for `sheaf db status`.
    pub fn describe(&self) -> String {
        format!(
            "embedded PostgreSQL {} (binaries in {}), cluster {} run as OS user {}, Unix socket {} (no TCP), log {}",
            self.version,
            self.bindir.display(),
            self.pgdata.display(),
            self.user.name,
            self.socket_dir
                .join(format!(".s.PGSQL.{}", self.port))
                .display(),
            self.log_file().display(),
        )
    }

    /// The cluster directory (PGDATA).
    pub fn pgdata(&self) -> &Path {
        &self.pgdata
    }

    /// The directory holding the Unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The directory with the PostgreSQL server binaries in use.
    pub fn bindir(&self) -> &Path {
        &self.bindir
    }

    /// The server log file.
    pub fn log_file(&self) -> PathBuf {
        self.pgdata.join("server.log")
    }

    /// A PostgreSQL program, run as the cluster user, with a neutral environment.
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bindir.join(program));
        if self.user.switch {
            // std also drops root's supplementary groups when it sets the uid.
            cmd.uid(self.user.uid).gid(self.user.gid);
        }
        // "/" is reachable by everyone; root's working directory may not be.
        cmd.current_dir("/");
        // English messages (we match "locale" in initdb's output); no stray libpq/PG settings.
        cmd.env("LC_ALL", "C");
        for var in [
            "PGDATA",
            "PGHOST",
            "PGPORT",
            "PGOPTIONS",
            "PGUSER",
            "PGDATABASE",
        ] {
            cmd.env_remove(var);
        }
        cmd
    }

    fn stop_command(&self) -> Command {
        let mut cmd = self.command("pg_ctl");
        cmd.arg("stop")
            .arg("-D")
            .arg(&self.pgdata)
            .args(["-m", "fast", "-w", "-t"])
            .arg(PG_CTL_TIMEOUT_SECS.to_string());
        cmd
    }

    /// Runs a command to completion; returns its command line (for errors) and output.
    async fn run(&self, mut cmd: Command) -> Result<(String, Output), ClusterError> {
        let line = command_line(&cmd);
        cmd.stdin(Stdio::null());
        match tokio::process::Command::from(cmd).output().await {
            Ok(out) => Ok((line, out)),
            Err(e) => Err(io_error(format!("cannot run `{line}`"))(e)),
        }
    }

    /// `pg_ctl status`: exit 0 = running, 3 = not running, 4 = no usable data directory.
    async fn status(&self) -> Result<bool, ClusterError> {
        let mut cmd = self.command("pg_ctl");
        cmd.arg("status").arg("-D").arg(&self.pgdata);
        let (line, out) = self.run(cmd).await?;
        match out.status.code() {
            Some(0) => Ok(true),
            Some(3 | 4) => Ok(false),
            _ => check_output(line, out).map(|_| false),
        }
    }

    /// Takes `<data_dir>/pg.lock` (creating the data directory), polling so that a stuck
    /// holder yields a timeout error rather than a hang. Released when the file is dropped.
    async fn lock(&self) -> Result<File, ClusterError> {
        create_dir_all(&self.data_dir, if self.user.switch { 0o755 } else { 0o700 })?;
        let path = self.data_dir.join("pg.lock");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_error(format!("cannot open {}", path.display())))?;
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(file),
                Err(TryLockError::WouldBlock) => {
                    if started.elapsed() > LOCK_TIMEOUT {
                        return Err(ClusterError::LockTimeout {
                            path,
                            waited: started.elapsed(),
                        });
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(TryLockError::Error(e)) => {
                    return Err(io_error(format!("cannot lock {}", path.display()))(e));
                }
            }
        }
    }

    /// As root, the cluster user must be able to search every directory down to the data dir.
    /// (Mode bits only; std clears supplementary groups, so the primary group is all that counts.)
    fn check_reachable(&self) -> Result<(), ClusterError> {
        if !self.user.switch {
            return Ok(());
        }
        for dir in self.data_dir.ancestors() {
            let meta =
                fs::metadata(dir).map_err(io_error(format!("cannot inspect {}", dir.display())))?;
            let bit = if meta.uid() == self.user.uid {
                0o100
            } else if meta.gid() == self.user.gid {
                0o010
            } else {
                0o001
            };
            if meta.mode() & bit == 0 {
                return Err(ClusterError::Unreachable {
                    path: self.data_dir.clone(),
                    blocking: dir.to_path_buf(),
                    user: self.user.name.clone(),
                });
            }
        }
        Ok(())
    }

    /// Creates or checks the socket directory: a real directory (not a symlink) owned by the
    /// cluster user with mode 0700, so only that user and root can connect.
    fn ensure_socket_dir(&self) -> Result<(), ClusterError> {
        let dir = &self.socket_dir;
        let unsafe_dir = |reason: String| ClusterError::UnsafeSocketDir {
            path: dir.clone(),
            reason,
        };
        match DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => self.chown(dir)?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_error(format!("cannot create {}", dir.display()))(e)),
        }
        let meta = fs::symlink_metadata(dir)
            .map_err(io_error(format!("cannot inspect {}", dir.display())))?;
        if !meta.is_dir() {
            return Err(unsafe_dir(
                "it is not a directory (or it is a symlink)".into(),
            ));
        }
        if meta.uid() != self.user.uid {
            // Our own `<data_dir>/run` may be re-owned; a foreign directory in /tmp may not.
            if self.user.switch && dir.starts_with(&self.data_dir) {
                self.chown(dir)?;
            } else {
                return Err(unsafe_dir(format!(
                    "it is owned by uid {}, not by the cluster user {}",
                    meta.uid(),
                    self.user.name
                )));
            }
        }
        if meta.mode() & 0o777 != 0o700 {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .map_err(io_error(format!("cannot chmod {}", dir.display())))?;
        }
        Ok(())
    }

    fn chown(&self, path: &Path) -> Result<(), ClusterError> {
        if !self.user.switch {
            return Ok(());
        }
        std::os::unix::fs::chown(path, Some(self.user.uid), Some(self.user.gid))
            .map_err(io_error(format!("cannot chown {}", path.display())))
    }

    /// Runs initdb unless the cluster exists. initdb works in `pg.initdb` which is renamed to
    /// `pg` on success; leftovers of an interrupted run (either directory) are removed first.
    async fn ensure_initialised(&self) -> Result<(), ClusterError> {
        match fs::metadata(self.pgdata.join("PG_VERSION")) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(io_error(format!(
                    "cannot inspect {}",
                    self.pgdata.display()
                ))(e));
            }
        }
        if fs::symlink_metadata(&self.pgdata).is_ok() {
            tracing::warn!(pgdata = %self.pgdata.display(), "removing incomplete cluster directory");
            remove_dir_all(&self.pgdata)?;
        }
        let tmp = self.data_dir.join("pg.initdb");
        tracing::info!(pgdata = %self.pgdata.display(), version = %self.version, "creating embedded PostgreSQL cluster");
        let mut result = self.initdb(&tmp, "C.UTF-8").await;
        if let Err(ClusterError::CommandFailed { output, .. }) = &result
            && output.contains("locale")
        {
            // C.UTF-8 exists on Debian/Ubuntu/Fedora but not everywhere.
            result = self.initdb(&tmp, "C").await;
        }
        result?;
        let conf = tmp.join("postgresql.conf");
        let extra = format!(
            "\n# Added by sheaf: the embedded cluster is reachable only through its Unix socket.\n\
             listen_addresses = ''\nport = {}\nunix_socket_directories = '{}'\n",
            self.port,
            self.socket_dir.display().to_string().replace('\'', "''"),
        );
        OpenOptions::new()
            .append(true)
            .open(&conf)
            .and_then(|mut f| io::Write::write_all(&mut f, extra.as_bytes()))
            .map_err(io_error(format!("cannot append to {}", conf.display())))?;
        fs::rename(&tmp, &self.pgdata).map_err(io_error(format!(
            "cannot rename {} to {}",
            tmp.display(),
            self.pgdata.display()
        )))
    }

    async fn initdb(&self, target: &Path, locale: &str) -> Result<(), ClusterError> {
        if fs::symlink_metadata(target).is_ok() {
            remove_dir_all(target)?;
        }
        // Created by us because the cluster user may not write to the data directory.
        DirBuilder::new()
            .mode(0o700)
            .create(target)
            .map_err(io_error(format!("cannot create {}", target.display())))?;
        self.chown(target)?;
        let mut cmd = self.command("initdb");
        cmd.arg("-D")
            .arg(target)
            .args(["-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--no-sync"])
            .arg(format!("--locale={locale}"));
        let (line, out) = self.run(cmd).await?;
        check_output(line, out).map(drop)
    }

    async fn pg_ctl_start(&self) -> Result<(), ClusterError> {
        let log = self.log_file();
        let mut cmd = self.command("pg_ctl");
        // The socket dir has only plain characters (see `choose_socket_dir`), so the -o string,
        // which pg_ctl passes through /bin/sh, needs no quoting.
        cmd.arg("start")
            .arg("-D")
            .arg(&self.pgdata)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t"])
            .arg(PG_CTL_TIMEOUT_SECS.to_string())
            .arg("-o")
            .arg(format!(
                "-k {} -c listen_addresses='' -p {}",
                self.socket_dir.display(),
                self.port
            ));
        let (_, out) = self.run(cmd).await?;
        if out.status.success() {
            return Ok(());
        }
        Err(ClusterError::StartFailed {
            output: combined_output(&out),
            log_tail: tail(&log, LOG_TAIL_LINES),
            log,
        })
    }

    /// Uses the socket directory and port the running postmaster recorded in `postmaster.pid`
    /// (line 4: port, line 5: first socket directory).
    fn adopt_postmaster_pid(&mut self) {
        let Ok(text) = fs::read_to_string(self.pgdata.join("postmaster.pid")) else {
            return;
        };
        let lines: Vec<&str> = text.lines().collect();
        if let (Some(port), Some(dir)) = (lines.get(3), lines.get(4)) {
            if let Ok(port) = port.trim().parse::<u16>() {
                self.port = port;
            }
            let dir = dir.trim();
            if !dir.is_empty() && Path::new(dir) != self.socket_dir {
                tracing::warn!(
                    socket_dir = dir,
                    "embedded PostgreSQL runs with another socket directory; using it"
                );
                self.socket_dir = PathBuf::from(dir);
            }
        }
    }

    async fn wait_connectable(&self) -> Result<(), ClusterError> {
        let url = self.url();
        let started = Instant::now();
        loop {
            match sqlx::PgConnection::connect(&url).await {
                Ok(conn) => {
                    // Closing politely is best effort; the connection worked.
                    let _ = conn.close().await;
                    return Ok(());
                }
                Err(source) if started.elapsed() > CONNECT_TIMEOUT => {
                    return Err(ClusterError::Connect { url, source });
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
}

/// As root: the owner of an existing cluster, else the `postgres` user. Otherwise: ourselves,
/// and an existing cluster must be ours (PostgreSQL refuses a data directory owned by others).
fn cluster_user(pgdata: &Path) -> Result<ClusterUser, ClusterError> {
    let euid = nix::unistd::geteuid();
    let owner = fs::metadata(pgdata).ok().map(|m| m.uid());
    if euid.is_root() {
        let user = match owner.filter(|&uid| uid != 0) {
            Some(uid) => nix::unistd::User::from_uid(uid.into()),
            None => nix::unistd::User::from_name(CLUSTER_OS_USER),
        }
        .map_err(|e| io_error("cannot look up the cluster OS user")(e.into()))?
        .ok_or(ClusterError::NoClusterUser)?;
        return Ok(ClusterUser {
            name: user.name,
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
            switch: true,
        });
    }
    if let Some(owner) = owner.filter(|&uid| uid != euid.as_raw()) {
        return Err(ClusterError::ForeignOwner {
            path: pgdata.to_path_buf(),
            owner,
            uid: euid.as_raw(),
        });
    }
    let name = nix::unistd::User::from_uid(euid)
        .ok()
        .flatten()
        .map_or_else(|| euid.to_string(), |u| u.name);
    Ok(ClusterUser {
        name,
        uid: euid.as_raw(),
        gid: nix::unistd::getegid().as_raw(),
        switch: false,
    })
}

/// Candidate binary directories in search order (duplicates removed later).
async fn search_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Ok(out) = tokio::process::Command::new("pg_config")
        .arg("--bindir")
        .stdin(Stdio::null())
        .output()
        .await
        && out.status.success()
    {
        let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if !dir.is_empty() {
            dirs.push(PathBuf::from(dir));
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    // Debian/Ubuntu: /usr/lib/postgresql/<major>/bin; RHEL/PGDG: /usr/pgsql-<major>/bin.
    for (parent, prefix, suffix) in [
        ("/usr/lib/postgresql", "", "bin"),
        ("/usr", "pgsql-", "bin"),
    ] {
        let Ok(entries) = fs::read_dir(parent) else {
            continue;
        };
        let mut found: Vec<(Vec<u32>, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let version = name.strip_prefix(prefix)?;
                Some((version_numbers(version)?, e.path().join(suffix)))
            })
            .collect();
        found.sort_by(|a, b| b.0.cmp(&a.0));
        dirs.extend(found.into_iter().map(|(_, dir)| dir));
    }
    dirs
}

fn has_server_binaries(dir: &Path) -> bool {
    SERVER_BINARIES.iter().all(|name| {
        fs::metadata(dir.join(name)).is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0)
    })
}

/// Picks the highest version (first in search order on ties), restricted to the major version
/// of an existing cluster.
async fn find_binaries(
    explicit: Option<PathBuf>,
    cluster_major: Option<&str>,
    pgdata: &Path,
) -> Result<(PathBuf, String), ClusterError> {
    let searched = match explicit {
        Some(dir) => vec![dir],
        None => search_dirs().await,
    };
    let mut seen = Vec::new();
    let mut found: Vec<(PathBuf, Vec<u32>, String)> = Vec::new();
    for dir in &searched {
        // Deduplicate on the real `postgres` binary: e.g. /usr/local/bin may hold symlinks
        // into /usr/lib/postgresql/15/bin.
        let Ok(server) = fs::canonicalize(dir.join("postgres")) else {
            continue;
        };
        if seen.contains(&server) || !has_server_binaries(dir) {
            continue;
        }
        seen.push(server);
        // `postgres --version` is allowed as root (it exits before the root check).
        let Ok(out) = tokio::process::Command::new(dir.join("postgres"))
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .await
        else {
            continue;
        };
        if let Some((numbers, text)) = parse_server_version(&String::from_utf8_lossy(&out.stdout)) {
            found.push((dir.clone(), numbers, text));
        }
    }
    if found.is_empty() {
        return Err(ClusterError::NoBinaries { searched });
    }
    let usable: Vec<&(PathBuf, Vec<u32>, String)> = found
        .iter()
        .filter(|(_, numbers, _)| cluster_major.is_none_or(|m| major_version(numbers) == m))
        .collect();
    let mut best: Option<&(PathBuf, Vec<u32>, String)> = None;
    for candidate in usable {
        if best.is_none_or(|b| candidate.1 > b.1) {
            best = Some(candidate);
        }
    }
    match best {
        Some((dir, _, text)) => Ok((dir.clone(), text.clone())),
        None => Err(ClusterError::VersionMismatch {
            pgdata: pgdata.to_path_buf(),
            cluster_version: cluster_major.unwrap_or_default().to_owned(),
            found: found
                .iter()
                .map(|f| f.2.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// `postgres (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)` → ([15, 20], "15.20").
fn parse_server_version(text: &str) -> Option<(Vec<u32>, String)> {
    let token = text
        .split_once("(PostgreSQL)")?
        .1
        .split_whitespace()
        .next()?;
    Some((version_numbers(token)?, token.to_owned()))
}

/// "15.20" → [15, 20]; "16beta1" → [16]; "9.6.24" → [9, 6, 24].
fn version_numbers(text: &str) -> Option<Vec<u32>> {
    let numbers: Vec<u32> = text
        .split('.')
        .map_while(|part| {
            let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect();
    (!numbers.is_empty()).then_some(numbers)
}

/// The major version as written in `PG_VERSION`: "15" since PostgreSQL 10, "9.6" before.
fn major_version(numbers: &[u32]) -> String {
    match numbers {
        [first, second, ..] if *first < 10 => format!("{first}.{second}"),
        [first, ..] => first.to_string(),
        [] => String::new(),
    }
}

/// `<data_dir>/run`, unless the socket path would not fit `sun_path` or the directory has
/// characters that would need quoting (in pg_ctl's shell command, GUC lists and the URL): then
/// `/tmp/sheaf-<first 16 hex digits of SHA-256 of the data dir>`. Literally /tmp, as $TMPDIR
/// may itself be long.
fn choose_socket_dir(data_dir: &Path, port: u16) -> PathBuf {
    let preferred = data_dir.join("run");
    let bytes = preferred.as_os_str().as_bytes();
    let socket_len = bytes.len() + format!("/.s.PGSQL.{port}").len();
    let plain = bytes
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-+~".contains(b));
    if plain && socket_len <= MAX_SOCKET_PATH {
        return preferred;
    }
    let digest = Sha256::digest(data_dir.as_os_str().as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    PathBuf::from(format!("/tmp/sheaf-{hex}"))
}

/// Percent-encodes everything but unreserved characters and `/` (kept for readability).
fn encode_query_value(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn command_line(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn combined_output(out: &Output) -> String {
    let mut text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !stderr.trim().is_empty() {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(stderr.trim());
    }
    text
}

fn check_output(command: String, out: Output) -> Result<Output, ClusterError> {
    if out.status.success() {
        return Ok(out);
    }
    Err(ClusterError::CommandFailed {
        command,
        status: out.status.to_string(),
        output: combined_output(&out),
    })
}

/// The last `n` lines of a file, or a note why it could not be read.
fn tail(path: &Path, n: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        }
        Err(e) => format!("(cannot read the log: {e})"),
    }
}

fn create_dir_all(dir: &Path, mode: u32) -> Result<(), ClusterError> {
    DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
        .map_err(io_error(format!("cannot create {}", dir.display())))
}

fn remove_dir_all(dir: &Path) -> Result<(), ClusterError> {
    fs::remove_dir_all(dir).map_err(io_error(format!("cannot remove {}", dir.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_server_versions() {
        let (n, t) = parse_server_version("postgres (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)\n")
            .expect("version");
        assert_eq!((n.clone(), t.as_str()), (vec![15, 20], "15.20"));
        assert_eq!(major_version(&n), "15");
        let (n, _) = parse_server_version("postgres (PostgreSQL) 9.6.24").expect("version");
        assert_eq!(major_version(&n), "9.6");
        let (n, _) = parse_server_version("postgres (PostgreSQL) 17beta2").expect("version");
        assert_eq!(n, vec![17]);
        assert!(parse_server_version("something else").is_none());
    }

    #[test]
    fn socket_dir_falls_back_to_tmp_when_too_long_or_odd() {
        let short = choose_socket_dir(Path::new("/var/lib/sheaf"), SOCKET_PORT);
        assert_eq!(short, Path::new("/var/lib/sheaf/run"));
        let long_dir = PathBuf::from(format!("/srv/{}", "x".repeat(90)));
        let long = choose_socket_dir(&long_dir, SOCKET_PORT);
        assert!(long.starts_with("/tmp") && long.to_string_lossy().starts_with("/tmp/sheaf-"));
        assert_eq!(long, choose_socket_dir(&long_dir, SOCKET_PORT), "stable");
        let odd = choose_socket_dir(Path::new("/srv/my data"), SOCKET_PORT);
        assert!(odd.to_string_lossy().starts_with("/tmp/sheaf-"));
        // Exactly at the limit still fits.
        let base = "/".to_owned() + &"a".repeat(MAX_SOCKET_PATH - "/run/.s.PGSQL.54329".len() - 1);
        assert_eq!(
            choose_socket_dir(Path::new(&base), SOCKET_PORT),
            Path::new(&base).join("run")
        );
    }

    #[test]
    fn url_encodes_socket_dir() {
        assert_eq!(encode_query_value(b"/tmp/a b&c"), "/tmp/a%20b%26c");
    }

    #[test]
    fn no_binaries_message_tells_what_to_do() {
        let msg = ClusterError::NoBinaries {
            searched: vec![PathBuf::from("/nowhere")],
        }
        .to_string();
        assert!(msg.contains("DATABASE_URL") && msg.contains("apt-get install postgresql"));
        assert!(msg.contains("/nowhere"));
    }
}
