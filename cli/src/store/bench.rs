//! `ai-audit bench`: durable emit throughput and latency on this machine, printed beside the
//! Python library's figures measured in the same run (when `ai-audit-trail` is installed).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use audit_runtime::json::{Value, parse};
use audit_runtime::store::{MemoryStore, SqliteStore, Store};
use audit_runtime::{Auditor, SealingMode, SigningKey, workload};

use clap::{ArgAction, ArgMatches};

use crate::args;
use crate::common::{EXIT_PASS, EXIT_USAGE};

/// The arguments of `bench`.
#[derive(Debug)]
pub(crate) struct BenchArgs {
    receipts: u64,
    window: usize,
    data_dir: Option<PathBuf>,
    python: Option<PathBuf>,
    python_bench: PathBuf,
    no_python: bool,
    threads: Vec<u64>,
    tenants: Vec<u64>,
    sealing: Sealing,
    store: BenchStore,
}

impl BenchArgs {
    /// The `bench` command's arguments.
    pub(crate) fn command(cmd: clap::Command) -> clap::Command {
        cmd.arg(
            args::text_option("receipts", "RECEIPTS", "Receipts per throughput configuration.")
                .value_parser(clap::value_parser!(u64))
                .default_value("50000"),
        )
        .arg(
            args::text_option(
                "window",
                "WINDOW",
                "Receipts each emitting thread keeps in flight (submit now, wait later).",
            )
            .value_parser(clap::value_parser!(usize))
            .default_value("256"),
        )
        .arg(args::path_option(
            "data_dir",
            "DATA_DIR",
            "Directory under which the benchmark makes its databases, in a subdirectory of its own that it removes afterwards (default: the system temp dir). Nothing else in it is touched.",
        ))
        .arg(args::path_option(
            "python",
            "PYTHON",
            "Python interpreter with ai-audit-trail installed (default: AI_AUDIT_PYTHON, target/py-ai-audit-trail/bin/python, then python3).",
        ))
        .arg(
            args::path_option(
                "python_bench",
                "PYTHON_BENCH",
                "The Python library's benchmark script.",
            )
            .default_value("../shared/bench/python_seed_bench.py"),
        )
        .arg(args::switch("no_python", "Skip the Python side."))
        .arg(
            args::text_option(
                "threads",
                "THREADS",
                "Only these emitting-thread counts (default 1, 2 and 8); with this or `--tenants`, the blocking-emit row is skipped.",
            )
            .value_parser(clap::value_parser!(u64))
            .value_delimiter(',')
            .action(ArgAction::Append),
        )
        .arg(
            args::text_option(
                "tenants",
                "TENANTS",
                "Only these tenant counts (default 1 and 4).",
            )
            .value_parser(clap::value_parser!(u64))
            .value_delimiter(',')
            .action(ArgAction::Append),
        )
        .arg(
            args::text_option(
                "sealing",
                "SEALING",
                "How receipts are sealed: every receipt signed (per-receipt), or only checkpoints (checkpointed; see docs/transparency.md §6).",
            )
            .value_parser(["per-receipt", "checkpointed"])
            .default_value("per-receipt"),
        )
        .arg(
            args::text_option(
                "store",
                "STORE",
                "Where receipts go: the durable SQLite store (sqlite), or the in-memory store (memory: not durable; it shows what the pipeline costs without storage, and so what the store adds).",
            )
            .value_parser(["sqlite", "memory"])
            .default_value("sqlite"),
        )
    }

    /// Reads the arguments back from a parse.
    pub(crate) fn from_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let sealing = match args::required::<String>(m, "sealing")?.as_str() {
            "checkpointed" => Sealing::Checkpointed,
            _ => Sealing::PerReceipt,
        };
        let store = match args::required::<String>(m, "store")?.as_str() {
            "memory" => BenchStore::Memory,
            _ => BenchStore::Sqlite,
        };
        Ok(Self {
            receipts: args::required(m, "receipts")?,
            window: args::required(m, "window")?,
            data_dir: args::one(m, "data_dir")?,
            python: args::one(m, "python")?,
            python_bench: args::required(m, "python_bench")?,
            no_python: args::flag(m, "no_python")?,
            threads: args::many(m, "threads")?,
            tenants: args::many(m, "tenants")?,
            sealing,
            store,
        })
    }
}

/// `--store`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BenchStore {
    /// `SqliteStore`, `synchronous=FULL`.
    Sqlite,
    /// `MemoryStore`: nothing is written to disk.
    Memory,
}

/// `--sealing`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sealing {
    /// Every receipt signed (`SealingMode::PerReceipt`, v1).
    PerReceipt,
    /// Only checkpoints signed (`SealingMode::Checkpointed`).
    Checkpointed,
}

impl Sealing {
    fn mode(self) -> SealingMode {
        match self {
            Self::PerReceipt => SealingMode::PerReceipt,
            Self::Checkpointed => SealingMode::Checkpointed,
        }
    }
}

struct Figures {
    per_sec: f64,
    /// Receipts per group commit (one transaction and fsync).
    per_commit: f64,
    p50: Duration,
    p99: Duration,
    /// CPU time of the whole process (every thread, user and system) per receipt; `None` where
    /// [`process_cpu`] cannot tell.
    cpu_per_receipt: Option<Duration>,
}

/// CPU time this process has used so far, all threads (including ones that have exited), user
/// plus system: fields 14 and 15 of `/proc/self/stat`, in the kernel's fixed 100 ticks per
/// second (`USER_HZ`). `None` off Linux.
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

fn auditor(dir: &std::path::Path, name: &str, args: &BenchArgs) -> Result<Auditor, String> {
    let sealing = args.sealing;
    let store: Arc<dyn Store> = match args.store {
        BenchStore::Sqlite => Arc::new(
            SqliteStore::open(dir.join(name)).map_err(|e| format!("cannot open the store: {e}"))?,
        ),
        BenchStore::Memory => Arc::new(MemoryStore::new()),
    };
    let key = SigningKey::from_seed(&[1; 32]);
    Auditor::builder()
        .signer(key)
        .shared_store(store)
        .sealing(sealing.mode())
        .build()
        .map_err(|e| format!("cannot start the auditor: {e}"))
}

/// `threads` threads emit `n` receipts over `tenants` tenants. With `window > 1` each thread keeps
/// that many in flight; latency is measured from submit to durable acknowledgement.
fn run(a: &Auditor, n: u64, threads: u64, tenants: u64, window: usize) -> Result<Figures, String> {
    let before = a.stats();
    let (input, output) = workload::texts();
    let (input, output) = (Arc::new(input), Arc::new(output));
    let per_thread = n.div_ceil(threads);
    let cpu_before = process_cpu();
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (a, input, output) = (a.clone(), Arc::clone(&input), Arc::clone(&output));
            std::thread::spawn(move || -> Result<Vec<Duration>, String> {
                let mut lat = Vec::with_capacity(usize::try_from(per_thread).unwrap_or(0));
                let mut in_flight = VecDeque::with_capacity(window);
                for i in 0..per_thread {
                    let tenant = format!("tenant-{}", (i + t) % tenants);
                    let r = workload::receipt(&tenant, i, &input, &output);
                    let p = a.submit(r).map_err(|e| e.to_string())?;
                    in_flight.push_back((Instant::now(), p));
                    if in_flight.len() >= window.max(1)
                        && let Some((at, p)) = in_flight.pop_front()
                    {
                        p.wait().map_err(|e| e.to_string())?;
                        lat.push(at.elapsed());
                    }
                }
                for (at, p) in in_flight {
                    p.wait().map_err(|e| e.to_string())?;
                    lat.push(at.elapsed());
                }
                Ok(lat)
            })
        })
        .collect();
    let mut all = Vec::new();
    for h in handles {
        all.extend(
            h.join()
                .map_err(|_| "an emitting thread panicked".to_owned())??,
        );
    }
    let elapsed = start.elapsed().as_secs_f64();
    let done = per_thread * threads;
    let cpu_per_receipt = cpu_before
        .zip(process_cpu())
        .and_then(|(a, b)| b.checked_sub(a))
        .and_then(|cpu| cpu.checked_div(u32::try_from(done).ok()?));
    all.sort_unstable();
    let pct = |q: f64| {
        let i = ((all.len() as f64 - 1.0) * q).round() as usize;
        all.get(i).copied().unwrap_or_default()
    };
    Ok(Figures {
        per_sec: done as f64 / elapsed,
        per_commit: {
            let after = a.stats();
            (after.emitted - before.emitted) as f64 / (after.batches - before.batches).max(1) as f64
        },
        p50: pct(0.5),
        p99: pct(0.99),
        cpu_per_receipt,
    })
}

fn find_python(args: &BenchArgs) -> Option<PathBuf> {
    let has = |p: &PathBuf| {
        Command::new(p)
            .args(["-c", "import ai_audit"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let candidates = [
        args.python.clone(),
        std::env::var_os("AI_AUDIT_PYTHON").map(PathBuf::from),
        Some(PathBuf::from("target/py-ai-audit-trail/bin/python")),
        Some(PathBuf::from("python3")),
    ];
    candidates.into_iter().flatten().find(has)
}

fn python_figures(
    python: &PathBuf,
    script: &PathBuf,
    dir: &std::path::Path,
) -> Result<Value, String> {
    let out_file = dir.join("python.json");
    let status = Command::new(python)
        .arg(script)
        .args([
            "--runs",
            "3",
            "--n-emit",
            "20000",
            "--n-chain",
            "20000",
            "--out",
        ])
        .arg(&out_file)
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !status.success() {
        return Err(format!("{} failed ({status})", script.display()));
    }
    let bytes =
        std::fs::read(&out_file).map_err(|e| format!("cannot read {}: {e}", out_file.display()))?;
    parse(&bytes).map_err(|e| format!("bad JSON from the Python benchmark: {e}"))
}

fn number(v: &Value, key: &str) -> Option<f64> {
    match v {
        Value::Object(o) => match o.get(key) {
            Some(Value::Number(n)) => Some(n.as_f64()),
            _ => None,
        },
        _ => None,
    }
}

pub(crate) fn run_bench(args: &BenchArgs) -> u8 {
    match bench(args) {
        Ok(()) => EXIT_PASS,
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_USAGE
        }
    }
}

fn bench(args: &BenchArgs) -> Result<(), String> {
    // A subdirectory of our own: it is removed at the end, and the given directory may hold
    // anything (an operator's audit-data, say).
    let dir = args
        .data_dir
        .clone()
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("ai-audit-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    out!(
        "ai-audit {} — {} ({:?} sealing), {} receipts per row, workload = the Python baseline's emit_one",
        env!("CARGO_PKG_VERSION"),
        match args.store {
            BenchStore::Sqlite => "durable emit (SQLite, synchronous=FULL)",
            BenchStore::Memory => "emit into the in-memory store (NOT durable)",
        },
        args.sealing.mode(),
        args.receipts
    );
    out!(
        "{:>8} {:>8} {:>14} {:>10} {:>10} {:>12} {:>14}",
        "threads",
        "tenants",
        "receipts/s",
        "p50",
        "p99",
        "per commit",
        "CPU/receipt"
    );
    let mut rows = Vec::new();
    let pick = |given: &[u64], default: &[u64]| {
        if given.is_empty() {
            default.to_vec()
        } else {
            given.to_vec()
        }
    };
    for threads in pick(&args.threads, &[1, 2, 8]) {
        for tenants in pick(&args.tenants, &[1, 4]) {
            let a = auditor(&dir, &format!("bench-{threads}-{tenants}.db"), args)?;
            let f = run(&a, args.receipts, threads, tenants, args.window)?;
            a.shutdown().map_err(|e| e.to_string())?;
            out!(
                "{threads:>8} {tenants:>8} {:>14.0} {:>8.2}ms {:>8.2}ms {:>12.0} {:>14}",
                f.per_sec,
                f.p50.as_secs_f64() * 1e3,
                f.p99.as_secs_f64() * 1e3,
                f.per_commit,
                f.cpu_per_receipt.map_or_else(
                    || "-".to_owned(),
                    |c| format!("{:.2}µs", c.as_secs_f64() * 1e6)
                )
            );
            rows.push((threads, tenants, f));
        }
    }
    if args.threads.is_empty() && args.tenants.is_empty() {
        let a = auditor(&dir, "bench-latency.db", args)?;
        let f = run(&a, args.receipts / 5, 8, 4, 1)?;
        a.shutdown().map_err(|e| e.to_string())?;
        out!(
            "blocking emit (one at a time per thread), 8 threads, 4 tenants: {:.0} receipts/s, p50 {:.2} ms, p99 {:.2} ms",
            f.per_sec,
            f.p50.as_secs_f64() * 1e3,
            f.p99.as_secs_f64() * 1e3
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    // The side-by-side needs the 1- and 2-thread rows.
    if args.no_python || !args.threads.is_empty() || !args.tenants.is_empty() {
        return Ok(());
    }
    let Some(python) = find_python(args) else {
        out!(
            "Python library ai-audit-trail not found (pip install ai-audit-trail==0.4.7, or pass --python); skipped the side-by-side"
        );
        return Ok(());
    };
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    out!(
        "running {} with {} (3 runs) …",
        args.python_bench.display(),
        python.display()
    );
    let py = python_figures(&python, &args.python_bench, &dir)?;
    let _ = std::fs::remove_dir_all(&dir);
    let best = |threads: u64| {
        rows.iter()
            .filter(|(t, _, _)| *t == threads)
            .map(|(_, _, f)| f.per_sec)
            .fold(0.0, f64::max)
    };
    out!(
        "{:<52} {:>12} {:>12} {:>7}",
        "same run, medians",
        "ai-audit",
        "python",
        "ratio"
    );
    for (label, ours, key) in [
        (
            "emit/s, 1 thread (Python: in memory, no fsync)",
            best(1),
            "a_emit_per_s_1thread_median",
        ),
        (
            "emit/s, 2 threads (Python: in memory, no fsync)",
            best(2),
            "b_emit_per_s_2threads_2tenants_median",
        ),
    ] {
        if let Some(theirs) = number(&py, key) {
            out!(
                "{label:<52} {ours:>12.0} {theirs:>12.0} {:>6.1}x",
                ours / theirs
            );
        }
    }
    Ok(())
}
