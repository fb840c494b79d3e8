//! Verification of a v1 evidence bundle (ZIP), in named stages. Each stage is a function or a
//! type built from what the ones before it established, and can be checked on its own:
//!
//! 1. [`OpenedBundle`]: the archive opened as hostile input (its index vetted by
//!    [`EvidenceReader`]), the members every bundle has present;
//! 2. [`ResolvedKey`]: `public_key.hex`, and the key everything is checked against (the pinned
//!    one, else the bundle's own);
//! 3. [`CheckedManifest`]: the manifest's format, signature, key fingerprint and checksums;
//! 4. [`check_membership`]: members the signed manifest does not list, listed ones missing,
//!    required ones it does not cover;
//! 5. [`AnchorStage`]: `anchor.json` of a partial export;
//! 6. [`TreeStart`]: the checkpoint and, for a partial export, the tree prefix that ties its
//!    anchor to it;
//! 7. [`chain_options`]: where the receipts must start (the bundle's anchor, and the caller's);
//! 8. [`stream_receipts`]: every receipt line checked and chained as it streams, the tree
//!    recomputed, and every listed member hashed;
//! 9. the cross-checks ([`super::crosscheck`]): the anchor's tenant, the checkpoint against the
//!    recomputed tree, unsigned receipts, checksums, `chain_metadata.json`;
//! 10. the report: bundle-level findings first, kept in full, then the receipts'.

use std::collections::BTreeMap;
use std::io::{Read, Seek};

use super::crosscheck::{self, MemberHashes};
use super::stream::{HashingReader, Progress, stream_lines};
use super::{
    ChainVerifier, Finding, FindingKind, TreeOutcome, Verdict, VerificationReport, VerifyError,
    VerifyOptions, tree,
};
use crate::bundle::{
    ANCHOR, Anchor, CHAIN_METADATA, CHECKPOINT, EvidenceReader, ExportError, MANIFEST, Manifest,
    PUBLIC_KEY, RECEIPTS, ReadLimits, TREE_PREFIX,
};
use crate::keys::VerifyingKey;
use crate::merkle::Frontier;
use crate::note::Checkpoint;
use crate::receipt::TenantId;

/// Members every v1 bundle has.
const REQUIRED: [&str; 4] = [RECEIPTS, CHAIN_METADATA, PUBLIC_KEY, MANIFEST];

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
        Verdict::rule(self.chain.findings_total, self.pinned)
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
    // Findings about the bundle as a whole, kept in full (their number is bounded by the
    // members): those found before the receipts are read, and those after.
    let (mut pre, mut post) = (Vec::new(), Vec::new());
    let mut bundle = OpenedBundle::open(input, &opts.bundle_limits, &mut pre)?;
    let key = ResolvedKey::resolve(bundle.read(PUBLIC_KEY)?.as_deref(), opts.key, &mut pre);
    let manifest = CheckedManifest::check(bundle.read(MANIFEST)?.as_deref(), key.key, &mut pre);
    if let Some(m) = &manifest {
        check_membership(&bundle.members, m, &mut pre);
    }
    let listed = |name: &str| manifest.as_ref().is_none_or(|m| m.lists(name));
    let anchor_bytes = bundle.read_if(ANCHOR, listed(ANCHOR))?;
    let anchor = AnchorStage::read(anchor_bytes.as_deref(), bundle.has(ANCHOR), &mut pre);
    let checkpoint = bundle.read_if(CHECKPOINT, listed(CHECKPOINT))?;
    let prefix = match checkpoint {
        Some(_) => bundle.read_if(TREE_PREFIX, listed(TREE_PREFIX))?,
        None => None,
    };
    let tree = TreeStart::read(
        checkpoint.as_deref(),
        prefix.as_deref(),
        &anchor,
        key.key,
        opts,
        &mut post,
    );
    let mut hashes = MemberHashes::default();
    let metadata = bundle.read(CHAIN_METADATA)?;
    if let Some(bytes) = &metadata {
        hashes.add(CHAIN_METADATA, bytes);
    }
    let chain_opts = chain_options(opts, &anchor, key.key, &mut pre);
    let mut verifier = ChainVerifier::new(chain_opts);
    if anchor.unreadable {
        verifier.start_unknown();
    }
    if let Some(f) = tree.start.clone() {
        verifier.track_tree(f, opts.since.as_ref().map(|c| c.size));
    }
    stream_receipts(&mut bundle, &mut verifier, opts, &mut hashes, progress)?;
    if let Some(m) = &manifest {
        hash_listed(&mut bundle, m, &mut hashes)?;
    }
    let (mut chain, outcome) = verifier.finish_with_tree();
    pre.extend(crosscheck::anchor_tenant(
        anchor.anchor.as_ref(),
        chain.tenant.as_ref(),
    ));
    let covered = tree.check(
        &outcome,
        chain.tenant.as_ref(),
        opts.since.as_ref(),
        &mut post,
    );
    // Unsigned (Checkpointed) receipts are authenticated only by the verified checkpoint.
    outcome.settle_unsigned(
        &mut chain,
        covered,
        opts.accept_checkpointed,
        opts.max_findings,
    );
    crosscheck::name_receipts_member(&mut chain);
    if let Some(m) = &manifest {
        post.extend(crosscheck::checksums(&m.checksums, &hashes));
    }
    if let Some(bytes) = metadata {
        crosscheck::check_metadata(&bytes, &chain, key.key, &mut post);
    }
    crosscheck::merge(&mut chain, pre, post);
    Ok(BundleReport {
        chain,
        pinned: key.pinned,
        bundle_key: key.bundle,
        anchor: anchor.anchor,
        members: bundle.members,
        checkpoint: tree.checkpoint,
    })
}

/// Stage 1: the archive, opened as hostile input.
struct OpenedBundle<R> {
    zip: EvidenceReader<R>,
    /// The archive's members, in central-directory order.
    members: Vec<String>,
}

impl<R: Read + Seek> OpenedBundle<R> {
    /// Opens the archive and vets its index; a member every bundle has and this one lacks is a
    /// finding.
    fn open(input: R, limits: &ReadLimits, out: &mut Vec<Finding>) -> Result<Self, VerifyError> {
        let zip = EvidenceReader::open(input, limits.clone())?;
        let members: Vec<String> = zip.names().map(str::to_owned).collect();
        out.extend(missing_required(&members));
        Ok(Self { zip, members })
    }

    fn has(&self, name: &str) -> bool {
        self.zip.contains(name)
    }

    /// Member `name` read whole, if the archive has it.
    fn read(&mut self, name: &str) -> Result<Option<Vec<u8>>, VerifyError> {
        self.read_if(name, true)
    }

    /// Member `name` read whole, if the archive has it and `wanted`.
    fn read_if(&mut self, name: &str, wanted: bool) -> Result<Option<Vec<u8>>, VerifyError> {
        if wanted && self.has(name) {
            Ok(Some(self.zip.read_small(name)?))
        } else {
            Ok(None)
        }
    }
}

/// The members every bundle has that `members` lacks, as findings.
fn missing_required(members: &[String]) -> Vec<Finding> {
    REQUIRED
        .into_iter()
        .filter(|name| !members.iter().any(|m| m == name))
        .map(|name| {
            Finding::member(
                FindingKind::MissingMember,
                name,
                format!("the bundle has no {name}"),
            )
        })
        .collect()
}

/// Stage 2: the bundle's key, and the key everything is checked against.
#[derive(Clone, Copy, Debug)]
struct ResolvedKey {
    /// The key in `public_key.hex`, if it is a valid key.
    bundle: Option<VerifyingKey>,
    /// The pinned key, else the bundle's.
    key: Option<VerifyingKey>,
    /// Whether a key was pinned.
    pinned: bool,
}

impl ResolvedKey {
    /// Reads `public_key.hex` (`None`: the bundle has none) and compares it with the `pinned`
    /// key.
    fn resolve(
        public_key_hex: Option<&[u8]>,
        pinned: Option<VerifyingKey>,
        out: &mut Vec<Finding>,
    ) -> Self {
        let bundle = public_key_hex.and_then(|text| bundle_key(text, out));
        if let (Some(p), Some(b)) = (pinned, bundle)
            && p != b
        {
            out.push(
                Finding::member(
                    FindingKind::KeyMismatch,
                    PUBLIC_KEY,
                    format!(
                        "the bundle carries key {}, not the pinned key {}: it was signed by someone else",
                        b.fingerprint(),
                        p.fingerprint()
                    ),
                )
                .with_values(Some(p.fingerprint()), Some(b.fingerprint())),
            );
        }
        Self {
            bundle,
            key: pinned.or(bundle),
            pinned: pinned.is_some(),
        }
    }
}

/// The key `public_key.hex` holds, if it holds one.
fn bundle_key(text: &[u8], out: &mut Vec<Finding>) -> Option<VerifyingKey> {
    let why = match std::str::from_utf8(text).map(|t| VerifyingKey::from_hex(t.trim())) {
        Ok(Ok(k)) => return Some(k),
        Ok(Err(e)) => format!("public_key.hex is not an Ed25519 public key: {e}"),
        Err(_) => "public_key.hex is not UTF-8 text".to_owned(),
    };
    out.push(
        Finding::member(FindingKind::Encoding, PUBLIC_KEY, why)
            .with_values(None, Some(lossy_prefix(text))),
    );
    None
}

fn lossy_prefix(b: &[u8]) -> String {
    String::from_utf8_lossy(b.get(..80).unwrap_or(b)).into_owned()
}

/// Stage 3: a manifest that parses, its checks done (each failure a finding).
#[derive(Debug)]
struct CheckedManifest {
    /// The members it lists and the SHA-256 it claims for each (`None`: not a string); empty
    /// if its checksums are unreadable.
    checksums: BTreeMap<String, Option<String>>,
}

impl CheckedManifest {
    /// Parses `manifest.json` (`None`: the bundle has none) and checks its format, its
    /// signature and key fingerprint under `key`, and its checksums.
    fn check(
        bytes: Option<&[u8]>,
        key: Option<VerifyingKey>,
        out: &mut Vec<Finding>,
    ) -> Option<Self> {
        let manifest = match Manifest::parse(bytes?) {
            Ok(m) => m,
            Err(e) => {
                out.push(Finding::member(
                    FindingKind::Manifest,
                    MANIFEST,
                    e.to_string(),
                ));
                return None;
            }
        };
        check_manifest_format(&manifest, out);
        check_manifest_signature(&manifest, key, out);
        let checksums = match manifest.checksums() {
            Ok(c) => c,
            Err(e) => {
                out.push(Finding::member(
                    FindingKind::Manifest,
                    MANIFEST,
                    e.to_string(),
                ));
                BTreeMap::new()
            }
        };
        Some(Self { checksums })
    }

    /// Whether the manifest lists `name`.
    fn lists(&self, name: &str) -> bool {
        self.checksums.contains_key(name)
    }
}

fn check_manifest_format(m: &Manifest, out: &mut Vec<Finding>) {
    if m.str_field("format") != Some("ai-audit-evidence-package")
        || m.str_field("version") != Some("1.0")
    {
        out.push(
            Finding::member(
                FindingKind::Manifest,
                MANIFEST,
                "the manifest is not a v1 ai-audit-evidence-package manifest (format/version)",
            )
            .with_values(None, m.str_field("format").map(str::to_owned)),
        );
    }
}

fn check_manifest_signature(m: &Manifest, key: Option<VerifyingKey>, out: &mut Vec<Finding>) {
    match (m.signature(), key) {
        (None, _) => out.push(
            Finding::member(
                FindingKind::ManifestSignature,
                MANIFEST,
                "the manifest has no signature of 128 hex characters",
            )
            .with_values(None, m.signature_value().map(|v| format!("{v:?}"))),
        ),
        (Some(sig), Some(k)) => {
            if !k.verify_strict(&m.signing_bytes(), &sig) {
                out.push(
                    Finding::member(
                        FindingKind::ManifestSignature,
                        MANIFEST,
                        format!(
                            "the manifest's signature does not verify under the key {}: the manifest was altered or signed by another key",
                            k.fingerprint()
                        ),
                    )
                    .with_values(None, Some(hex::encode(sig))),
                );
            }
        }
        (Some(_), None) => {}
    }
    if let Some(k) = key
        && let Some(fp) = m.str_field("key_fingerprint")
        && fp != k.fingerprint()
    {
        out.push(
            Finding::member(
                FindingKind::KeyMismatch,
                MANIFEST,
                "the manifest's key_fingerprint is not the fingerprint of the key it is checked against",
            )
            .with_values(Some(k.fingerprint()), Some(fp.to_owned())),
        );
    }
}

/// Stage 4: members the manifest does not list are refused (not read); listed ones must exist,
/// and the manifest must cover the members every bundle has.
fn check_membership(members: &[String], manifest: &CheckedManifest, out: &mut Vec<Finding>) {
    let has = |name: &str| members.iter().any(|m| m == name);
    for name in members {
        if name != MANIFEST && !manifest.lists(name) {
            out.push(Finding::member(
                FindingKind::UnlistedMember,
                name,
                format!("{name} is not listed in the signed manifest; it was added afterwards"),
            ));
        }
    }
    for name in manifest.checksums.keys() {
        if !has(name) {
            out.push(Finding::member(
                FindingKind::MissingMember,
                name,
                format!("the manifest lists {name}, but the bundle has no such member"),
            ));
        }
    }
    for name in [RECEIPTS, CHAIN_METADATA, PUBLIC_KEY] {
        if has(name) && !manifest.lists(name) {
            out.push(Finding::member(
                FindingKind::Checksum,
                name,
                format!("{name} is not covered by the manifest's checksums"),
            ));
        }
    }
}

/// Stage 5: the anchor of a partial export.
#[derive(Debug, Default)]
struct AnchorStage {
    /// The anchor, if the bundle carries a readable one that its manifest covers.
    anchor: Option<Anchor>,
    /// The bundle carries one that cannot be read (itself a finding): where the chain starts
    /// is unknown.
    unreadable: bool,
    /// The bundle has an `anchor.json`, covered by its manifest or not.
    present: bool,
}

impl AnchorStage {
    /// Reads `anchor.json` (`bytes`: `None` if the bundle has none or its manifest does not
    /// cover it; `present`: whether the bundle has one).
    fn read(bytes: Option<&[u8]>, present: bool, out: &mut Vec<Finding>) -> Self {
        let mut stage = Self {
            present,
            ..Self::default()
        };
        match bytes.map(Anchor::parse) {
            None => {}
            Some(Ok(a)) => stage.anchor = Some(a),
            Some(Err(e)) => {
                stage.unreadable = true;
                // The archive is fine; the member's content is not.
                let why = match e {
                    ExportError::Malformed { what } => what.to_owned(),
                    e => e.to_string(),
                };
                out.push(Finding::member(FindingKind::Anchor, ANCHOR, why));
            }
        }
        stage
    }

    /// The `prev_receipt_hash` the first receipt must have: the anchor's, or genesis (`""`).
    fn start(&self) -> String {
        self.anchor
            .as_ref()
            .map(|a| a.prev_receipt_hash.clone())
            .unwrap_or_default()
    }
}

/// Stage 6: the checkpoint, and the tree the bundle's first receipt continues.
#[derive(Debug, Default)]
struct TreeStart {
    /// The checkpoint, if the bundle carries one signed by the key it is checked against.
    checkpoint: Option<Checkpoint>,
    /// The frontier the receipts continue, when it is established; `None` when the bundle has
    /// no checkpoint (the tree is then not recomputed).
    start: Option<Frontier>,
}

impl TreeStart {
    /// Reads `checkpoint.txt` (`None`: absent or not covered by the manifest) under `key`, and
    /// for a partial export `tree_prefix.json`. Without a checkpoint, a `--since` checkpoint
    /// cannot be extended: a finding.
    fn read(
        checkpoint: Option<&[u8]>,
        prefix: Option<&[u8]>,
        anchor: &AnchorStage,
        key: Option<VerifyingKey>,
        opts: &VerifyOptions,
        out: &mut Vec<Finding>,
    ) -> Self {
        let Some(bytes) = checkpoint else {
            if opts.since.is_some() {
                out.push(Finding::member(
                    FindingKind::Consistency,
                    CHECKPOINT,
                    "the bundle carries no checkpoint, so it cannot prove it extends the earlier one",
                ));
            }
            return Self::default();
        };
        let checkpoint = tree::read_checkpoint(bytes, key.as_ref(), out);
        let start = tree::start_frontier(
            prefix,
            anchor.anchor.as_ref(),
            key.as_ref(),
            opts.accept_checkpointed,
            out,
        );
        Self { checkpoint, start }
    }

    /// Compares the checkpoint with the tree recomputed from the receipts (and with `since`).
    /// Returns whether it covers exactly the receipts.
    fn check(
        &self,
        outcome: &TreeOutcome,
        tenant: Option<&TenantId>,
        since: Option<&Checkpoint>,
        out: &mut Vec<Finding>,
    ) -> bool {
        match (&self.checkpoint, &self.start) {
            (Some(cp), Some(_)) => tree::check(cp, outcome, tenant, since, out),
            _ => false,
        }
    }
}

/// Stage 7: the options the receipts are verified under: the resolved key, and the start the
/// bundle's anchor names. An anchor the caller holds (the tip of the previous export, say) is
/// where the bundle must start, as its own `anchor.json` (or its genesis) says.
fn chain_options(
    opts: &VerifyOptions,
    anchor: &AnchorStage,
    key: Option<VerifyingKey>,
    out: &mut Vec<Finding>,
) -> VerifyOptions {
    let mut chain_opts = opts.clone();
    chain_opts.key = key;
    chain_opts.anchor = anchor.start();
    if !opts.anchor.is_empty() && !anchor.unreadable && opts.anchor != chain_opts.anchor {
        let starts = if anchor.anchor.is_some() {
            format!("after receipt hash {} (its anchor.json)", chain_opts.anchor)
        } else if anchor.present {
            "at the chain's genesis (its anchor.json is not covered by the manifest, so it is not used)".to_owned()
        } else {
            "at the chain's genesis (it has no anchor.json)".to_owned()
        };
        out.push(
            Finding::member(
                FindingKind::Anchor,
                if anchor.anchor.is_some() { ANCHOR } else { RECEIPTS },
                format!(
                    "the bundle starts {starts}, not after the anchor given ({}): it does not continue that chain where expected",
                    opts.anchor
                ),
            )
            .with_values(Some(chain_opts.anchor.clone()), Some(opts.anchor.clone())),
        );
    }
    chain_opts
}

/// Stage 8: the receipts, streamed through `verifier` and hashed as read.
fn stream_receipts<R: Read + Seek>(
    bundle: &mut OpenedBundle<R>,
    verifier: &mut ChainVerifier,
    opts: &VerifyOptions,
    hashes: &mut MemberHashes,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), VerifyError> {
    if !bundle.has(RECEIPTS) {
        return Ok(());
    }
    let declared = bundle.zip.declared_size(RECEIPTS).unwrap_or(0);
    let member = bundle.zip.open_member(RECEIPTS)?;
    let mut hashing = HashingReader::new(member);
    stream_lines(&mut hashing, verifier, opts, declared, progress)?;
    hashes.insert(RECEIPTS, hashing.finish());
    Ok(())
}

/// Stage 8, continued: every other listed member, hashed as a stream.
fn hash_listed<R: Read + Seek>(
    bundle: &mut OpenedBundle<R>,
    manifest: &CheckedManifest,
    hashes: &mut MemberHashes,
) -> Result<(), VerifyError> {
    for name in manifest.checksums.keys() {
        if hashes.contains(name) || !bundle.has(name) {
            continue;
        }
        let member = bundle.zip.open_member(name)?;
        let mut hashing = HashingReader::new(member);
        std::io::copy(&mut hashing, &mut std::io::sink()).map_err(ExportError::from_io)?;
        hashes.insert(name, hashing.finish());
    }
    Ok(())
}

#[cfg(test)]
#[expect(clippy::indexing_slicing, reason = "tests fail loudly")]
mod tests {
    use super::*;
    use crate::json::Object;
    use crate::keys::SigningKey;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_seed(&[seed; 32])
    }

    fn kinds(findings: &[Finding]) -> Vec<(FindingKind, &str)> {
        findings
            .iter()
            .map(|f| (f.kind, f.file.as_deref().unwrap_or("")))
            .collect()
    }

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|&n| n.to_owned()).collect()
    }

    /// A signed manifest over `members` (all with the same claimed checksum).
    fn manifest_bytes(signer: &SigningKey, members: &[&str]) -> Vec<u8> {
        let mut checksums = Object::new();
        for name in members {
            checksums.insert(*name, "00".repeat(32));
        }
        let m = Manifest::new(checksums, &signer.verifying_key(), "2026-01-01T00:00:00");
        let sig = signer.sign(&m.signing_bytes());
        m.with_signature(&sig).to_file_bytes()
    }

    #[test]
    fn opening_names_every_required_member_the_bundle_lacks() {
        let found = missing_required(&names(&[RECEIPTS, PUBLIC_KEY]));
        assert_eq!(
            kinds(&found),
            [
                (FindingKind::MissingMember, CHAIN_METADATA),
                (FindingKind::MissingMember, MANIFEST)
            ]
        );
    }

    #[test]
    fn resolving_checks_against_the_pinned_key_and_reports_the_bundles_other_key() {
        let (pinned, other) = (key(1).verifying_key(), key(2).verifying_key());
        let mut out = Vec::new();
        let k = ResolvedKey::resolve(Some(other.to_hex().as_bytes()), Some(pinned), &mut out);
        assert_eq!(
            (k.key, k.bundle, k.pinned),
            (Some(pinned), Some(other), true)
        );
        assert_eq!(kinds(&out), [(FindingKind::KeyMismatch, PUBLIC_KEY)]);
        assert_eq!(out[0].computed, Some(pinned.fingerprint()));
    }

    #[test]
    fn resolving_without_a_pin_uses_the_bundles_key() {
        let own = key(2).verifying_key();
        let mut out = Vec::new();
        let k = ResolvedKey::resolve(
            Some(format!("{}\n", own.to_hex()).as_bytes()),
            None,
            &mut out,
        );
        assert_eq!((k.key, k.pinned), (Some(own), false));
        assert!(out.is_empty());
    }

    #[test]
    fn resolving_reports_a_public_key_that_is_not_a_key_or_not_text() {
        for bytes in [&b"not hex"[..], &[0xff, 0xfe][..]] {
            let mut out = Vec::new();
            let k = ResolvedKey::resolve(Some(bytes), None, &mut out);
            assert_eq!((k.key, k.bundle), (None, None));
            assert_eq!(kinds(&out), [(FindingKind::Encoding, PUBLIC_KEY)]);
        }
    }

    #[test]
    fn a_manifest_signed_by_the_key_passes_its_checks() {
        let signer = key(1);
        let bytes = manifest_bytes(&signer, &[RECEIPTS]);
        let mut out = Vec::new();
        let m = CheckedManifest::check(Some(&bytes), Some(signer.verifying_key()), &mut out);
        assert!(out.is_empty(), "{out:?}");
        assert!(m.unwrap().lists(RECEIPTS));
    }

    #[test]
    fn a_manifest_signed_by_another_key_fails_its_signature_and_fingerprint() {
        let bytes = manifest_bytes(&key(1), &[RECEIPTS]);
        let mut out = Vec::new();
        let m = CheckedManifest::check(Some(&bytes), Some(key(2).verifying_key()), &mut out);
        assert!(
            m.is_some(),
            "a manifest that parses is still used for its checksums"
        );
        assert_eq!(
            kinds(&out),
            [
                (FindingKind::ManifestSignature, MANIFEST),
                (FindingKind::KeyMismatch, MANIFEST)
            ]
        );
    }

    #[test]
    fn a_manifest_that_does_not_parse_is_a_finding_and_no_manifest() {
        let mut out = Vec::new();
        assert!(CheckedManifest::check(Some(b"[1]"), None, &mut out).is_none());
        assert_eq!(kinds(&out), [(FindingKind::Manifest, MANIFEST)]);
        assert!(CheckedManifest::check(None, None, &mut out).is_none());
        assert_eq!(
            out.len(),
            1,
            "a missing manifest is the opening stage's finding"
        );
    }

    #[test]
    fn membership_reports_unlisted_missing_and_uncovered_members() {
        let signer = key(1);
        let bytes = manifest_bytes(&signer, &[RECEIPTS, "extra.txt"]);
        let mut out = Vec::new();
        let m =
            CheckedManifest::check(Some(&bytes), Some(signer.verifying_key()), &mut out).unwrap();
        let members = names(&[RECEIPTS, PUBLIC_KEY, MANIFEST, "added.txt"]);
        check_membership(&members, &m, &mut out);
        assert_eq!(
            kinds(&out),
            [
                (FindingKind::UnlistedMember, PUBLIC_KEY),
                (FindingKind::UnlistedMember, "added.txt"),
                (FindingKind::MissingMember, "extra.txt"),
                (FindingKind::Checksum, PUBLIC_KEY),
            ]
        );
    }

    #[test]
    fn an_unreadable_anchor_leaves_the_start_unknown() {
        let mut out = Vec::new();
        let stage = AnchorStage::read(Some(b"{\"sequence\": -1}"), true, &mut out);
        assert!(stage.unreadable && stage.anchor.is_none());
        assert_eq!(kinds(&out), [(FindingKind::Anchor, ANCHOR)]);
        assert_eq!(
            out[0].message,
            "anchor.json is not {\"prev_receipt_hash\": hex, \"sequence\": n}"
        );
    }

    #[test]
    fn a_readable_anchor_is_where_the_chain_starts() {
        let mut out = Vec::new();
        let bytes = br#"{"prev_receipt_hash": "ab", "sequence": 7}"#;
        let stage = AnchorStage::read(Some(bytes), true, &mut out);
        assert!(out.is_empty());
        assert_eq!(stage.start(), "ab");
        assert_eq!(AnchorStage::read(None, false, &mut out).start(), "");
    }

    #[test]
    fn without_a_checkpoint_the_tree_is_not_recomputed_and_since_cannot_be_proven() {
        let mut out = Vec::new();
        let anchor = AnchorStage::default();
        let start = TreeStart::read(
            None,
            None,
            &anchor,
            None,
            &VerifyOptions::default(),
            &mut out,
        );
        assert!(start.checkpoint.is_none() && start.start.is_none() && out.is_empty());

        let since = Checkpoint::new("example.com/log", 1, [0; 32]);
        let opts = VerifyOptions::default().with_since(since);
        let start = TreeStart::read(None, None, &anchor, None, &opts, &mut out);
        assert!(start.start.is_none());
        assert_eq!(kinds(&out), [(FindingKind::Consistency, CHECKPOINT)]);
        assert!(!start.check(&TreeOutcome::default(), None, opts.since.as_ref(), &mut out));
        assert_eq!(out.len(), 1, "no checkpoint, nothing to compare");
    }

    #[test]
    fn a_checkpoint_without_a_key_to_check_it_is_a_finding() {
        let mut out = Vec::new();
        let opts = VerifyOptions::default();
        let start = TreeStart::read(
            Some(b"x"),
            None,
            &AnchorStage::default(),
            None,
            &opts,
            &mut out,
        );
        assert!(start.checkpoint.is_none());
        assert_eq!(start.start.map(|f| f.size()), Some(0), "from genesis");
        assert_eq!(kinds(&out), [(FindingKind::Checkpoint, CHECKPOINT)]);
    }

    #[test]
    fn the_receipts_start_at_the_bundles_anchor_and_must_continue_the_callers() {
        let mut out = Vec::new();
        let bytes = br#"{"prev_receipt_hash": "ab", "sequence": 7}"#;
        let anchor = AnchorStage::read(Some(bytes), true, &mut out);
        let pinned = key(1).verifying_key();
        let opts = VerifyOptions::default().with_anchor("cd");
        let chain = chain_options(&opts, &anchor, Some(pinned), &mut out);
        assert_eq!((chain.anchor.as_str(), chain.key), ("ab", Some(pinned)));
        assert_eq!(kinds(&out), [(FindingKind::Anchor, ANCHOR)]);
        assert_eq!(
            (out[0].computed.as_deref(), out[0].claimed.as_deref()),
            (Some("ab"), Some("cd"))
        );

        let mut out = Vec::new();
        let genesis = AnchorStage::read(None, false, &mut out);
        chain_options(&opts, &genesis, None, &mut out);
        assert_eq!(kinds(&out), [(FindingKind::Anchor, RECEIPTS)]);
        assert!(out[0].message.contains("it has no anchor.json"));
    }

    #[test]
    fn an_unreadable_anchor_is_not_compared_with_the_callers() {
        let mut out = Vec::new();
        let anchor = AnchorStage::read(Some(b"{}"), true, &mut out);
        let opts = VerifyOptions::default().with_anchor("cd");
        chain_options(&opts, &anchor, None, &mut out);
        assert_eq!(
            kinds(&out),
            [(FindingKind::Anchor, ANCHOR)],
            "only the unreadable anchor"
        );
    }
}
