//! The chain's state machine: receipts in file (store) order — never timestamp order — each
//! linked to the previous one, from genesis or an anchor; duplicate ids, one tenant; or, on
//! request, the order rebuilt from the links (forks and orphans). Also the Merkle tree
//! recomputed from the lines, for a bundle's checkpoint.

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};

use super::line::{LineCheck, Summary, check_line, check_lines, truncate, unsigned_finding};
use super::{ChainOrder, Finding, FindingKind, GapNotice, VerificationReport, VerifyOptions};
use crate::merkle::{Frontier, Hash};
use crate::receipt::TenantId;

/// Everything the chain phase keeps about one receipt.
#[derive(Debug, Clone)]
struct Link {
    index: u64,
    receipt_id: String,
    prev: String,
    claimed_hash: String,
}

/// Streaming verifier of one tenant's chain.
#[derive(Debug)]
pub struct ChainVerifier {
    opts: VerifyOptions,
    pub(super) threads: usize,
    next_index: u64,
    /// `Some(hash)` after a readable receipt; `None` at the start or after an unreadable line
    /// (whose successor's link cannot be judged; the unreadable line is a finding itself).
    prev_claimed: Option<String>,
    /// 64-bit fingerprints of the ids seen (8 bytes each: 1M receipts fit in ~18 MB). A
    /// collision between two different ids (probability ~n²/2^65) would be reported as a
    /// duplicate; a real duplicate is never missed.
    seen_ids: HashSet<u64>,
    links: Vec<Link>,
    report: VerificationReport,
    tree: TreeTrack,
    unsigned: Unsigned,
    /// Where the chain starts is unknown (a partial export whose `anchor.json` is unreadable,
    /// itself a finding): the first link is not judged.
    start_unknown: bool,
}

/// The unsigned (Checkpointed) receipts seen: all counted, the first few remembered by index and
/// id for findings if no checkpoint covers them.
#[derive(Debug, Default)]
struct Unsigned {
    count: u64,
    kept: Vec<(u64, Option<String>)>,
}

/// The Merkle tree recomputed from the lines, when tracked.
#[derive(Debug, Default)]
struct TreeTrack {
    frontier: Option<Frontier>,
    broken: bool,
    since: Option<u64>,
    root_at_since: Option<Hash>,
}

impl TreeTrack {
    fn observe(&mut self) {
        if let Some(f) = &self.frontier
            && Some(f.size()) == self.since
        {
            self.root_at_since = Some(f.root());
        }
    }
}

/// What [`ChainVerifier::finish_with_tree`] learned about the tree.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct TreeOutcome {
    /// The frontier after the last line; `None` if not tracked or a line could not be hashed.
    pub frontier: Option<Frontier>,
    /// The root when the tree had the `since` size, if it passed through it.
    pub root_at_since: Option<Hash>,
    /// Receipts without a signature (Checkpointed mode).
    pub unsigned_receipts: u64,
    unsigned_kept: Vec<(u64, Option<String>)>,
}

impl TreeOutcome {
    /// Accounts for the unsigned receipts. `covered`: a checkpoint signed by the pinned key
    /// covers exactly these receipts; `accepted`: the caller accepts receipts vouched for only by
    /// such a checkpoint ([`VerifyOptions::accept_checkpointed`]). With both they count as
    /// [`VerificationReport::checkpoint_covered`]; otherwise each is an [`FindingKind::Unsigned`]
    /// finding (up to `cap` kept, all counted).
    pub fn settle_unsigned(
        &self,
        report: &mut VerificationReport,
        covered: bool,
        accepted: bool,
        cap: usize,
    ) {
        if self.unsigned_receipts == 0 {
            return;
        }
        if covered && accepted {
            report.checkpoint_covered = self.unsigned_receipts;
            return;
        }
        for (index, id) in &self.unsigned_kept {
            report.add(unsigned_finding(*index, id.clone(), covered), cap);
        }
        let missing = self.unsigned_receipts - self.unsigned_kept.len() as u64;
        report.findings_total += missing;
        *report.counts.entry(FindingKind::Unsigned).or_insert(0) += missing;
    }
}

impl ChainVerifier {
    /// A verifier with `opts`.
    #[must_use]
    pub fn new(opts: VerifyOptions) -> Self {
        let threads = if opts.threads == 0 {
            std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
        } else {
            opts.threads
        };
        let order = if opts.rebuild_order {
            ChainOrder::Rebuilt
        } else {
            ChainOrder::File
        };
        let report = VerificationReport::new(opts.key, order);
        Self {
            opts,
            threads,
            next_index: 0,
            prev_claimed: None,
            seen_ids: HashSet::new(),
            links: Vec::new(),
            report,
            tree: TreeTrack::default(),
            unsigned: Unsigned::default(),
            start_unknown: false,
        }
    }

    /// Does not judge what the first receipt links to: the caller could not read where the
    /// chain starts and reports that itself (a finding here would only repeat it).
    pub(crate) fn start_unknown(&mut self) {
        self.start_unknown = true;
    }

    /// Recomputes the Merkle tree from the lines, continuing `start` (the empty frontier for
    /// a chain from genesis), and remembers its root at `since` leaves.
    pub fn track_tree(&mut self, start: Frontier, since: Option<u64>) {
        self.tree = TreeTrack {
            frontier: Some(start),
            broken: false,
            since,
            root_at_since: None,
        };
        self.tree.observe();
    }

    fn record(&mut self, f: Finding) {
        self.report.add(f, self.opts.max_findings);
    }

    /// The first finding so far, if any: for a caller that stops at the first failure (an
    /// export refusing to sign). Unsigned receipts become findings only when finishing.
    #[must_use]
    pub fn first_finding(&self) -> Option<&Finding> {
        self.report.findings.first()
    }

    /// Records a line that could not be read (e.g. over the length limit).
    pub fn push_unreadable(&mut self, kind: FindingKind, message: String) {
        self.tree.broken = true;
        let index = self.next_index;
        self.next_index += 1;
        self.report.receipts += 1;
        self.prev_claimed = None;
        self.record(Finding::receipt(kind, index, None, message));
    }

    /// Verifies one line (without its `\n`).
    pub fn push(&mut self, line: &[u8]) {
        let checked = check_line(line, self.opts.key.as_ref());
        self.absorb(checked);
    }

    /// Verifies a batch of lines, checking signatures in parallel.
    pub fn push_batch<L: AsRef<[u8]> + Sync>(&mut self, lines: &[L]) {
        let key = self.opts.key;
        if self.threads <= 1 || lines.len() < 64 {
            for checked in check_lines(lines, key.as_ref()) {
                self.absorb(checked);
            }
            return;
        }
        let chunk = lines.len().div_ceil(self.threads);
        let results: Vec<Vec<LineCheck>> = std::thread::scope(|s| {
            let handles: Vec<_> = lines
                .chunks(chunk)
                .map(|part| s.spawn(move || check_lines(part, key.as_ref())))
                .collect();
            handles
                .into_iter()
                // A worker only panics on a bug; re-raise it rather than lose its lines.
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        for part in results {
            for checked in part {
                self.absorb(checked);
            }
        }
    }

    /// Applies one line's checks, in input order: its findings, then the chain.
    pub(super) fn absorb(&mut self, checked: LineCheck) {
        self.grow_tree(checked.leaf);
        let index = self.next_index;
        self.next_index += 1;
        self.report.receipts += 1;
        if checked.sig_ok {
            self.report.signatures_verified += 1;
        }
        let id = checked.receipt_id.clone();
        if checked.unsigned {
            self.unsigned.count += 1;
            if self.unsigned.kept.len() < self.opts.max_findings {
                self.unsigned.kept.push((index, id.clone()));
            }
        }
        for p in checked.problems {
            if self.report.is_full(self.opts.max_findings) {
                self.report.count(p.kind);
            } else {
                self.record(p.into_finding(index, id.clone()));
            }
        }
        let Some(summary) = checked
            .summary
            .or_else(|| checked.parsed.map(Summary::from))
        else {
            self.prev_claimed = None;
            return;
        };
        self.step(index, id.unwrap_or_default(), summary);
    }

    /// Adds a line's leaf to the tracked tree; a line without one (unreadable) breaks it.
    fn grow_tree(&mut self, leaf: Option<Hash>) {
        match (leaf, self.tree.frontier.as_mut()) {
            (Some(leaf), Some(f)) => {
                f.push(leaf);
                self.tree.observe();
            }
            (None, _) => self.tree.broken = true,
            (Some(_), None) => {}
        }
    }

    /// The chain's state machine, one readable receipt at a time: the figures, its gap, its
    /// tenant, its id, then its link to the previous receipt (or, rebuilding, its link kept).
    fn step(&mut self, index: u64, rid: String, summary: Summary) {
        if self.report.first_receipt_id.is_none() {
            self.report.first_receipt_id = Some(rid.clone());
            self.report.first_timestamp = Some(summary.timestamp);
        }
        self.report.last_receipt_id = Some(rid.clone());
        self.report.last_timestamp = Some(summary.timestamp);
        if let Some(gap) = summary.gap {
            self.report.gaps.push(GapNotice {
                index,
                receipt_id: rid.clone(),
                gap: *gap,
            });
        }
        self.check_tenant(index, &rid, &summary.tenant);
        if !self.seen_ids.insert(id_fingerprint(&rid)) {
            self.record(Finding::receipt(
                FindingKind::DuplicateId,
                index,
                Some(rid.clone()),
                "this receipt id already appeared earlier in the chain",
            ));
        }
        if self.opts.rebuild_order {
            self.links.push(Link {
                index,
                receipt_id: rid,
                prev: summary.prev,
                claimed_hash: summary.receipt_hash.clone(),
            });
        } else {
            self.check_link(index, rid, &summary.prev);
        }
        self.report.tip = Some(summary.receipt_hash.clone());
        self.prev_claimed = Some(summary.receipt_hash);
    }

    /// The chain's tenant is the first receipt's; every other receipt must have it.
    fn check_tenant(&mut self, index: u64, rid: &str, tenant: &TenantId) {
        match &self.report.tenant {
            None => self.report.tenant = Some(tenant.clone()),
            Some(t) if t != tenant => {
                let chain_tenant = t.as_str().to_owned();
                self.record(
                    Finding::receipt(
                        FindingKind::MixedTenant,
                        index,
                        Some(rid.to_owned()),
                        "the receipt belongs to another tenant than the chain",
                    )
                    .with_values(Some(chain_tenant), Some(tenant.as_str().to_owned())),
                );
            }
            Some(_) => {}
        }
    }

    /// In file order: the first receipt links to the anchor (genesis: `""`), every other one to
    /// the previous readable receipt.
    fn check_link(&mut self, index: u64, rid: String, prev: &str) {
        if index == 0 {
            if !self.start_unknown && prev != self.opts.anchor {
                let what = if self.opts.anchor.is_empty() {
                    "the first receipt must start the chain (prev_receipt_hash \"\"): receipts before it are missing"
                } else {
                    "the first receipt does not link to the given anchor"
                };
                let computed = self.opts.anchor.clone();
                self.record(
                    Finding::receipt(FindingKind::Genesis, index, Some(rid), what)
                        .with_values(Some(computed), Some(truncate(prev))),
                );
            }
        } else if let Some(claimed) = &self.prev_claimed
            && claimed != prev
        {
            let computed = claimed.clone();
            self.record(
                Finding::receipt(
                    FindingKind::Link,
                    index,
                    Some(rid),
                    "prev_receipt_hash is not the previous receipt's receipt_hash: receipts were removed, inserted or reordered here",
                )
                .with_values(Some(computed), Some(truncate(prev))),
            );
        }
    }

    /// Finishes: whole-input checks (empty input, rebuild mode) and the report.
    ///
    /// Unsigned receipts (`SealingMode::Checkpointed`) are findings here: no
    /// checkpoint vouches for them.
    pub fn finish(self) -> VerificationReport {
        let cap = self.opts.max_findings;
        let (mut report, outcome) = self.finish_with_tree();
        outcome.settle_unsigned(&mut report, false, false, cap);
        report
    }

    /// As [`ChainVerifier::finish`], with what was learned about the tracked tree. The caller
    /// settles the unsigned receipts with [`TreeOutcome::settle_unsigned`] once it knows whether
    /// a verified checkpoint covers them.
    pub fn finish_with_tree(mut self) -> (VerificationReport, TreeOutcome) {
        let tree = std::mem::take(&mut self.tree);
        let unsigned = std::mem::take(&mut self.unsigned);
        let outcome = TreeOutcome {
            frontier: tree.frontier.filter(|_| !tree.broken),
            root_at_since: tree.root_at_since,
            unsigned_receipts: unsigned.count,
            unsigned_kept: unsigned.kept,
        };
        (self.finish_report(), outcome)
    }

    fn finish_report(mut self) -> VerificationReport {
        if self.report.receipts == 0 {
            self.record(Finding::new(FindingKind::Empty, "no receipts to verify"));
        }
        if self.opts.rebuild_order && !self.links.is_empty() {
            self.rebuild();
        }
        self.report
    }

    fn rebuild(&mut self) {
        let links = std::mem::take(&mut self.links);
        let mut children: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, l) in links.iter().enumerate() {
            children.entry(l.prev.as_str()).or_default().push(i);
        }
        let anchor = if self.start_unknown {
            // The first link (in file order) whose predecessor is not in the file.
            let claimed: HashSet<&str> = links.iter().map(|l| l.claimed_hash.as_str()).collect();
            links
                .iter()
                .map(|l| l.prev.as_str())
                .find(|p| !claimed.contains(p))
                .unwrap_or_default()
                .to_owned()
        } else {
            self.opts.anchor.clone()
        };
        let mut findings = Vec::new();
        let mut reached = vec![false; links.len()];
        let mut tip = None;
        let starts = children.get(anchor.as_str()).cloned().unwrap_or_default();
        if starts.is_empty() {
            findings.push(
                Finding::new(
                    FindingKind::Genesis,
                    "no receipt starts the chain: its first receipts are missing",
                )
                .with_values(Some(anchor.clone()), None),
            );
        }
        for &extra in starts.iter().skip(1) {
            if let Some(l) = links.get(extra) {
                findings.push(fork_finding(l, &anchor));
            }
        }
        let mut cur = starts.first().copied();
        while let Some(i) = cur {
            let Some(slot) = reached.get_mut(i) else {
                break;
            };
            if *slot {
                break; // a cycle through a duplicated hash; the duplicate is reported elsewhere
            }
            *slot = true;
            let Some(l) = links.get(i) else { break };
            tip = Some(l.claimed_hash.clone());
            let next = children.get(l.claimed_hash.as_str());
            cur = next.and_then(|c| c.first().copied());
            for &extra in next.map(|c| c.iter().skip(1)).into_iter().flatten() {
                if let Some(x) = links.get(extra) {
                    findings.push(fork_finding(x, &l.claimed_hash));
                }
            }
        }
        let fork_ids: HashSet<u64> = findings.iter().filter_map(|f| f.index).collect();
        for (i, l) in links.iter().enumerate() {
            if !reached.get(i).copied().unwrap_or(true) && !fork_ids.contains(&l.index) {
                findings.push(
                    Finding::receipt(
                        FindingKind::Orphan,
                        l.index,
                        Some(l.receipt_id.clone()),
                        "the receipt is not reachable from the start of the chain",
                    )
                    .with_values(None, Some(truncate(&l.prev))),
                );
            }
        }
        self.report.tip = tip;
        for f in findings {
            self.record(f);
        }
    }
}

fn fork_finding(l: &Link, parent: &str) -> Finding {
    Finding::receipt(
        FindingKind::Fork,
        l.index,
        Some(l.receipt_id.clone()),
        "another receipt already follows this predecessor: the history forks here",
    )
    .with_values(None, Some(parent.to_owned()))
}

fn id_fingerprint(id: &str) -> u64 {
    let d = Sha256::digest(id.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(d.get(..8).unwrap_or(&[0; 8]));
    u64::from_le_bytes(b)
}

#[cfg(test)]
#[expect(clippy::indexing_slicing, reason = "tests fail loudly")]
mod tests {
    use super::*;
    use crate::keys::SigningKey;
    use crate::{MemoryLedger, Receipt};

    /// Lines of a chain of `n` receipts of tenant `acme`, and the key that sealed them.
    fn lines(n: usize) -> (Vec<Vec<u8>>, SigningKey) {
        let key = SigningKey::from_seed(&[7; 32]);
        let mut ledger = MemoryLedger::new();
        for _ in 0..n {
            ledger.append(Receipt::new("acme"), &key).unwrap();
        }
        let jsonl = ledger.to_jsonl(&TenantId::new("acme"));
        let lines = jsonl
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(<[u8]>::to_vec)
            .collect();
        (lines, key)
    }

    fn verify(lines: &[Vec<u8>], key: &SigningKey) -> VerificationReport {
        let mut v = ChainVerifier::new(VerifyOptions::pinned(key.verifying_key()));
        for l in lines {
            v.push(l);
        }
        v.finish()
    }

    fn kinds(report: &VerificationReport) -> Vec<(FindingKind, Option<u64>)> {
        report.findings.iter().map(|f| (f.kind, f.index)).collect()
    }

    #[test]
    fn an_intact_chain_passes() {
        let (lines, key) = lines(3);
        let report = verify(&lines, &key);
        assert!(report.is_pass(), "{:?}", report.findings);
        assert_eq!(report.receipts, 3);
        assert_eq!(report.signatures_verified, 3);
    }

    #[test]
    fn a_removed_receipt_breaks_the_link_of_its_successor() {
        let (mut lines, key) = lines(3);
        lines.remove(1);
        assert_eq!(kinds(&verify(&lines, &key)), [(FindingKind::Link, Some(1))]);
    }

    #[test]
    fn a_chain_without_its_first_receipt_fails_genesis() {
        let (mut lines, key) = lines(2);
        lines.remove(0);
        assert_eq!(
            kinds(&verify(&lines, &key)),
            [(FindingKind::Genesis, Some(0))]
        );
    }

    #[test]
    fn a_repeated_receipt_is_a_duplicate_id_and_a_broken_link() {
        let (mut lines, key) = lines(2);
        lines.push(lines[1].clone());
        assert_eq!(
            kinds(&verify(&lines, &key)),
            [
                (FindingKind::DuplicateId, Some(2)),
                (FindingKind::Link, Some(2))
            ]
        );
    }

    #[test]
    fn the_link_after_an_unreadable_line_is_not_judged() {
        let (lines, key) = lines(3);
        let mut v = ChainVerifier::new(VerifyOptions::pinned(key.verifying_key()));
        v.push(&lines[0]);
        v.push_unreadable(FindingKind::LineTooLong, "too long".into());
        v.push(&lines[2]);
        let report = v.finish();
        assert_eq!(kinds(&report), [(FindingKind::LineTooLong, Some(1))]);
    }

    #[test]
    fn rebuilding_the_order_accepts_shuffled_lines_and_names_the_tip() {
        let (mut lines, key) = lines(3);
        let tip = verify(&lines, &key).tip;
        lines.swap(0, 2);
        let opts = VerifyOptions::pinned(key.verifying_key()).with_rebuild_order(true);
        let mut v = ChainVerifier::new(opts);
        v.push_batch(&lines);
        let report = v.finish();
        assert!(report.is_pass(), "{:?}", report.findings);
        assert_eq!(report.tip, tip);
    }

    #[test]
    fn nothing_to_verify_is_a_finding() {
        let key = SigningKey::from_seed(&[7; 32]);
        assert_eq!(kinds(&verify(&[], &key)), [(FindingKind::Empty, None)]);
    }
}
