//! The writing pipeline: a sealer thread and a committer thread.
//!
//! The **sealer** takes a batch from the queue, links every receipt to its tenant's tip (as it
//! last knew it), hashes the payloads and signs them across all cores. The **committer** appends
//! the sealed batch in one store transaction (group commit) while the sealer already works on the
//! next one. Inside that transaction the committer checks that each tenant's stored tip is the one
//! the sealer linked to; if another process (or a failed batch) moved it, the committer re-seals
//! the batch against the stored tips before appending. So the store's write lock, not the
//! sealer's guess, decides chain order, and a chain never forks. Every emitter is answered only
//! after the commit.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};

use sha2::{Digest, Sha256};

use super::checkpointer::Checkpointer;
use super::quarantine::Quarantine;
use super::queue::{Job, Queue, ReplySlot};
use super::sealing::SealingMode;
use super::{EmitError, Emitted};
use crate::canonical;
use crate::log::LineKey;
use crate::merkle::Hash;
use crate::receipt::{Receipt, ReceiptId, TenantId};
use crate::seal::{SealError, Signer};
use crate::store::{NewEntry, Store, StoreError, Tip, WriteTxn, tree};

/// Counters the pipeline keeps (read through `Auditor::stats`).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) emitted: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    pub(crate) batches: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) resealed: AtomicU64,
}

impl Counters {
    /// `n` emits answered with an error.
    fn count_failed(&self, n: u64) {
        self.failed.fetch_add(n, Ordering::Relaxed);
        crate::metrics::failed(n);
    }
}

pub(crate) struct Writer {
    pub(crate) queue: Arc<Queue>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) signer: Arc<dyn Signer>,
    pub(crate) counters: Arc<Counters>,
    pub(crate) max_batch: usize,
    pub(crate) sign_threads: usize,
    pub(crate) sealing: SealingMode,
    /// Tags unsigned lines ([`SealingMode::Checkpointed`] only).
    pub(crate) line_key: Option<Arc<LineKey>>,
    pub(crate) checkpointer: Option<Checkpointer>,
    /// Tenants whose emits are refused at once.
    pub(crate) quarantine: Arc<Quarantine>,
}

/// A unique receipt of a batch and everyone waiting for it.
struct Pending {
    /// Kept in the emitter's box, which goes back to the emitter with the answer (see
    /// [`ReplySlot::send_returning`]).
    receipt: Box<Receipt>,
    replies: Vec<Arc<ReplySlot>>,
}

/// A receipt as the sealer linked and signed it.
struct SealedItem {
    seq: u64,
    prev: String,
    hash: [u8; 32],
    /// `None` in [`SealingMode::Checkpointed`] (the line's `signature` is then `""`).
    signature: Option<[u8; 64]>,
    /// The JSONL line, rendered by the signing workers (empty until then).
    line: Vec<u8>,
    /// The Merkle leaf hash of the payload (fed to the tenant's tree in the append's txn).
    leaf: [u8; 32],
    /// The writer's tag over an unsigned line ([`SealingMode::Checkpointed`]), bound to `hash`.
    tag: Option<[u8; 32]>,
}

/// What the sealer hands to the committer.
struct SealedBatch {
    pending: Vec<Pending>,
    /// Parallel to `pending`.
    items: Vec<SealedItem>,
    /// Each tenant's tip as the sealer assumed it before this batch.
    starts: Vec<(TenantId, Option<Tip>)>,
    barriers: Vec<Arc<ReplySlot>>,
}

/// Batches smaller than this are signed on the sealer thread alone.
const PARALLEL_SIGN_MIN: usize = 32;

fn hex32(b: &[u8; 32]) -> String {
    canonical::to_hex(b)
}

fn answer_all(slots: &[Arc<ReplySlot>], e: &EmitError) {
    for s in slots {
        s.send_if_empty(Err(e.clone()));
    }
}

impl Writer {
    /// Runs the sealer on this thread and the committer on another, until the queue closes and
    /// both have drained.
    pub(crate) fn run(mut self) {
        let (tx, rx) = mpsc::sync_channel::<SealedBatch>(1);
        let resync = Arc::new(AtomicBool::new(false));
        let committer = Committer {
            store: Arc::clone(&self.store),
            signer: Arc::clone(&self.signer),
            counters: Arc::clone(&self.counters),
            resync: Arc::clone(&resync),
            quarantine: Arc::clone(&self.quarantine),
            sealing: self.sealing,
            line_key: self.line_key.clone(),
            checkpointer: std::cell::RefCell::new(self.checkpointer.take()),
        };
        let spawned = std::thread::Builder::new()
            .name("ai-audit-commit".into())
            .spawn(move || committer.run(&rx));
        let Ok(commit_thread) = spawned else {
            // Without a committer nothing can be stored: answer every job with an error.
            let mut jobs = Vec::new();
            while self.queue.pop_batch(self.max_batch, &mut jobs) {
                for j in jobs.drain(..) {
                    let (Job::Emit(_, s) | Job::Barrier(s)) = j;
                    s.send(Err(EmitError::Internal));
                }
            }
            return;
        };
        let mut tips: HashMap<TenantId, Option<Tip>> = HashMap::new();
        let mut jobs = Vec::with_capacity(self.max_batch);
        while self.queue.pop_batch(self.max_batch, &mut jobs) {
            let batch = std::mem::take(&mut jobs);
            crate::metrics::queue_depth(self.queue.len());
            let slots: Vec<Arc<ReplySlot>> = batch
                .iter()
                .map(|(Job::Emit(_, s) | Job::Barrier(s))| Arc::clone(s))
                .collect();
            if resync.swap(false, Ordering::AcqRel) {
                tips.clear();
            }
            let sealed = std::panic::catch_unwind(AssertUnwindSafe(|| self.seal(batch, &mut tips)));
            match sealed {
                Ok(Some(b)) => {
                    if let Err(mpsc::SendError(b)) = tx.send(b) {
                        let slots: Vec<_> = b
                            .pending
                            .iter()
                            .flat_map(|p| p.replies.iter().cloned())
                            .chain(b.barriers.iter().cloned())
                            .collect();
                        answer_all(&slots, &EmitError::Internal);
                    }
                }
                Ok(None) => {}
                Err(_) => {
                    // A bug must not leave emitters waiting forever.
                    tips.clear();
                    answer_all(&slots, &EmitError::Internal);
                }
            }
        }
        drop(tx);
        let _ = commit_thread.join();
    }

    /// Links, hashes and signs one batch. Returns `None` if nothing is left to commit.
    fn seal(
        &self,
        batch: Vec<Job>,
        tips: &mut HashMap<TenantId, Option<Tip>>,
    ) -> Option<SealedBatch> {
        let mut pending: Vec<Pending> = Vec::with_capacity(batch.len());
        let mut index: HashMap<ReceiptId, usize> = HashMap::with_capacity(batch.len());
        let mut barriers = Vec::new();
        for job in batch {
            match job {
                Job::Barrier(slot) => barriers.push(slot),
                Job::Emit(receipt, slot) => {
                    if let Err(e) = canonical::check_finite(&receipt) {
                        self.counters.count_failed(1);
                        slot.send(Err(EmitError::InvalidReceipt(e)));
                        continue;
                    }
                    if let Some(reason) = self.quarantine.get(&receipt.tenant_id) {
                        self.counters.count_failed(1);
                        let tenant = receipt.tenant_id.clone();
                        slot.send_returning(
                            Err(EmitError::Quarantined { tenant, reason }),
                            Some(receipt),
                        );
                        continue;
                    }
                    match index.entry(receipt.receipt_id.clone()) {
                        // The same id twice in one batch: both get the first's result.
                        Entry::Occupied(o) => {
                            if let Some(p) = pending.get_mut(*o.get()) {
                                p.replies.push(slot);
                            }
                        }
                        Entry::Vacant(v) => {
                            v.insert(pending.len());
                            pending.push(Pending {
                                receipt,
                                replies: vec![slot],
                            });
                        }
                    }
                }
            }
        }
        let mut starts: Vec<(TenantId, Option<Tip>)> = Vec::new();
        let mut started: std::collections::HashSet<&TenantId> = std::collections::HashSet::new();
        let mut items = Vec::with_capacity(pending.len());
        let keep_payloads = self.sealing == SealingMode::PerReceipt;
        let mut payloads: Vec<Vec<u8>> =
            Vec::with_capacity(if keep_payloads { pending.len() } else { 0 });
        let mut scratch = Vec::with_capacity(1024);
        for p in &pending {
            let tenant = &p.receipt.tenant_id;
            let tip = match tips.entry(tenant.clone()) {
                Entry::Occupied(o) => o.into_mut(),
                Entry::Vacant(v) => match self.store.tip(tenant) {
                    Ok(t) => v.insert(t),
                    Err(e) => {
                        let e = EmitError::Store(Arc::new(e));
                        let slots: Vec<_> =
                            pending.iter().flat_map(|p| p.replies.clone()).collect();
                        answer_all(&slots, &e);
                        self.counters.count_failed(slots.len() as u64);
                        restore(tips, starts);
                        return barriers_only(barriers);
                    }
                },
            };
            if started.insert(tenant) {
                starts.push((tenant.clone(), *tip));
            }
            let prev = tip.map(|t| hex32(&t.hash)).unwrap_or_default();
            let mut payload = if keep_payloads {
                Vec::with_capacity(1024)
            } else {
                std::mem::take(&mut scratch)
            };
            payload.clear();
            canonical::write_payload_with_prev(&p.receipt, &prev, &mut payload);
            let hash: [u8; 32] = Sha256::digest(&payload).into();
            let seq = tip.map_or(0, |t| t.len);
            *tip = Some(Tip { len: seq + 1, hash });
            items.push(SealedItem {
                seq,
                prev,
                hash,
                signature: None,
                line: Vec::new(),
                leaf: crate::merkle::leaf_hash(&payload),
                tag: self.line_key.as_ref().map(|k| k.tag(tenant, seq, &hash)),
            });
            if keep_payloads {
                payloads.push(payload);
            } else {
                scratch = payload;
            }
        }
        let signed = match self.sealing {
            SealingMode::PerReceipt => sign_all(self.signer.as_ref(), &payloads, self.sign_threads)
                .map(|sigs| {
                    for (item, sig) in items.iter_mut().zip(sigs) {
                        item.signature = Some(sig);
                    }
                }),
            SealingMode::Checkpointed => Ok(()),
        };
        drop(payloads);
        match signed {
            Ok(()) => {
                // Render the lines here, across the cores, so that the committer only writes.
                let work: Vec<(&Receipt, &SealedItem)> = pending
                    .iter()
                    .map(|p| &*p.receipt)
                    .zip(items.iter())
                    .collect();
                let lines = par_map(&work, self.sign_threads, |(r, it)| {
                    let mut line = Vec::with_capacity(1200);
                    render_line(r, it, &mut line);
                    line
                });
                for (item, line) in items.iter_mut().zip(lines) {
                    item.line = line;
                }
            }
            Err(e) => {
                let e = EmitError::Sign(Arc::new(e));
                let slots: Vec<_> = pending.iter().flat_map(|p| p.replies.clone()).collect();
                self.counters.count_failed(slots.len() as u64);
                answer_all(&slots, &e);
                restore(tips, starts);
                return barriers_only(barriers);
            }
        }
        Some(SealedBatch {
            pending,
            items,
            starts,
            barriers,
        })
    }
}

/// Puts the tips back as they were before a batch that will not be committed.
fn restore(tips: &mut HashMap<TenantId, Option<Tip>>, starts: Vec<(TenantId, Option<Tip>)>) {
    for (t, start) in starts {
        tips.insert(t, start);
    }
}

fn barriers_only(barriers: Vec<Arc<ReplySlot>>) -> Option<SealedBatch> {
    (!barriers.is_empty()).then(|| SealedBatch {
        pending: Vec::new(),
        items: Vec::new(),
        starts: Vec::new(),
        barriers,
    })
}

struct Committer {
    store: Arc<dyn Store>,
    signer: Arc<dyn Signer>,
    counters: Arc<Counters>,
    resync: Arc<AtomicBool>,
    quarantine: Arc<Quarantine>,
    sealing: SealingMode,
    line_key: Option<Arc<LineKey>>,
    /// Signs checkpoints after commits, on idle timeouts and at the end.
    checkpointer: std::cell::RefCell<Option<Checkpointer>>,
}

/// Why the fast path did not commit.
enum Fallback {
    /// Another writer moved a tip, or an id is already stored: re-seal against the store.
    Reseal,
    /// A real failure.
    Fail(EmitError),
}

impl Committer {
    fn run(&self, rx: &mpsc::Receiver<SealedBatch>) {
        loop {
            let wait = self
                .checkpointer
                .borrow()
                .as_ref()
                .map_or(std::time::Duration::from_secs(3600), Checkpointer::wait);
            let batch = match rx.recv_timeout(wait) {
                Ok(b) => b,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    self.checkpoints(Checkpointer::tick);
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            let slots: Vec<Arc<ReplySlot>> = batch
                .pending
                .iter()
                .flat_map(|p| p.replies.iter().cloned())
                .chain(batch.barriers.iter().cloned())
                .collect();
            if std::panic::catch_unwind(AssertUnwindSafe(|| self.commit(batch))).is_err() {
                self.resync.store(true, Ordering::Release);
                answer_all(&slots, &EmitError::Internal);
            }
        }
        self.checkpoints(Checkpointer::finish);
    }

    fn checkpoints(&self, f: impl FnOnce(&mut Checkpointer)) {
        if let Some(c) = self.checkpointer.borrow_mut().as_mut() {
            f(c);
        }
    }

    fn commit(&self, batch: SealedBatch) {
        let SealedBatch {
            pending,
            items,
            starts,
            barriers,
        } = batch;
        if !pending.is_empty() {
            let started = std::time::Instant::now();
            // The leaf each outcome appended (`None` for a duplicate), for the checkpointer.
            let mut leaves: Vec<Option<Hash>> = Vec::new();
            let result = match self.fast_path(&pending, &items, &starts) {
                Ok(outcomes) => {
                    leaves = items.iter().map(|it| Some(it.leaf)).collect();
                    Ok(outcomes)
                }
                Err(Fallback::Reseal) => {
                    self.resync.store(true, Ordering::Release);
                    self.counters.resealed.fetch_add(1, Ordering::Relaxed);
                    self.reseal(&pending, &mut leaves)
                }
                Err(Fallback::Fail(e)) => {
                    self.resync.store(true, Ordering::Release);
                    Err(e)
                }
            };
            self.counters.batches.fetch_add(1, Ordering::Relaxed);
            crate::metrics::commit(started.elapsed(), pending.len());
            match result {
                Err(e) if tenant_fault(&e).is_some() => self.isolate(pending),
                result => self.settle(pending, result, &leaves),
            }
        }
        for b in barriers {
            b.send(Ok(None));
        }
    }

    /// Tells the checkpointer what a commit appended and answers its emitters.
    fn settle(
        &self,
        pending: Vec<Pending>,
        result: Result<Vec<Emitted>, EmitError>,
        leaves: &[Option<Hash>],
    ) {
        let committed = super::checkpointer::appended(&result);
        if let Ok(outcomes) = &result {
            for (o, leaf) in outcomes.iter().zip(leaves) {
                if let (false, Some(leaf)) = (o.duplicate, leaf) {
                    self.checkpoints(|c| c.appended(&o.tenant, o.seq, *leaf));
                }
            }
        }
        self.answer(pending, result);
        self.checkpoints(|c| c.committed(&committed));
    }

    /// A batch failed for a reason retrying cannot fix: commits it again tenant by tenant, so
    /// that the tenants that are fine are stored, and quarantines those whose own commit still
    /// fails that way.
    fn isolate(&self, pending: Vec<Pending>) {
        let mut groups: Vec<Vec<Pending>> = Vec::new();
        let mut at: HashMap<TenantId, usize> = HashMap::new();
        for p in pending {
            match at.entry(p.receipt.tenant_id.clone()) {
                Entry::Occupied(o) => {
                    if let Some(g) = groups.get_mut(*o.get()) {
                        g.push(p);
                    }
                }
                Entry::Vacant(v) => {
                    v.insert(groups.len());
                    groups.push(vec![p]);
                }
            }
        }
        for group in groups {
            let mut leaves = Vec::new();
            let result = self.reseal(&group, &mut leaves).map_err(|e| {
                // This tenant's own commit failed for a reason retrying cannot fix.
                match (tenant_fault(&e), group.first()) {
                    (Some(reason), Some(first)) => {
                        let tenant = first.receipt.tenant_id.clone();
                        self.quarantine.insert(tenant.clone(), Arc::clone(&reason));
                        EmitError::Quarantined { tenant, reason }
                    }
                    _ => e,
                }
            });
            self.settle(group, result, &leaves);
        }
    }

    fn answer(&self, pending: Vec<Pending>, result: Result<Vec<Emitted>, EmitError>) {
        match result {
            Ok(outcomes) => {
                // Counted once per batch (this is the committer's hot loop), and before anyone
                // is answered, so that stats read after an emit returns include it.
                let stored = outcomes.iter().filter(|o| !o.duplicate).count() as u64;
                let replies: u64 = pending.iter().map(|p| p.replies.len() as u64).sum();
                let duplicates = replies.saturating_sub(stored);
                self.counters.emitted.fetch_add(stored, Ordering::Relaxed);
                self.counters
                    .duplicates
                    .fetch_add(duplicates, Ordering::Relaxed);
                crate::metrics::stored(stored);
                crate::metrics::duplicates(duplicates);
                for (p, o) in pending.into_iter().zip(outcomes) {
                    let mut spent = Some(p.receipt);
                    for (i, r) in p.replies.iter().enumerate() {
                        let mut o = o.clone();
                        o.duplicate |= i > 0;
                        r.send_returning(Ok(Some(o)), spent.take());
                    }
                }
            }
            Err(e) => {
                let n: u64 = pending.iter().map(|p| p.replies.len() as u64).sum();
                self.counters.count_failed(n);
                for p in pending {
                    let mut spent = Some(p.receipt);
                    for r in &p.replies {
                        r.send_returning(Err(e.clone()), spent.take());
                    }
                }
            }
        }
    }

    /// Appends the batch as sealed, if every tenant's stored tip is the one it was linked to.
    fn fast_path(
        &self,
        pending: &[Pending],
        items: &[SealedItem],
        starts: &[(TenantId, Option<Tip>)],
    ) -> Result<Vec<Emitted>, Fallback> {
        let mut moved = false;
        let mut line = Vec::with_capacity(1200);
        let res = self.store.write(&mut |txn: &mut dyn WriteTxn| {
            for (tenant, start) in starts {
                if txn.tip(tenant)? != *start {
                    moved = true;
                    return Err(StoreError::Corrupt {
                        what: "tip moved".into(),
                    });
                }
            }
            for (p, it) in pending.iter().zip(items) {
                if it.line.is_empty() {
                    // Not rendered by the workers (not expected): render it here.
                    render_line(&p.receipt, it, &mut line);
                    append_line(txn, &p.receipt, it, &line)?;
                } else {
                    append_line(txn, &p.receipt, it, &it.line)?;
                }
            }
            let leaves: Vec<_> = pending
                .iter()
                .zip(items)
                .map(|(p, it)| (&p.receipt.tenant_id, it.seq, it.leaf))
                .collect();
            tree::feed(txn, &leaves)
        });
        match res {
            Ok(()) => Ok(pending
                .iter()
                .zip(items)
                .map(|(p, it)| emitted(&p.receipt, it.seq, it.hash, false))
                .collect()),
            Err(_) if moved => Err(Fallback::Reseal),
            Err(StoreError::DuplicateId { .. }) => Err(Fallback::Reseal),
            Err(e) => Err(Fallback::Fail(EmitError::Store(Arc::new(e)))),
        }
    }

    /// Seals the batch again against the stored tips (serially, under the store's write lock),
    /// answering ids that are already stored with their stored result.
    fn reseal(
        &self,
        pending: &[Pending],
        leaves: &mut Vec<Option<Hash>>,
    ) -> Result<Vec<Emitted>, EmitError> {
        let mut outcomes = Vec::with_capacity(pending.len());
        let mut sign_error: Option<SealError> = None;
        let mut line = Vec::with_capacity(1200);
        let mut payload = Vec::with_capacity(1024);
        let res = self.store.write(&mut |txn: &mut dyn WriteTxn| {
            outcomes.clear();
            leaves.clear();
            let mut fed = Vec::new();
            for p in pending {
                if let Some(e) = txn.find(&p.receipt.receipt_id)? {
                    outcomes.push(emitted(&p.receipt, e.seq, e.receipt_hash, true));
                    leaves.push(None);
                    continue;
                }
                let tip = txn.tip(&p.receipt.tenant_id)?;
                let prev = tip.map(|t| hex32(&t.hash)).unwrap_or_default();
                payload.clear();
                canonical::write_payload_with_prev(&p.receipt, &prev, &mut payload);
                let hash: [u8; 32] = Sha256::digest(&payload).into();
                let signature = match self.sealing {
                    SealingMode::Checkpointed => None,
                    SealingMode::PerReceipt => match self.signer.sign(&payload) {
                        Ok(s) => Some(s),
                        Err(e) => {
                            sign_error = Some(e);
                            return Err(StoreError::Corrupt {
                                what: "signing failed".into(),
                            });
                        }
                    },
                };
                let seq = tip.map_or(0, |t| t.len);
                let item = SealedItem {
                    seq,
                    prev,
                    hash,
                    signature,
                    line: Vec::new(),
                    leaf: crate::merkle::leaf_hash(&payload),
                    tag: self
                        .line_key
                        .as_ref()
                        .map(|k| k.tag(&p.receipt.tenant_id, seq, &hash)),
                };
                render_line(&p.receipt, &item, &mut line);
                append_line(txn, &p.receipt, &item, &line)?;
                fed.push((&p.receipt.tenant_id, item.seq, item.leaf));
                leaves.push(Some(item.leaf));
                outcomes.push(emitted(&p.receipt, item.seq, hash, false));
            }
            tree::feed(txn, &fed)
        });
        if let Some(e) = sign_error {
            return Err(EmitError::Sign(Arc::new(e)));
        }
        res.map_err(|e| EmitError::Store(Arc::new(e)))?;
        Ok(outcomes)
    }
}

/// The store's error, if `e` is a store failure that retrying cannot fix and that may be one
/// tenant's fault (damaged or refused rows), rather than the whole store's.
fn tenant_fault(e: &EmitError) -> Option<Arc<StoreError>> {
    match e {
        EmitError::Store(s)
            if !s.is_retryable() && !matches!(**s, StoreError::DuplicateId { .. }) =>
        {
            Some(Arc::clone(s))
        }
        _ => None,
    }
}

fn emitted(r: &Receipt, seq: u64, hash: [u8; 32], duplicate: bool) -> Emitted {
    Emitted {
        receipt_id: r.receipt_id.clone(),
        tenant: r.tenant_id.clone(),
        seq,
        receipt_hash: hash,
        duplicate,
    }
}

fn render_line(r: &Receipt, it: &SealedItem, line: &mut Vec<u8>) {
    let mut hash_hex = [0u8; 64];
    let mut sig_hex = [0u8; 128];
    let hash_hex = hex::encode_to_slice(it.hash, &mut hash_hex)
        .ok()
        .and_then(|()| std::str::from_utf8(&hash_hex).ok())
        .unwrap_or_default();
    // Checkpointed mode: the empty signature says "authenticated by a checkpoint".
    let sig_hex = it
        .signature
        .and_then(|sig| hex::encode_to_slice(sig, &mut sig_hex).ok())
        .and_then(|()| std::str::from_utf8(&sig_hex).ok())
        .unwrap_or_default();
    line.clear();
    canonical::write_jsonl_line_with_prev(r, &it.prev, hash_hex, sig_hex, line);
}

fn append_line(
    txn: &mut dyn WriteTxn,
    r: &Receipt,
    it: &SealedItem,
    line: &[u8],
) -> Result<(), StoreError> {
    txn.append(&NewEntry {
        tenant: &r.tenant_id,
        seq: it.seq,
        receipt_id: &r.receipt_id,
        receipt_hash: it.hash,
        timestamp_micros: r.timestamp.to_unix_micros(),
        trace_id: &r.trace_id,
        session_id: &r.session_id,
        line,
        tag: it.tag,
    })
}

/// `f` over every item, in parallel across `threads` for large inputs; results in order.
fn par_map<T: Sync, R: Send>(items: &[T], threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if threads <= 1 || items.len() < PARALLEL_SIGN_MIN {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// Signs every payload, in parallel across `threads` for large batches.
fn sign_all(
    signer: &dyn Signer,
    payloads: &[Vec<u8>],
    threads: usize,
) -> Result<Vec<[u8; 64]>, SealError> {
    par_map(payloads, threads, |p| signer.sign(p))
        .into_iter()
        .collect()
}
