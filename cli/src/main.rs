//! `shmmetrics`: list, dump, watch, verify and serve shmmetrics zones (and read MOSN zones).
//! Every subcommand but `verify --repair` and `rm` attaches read-only and takes no lock, so it
//! can never disturb an application. See docs/CLI.md.

mod admin;
mod dump;
mod exit;
mod exposition;
mod glob;
mod mosn;
mod serve;
mod signals;
mod source;
mod watch;

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand};

use exit::{CliError, CliResult, Code, note};

#[derive(Parser)]
#[command(name = "shmmetrics", version, about = "Read shmmetrics zones: list, dump, watch, verify, serve to Prometheus", after_help = exit::HELP)]
struct Cli {
    /// Directory of named zones [default: $SHMMETRICS_DIR, else /dev/shm]
    #[arg(long, global = true, value_name = "DIR")]
    dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// ZONE is a zone name (the file shmmetrics-ZONE in the zone directory, or the file ZONE there)
/// or, when it contains a '/', a path.
#[derive(Subcommand)]
enum Command {
    /// List the zones in a directory: size, metrics used, writers, failed registrations, format
    #[command(after_help = exit::HELP)]
    List {
        /// JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Print every metric of a zone (shmmetrics or MOSN)
    #[command(after_help = exit::HELP)]
    Dump(DumpArgs),
    /// Live view of a zone: values, rates per second, trends (plain snapshots when not on a terminal)
    #[command(after_help = WATCH_KEYS)]
    Watch(WatchArgs),
    /// Serve zones over HTTP for Prometheus: /metrics (text 0.0.4, or OpenMetrics when asked)
    #[command(after_help = exit::HELP)]
    Serve(ServeArgs),
    /// Occupancy and health of a zone
    #[command(after_help = exit::HELP)]
    Stats {
        zone: String,
        /// JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Check a zone's index: exit 0 healthy, 1 damaged
    #[command(after_help = exit::HELP)]
    Verify {
        zone: String,
        /// Attach for writing, take the registration lock and fix what the library can
        #[arg(long)]
        repair: bool,
    },
    /// Remove a zone file (refused while writers are attached)
    #[command(after_help = exit::HELP)]
    Rm {
        zone: String,
        /// Remove it even with writers attached (they keep using their mapping), or when damaged
        #[arg(long)]
        force: bool,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions { shell: clap_complete::Shell },
}

const WATCH_KEYS: &str = "\
Keys: q, Esc or Ctrl-C quit; p or space pause; s sort (name, value, rate); r reverse;
/ filter (a glob, or text to search for; Enter applies); c clear the filter; arrows, PgUp, PgDn scroll.
A counter whose registration id changed between two refreshes shows `reset`, not a negative rate.";

#[derive(Args)]
struct Selection {
    /// Only metrics whose name (labels included) matches this glob; repeatable (any may match)
    #[arg(long = "match", value_name = "GLOB")]
    include: Vec<String>,
    /// Leave out metrics whose name matches this glob; repeatable
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,
}

impl Selection {
    fn filter(&self) -> CliResult<glob::Filter> {
        glob::Filter::new(&self.include, &self.exclude).map_err(CliError::usage)
    }
}

#[derive(Args)]
struct Exposing {
    /// Expose counters as gauges (go-metrics-prometheus convention; for counters that may go down)
    #[arg(long)]
    counters_as_gauges: bool,
    /// Prefix every metric name with NAMESPACE_
    #[arg(long, value_name = "NAMESPACE", default_value = "")]
    namespace: String,
}

impl Exposing {
    fn rules(&self) -> exposition::Rules {
        exposition::Rules { namespace: self.namespace.clone(), counters_as_gauges: self.counters_as_gauges }
    }
}

#[derive(Args)]
struct DumpArgs {
    zone: String,
    #[arg(long, value_enum, default_value = "text")]
    format: dump::Format,
    #[command(flatten)]
    selection: Selection,
    #[command(flatten)]
    exposing: Exposing,
}

#[derive(Args)]
struct WatchArgs {
    zone: String,
    /// Seconds between refreshes
    #[arg(long, default_value = "1", value_parser = parse_interval)]
    interval: Duration,
    #[command(flatten)]
    selection: Selection,
    /// Stop after N refreshes
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Plain snapshots even on a terminal
    #[arg(long)]
    plain: bool,
}

#[derive(Args)]
struct ServeArgs {
    /// Zones to serve; none: every zone in --dir (labelled zone="NAME", as with several zones)
    zones: Vec<String>,
    /// Address to listen on (port 0 picks a free port; the address is printed)
    #[arg(long, default_value = "127.0.0.1:9464")]
    listen: String,
    /// Threads answering scrapes
    #[arg(long, default_value = "4")]
    threads: usize,
    #[command(flatten)]
    selection: Selection,
    #[command(flatten)]
    exposing: Exposing,
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.parse().map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(0.05..=86_400.0).contains(&secs) {
        return Err("the interval must be between 0.05 and 86400 seconds".into());
    }
    Ok(Duration::from_secs_f64(secs))
}

fn write_stdout(text: &str) -> CliResult<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.map_err(|e| CliError::io("write", e)),
    }
}

fn run(cli: Cli) -> CliResult<Code> {
    let dir = cli.dir.as_deref();
    match cli.command {
        Command::List { json } => admin::list(&dir.map_or_else(shmmetrics::open::zone_dir, |d| d.to_path_buf()), json)?,
        Command::Dump(a) => {
            let filter = a.selection.filter()?;
            let src = source::open(&source::resolve(&a.zone, dir)?, true)?;
            let metrics = dump::selected(&src, &filter)?;
            write_stdout(&dump::render(&src, metrics, a.format, &a.exposing.rules())?)?;
        }
        Command::Watch(a) => {
            let opts = watch::Options { interval: a.interval, filter: a.selection.filter()?, count: a.count, plain: a.plain };
            let src = source::open(&source::resolve(&a.zone, dir)?, true)?;
            watch::run(&src, &opts)?;
        }
        Command::Serve(a) => {
            let targets = match (a.zones.len(), dir) {
                (0, Some(d)) => serve::Targets::Dir(d.to_path_buf()),
                (0, None) => return Err(CliError::usage("serve needs ZONE... or --dir DIR (every zone in DIR)")),
                (1, _) => serve::Targets::One(source::resolve(&a.zones[0], dir)?),
                _ => serve::Targets::Named(
                    a.zones.iter().map(|z| Ok((source::display_name(z.rsplit('/').next().unwrap_or(z)).to_string(), source::resolve(z, dir)?))).collect::<CliResult<_>>()?,
                ),
            };
            let exporter = serve::Exporter::new(targets, a.exposing.rules(), a.selection.filter()?);
            serve::serve(exporter, &a.listen, a.threads)?;
        }
        Command::Stats { zone, json } => admin::stats(&source::resolve(&zone, dir)?, json)?,
        Command::Verify { zone, repair } => return admin::verify(&source::resolve(&zone, dir)?, repair),
        Command::Rm { zone, force } => admin::rm(&source::resolve(&zone, dir)?, force)?,
        Command::Completions { shell } => clap_complete::generate(shell, &mut Cli::command(), "shmmetrics", &mut std::io::stdout()),
    }
    Ok(Code::Ok)
}

fn main() {
    let code = match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            note!("shmmetrics: {}", e.message);
            e.code
        }
    };
    std::process::exit(code as i32);
}
