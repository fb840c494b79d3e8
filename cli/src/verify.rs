//! `ai-audit verify FILE --key HEX`: a JSONL file of receipts, or an evidence bundle (ZIP).

use std::fs::File;
use std::io::{BufReader, IsTerminal as _, Read, Seek as _, SeekFrom, Write as _};
use std::path::PathBuf;

use audit_runtime::canonical::write_ordered_value;
use audit_runtime::json::{Object, Value};
use audit_runtime::verify::{
    BundleReport, ChainOrder, GapNotice, Progress, VerifyError, VerifyOptions,
    verify_bundle_with_progress, verify_jsonl,
};
use audit_runtime::{Verdict, VerificationReport, VerifyingKey};

use clap::{Arg, ArgMatches, Args as _, Command, FromArgMatches as _};

use crate::args::{self, KeyArgs};
use crate::common::EXIT_USAGE;
use crate::pin::ENV_VERIFY_KEY;

/// The arguments of `verify`.
#[derive(Debug)]
pub(crate) struct VerifyArgs {
    file: PathBuf,
    key: KeyArgs,
    json: bool,
    verbose: bool,
    rebuild_order: bool,
    accept_checkpointed: bool,
    anchor: String,
    max_line_bytes: usize,
    max_inflate_ratio: u64,
    since: Option<PathBuf>,
}

impl VerifyArgs {
    /// The `verify` command's arguments.
    pub(crate) fn command(cmd: Command) -> Command {
        let cmd = cmd.arg(
            Arg::new("file")
                .required(true)
                .value_name("FILE")
                .value_parser(clap::value_parser!(PathBuf))
                .help("An evidence bundle (.zip), or a JSONL file with one tenant's receipts in chain (store) order. Told apart by content, not by name."),
        );
        KeyArgs::augment_args(cmd)
            .arg(args::switch("json", "Print the report as one JSON object on standard output."))
            .arg(
                args::switch("verbose", "Print every finding kept (default: the first 20).")
                    .short('v'),
            )
            .arg(args::switch(
                "rebuild_order",
                "Rebuild chain order from the prev_receipt_hash links instead of file order; reports forks and orphans.",
            ))
            .arg(args::switch(
                "accept_checkpointed",
                "Accept unsigned receipts (Checkpointed sealing) that the bundle's checkpoint, signed by the pinned key, covers. Off by default: such receipts are vouched for by the checkpoint only (docs/transparency.md §6).",
            ))
            .arg(
                args::text_option(
                    "anchor",
                    "HEX",
                    "The prev_receipt_hash the first receipt must have (for a file that starts mid-chain; for a bundle, the anchor it must start after, e.g. the tip of the previous export).",
                )
                .default_value(""),
            )
            .arg(
                args::text_option(
                    "max_line_bytes",
                    "MAX_LINE_BYTES",
                    "Longest accepted line, in bytes (1 to 1 GiB; a line is held in memory whole).",
                )
                .value_parser(max_line_bytes)
                .default_value(DEFAULT_MAX_LINE_BYTES_TEXT.as_str()),
            )
            .arg(
                args::text_option(
                    "max_inflate_ratio",
                    "MAX_INFLATE_RATIO",
                    "Largest inflated-to-compressed size ratio accepted for a bundle member (1 to 1100; deflate reaches about 1030). The limit stops ZIP bombs early; a genuine member of very repetitive text can exceed the default.",
                )
                .value_parser(clap::value_parser!(u64).range(1..=1100))
                .default_value("100"),
            )
            .arg(args::path_option(
                "since",
                "CHECKPOINT",
                "An earlier checkpoint of this log (a signed note, e.g. from `ai-audit checkpoint`): the bundle must prove its history extends it (detects truncation, rollback and forks).",
            ))
    }

    /// Reads the arguments back from a parse.
    pub(crate) fn from_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        Ok(Self {
            file: args::required(m, "file")?,
            key: KeyArgs::from_arg_matches(m)?,
            json: args::flag(m, "json")?,
            verbose: args::flag(m, "verbose")?,
            rebuild_order: args::flag(m, "rebuild_order")?,
            accept_checkpointed: args::flag(m, "accept_checkpointed")?,
            anchor: args::required(m, "anchor")?,
            max_line_bytes: args::required(m, "max_line_bytes")?,
            max_inflate_ratio: args::required(m, "max_inflate_ratio")?,
            since: args::one(m, "since")?,
        })
    }
}

/// `--max-line-bytes`'s default, as text.
static DEFAULT_MAX_LINE_BYTES_TEXT: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| audit_runtime::verify::DEFAULT_MAX_LINE_BYTES.to_string());

pub(crate) fn run(args: &VerifyArgs) -> u8 {
    let key = match args.key.pinned() {
        Ok(k) => k,
        Err(msg) => {
            eprintln!("error: {msg}");
            return EXIT_USAGE;
        }
    };
    let file = match File::open(&args.file) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: cannot open {}: {e}", args.file.display());
            return EXIT_USAGE;
        }
    };
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        eprintln!(
            "error: {} is a directory; pass a receipts .jsonl file or an evidence bundle .zip (an extracted bundle: run the verify.py inside it)",
            args.file.display()
        );
        return EXIT_USAGE;
    }
    let mut file = file;
    let mut magic = [0u8; 4];
    let read = file.read(&mut magic).unwrap_or(0);
    // A file named *.zip that does not start like receipts (`{`) is a bundle, even an empty or
    // cut-off one: it is an unreadable bundle, as verify.py says, not an empty receipts file.
    let named_zip = args
        .file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"))
        && magic.first().filter(|_| read > 0) != Some(&b'{');
    let is_zip = named_zip || audit_runtime::bundle::looks_like_zip(&mut file);
    if let Err(e) = file.seek(SeekFrom::Start(0)) {
        eprintln!("error: cannot read {}: {e}", args.file.display());
        return EXIT_USAGE;
    }
    let mut opts = VerifyOptions::default()
        .with_rebuild_order(args.rebuild_order)
        .with_accept_checkpointed(args.accept_checkpointed)
        // Hashes are lowercase hex; one copied in capitals means the same hash.
        .with_anchor(args.anchor.trim().to_ascii_lowercase())
        .with_max_line_bytes(args.max_line_bytes);
    opts.key = key;
    opts.bundle_limits.max_ratio = args.max_inflate_ratio;
    if let Some(path) = &args.since {
        match since_checkpoint(path, key.as_ref(), is_zip) {
            Ok(cp) => opts.since = Some(cp),
            Err(msg) => {
                eprintln!("error: {msg}");
                return EXIT_USAGE;
            }
        }
    }
    if is_zip {
        return run_bundle(args, file, &opts);
    }
    let report = match verify_jsonl(BufReader::with_capacity(1 << 20, file), &opts) {
        Ok(r) => r,
        Err(e) => {
            let cause = std::error::Error::source(&e)
                .map(ToString::to_string)
                .unwrap_or_default();
            eprintln!("error: {e} from {}: {cause}", args.file.display());
            return EXIT_USAGE;
        }
    };
    let name = args.file.display().to_string();
    if args.json {
        let mut out = Vec::new();
        write_ordered_value(&report_json(&name, &report), &mut out);
        out!("{}", String::from_utf8_lossy(&out));
    } else {
        print_human(&name, &report, args.verbose);
    }
    u8::try_from(report.verdict().exit_code()).unwrap_or(1)
}

/// Reads and checks the `--since` checkpoint under the pinned key.
fn since_checkpoint(
    path: &std::path::Path,
    key: Option<&VerifyingKey>,
    is_zip: bool,
) -> Result<audit_runtime::note::Checkpoint, String> {
    if !is_zip {
        return Err("--since needs an evidence bundle (they carry checkpoints)".into());
    }
    let key = key.ok_or("--since needs a pinned key (--key) to check the earlier checkpoint")?;
    let limit = audit_runtime::note::MAX_NOTE as u64;
    let bytes = crate::common::read_limited(path, limit)
        .map_err(|e| format!("cannot read --since {}: {e}", path.display()))?
        .ok_or_else(|| {
            format!(
                "--since {} is larger than {limit} bytes; it must be a checkpoint note (from `ai-audit checkpoint`)",
                path.display()
            )
        })?;
    if bytes.starts_with(b"PK\x03\x04") {
        return Err(format!(
            "--since {} is a ZIP file; pass the earlier checkpoint itself: the checkpoint.txt of an earlier bundle (unzip -p OLD.zip checkpoint.txt > old.checkpoint) or the output of `ai-audit checkpoint`",
            path.display()
        ));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| format!("--since {} is not UTF-8 text", path.display()))?;
    // A tlog-proof (`ai-audit prove`) carries a checkpoint: take that one.
    let proof_header = format!("{}\n", audit_runtime::note::TLOG_PROOF_HEADER);
    let note = if text.starts_with(&proof_header) {
        audit_runtime::note::TlogProof::parse(&text)
            .map_err(|e| format!("--since {}: {e}", path.display()))?
            .note
    } else {
        text
    };
    audit_runtime::note::verify_note(&note, key).map_err(|e| {
        format!(
            "the earlier checkpoint {} does not verify under the pinned key: {e}",
            path.display()
        )
    })
}

fn opt(v: Option<&str>) -> Value {
    v.map_or(Value::Null, Value::from)
}

fn report_json(file: &str, r: &VerificationReport) -> Value {
    let findings: Vec<Value> = r
        .findings
        .iter()
        .map(|f| {
            Value::from(
                Object::new()
                    .with("check", f.kind.as_str())
                    .with("file", opt(f.file.as_deref()))
                    .with("index", f.index.map_or(Value::Null, Value::from))
                    .with("receipt_id", opt(f.receipt_id.as_deref()))
                    .with("computed", opt(f.computed.as_deref()))
                    .with("claimed", opt(f.claimed.as_deref()))
                    .with("message", f.message.as_str()),
            )
        })
        .collect();
    let counts: Object = r.counts.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    Value::from(
        Object::new()
            .with("verdict", r.verdict().as_str())
            .with("file", file)
            .with("receipts", r.receipts)
            .with("signatures_verified", r.signatures_verified)
            .with("checkpoint_covered", r.checkpoint_covered)
            .with("key_pinned", r.key.is_some())
            .with("key", opt(r.key.map(|k| k.to_hex()).as_deref()))
            .with(
                "key_fingerprint",
                opt(r.key.map(|k| k.fingerprint()).as_deref()),
            )
            .with("tenant", opt(r.tenant.as_ref().map(|t| t.as_str())))
            .with("first_receipt_id", opt(r.first_receipt_id.as_deref()))
            .with("last_receipt_id", opt(r.last_receipt_id.as_deref()))
            .with("tip", opt(r.tip.as_deref()))
            .with(
                "order",
                match r.order {
                    ChainOrder::File => "file",
                    ChainOrder::Rebuilt => "rebuilt",
                },
            )
            .with("findings_total", r.findings_total)
            .with("gaps", gaps_json(&r.gaps))
            .with("findings_by_check", counts)
            .with("findings", Value::Array(findings))
            .with(
                "findings_truncated",
                r.findings_total > r.findings.len() as u64,
            ),
    )
}

fn gaps_json(gaps: &[GapNotice]) -> Value {
    Value::Array(
        gaps.iter()
            .map(|n| {
                Value::from(
                    Object::new()
                        .with("index", n.index)
                        .with("receipt_id", n.receipt_id.as_str())
                        .with("fault", n.gap.fault.as_str())
                        .with("at", n.gap.at)
                        .with("lost", n.gap.lost())
                        .with("acknowledged", n.gap.acknowledged)
                        .with("acknowledged_hash", n.gap.acknowledged_hash.as_str())
                        .with("stored", n.gap.stored)
                        .with("note", n.gap.note.as_str()),
                )
            })
            .collect(),
    )
}

/// Lists the chain's gap receipts (losses the operator recorded), whatever the verdict.
fn print_gaps(gaps: &[GapNotice]) {
    if !gaps.is_empty() {
        out!(
            "  GAPS: the chain records {} loss(es) of acknowledged receipts:",
            gaps.len()
        );
    }
    for g in gaps {
        out!("  gap at {g}");
    }
}

fn print_human(file: &str, r: &VerificationReport, verbose: bool) {
    let tenant = r.tenant.as_ref().map_or("?", |t| t.as_str());
    match r.verdict() {
        Verdict::Pass => {
            let key = r.key.map(|k| k.fingerprint()).unwrap_or_default();
            out!(
                "PASS: {file}: {} receipts of tenant {tenant:?}; every line, hash and signature verified under the pinned key {key}; chain intact from genesis",
                r.receipts
            );
            if let Some(tip) = &r.tip {
                out!("  count: {}  tip: {tip}", r.receipts);
            }
            out!(
                "  note: a receipt file alone cannot show that receipts were removed from its end; compare the count and tip with an independent record (or verify an evidence bundle)"
            );
        }
        Verdict::Unpinned => {
            out!(
                "UNPINNED: {file}: {} receipts of tenant {tenant:?}; lines, hashes and links are consistent, but no key was pinned, so signatures were not checked and prove nothing",
                r.receipts
            );
            out!(
                "  pin the operator's public key with --key HEX, --key-file PATH or {ENV_VERIFY_KEY}"
            );
        }
        Verdict::Fail => {
            out!(
                "FAIL: {file}: {} finding(s) in {} receipts",
                r.findings_total,
                r.receipts
            );
            let shown = if verbose { r.findings.len() } else { 20 };
            for f in r.findings.iter().take(shown) {
                out!("  {f}");
            }
            let hidden = r
                .findings_total
                .saturating_sub(shown.min(r.findings.len()) as u64);
            if hidden > 0 {
                out!("  … and {hidden} more (use -v or --json to see them)");
            }
            let summary: Vec<String> = r.counts.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out!("  by check: {}", summary.join(", "));
            if r.key.is_none() {
                out!("  note: no key was pinned, so signatures were not checked");
            }
        }
    }
    print_gaps(&r.gaps);
}

fn run_bundle(args: &VerifyArgs, file: File, opts: &VerifyOptions) -> u8 {
    let name = args.file.display().to_string();
    let show_bar = !args.json && std::io::stderr().is_terminal();
    let mut bar = ProgressBar::default();
    let mut on_progress = |p: Progress| {
        if show_bar {
            bar.draw(p);
        }
    };
    let input = BufReader::with_capacity(64 << 10, file);
    let result = verify_bundle_with_progress(input, opts, &mut on_progress);
    if show_bar {
        bar.clear();
    }
    let report = match result {
        Ok(r) => r,
        Err(VerifyError::Bundle(e)) => {
            eprintln!("error: {name}: the evidence bundle is refused: {e}");
            return EXIT_USAGE;
        }
        Err(e) => {
            let cause = std::error::Error::source(&e)
                .map(ToString::to_string)
                .unwrap_or_default();
            eprintln!("error: {e} from {name}: {cause}");
            return EXIT_USAGE;
        }
    };
    if args.json {
        let mut out = Vec::new();
        write_ordered_value(&bundle_json(&name, &report), &mut out);
        out!("{}", String::from_utf8_lossy(&out));
    } else {
        print_bundle(&name, &report, args.verbose, opts.since.is_some());
    }
    u8::try_from(report.verdict().exit_code()).unwrap_or(1)
}

/// A one-line progress bar on stderr (only drawn when stderr is a terminal).
#[derive(Debug, Default)]
struct ProgressBar {
    last_percent: Option<u64>,
}

impl ProgressBar {
    fn draw(&mut self, p: Progress) {
        let percent = (p.bytes.saturating_mul(100))
            .checked_div(p.declared_bytes)
            .unwrap_or(0)
            .min(100);
        if self.last_percent == Some(percent) {
            return;
        }
        self.last_percent = Some(percent);
        let filled = usize::try_from(percent / 4).unwrap_or(25);
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r[{}{}] {percent:3}%  {} receipts",
            "#".repeat(filled),
            " ".repeat(25 - filled.min(25)),
            p.receipts
        );
        let _ = err.flush();
    }

    fn clear(&self) {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{}\r", " ".repeat(60));
        let _ = err.flush();
    }
}

fn bundle_json(file: &str, r: &BundleReport) -> Value {
    let Value::Object(mut o) = report_json(file, &r.chain) else {
        return Value::Null;
    };
    let key = r.key();
    o.insert("verdict", r.verdict().as_str());
    o.insert("kind", "evidence_bundle");
    o.insert("key_pinned", r.pinned);
    o.insert("key", opt(key.map(|k| k.to_hex()).as_deref()));
    o.insert(
        "key_fingerprint",
        opt(key.map(|k| k.fingerprint()).as_deref()),
    );
    o.insert(
        "bundle_key",
        opt(r.bundle_key.map(|k| k.to_hex()).as_deref()),
    );
    o.insert(
        "anchor",
        r.anchor.as_ref().map_or(Value::Null, |a| {
            Value::from(
                Object::new()
                    .with("sequence", a.sequence)
                    .with("prev_receipt_hash", a.prev_receipt_hash.as_str()),
            )
        }),
    );
    o.insert(
        "members",
        Value::Array(r.members.iter().map(|m| Value::from(m.as_str())).collect()),
    );
    Value::Object(o)
}

fn print_bundle(file: &str, r: &BundleReport, verbose: bool, since: bool) {
    let c = &r.chain;
    let tenant = c.tenant.as_ref().map_or("?", |t| t.as_str());
    let fp = r.key().map(|k| k.fingerprint()).unwrap_or_default();
    let start = r.anchor.as_ref().map_or_else(
        || "from genesis".to_owned(),
        |a| format!("from the anchor at sequence {}", a.sequence),
    );
    match r.verdict() {
        Verdict::Pass => {
            let authenticated = if c.checkpoint_covered == 0 {
                "every receipt's hash and signature".to_owned()
            } else if c.signatures_verified == 0 {
                "every receipt's hash (the receipts are unsigned, Checkpointed sealing: the checkpoint authenticates them)".to_owned()
            } else {
                format!(
                    "every receipt's hash, {} signatures, and {} unsigned (Checkpointed) receipts authenticated by the checkpoint",
                    c.signatures_verified, c.checkpoint_covered
                )
            };
            out!(
                "PASS: {file}: evidence bundle of {} receipts of tenant {tenant:?}; manifest signature, every checksum, {authenticated}, the chain {start} and chain_metadata verified under the pinned key {fp}",
                c.receipts
            );
            if let Some(tip) = &c.tip {
                out!("  count: {}  tip: {tip}", c.receipts);
            }
            if let Some(cp) = &r.checkpoint {
                out!(
                    "  checkpoint: {} size {} root {} covers exactly these receipts{}",
                    cp.origin,
                    cp.size,
                    hex::encode(cp.root),
                    if since {
                        " and extends the --since checkpoint"
                    } else {
                        ""
                    }
                );
            }
        }
        Verdict::Unpinned => {
            let full = r.key().map(|k| k.to_hex()).unwrap_or_default();
            out!(
                "UNPINNED: {file}: evidence bundle of {} receipts of tenant {tenant:?} is consistent under its own key {fp}, but that key is NOT pinned, so nothing ties the bundle to the operator",
                c.receipts
            );
            out!("  signer: {full} (fingerprint {fp})");
            out!(
                "  obtain the operator's public key independently and pin it with --key HEX, --key-file PATH or {ENV_VERIFY_KEY}"
            );
        }
        Verdict::Fail => {
            out!(
                "FAIL: {file}: evidence bundle: {} finding(s) in {} receipts",
                c.findings_total,
                c.receipts
            );
            let shown = if verbose { c.findings.len() } else { 20 };
            for f in c.findings.iter().take(shown) {
                out!("  {f}");
            }
            let hidden = c
                .findings_total
                .saturating_sub(shown.min(c.findings.len()) as u64);
            if hidden > 0 {
                out!("  … and {hidden} more (use -v or --json to see them)");
            }
            let summary: Vec<String> = c.counts.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out!("  by check: {}", summary.join(", "));
            if !r.pinned {
                out!(
                    "  note: no key was pinned; checked against the bundle's own key {fp}, which proves nothing about who signed it"
                );
            }
        }
    }
    print_gaps(&c.gaps);
}

/// Largest `--max-line-bytes`: a line is read into memory whole, so the limit is memory.
const MAX_MAX_LINE_BYTES: usize = 1 << 30;

/// Parses `--max-line-bytes`: 1 to [`MAX_MAX_LINE_BYTES`].
fn max_line_bytes(text: &str) -> Result<usize, String> {
    let n: usize = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of bytes"))?;
    if (1..=MAX_MAX_LINE_BYTES).contains(&n) {
        Ok(n)
    } else {
        Err(format!(
            "{n} is out of range: a line limit is 1 to {MAX_MAX_LINE_BYTES} bytes (1 GiB)"
        ))
    }
}
