//! The receipts of a bundle, streamed: one thread reads (inflate, SHA-256, split into lines),
//! a worker per core checks whole batches of lines, and one more thread applies them to the
//! chain in reading order.

use std::collections::BTreeMap;
use std::io::{BufReader, Read};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};

use sha2::{Digest, Sha256};

use super::line::{LineCheck, check_lines};
use super::read_line::too_long_message;
use super::{ChainVerifier, FindingKind, LineRead, VerifyError, VerifyOptions, read_line_bounded};
use crate::bundle::ExportError;
use crate::keys::VerifyingKey;

/// Lines per batch handed to the checker (smaller than for bare JSONL: two batches are in flight
/// at once, and peak memory is budgeted at 64 MB for a 1M-receipt bundle).
const BATCH: usize = 1024;

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

/// SHA-256 of everything read through it.
pub(super) struct HashingReader<R> {
    inner: R,
    sha: Sha256,
    bytes: u64,
}

impl<R: Read> HashingReader<R> {
    pub(super) fn new(inner: R) -> Self {
        Self {
            inner,
            sha: Sha256::new(),
            bytes: 0,
        }
    }

    pub(super) fn finish(self) -> String {
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
    Lines(Vec<LineCheck>),
    TooLong,
}

/// Reads lines on this thread (inflate, SHA-256, split) while one worker per core checks whole
/// batches (parse, hash, batch signature verification) and one more thread applies the results
/// to the chain in reading order. Nothing waits for the slowest worker of a batch, so reading,
/// checking and chaining all overlap.
pub(super) fn stream_lines<R: Read>(
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
    let (to_workers, from_reader) = mpsc::sync_channel::<(u64, Piece)>(1);
    let in_flight = 2 * workers + 2;
    let (take_credit, give_back) = mpsc::sync_channel::<()>(in_flight);
    let from_reader = Arc::new(Mutex::new(from_reader));
    let (to_chain, checked) = mpsc::channel::<(u64, Checked)>();
    let (to_reader, recycled) = mpsc::channel::<Vec<Vec<u8>>>();
    let max_line = opts.max_line_bytes;
    std::thread::scope(|s| {
        for _ in 0..workers {
            let (from_reader, to_chain, to_reader) = (
                Arc::clone(&from_reader),
                to_chain.clone(),
                to_reader.clone(),
            );
            s.spawn(move || check_batches(&from_reader, &to_chain, &to_reader, key.as_ref()));
        }
        // The workers own the queue's receiving end now: if they all stop, reading stops too.
        drop(from_reader);
        drop((to_chain, to_reader));
        let chain = s.spawn(move || apply_in_order(checked, &give_back, verifier, max_line));
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

/// A worker: checks the batches it takes from the reader, hands their line buffers back for
/// reuse, and sends the checks on to the chain, until either side stops.
fn check_batches(
    from_reader: &Mutex<Receiver<(u64, Piece)>>,
    to_chain: &Sender<(u64, Checked)>,
    to_reader: &Sender<Vec<Vec<u8>>>,
    key: Option<&VerifyingKey>,
) {
    loop {
        let next = from_reader
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recv();
        let Ok((seq, piece)) = next else { break };
        let done = match piece {
            Piece::Lines(mut batch) => {
                let c = check_lines(&batch, key);
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
}

/// The chain thread: applies the checked batches to `verifier` in reading order (they arrive
/// in any order), giving back a reading credit for each.
fn apply_in_order(
    checked: Receiver<(u64, Checked)>,
    give_back: &Receiver<()>,
    verifier: &mut ChainVerifier,
    max_line: usize,
) {
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
                Checked::TooLong => {
                    verifier.push_unreadable(FindingKind::LineTooLong, too_long_message(max_line));
                }
            }
        }
    }
}

/// Reads `hashing` into batches of lines and sends them to the workers (an over-long line
/// alone, as [`Piece::TooLong`]), reporting `progress` after each.
fn read_batches<R: Read>(
    hashing: &mut HashingReader<R>,
    send: &mut dyn FnMut(Piece) -> bool,
    recycled: &Receiver<Vec<Vec<u8>>>,
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
