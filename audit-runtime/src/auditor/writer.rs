//! The writer thread: takes batches from the queue, seals them onto their tenants' chains inside
//! one store transaction (group commit), and answers every emitter.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use super::queue::{Job, Queue, ReplySlot};
use super::{EmitError, Emitted};
use crate::canonical;
use crate::receipt::{Receipt, ReceiptId, TenantId};
use crate::seal::{SealError, Signer};
use crate::store::{Store, StoreError, StoredEntry, WriteTxn};

/// Counters the writer keeps (read through `Auditor::stats`).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) emitted: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    pub(crate) batches: AtomicU64,
    pub(crate) failed: AtomicU64,
}

pub(crate) struct Writer {
    pub(crate) queue: Arc<Queue>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) signer: Arc<dyn Signer>,
    pub(crate) counters: Arc<Counters>,
    pub(crate) max_batch: usize,
    pub(crate) sign_threads: usize,
}

/// A unique receipt of the batch and everyone waiting for it.
struct Pending {
    receipt: Receipt,
    replies: Vec<Arc<ReplySlot>>,
}

/// Batches smaller than this are signed on the writer thread alone.
const PARALLEL_SIGN_MIN: usize = 32;

impl Writer {
    pub(crate) fn run(self) {
        let mut jobs = Vec::with_capacity(self.max_batch);
        while self.queue.pop_batch(self.max_batch, &mut jobs) {
            let batch = std::mem::take(&mut jobs);
            let slots: Vec<Arc<ReplySlot>> = batch
                .iter()
                .map(|j| match j {
                    Job::Emit(_, s) | Job::Barrier(s) => Arc::clone(s),
                })
                .collect();
            // A bug must not leave emitters waiting forever: answer them with an error instead.
            if std::panic::catch_unwind(AssertUnwindSafe(|| self.process(batch))).is_err() {
                for s in slots {
                    s.send_if_empty(Err(EmitError::Internal));
                }
            }
        }
    }

    fn process(&self, batch: Vec<Job>) {
        let mut pending: Vec<Pending> = Vec::with_capacity(batch.len());
        let mut index: HashMap<ReceiptId, usize> = HashMap::with_capacity(batch.len());
        let mut barriers = Vec::new();
        let mut scratch = Vec::with_capacity(1024);
        for job in batch {
            match job {
                Job::Barrier(slot) => barriers.push(slot),
                Job::Emit(receipt, slot) => {
                    scratch.clear();
                    if let Err(e) = canonical::write_seal_payload(&receipt, &mut scratch) {
                        self.counters.failed.fetch_add(1, Ordering::Relaxed);
                        slot.send(Err(EmitError::InvalidReceipt(e)));
                        continue;
                    }
                    match index.entry(receipt.receipt_id.clone()) {
                        // The same receipt id twice in one batch: both get the first's result.
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
        if !pending.is_empty() {
            let result = match self.commit(&pending, false) {
                // Some id is already stored: redo the batch, looking every id up first.
                Err(EmitError::Store(e)) if matches!(*e, StoreError::DuplicateId { .. }) => {
                    self.commit(&pending, true)
                }
                other => other,
            };
            self.counters.batches.fetch_add(1, Ordering::Relaxed);
            match result {
                Ok(outcomes) => {
                    for (p, o) in pending.iter().zip(outcomes) {
                        let counter = if o.duplicate {
                            &self.counters.duplicates
                        } else {
                            &self.counters.emitted
                        };
                        counter.fetch_add(1, Ordering::Relaxed);
                        for (i, r) in p.replies.iter().enumerate() {
                            let mut o = o.clone();
                            o.duplicate |= i > 0;
                            r.send(Ok(Some(o)));
                        }
                    }
                }
                Err(e) => {
                    let n = pending.iter().map(|p| p.replies.len() as u64).sum();
                    self.counters.failed.fetch_add(n, Ordering::Relaxed);
                    for r in pending.iter().flat_map(|p| &p.replies) {
                        r.send(Err(e.clone()));
                    }
                }
            }
        }
        for b in barriers {
            b.send(Ok(None));
        }
    }

    /// Seals and appends `pending` in one transaction. With `careful`, ids already stored are
    /// answered from the store instead of being appended again.
    fn commit(&self, pending: &[Pending], careful: bool) -> Result<Vec<Emitted>, EmitError> {
        let mut outcomes: Vec<Emitted> = Vec::with_capacity(pending.len());
        let mut sign_error: Option<SealError> = None;
        let res = self.store.write(&mut |txn: &mut dyn WriteTxn| {
            outcomes.clear();
            let mut tips: HashMap<TenantId, (u64, String)> = HashMap::new();
            // (index into pending, seq, sealed receipt fields, payload, hash); `None` = already stored.
            let mut work: Vec<Option<(u64, Receipt, Vec<u8>, [u8; 32])>> =
                Vec::with_capacity(pending.len());
            for p in pending {
                if careful && let Some(e) = txn.find(&p.receipt.receipt_id)? {
                    outcomes.push(Emitted::from_entry(&e, true));
                    work.push(None);
                    continue;
                }
                let tenant = &p.receipt.tenant_id;
                let tip = match tips.entry(tenant.clone()) {
                    Entry::Occupied(o) => o.into_mut(),
                    Entry::Vacant(v) => {
                        let t = txn.tip(tenant)?;
                        v.insert(t.map_or((0, String::new()), |t| (t.len, hex::encode(t.hash))))
                    }
                };
                let mut r = p.receipt.clone();
                r.prev_receipt_hash.clone_from(&tip.1);
                let mut payload = Vec::with_capacity(1024);
                canonical::write_payload_unchecked(&r, &mut payload);
                let hash: [u8; 32] = Sha256::digest(&payload).into();
                let seq = tip.0;
                *tip = (seq + 1, hex::encode(hash));
                outcomes.push(Emitted {
                    receipt_id: r.receipt_id.clone(),
                    tenant: r.tenant_id.clone(),
                    seq,
                    receipt_hash: hash,
                    duplicate: false,
                });
                work.push(Some((seq, r, payload, hash)));
            }
            let payloads: Vec<&[u8]> = work
                .iter()
                .flatten()
                .map(|(_, _, p, _)| p.as_slice())
                .collect();
            let signatures = match sign_all(self.signer.as_ref(), &payloads, self.sign_threads) {
                Ok(s) => s,
                Err(e) => {
                    sign_error = Some(e);
                    return Err(StoreError::Corrupt {
                        what: "signing failed".into(),
                    });
                }
            };
            let mut line = Vec::with_capacity(1200);
            for ((seq, r, _, hash), sig) in work.iter().flatten().zip(signatures) {
                line.clear();
                canonical::write_jsonl_line(r, &hex::encode(hash), &hex::encode(sig), &mut line);
                txn.append(&StoredEntry {
                    tenant: r.tenant_id.clone(),
                    seq: *seq,
                    receipt_id: r.receipt_id.clone(),
                    receipt_hash: *hash,
                    timestamp_micros: r.timestamp.to_unix_micros(),
                    trace_id: r.trace_id.clone(),
                    session_id: r.session_id.clone(),
                    line: line.clone(),
                })?;
            }
            Ok(())
        });
        if let Some(e) = sign_error {
            return Err(EmitError::Sign(Arc::new(e)));
        }
        res.map_err(|e| EmitError::Store(Arc::new(e)))?;
        Ok(outcomes)
    }
}

/// Signs every payload, in parallel across `threads` for large batches.
fn sign_all(
    signer: &dyn Signer,
    payloads: &[&[u8]],
    threads: usize,
) -> Result<Vec<[u8; 64]>, SealError> {
    if threads <= 1 || payloads.len() < PARALLEL_SIGN_MIN {
        return payloads.iter().map(|p| signer.sign(p)).collect();
    }
    let chunk = payloads.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = payloads
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(|p| signer.sign(p)).collect::<Vec<_>>()))
            .collect();
        let mut out = Vec::with_capacity(payloads.len());
        for h in handles {
            let part = h.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            for sig in part {
                out.push(sig?);
            }
        }
        Ok(out)
    })
}
