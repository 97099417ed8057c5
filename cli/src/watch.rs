//! `shmmetrics watch`: a live view of one zone. On a terminal: a full-screen table refreshed in
//! place with per-second rates and a trend of recent rates, sortable and filterable; elsewhere
//! (a pipe, a file): plain snapshots, like `varnishstat -1` repeated.

use std::collections::{HashMap, VecDeque};
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use crossterm::{cursor, queue, style, terminal};
use shmmetrics::{Kind, Value};

use crate::admin::utc;
use crate::dump::value_text;
use crate::exit::{CliError, CliResult};
use crate::glob::{Filter, Glob};
use crate::signals;
use crate::source::{Metric, Source};

const TREND_LEN: usize = 24;
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// What happened to a metric since the previous refresh.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Change {
    New,
    /// Re-registered (its registration id changed): the old and new values are unrelated.
    Reset,
    /// Per second: counters' rate; gauges' change.
    Rate(f64),
}

#[derive(Clone, Debug)]
pub struct Row {
    pub name: String,
    pub kind: Kind,
    pub value: Value,
    pub generation: u64,
    pub change: Change,
    /// Recent rates (counters) or values (gauges), oldest first.
    pub trend: VecDeque<f64>,
}

fn as_f64(v: Value) -> f64 {
    match v {
        Value::Int(i) => i as f64,
        Value::Float(f) => f,
    }
}

/// The table across refreshes.
#[derive(Default)]
pub struct Table {
    pub rows: Vec<Row>,
    last: Option<Instant>,
}

impl Table {
    /// Folds in a new reading taken `now`.
    pub fn update(&mut self, metrics: Vec<Metric>, now: Instant) {
        let dt = self.last.map(|t| now.duration_since(t).as_secs_f64()).filter(|d| *d > 0.0);
        let mut old: HashMap<String, Row> = self.rows.drain(..).map(|r| (r.name.clone(), r)).collect();
        for m in metrics {
            let prev = old.remove(&m.name);
            let (change, mut trend) = match prev {
                Some(p) if p.generation == m.generation && p.kind == m.kind => {
                    let rate = dt.map_or(0.0, |dt| (as_f64(m.value) - as_f64(p.value)) / dt);
                    (Change::Rate(rate), p.trend)
                }
                Some(_) => (Change::Reset, VecDeque::new()),
                None => (Change::New, VecDeque::new()),
            };
            let point = match (m.kind, change) {
                (Kind::Counter, Change::Rate(r)) => Some(r),
                (Kind::Counter, _) => None,
                _ => Some(as_f64(m.value)),
            };
            if let Some(p) = point {
                trend.push_back(p);
                if trend.len() > TREND_LEN {
                    trend.pop_front();
                }
            }
            self.rows.push(Row { name: m.name, kind: m.kind, value: m.value, generation: m.generation, change, trend });
        }
        self.last = Some(now);
    }
}

pub fn change_text(c: Change) -> String {
    match c {
        Change::New => "-".into(),
        Change::Reset => "reset".into(),
        Change::Rate(r) if r == r.trunc() && r.abs() < 1e15 => format!("{r:.0}"),
        Change::Rate(r) => format!("{r:.2}"),
    }
}

/// A sparkline of `values`, scaled between their minimum and maximum.
pub fn sparkline(values: &VecDeque<f64>) -> String {
    let finite = values.iter().copied().filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    values
        .iter()
        .map(|&v| {
            if !v.is_finite() {
                ' '
            } else if hi <= lo {
                BARS[0]
            } else {
                BARS[(((v - lo) / (hi - lo)) * 7.0).round().clamp(0.0, 7.0) as usize]
            }
        })
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SortBy {
    Name,
    Value,
    Rate,
}

struct View {
    sort: SortBy,
    reverse: bool,
    paused: bool,
    /// The filter in force (a glob, or a substring when it has no glob characters).
    filter: Option<(String, Glob)>,
    /// Some while typing a filter after `/`.
    typing: Option<String>,
    scroll: usize,
}

fn filter_glob(text: &str) -> Option<(String, Glob)> {
    if text.is_empty() {
        return None;
    }
    let pattern = if text.contains(['*', '?', '[']) { text.to_string() } else { format!("*{text}*") };
    Glob::new(&pattern).ok().map(|g| (text.to_string(), g))
}

pub struct Options {
    pub interval: Duration,
    pub filter: Filter,
    /// Stop after this many refreshes (plain mode and the tests).
    pub count: Option<u64>,
    /// Plain snapshots even on a terminal.
    pub plain: bool,
}

pub fn run(source: &Source, opts: &Options) -> CliResult<()> {
    signals::install();
    let read = || -> CliResult<Vec<Metric>> { Ok(source.metrics()?.into_iter().filter(|m| opts.filter.allows(&m.name)).collect()) };
    if opts.plain || !std::io::stdout().is_terminal() {
        return plain(source, opts, read);
    }
    let mut term = Terminal::enter().map_err(|e| CliError::io("set up the terminal", e))?;
    let result = live(source, opts, read, &mut term);
    drop(term);
    result
}

fn plain(source: &Source, opts: &Options, read: impl Fn() -> CliResult<Vec<Metric>>) -> CliResult<()> {
    let mut table = Table::default();
    let mut out = std::io::stdout().lock();
    let mut n = 0u64;
    loop {
        table.update(read()?, Instant::now());
        let mut rows: Vec<&Row> = table.rows.iter().collect();
        rows.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
        let width = rows.iter().map(|r| r.name.chars().count()).max().unwrap_or(4).max(4);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        let mut block = format!("# {} {} ({} metrics)\n", utc(now), source.path().display(), rows.len());
        block.push_str(&format!("{:<width$}  {:<9}  {:>20}  {:>12}\n", "NAME", "KIND", "VALUE", "RATE/s"));
        for r in rows {
            block.push_str(&format!("{:<width$}  {:<9}  {:>20}  {:>12}\n", r.name, r.kind.as_str(), value_text(r.value), change_text(r.change)));
        }
        block.push('\n');
        if out.write_all(block.as_bytes()).and_then(|_| out.flush()).is_err() {
            return Ok(()); // the reader went away (`| head`): done, not an error
        }
        n += 1;
        if opts.count.is_some_and(|c| n >= c) || signals::sleep(opts.interval) {
            return Ok(());
        }
    }
}

/// Raw mode and the alternate screen, undone on drop and by the panic hook, so the terminal
/// is restored whichever way the command ends.
struct Terminal {
    out: std::io::Stdout,
}

/// Set while the terminal is in raw mode on the alternate screen.
static ENTERED: AtomicBool = AtomicBool::new(false);

/// Undoes `Terminal::enter` once: the panic hook restores before the message is printed (so it
/// lands on the main screen, in cooked mode), and the drop that follows during unwinding must
/// not leave the alternate screen again (that moves the cursor back over the message).
fn restore() {
    if !ENTERED.swap(false, Ordering::SeqCst) {
        return;
    }
    let mut out = std::io::stdout();
    let _ = queue!(out, style::ResetColor, cursor::Show, terminal::LeaveAlternateScreen);
    let _ = out.flush();
    let _ = terminal::disable_raw_mode();
}

impl Terminal {
    fn enter() -> std::io::Result<Terminal> {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
        ENTERED.store(true, Ordering::SeqCst);
        terminal::enable_raw_mode()?;
        let mut out = std::io::stdout();
        queue!(out, terminal::EnterAlternateScreen, cursor::Hide)?;
        out.flush()?;
        Ok(Terminal { out })
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        restore();
    }
}

fn live(source: &Source, opts: &Options, read: impl Fn() -> CliResult<Vec<Metric>>, term: &mut Terminal) -> CliResult<()> {
    let mut table = Table::default();
    let mut view = View { sort: SortBy::Name, reverse: false, paused: false, filter: None, typing: None, scroll: 0 };
    let mut refreshes = 0u64;
    let mut next = Instant::now();
    // Test hook: the panic path must restore the terminal too (see cli/tests/watch.rs).
    let panic_after = std::env::var("SHMMETRICS_TEST_WATCH_PANIC").ok().and_then(|v| v.parse::<u64>().ok());
    loop {
        if signals::stopping() {
            return Ok(());
        }
        let now = Instant::now();
        if now >= next {
            if !view.paused {
                table.update(read()?, now);
                refreshes += 1;
            }
            draw(term, source, &table, &view, opts.interval).map_err(|e| CliError::io("draw", e))?;
            if panic_after.is_some_and(|n| refreshes >= n) {
                panic!("SHMMETRICS_TEST_WATCH_PANIC: panicking after {refreshes} refreshes");
            }
            if opts.count.is_some_and(|c| refreshes >= c) {
                return Ok(());
            }
            next = now + opts.interval;
        }
        let wait = next.saturating_duration_since(Instant::now()).min(Duration::from_millis(100));
        if event::poll(wait).map_err(|e| CliError::io("read the terminal", e))? {
            match event::read().map_err(|e| CliError::io("read the terminal", e))? {
                Event::Key(k) if k.kind != KeyEventKind::Release => {
                    if key(&mut view, k) {
                        return Ok(());
                    }
                    draw(term, source, &table, &view, opts.interval).map_err(|e| CliError::io("draw", e))?;
                }
                Event::Resize(..) => draw(term, source, &table, &view, opts.interval).map_err(|e| CliError::io("draw", e))?,
                _ => {}
            }
        }
    }
}

/// Applies a key; true to quit.
fn key(view: &mut View, k: KeyEvent) -> bool {
    if k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL) {
        return true;
    }
    if let Some(text) = view.typing.as_mut() {
        match k.code {
            KeyCode::Enter => {
                view.filter = filter_glob(text);
                view.typing = None;
                view.scroll = 0;
            }
            KeyCode::Esc => view.typing = None,
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Char(c) => text.push(c),
            _ => {}
        }
        return false;
    }
    match k.code {
        KeyCode::Char('q') | KeyCode::Esc => return true,
        KeyCode::Char('p') | KeyCode::Char(' ') => view.paused = !view.paused,
        KeyCode::Char('s') => {
            view.sort = match view.sort {
                SortBy::Name => SortBy::Value,
                SortBy::Value => SortBy::Rate,
                SortBy::Rate => SortBy::Name,
            }
        }
        KeyCode::Char('r') => view.reverse = !view.reverse,
        KeyCode::Char('/') => view.typing = Some(view.filter.as_ref().map(|f| f.0.clone()).unwrap_or_default()),
        KeyCode::Char('c') => view.filter = None,
        KeyCode::Down | KeyCode::Char('j') => view.scroll += 1,
        KeyCode::Up | KeyCode::Char('k') => view.scroll = view.scroll.saturating_sub(1),
        KeyCode::PageDown => view.scroll += 20,
        KeyCode::PageUp => view.scroll = view.scroll.saturating_sub(20),
        KeyCode::Home => view.scroll = 0,
        _ => {}
    }
    false
}

fn rate_of(r: &Row) -> f64 {
    match r.change {
        Change::Rate(x) => x,
        _ => f64::NEG_INFINITY,
    }
}

fn visible<'a>(table: &'a Table, view: &View) -> Vec<&'a Row> {
    let mut rows: Vec<&Row> = table.rows.iter().filter(|r| view.filter.as_ref().is_none_or(|(_, g)| g.matches(&r.name))).collect();
    match view.sort {
        SortBy::Name => rows.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes())),
        SortBy::Value => rows.sort_by(|a, b| as_f64(b.value).total_cmp(&as_f64(a.value)).then(a.name.cmp(&b.name))),
        SortBy::Rate => rows.sort_by(|a, b| rate_of(b).total_cmp(&rate_of(a)).then(a.name.cmp(&b.name))),
    }
    if view.reverse {
        rows.reverse();
    }
    rows
}

fn fit(s: &str, width: usize) -> String {
    if s.chars().count() <= width { format!("{s:<width$}") } else { s.chars().take(width.saturating_sub(1)).chain(['…']).collect() }
}

fn draw(term: &mut Terminal, source: &Source, table: &Table, view: &View, interval: Duration) -> std::io::Result<()> {
    let (cols, lines) = terminal::size().unwrap_or((80, 24));
    let (cols, lines) = (cols as usize, lines as usize);
    let rows = visible(table, view);
    let body = lines.saturating_sub(4);
    let scroll = view.scroll.min(rows.len().saturating_sub(body));
    let out = &mut term.out;
    queue!(out, cursor::MoveTo(0, 0), terminal::Clear(terminal::ClearType::All))?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let title = format!("shmmetrics watch {}  every {:.1}s  {}{}", source.path().display(), interval.as_secs_f64(), &utc(now)[11..19], if view.paused { "  [paused]" } else { "" });
    let sort = match view.sort {
        SortBy::Name => "name",
        SortBy::Value => "value",
        SortBy::Rate => "rate",
    };
    let filter = view.filter.as_ref().map_or("none".to_string(), |f| f.0.clone());
    let status = format!("{} metrics, {} shown  sort: {sort}{}  filter: {filter}", table.rows.len(), rows.len(), if view.reverse { " (reversed)" } else { "" });
    let (vw, rw, tw, kw) = (16, 12, TREND_LEN, 9);
    let nw = cols.saturating_sub(vw + rw + tw + kw + 8).max(10);
    let head = format!("{:<nw$}  {:<kw$}  {:>vw$}  {:>rw$}  {}", "NAME", "KIND", "VALUE", "RATE/s", "TREND");
    let mut text = vec![title, status, head];
    for r in rows.iter().skip(scroll).take(body) {
        text.push(format!("{}  {:<kw$}  {:>vw$}  {:>rw$}  {}", fit(&r.name, nw), r.kind.as_str(), value_text(r.value), change_text(r.change), sparkline(&r.trend)));
    }
    for (i, line) in text.iter().enumerate() {
        queue!(out, cursor::MoveTo(0, i as u16), style::Print(fit(line, cols)))?;
    }
    let footer = match &view.typing {
        Some(t) => format!("filter (glob or text, Enter to apply, Esc to cancel): {t}"),
        None => "q quit  p pause  s sort  r reverse  / filter  c clear filter  ↑↓ PgUp PgDn scroll".to_string(),
    };
    queue!(out, cursor::MoveTo(0, lines.saturating_sub(1) as u16), style::Print(fit(&footer, cols)))?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(name: &str, v: i64, generation: u64) -> Metric {
        Metric { name: name.into(), kind: Kind::Counter, value: Value::Int(v), generation, created_unix_ns: 0, truncated: false }
    }

    #[test]
    fn a_new_registration_id_is_a_reset_not_a_negative_rate() {
        let mut t = Table::default();
        let t0 = Instant::now();
        t.update(vec![metric("c", 100, 1)], t0);
        assert_eq!(t.rows[0].change, Change::New);
        t.update(vec![metric("c", 300, 1)], t0 + Duration::from_secs(2));
        assert_eq!(t.rows[0].change, Change::Rate(100.0));
        t.update(vec![metric("c", 5, 2)], t0 + Duration::from_secs(3));
        assert_eq!(t.rows[0].change, Change::Reset);
        assert!(t.rows[0].trend.is_empty());
        // Same registration going down (a go-metrics Dec or Clear) is a real negative rate.
        t.update(vec![metric("c", 1, 2)], t0 + Duration::from_secs(4));
        assert_eq!(t.rows[0].change, Change::Rate(-4.0));
    }

    #[test]
    fn sparkline_scales() {
        let v: VecDeque<f64> = [0.0, 7.0, 3.5, f64::NAN].into_iter().collect();
        assert_eq!(sparkline(&v), "▁█▅ ");
        assert_eq!(sparkline(&[2.0, 2.0].into_iter().collect()), "▁▁");
    }
}
