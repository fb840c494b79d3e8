//! Verification of a v1 evidence bundle (ZIP): the archive as hostile input, the signed
//! manifest under the pinned key, every checksum, every receipt, the chain from genesis or from
//! the carried anchor, and `chain_metadata.json` against the receipts.

use std::collections::BTreeMap;
use std::io::{BufReader, Read, Seek};

use sha2::{Digest, Sha256};

use super::{
    ChainVerifier, Finding, FindingKind, LineRead, Verdict, VerificationReport, VerifyError,
    VerifyOptions, read_line_bounded,
};
use crate::bundle::{
    ANCHOR, Anchor, CHAIN_METADATA, CHECKPOINT, EvidenceReader, ExportError, MANIFEST, Manifest,
    PUBLIC_KEY, RECEIPTS, TREE_PREFIX,
};
use crate::canonical;
use crate::json::{self, Value};
use crate::keys::VerifyingKey;
use crate::note::Checkpoint;

/// Lines per batch handed to the checker (smaller than for bare JSONL: two batches are in flight
/// at once, and peak memory is budgeted at 64 MB for a 1M-receipt bundle).
const BATCH: usize = 1024;

/// Members every v1 bundle has.
const REQUIRED: [&str; 4] = [RECEIPTS, CHAIN_METADATA, PUBLIC_KEY, MANIFEST];

/// Progress of a bundle verification, for a progress bar.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Progress {
    /// Bytes of `receipts.jsonl` read so far.
    pub bytes: u64,
    /// Its size as the archive declares it (untrusted).
    pub declared_bytes: u64,
    /// Receipts checked so far.
    pub receipts: u64,
}

/// The outcome of [`verify_bundle`].
#[must_use]
#[derive(Clone, Debug)]
pub struct BundleReport {
    /// Receipt and chain figures, and every finding (bundle-level ones included, each naming
    /// its member in [`Finding::file`]).
    pub chain: VerificationReport,
    /// Whether a key was pinned. Without one, everything is checked against the bundle's own
    /// key, and the verdict is at best [`Verdict::Unpinned`].
    pub pinned: bool,
    /// The key in `public_key.hex`, if it is a valid key.
    pub bundle_key: Option<VerifyingKey>,
    /// The anchor of a partial export, if the bundle carries one.
    pub anchor: Option<Anchor>,
    /// The archive's members.
    pub members: Vec<String>,
    /// The bundle's checkpoint, if it carries one signed by the key it was checked against.
    pub checkpoint: Option<Checkpoint>,
}

impl BundleReport {
    /// Pass, fail, or unpinned.
    #[must_use]
    pub fn verdict(&self) -> Verdict {
        if self.chain.findings_total > 0 {
            Verdict::Fail
        } else if !self.pinned {
            Verdict::Unpinned
        } else {
            Verdict::Pass
        }
    }

    /// Whether the verdict is [`Verdict::Pass`].
    #[must_use]
    pub fn is_pass(&self) -> bool {
        self.verdict() == Verdict::Pass
    }

    /// The key the bundle was checked against: the pinned one, else the bundle's own.
    #[must_use]
    pub fn key(&self) -> Option<VerifyingKey> {
        self.chain.key
    }

    /// The first finding of `kind`, if any was kept.
    #[must_use]
    pub fn first(&self, kind: FindingKind) -> Option<&Finding> {
        self.chain.first(kind)
    }
}

/// A finding about a whole bundle member (no receipt index).
pub(super) fn finding(
    kind: FindingKind,
    file: &str,
    computed: Option<String>,
    claimed: Option<String>,
    message: impl Into<String>,
) -> Finding {
    Finding {
        kind,
        file: Some(file.to_owned()),
        index: None,
        receipt_id: None,
        computed,
        claimed,
        message: message.into(),
    }
}

/// Findings about the bundle as a whole, kept in full (their number is bounded by the members).
#[derive(Debug, Default)]
struct Findings(Vec<Finding>);

impl Findings {
    fn push(&mut self, f: Finding) {
        self.0.push(f);
    }
}

/// Verifies an evidence bundle.
///
/// `opts.key` is the pinned key: the manifest, the receipts and `public_key.hex` must all match
/// it. Without one, the bundle is checked against its own key and the verdict is at best
/// [`Verdict::Unpinned`].
///
/// # Errors
/// [`VerifyError::Bundle`] when the archive is refused before or while reading it (not a ZIP,
/// truncated, unsafe names, symbolic links, duplicates, size or ratio limits), and
/// [`VerifyError::Io`]. Evidence that fails a check is not an error: it is in the report.
pub fn verify_bundle<R: Read + Seek>(
    input: R,
    opts: &VerifyOptions,
) -> Result<BundleReport, VerifyError> {
    verify_bundle_with_progress(input, opts, &mut |_| {})
}

/// As [`verify_bundle`], calling `progress` after every batch of receipts.
///
/// # Errors
/// As [`verify_bundle`].
pub fn verify_bundle_with_progress<R: Read + Seek>(
    input: R,
    opts: &VerifyOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<BundleReport, VerifyError> {
    let mut zip = EvidenceReader::open(input, opts.bundle_limits.clone())?;
    let members: Vec<String> = zip.names().map(str::to_owned).collect();
    let mut pre = Findings::default();
    for name in REQUIRED {
        if !zip.contains(name) {
            pre.push(finding(
                FindingKind::MissingMember,
                name,
                None,
                None,
                format!("the bundle has no {name}"),
            ));
        }
    }

    // The bundle's key, and the key everything is checked against.
    let bundle_key = if zip.contains(PUBLIC_KEY) {
        let text = zip.read_small(PUBLIC_KEY)?;
        match std::str::from_utf8(&text)
            .ok()
            .map(|t| VerifyingKey::from_hex(t.trim()))
        {
            Some(Ok(k)) => Some(k),
            Some(Err(e)) => {
                pre.push(finding(
                    FindingKind::Encoding,
                    PUBLIC_KEY,
                    None,
                    Some(lossy_prefix(&text)),
                    format!("public_key.hex is not an Ed25519 public key: {e}"),
                ));
                None
            }
            None => {
                pre.push(finding(
                    FindingKind::Encoding,
                    PUBLIC_KEY,
                    None,
                    Some(lossy_prefix(&text)),
                    "public_key.hex is not UTF-8 text",
                ));
                None
            }
        }
    } else {
        None
    };
    let pinned = opts.key.is_some();
    let key = opts.key.or(bundle_key);
    if let (Some(p), Some(b)) = (opts.key, bundle_key)
        && p != b
    {
        pre.push(finding(
            FindingKind::KeyMismatch,
            PUBLIC_KEY,
            Some(p.fingerprint()),
            Some(b.fingerprint()),
            format!(
                "the bundle carries key {}, not the pinned key {}: it was signed by someone else",
                b.fingerprint(),
                p.fingerprint()
            ),
        ));
    }

    // The manifest.
    let manifest = if zip.contains(MANIFEST) {
        let bytes = zip.read_small(MANIFEST)?;
        match Manifest::parse(&bytes) {
            Ok(m) => Some(m),
            Err(e) => {
                pre.push(finding(
                    FindingKind::Manifest,
                    MANIFEST,
                    None,
                    None,
                    e.to_string(),
                ));
                None
            }
        }
    } else {
        None
    };
    let mut checksums: BTreeMap<String, Option<String>> = BTreeMap::new();
    if let Some(m) = &manifest {
        check_manifest(m, key, &mut pre, &mut checksums);
    }

    // Members the manifest does not list are refused (not read); listed ones must exist.
    if manifest.is_some() {
        for name in &members {
            if name != MANIFEST && !checksums.contains_key(name) {
                pre.push(finding(
                    FindingKind::UnlistedMember,
                    name,
                    None,
                    None,
                    format!("{name} is not listed in the signed manifest; it was added afterwards"),
                ));
            }
        }
        for name in checksums.keys() {
            if !zip.contains(name) {
                pre.push(finding(
                    FindingKind::MissingMember,
                    name,
                    None,
                    None,
                    format!("the manifest lists {name}, but the bundle has no such member"),
                ));
            }
        }
        for name in [RECEIPTS, CHAIN_METADATA, PUBLIC_KEY] {
            if zip.contains(name) && !checksums.contains_key(name) {
                pre.push(finding(
                    FindingKind::Checksum,
                    name,
                    None,
                    None,
                    format!("{name} is not covered by the manifest's checksums"),
                ));
            }
        }
    }
    let listed = |name: &str| manifest.is_none() || checksums.contains_key(name);

    // The anchor of a partial export (only if the signed manifest covers it).
    let mut anchor = None;
    let mut anchor_unreadable = false;
    if zip.contains(ANCHOR) && listed(ANCHOR) {
        let bytes = zip.read_small(ANCHOR)?;
        match Anchor::parse(&bytes) {
            Ok(a) => anchor = Some(a),
            Err(e) => {
                anchor_unreadable = true;
                pre.push(finding(
                    FindingKind::Anchor,
                    ANCHOR,
                    None,
                    None,
                    // The archive is fine; the member's content is not.
                    match e {
                        ExportError::Malformed { what } => what.to_owned(),
                        e => e.to_string(),
                    },
                ));
            }
        }
    }

    // The checkpoint, and for a partial export the prefix that ties its anchor to it.
    let mut tree_findings = Vec::new();
    let mut checkpoint = None;
    let mut start = None;
    if zip.contains(CHECKPOINT) && listed(CHECKPOINT) {
        let bytes = zip.read_small(CHECKPOINT)?;
        checkpoint = super::tree::read_checkpoint(&bytes, key.as_ref(), &mut tree_findings);
        let prefix = if zip.contains(TREE_PREFIX) && listed(TREE_PREFIX) {
            Some(zip.read_small(TREE_PREFIX)?)
        } else {
            None
        };
        start = super::tree::start_frontier(
            prefix.as_deref(),
            anchor.as_ref(),
            key.as_ref(),
            opts.accept_checkpointed,
            &mut tree_findings,
        );
    } else if opts.since.is_some() {
        tree_findings.push(finding(
            FindingKind::Consistency,
            CHECKPOINT,
            None,
            None,
            "the bundle carries no checkpoint, so it cannot prove it extends the earlier one",
        ));
    }

    let mut computed: BTreeMap<String, String> = BTreeMap::new();
    // The small members, hashed as read.
    let metadata = if zip.contains(CHAIN_METADATA) {
        let bytes = zip.read_small(CHAIN_METADATA)?;
        computed.insert(CHAIN_METADATA.into(), hex::encode(Sha256::digest(&bytes)));
        Some(bytes)
    } else {
        None
    };

    // The receipts, streamed.
    let mut chain_opts = opts.clone();
    chain_opts.key = key;
    chain_opts.anchor = anchor
        .as_ref()
        .map(|a| a.prev_receipt_hash.clone())
        .unwrap_or_default();
    // An anchor the caller holds (the tip of the previous export, say): the bundle must start
    // there, as its own anchor.json (or its genesis) says.
    if !opts.anchor.is_empty() && !anchor_unreadable && opts.anchor != chain_opts.anchor {
        let starts = if anchor.is_some() {
            format!("after receipt hash {} (its anchor.json)", chain_opts.anchor)
        } else if zip.contains(ANCHOR) {
            "at the chain's genesis (its anchor.json is not covered by the manifest, so it is not used)".to_owned()
        } else {
            "at the chain's genesis (it has no anchor.json)".to_owned()
        };
        pre.push(finding(
            FindingKind::Anchor,
            if anchor.is_some() { ANCHOR } else { RECEIPTS },
            Some(chain_opts.anchor.clone()),
            Some(opts.anchor.clone()),
            format!(
                "the bundle starts {starts}, not after the anchor given ({}): it does not continue that chain where expected",
                opts.anchor
            ),
        ));
    }
    let mut verifier = ChainVerifier::new(chain_opts);
    if anchor_unreadable {
        verifier.start_unknown();
    }
    if let Some(f) = start.clone() {
        verifier.track_tree(f, opts.since.as_ref().map(|c| c.size));
    }
    if zip.contains(RECEIPTS) {
        let declared = zip.declared_size(RECEIPTS).unwrap_or(0);
        let member = zip.open_member(RECEIPTS)?;
        let mut hashing = HashingReader::new(member);
        stream_lines(&mut hashing, &mut verifier, opts, declared, progress)?;
        computed.insert(RECEIPTS.into(), hashing.finish());
    }

    // Every other listed member: hashed as a stream.
    for name in checksums.keys() {
        if computed.contains_key(name) || !zip.contains(name) {
            continue;
        }
        let member = zip.open_member(name)?;
        let mut hashing = HashingReader::new(member);
        std::io::copy(&mut hashing, &mut std::io::sink()).map_err(ExportError::from_io)?;
        computed.insert(name.clone(), hashing.finish());
    }

    let (mut chain, tree_outcome) = verifier.finish_with_tree();
    if let (Some(a), Some(t)) = (
        anchor.as_ref().and_then(|a| a.tenant.as_ref()),
        &chain.tenant,
    ) && a != t
    {
        pre.push(finding(
            FindingKind::Anchor,
            ANCHOR,
            Some(t.as_str().to_owned()),
            Some(a.as_str().to_owned()),
            format!(
                "anchor.json names tenant {:?}, but the receipts are tenant {:?}: the anchor belongs to another chain",
                a.as_str(),
                t.as_str()
            ),
        ));
    }
    let mut covered = false;
    if let Some(cp) = &checkpoint
        && start.is_some()
    {
        covered = super::tree::check(
            cp,
            &tree_outcome,
            chain.tenant.as_ref(),
            opts.since.as_ref(),
            &mut tree_findings,
        );
    }
    // Unsigned (Checkpointed) receipts are authenticated only by the verified checkpoint.
    tree_outcome.settle_unsigned(
        &mut chain,
        covered,
        opts.accept_checkpointed,
        opts.max_findings,
    );
    for f in &mut chain.findings {
        if f.file.is_none() {
            f.file = Some(RECEIPTS.to_owned());
        }
    }
    let mut post = Findings::default();
    for f in tree_findings {
        post.push(f);
    }
    for (name, claimed) in &checksums {
        let Some(c) = computed.get(name) else {
            continue;
        };
        if claimed.as_deref() != Some(c.as_str()) {
            post.push(finding(
                FindingKind::Checksum,
                name,
                Some(c.clone()),
                claimed.clone(),
                format!("the SHA-256 of {name} differs from the manifest's checksum: the member was changed after signing"),
            ));
        }
    }
    if let Some(bytes) = metadata {
        check_metadata(&bytes, &chain, key, &mut post);
    }

    // Bundle-level findings first, kept in full; then the receipts' findings.
    let receipt_findings = std::mem::take(&mut chain.findings);
    let receipt_total = chain.findings_total;
    let receipt_counts = std::mem::take(&mut chain.counts);
    chain.findings_total = 0;
    for f in pre.0.into_iter().chain(post.0) {
        chain.add(f, usize::MAX);
    }
    chain.findings.extend(receipt_findings);
    chain.findings_total += receipt_total;
    for (k, v) in receipt_counts {
        *chain.counts.entry(k).or_insert(0) += v;
    }
    Ok(BundleReport {
        chain,
        pinned,
        bundle_key,
        anchor,
        members,
        checkpoint,
    })
}

fn lossy_prefix(b: &[u8]) -> String {
    String::from_utf8_lossy(b.get(..80).unwrap_or(b)).into_owned()
}

fn check_manifest(
    m: &Manifest,
    key: Option<VerifyingKey>,
    out: &mut Findings,
    checksums: &mut BTreeMap<String, Option<String>>,
) {
    if m.str_field("format") != Some("ai-audit-evidence-package")
        || m.str_field("version") != Some("1.0")
    {
        out.push(finding(
            FindingKind::Manifest,
            MANIFEST,
            None,
            m.str_field("format").map(str::to_owned),
            "the manifest is not a v1 ai-audit-evidence-package manifest (format/version)",
        ));
    }
    match (m.signature(), key) {
        (None, _) => out.push(finding(
            FindingKind::ManifestSignature,
            MANIFEST,
            None,
            m.signature_value().map(|v| format!("{v:?}")),
            "the manifest has no signature of 128 hex characters",
        )),
        (Some(sig), Some(k)) => {
            if !k.verify_strict(&m.signing_bytes(), &sig) {
                out.push(finding(
                    FindingKind::ManifestSignature,
                    MANIFEST,
                    None,
                    Some(hex::encode(sig)),
                    format!(
                        "the manifest's signature does not verify under the key {}: the manifest was altered or signed by another key",
                        k.fingerprint()
                    ),
                ));
            }
        }
        (Some(_), None) => {}
    }
    if let Some(k) = key
        && let Some(fp) = m.str_field("key_fingerprint")
        && fp != k.fingerprint()
    {
        out.push(finding(
            FindingKind::KeyMismatch,
            MANIFEST,
            Some(k.fingerprint()),
            Some(fp.to_owned()),
            "the manifest's key_fingerprint is not the fingerprint of the key it is checked against",
        ));
    }
    match m.checksums() {
        Ok(c) => *checksums = c,
        Err(e) => out.push(finding(
            FindingKind::Manifest,
            MANIFEST,
            None,
            None,
            e.to_string(),
        )),
    }
}

fn check_metadata(
    bytes: &[u8],
    chain: &VerificationReport,
    key: Option<VerifyingKey>,
    out: &mut Findings,
) {
    let Ok(Value::Object(meta)) = json::parse(bytes) else {
        out.push(finding(
            FindingKind::Metadata,
            CHAIN_METADATA,
            None,
            None,
            "chain_metadata.json is not a JSON object (strict: UTF-8, no duplicate keys)",
        ));
        return;
    };
    let s = |v: Option<String>| v.map_or(Value::Null, Value::from);
    let expect: [(&str, Value); 7] = [
        ("total_receipts", Value::from(chain.receipts)),
        ("first_receipt_id", s(chain.first_receipt_id.clone())),
        ("last_receipt_id", s(chain.last_receipt_id.clone())),
        (
            "first_timestamp",
            s(chain.first_timestamp.map(|t| t.to_isoformat())),
        ),
        (
            "last_timestamp",
            s(chain.last_timestamp.map(|t| t.to_isoformat())),
        ),
        (
            "tenant_id",
            s(chain.tenant.as_ref().map(|t| t.as_str().to_owned())),
        ),
        ("key_fingerprint", s(key.map(|k| k.fingerprint()))),
    ];
    // Unreadable lines are findings of their own; the ids and timestamps compared are then
    // those of the readable receipts, so a mismatch may only repeat them.
    let unreadable: u64 = [FindingKind::Parse, FindingKind::LineTooLong]
        .iter()
        .filter_map(|k| chain.counts.get(k))
        .sum();
    for (name, want) in expect {
        if name == "tenant_id" && chain.tenant.is_none() {
            continue; // no receipt to compare with; the count already tells
        }
        let have = meta.get(name);
        if have != Some(&want) {
            let why = if name == "key_fingerprint" {
                "is not the fingerprint of the key the receipts are verified under: the metadata was written for another key, or altered".to_owned()
            } else if unreadable > 0 && name != "total_receipts" {
                format!(
                    "disagrees with the readable receipts ({unreadable} line(s) could not be read; see those findings), or the metadata was altered"
                )
            } else {
                "disagrees with the receipts: receipts were removed or added, or the metadata was altered".to_owned()
            };
            out.push(finding(
                FindingKind::Metadata,
                CHAIN_METADATA,
                Some(json_text(&want)),
                Some(have.map_or_else(|| "(missing)".to_owned(), json_text)),
                format!("chain_metadata.json's {name} {why}"),
            ));
        }
    }
}

fn json_text(v: &Value) -> String {
    let mut out = Vec::new();
    canonical::write_ordered_value(v, &mut out);
    let mut t = String::from_utf8_lossy(&out).into_owned();
    if t.len() > 140 {
        let cut = (0..=140)
            .rev()
            .find(|&i| t.is_char_boundary(i))
            .unwrap_or(0);
        t.truncate(cut);
        t.push('…');
    }
    t
}

/// SHA-256 of everything read through it.
struct HashingReader<R> {
    inner: R,
    sha: Sha256,
    bytes: u64,
}

impl<R: Read> HashingReader<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            sha: Sha256::new(),
            bytes: 0,
        }
    }

    fn finish(self) -> String {
        hex::encode(self.sha.finalize())
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha.update(buf.get(..n).unwrap_or_default());
        self.bytes += n as u64;
        Ok(n)
    }
}

/// What the reading thread hands to the checking thread.
enum Piece {
    Lines(Vec<Vec<u8>>),
    TooLong,
}

/// A batch as a worker checked it, in reading order by its sequence number.
enum Checked {
    Lines(Vec<super::LineCheck>),
    TooLong,
}

/// Reads lines on this thread (inflate, SHA-256, split) while one worker per core checks whole
/// batches (parse, hash, batch signature verification) and one more thread applies the results
/// to the chain in reading order. Nothing waits for the slowest worker of a batch, so reading,
/// checking and chaining all overlap.
fn stream_lines<R: Read>(
    hashing: &mut HashingReader<R>,
    verifier: &mut ChainVerifier,
    opts: &VerifyOptions,
    declared: u64,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), VerifyError> {
    let workers = verifier.threads.max(1);
    let key = opts.key;
    // At most one batch waits for a worker, and at most `in_flight` batches are read but not yet
    // applied to the chain (a credit is taken before each is sent and given back when it is
    // applied): however fast the workers reject lines, memory stays bounded by a few batches.
    let (to_workers, from_reader) = std::sync::mpsc::sync_channel::<(u64, Piece)>(1);
    let in_flight = 2 * workers + 2;
    let (take_credit, give_back) = std::sync::mpsc::sync_channel::<()>(in_flight);
    let from_reader = std::sync::Arc::new(std::sync::Mutex::new(from_reader));
    let (to_chain, checked) = std::sync::mpsc::channel::<(u64, Checked)>();
    let (to_reader, recycled) = std::sync::mpsc::channel::<Vec<Vec<u8>>>();
    let max_line = opts.max_line_bytes;
    std::thread::scope(|s| {
        for _ in 0..workers {
            let (from_reader, to_chain, to_reader) = (
                std::sync::Arc::clone(&from_reader),
                to_chain.clone(),
                to_reader.clone(),
            );
            s.spawn(move || {
                loop {
                    let next = from_reader
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .recv();
                    let Ok((seq, piece)) = next else { break };
                    let done = match piece {
                        Piece::Lines(mut batch) => {
                            let c = super::check_lines(&batch, key.as_ref());
                            let mut spare = Vec::new();
                            recycle(&mut batch, &mut spare);
                            let _ = to_reader.send(spare);
                            Checked::Lines(c)
                        }
                        Piece::TooLong => Checked::TooLong,
                    };
                    if to_chain.send((seq, done)).is_err() {
                        break;
                    }
                }
            });
        }
        // The workers own the queue's receiving end now: if they all stop, reading stops too.
        drop(from_reader);
        drop((to_chain, to_reader));
        let chain = s.spawn(move || {
            let mut next = 0u64;
            let mut waiting: BTreeMap<u64, Checked> = BTreeMap::new();
            for (seq, done) in checked {
                waiting.insert(seq, done);
                while let Some(done) = waiting.remove(&next) {
                    next += 1;
                    // Its credit was taken before it was sent, so one is there to give back.
                    let _ = give_back.try_recv();
                    match done {
                        Checked::Lines(lines) => {
                            for c in lines {
                                verifier.absorb(c);
                            }
                        }
                        Checked::TooLong => verifier.push_unreadable(
                            FindingKind::LineTooLong,
                            format!(
                                "the line is longer than the {max_line} byte limit; it was skipped unread (`ai-audit verify --max-line-bytes` raises the limit)"
                            ),
                        ),
                    }
                }
            }
        });
        let mut seq = 0u64;
        let mut send = |p: Piece| {
            let ok = take_credit.send(()).is_ok() && to_workers.send((seq, p)).is_ok();
            seq += 1;
            ok
        };
        let result = read_batches(hashing, &mut send, &recycled, max_line, declared, progress);
        drop(to_workers);
        // A panic while checking is a bug; re-raise it rather than report a partial verification.
        chain
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        result
    })
}

fn read_batches<R: Read>(
    hashing: &mut HashingReader<R>,
    send: &mut dyn FnMut(Piece) -> bool,
    recycled: &std::sync::mpsc::Receiver<Vec<Vec<u8>>>,
    max_line: usize,
    declared: u64,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), VerifyError> {
    let mut reader = BufReader::with_capacity(1 << 20, hashing);
    let mut batch: Vec<Vec<u8>> = Vec::with_capacity(BATCH);
    let mut spare: Vec<Vec<u8>> = Vec::new();
    let mut buf = Vec::new();
    let mut receipts = 0u64;
    // The checkers only stop early by panicking; a failed send then ends reading too.
    loop {
        buf.clear();
        let got =
            read_line_bounded(&mut reader, &mut buf, max_line).map_err(ExportError::from_io)?;
        match got {
            LineRead::Eof => break,
            LineRead::Line => {
                if spare.is_empty() {
                    spare.extend(recycled.try_iter().flatten());
                }
                let next = spare.pop().unwrap_or_default();
                batch.push(std::mem::replace(&mut buf, next));
            }
            LineRead::TooLong => {
                receipts += batch.len() as u64 + 1;
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                if !send(Piece::Lines(full)) || !send(Piece::TooLong) {
                    break;
                }
            }
        }
        if batch.len() >= BATCH {
            receipts += batch.len() as u64;
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
            if !send(Piece::Lines(full)) {
                break;
            }
            progress(Progress {
                bytes: reader.get_ref().bytes,
                declared_bytes: declared,
                receipts,
            });
        }
    }
    receipts += batch.len() as u64;
    let _ = send(Piece::Lines(batch));
    progress(Progress {
        bytes: reader.get_ref().bytes,
        declared_bytes: declared,
        receipts,
    });
    Ok(())
}

/// Keeps the line buffers for reuse (bounded: one batch of them).
fn recycle(batch: &mut Vec<Vec<u8>>, spare: &mut Vec<Vec<u8>>) {
    for mut b in batch.drain(..) {
        if b.capacity() <= 64 << 10 {
            b.clear();
            spare.push(b);
        }
    }
}
