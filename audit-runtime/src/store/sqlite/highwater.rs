//! The high-water record: a small append-only file beside the database (`audit.db-highwater`)
//! that says, per tenant, how many receipts the store has acknowledged and the hash of the last.
//!
//! SQLite can lose committed transactions without reporting it: a damaged frame in the
//! write-ahead log makes recovery drop that frame and every later one, and `integrity_check`
//! still says ok. The database alone cannot tell. This file is written after each commit is
//! durable and before anyone is answered (appended and `fdatasync`ed in
//! [`Durability::Durable`](crate::store::Durability) mode), so every acknowledged receipt is
//! covered by it. On open, a tenant whose stored chain is behind its record, or differs from it
//! at the recorded position, is refused for appending (see [`TenantFault`]). An emptied or
//! replaced database is caught the same way: its tenants are behind, or differ.
//!
//! **Limits.** Someone who rolls back both files together (an old backup of both, or an insider
//! who edits both) is not detected here; witnesses that hold signed checkpoints outside the
//! machine are for that. A store opened without its record (a copy of `audit.db` alone, or a
//! store from before this file existed) starts a new record from its current tips.
//!
//! **Format.** Line 1: `ai-audit-highwater 1`. Then one line per tenant and commit:
//! `KIND\tLEN\tHASH\tTENANT\tCHECK`, where `KIND` is `ack` (an acknowledged tip; a record only
//! ever raises a tenant's length) or `gap` (a loss recorded with a signed gap receipt: the new
//! tip replaces the old), `HASH` the tip's `receipt_hash` in hex, `TENANT` the tenant id in hex,
//! and `CHECK` the first 8 bytes of the SHA-256 of the line up to it, in hex. Each commit's
//! lines start with an empty line, which ends a fragment a crash may have left. Such a fragment
//! (shorter than a whole line: nobody was answered for it) is ignored; a whole line that fails
//! its check is reported by [`Loaded::damaged`] (and `ai-audit db check`).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use sha2::{Digest, Sha256};

use crate::canonical::to_hex;
use crate::receipt::TenantId;
use crate::store::{StoreError, TenantFault, Tip};

const HEADER: &str = "ai-audit-highwater 1\n";

/// Rewrite the file (one line per tenant) once it is larger than this and than
/// [`COMPACT_FACTOR`] lines per tenant.
const COMPACT_BYTES: u64 = 8 << 20;
const COMPACT_FACTOR: u64 = 4;

/// The kind of a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An acknowledged tip.
    Ack,
    /// A loss recorded with a gap receipt: the tip starts over from here.
    Gap,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Ack => "ack",
            Self::Gap => "gap",
        }
    }
}

/// The record's path for the database at `db`.
pub(crate) fn path_for(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-highwater");
    PathBuf::from(name)
}

/// What a record file holds.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    /// Each tenant's acknowledged tip.
    pub(crate) tips: HashMap<TenantId, Tip>,
    /// Lines that could not be read (1-based line number, why), other than a torn last line.
    pub(crate) damaged: Vec<(usize, String)>,
}

fn check_of(body: &str) -> String {
    let digest = Sha256::digest(body.as_bytes());
    to_hex(digest.get(..8).unwrap_or_default())
}

fn render(out: &mut Vec<u8>, kind: Kind, tenant: &TenantId, tip: &Tip) {
    let body = format!(
        "{}\t{}\t{}\t{}",
        kind.as_str(),
        tip.len,
        to_hex(tip.hash),
        to_hex(tenant.as_str().as_bytes())
    );
    let check = check_of(&body);
    out.extend_from_slice(body.as_bytes());
    out.push(b'\t');
    out.extend_from_slice(check.as_bytes());
    out.push(b'\n');
}

fn parse_line(line: &str) -> Result<(Kind, TenantId, Tip), String> {
    let (body, check) = line
        .rsplit_once('\t')
        .ok_or_else(|| "no check field".to_owned())?;
    if check_of(body) != check {
        return Err("its check does not match its content".into());
    }
    let mut f = body.split('\t');
    let kind = match f.next() {
        Some("ack") => Kind::Ack,
        Some("gap") => Kind::Gap,
        other => return Err(format!("unknown kind {other:?}")),
    };
    let len = f
        .next()
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| "bad length".to_owned())?;
    let hash = f
        .next()
        .and_then(|v| hex::decode(v).ok())
        .and_then(|v| <[u8; 32]>::try_from(v.as_slice()).ok())
        .ok_or_else(|| "bad hash".to_owned())?;
    let tenant = f
        .next()
        .and_then(|v| hex::decode(v).ok())
        .and_then(|v| String::from_utf8(v).ok())
        .ok_or_else(|| "bad tenant".to_owned())?;
    Ok((kind, TenantId::new(tenant), Tip { len, hash }))
}

/// Applies one record: `ack` only raises a tenant's length, `gap` replaces it.
fn apply(tips: &mut HashMap<TenantId, Tip>, kind: Kind, tenant: TenantId, tip: Tip) {
    match tips.get_mut(&tenant) {
        Some(t) if kind == Kind::Ack => {
            if tip.len > t.len {
                *t = tip;
            }
        }
        Some(t) => *t = tip,
        None => {
            tips.insert(tenant, tip);
        }
    }
}

/// Reads the record at `path`; `Ok(None)` if there is none.
pub(crate) fn load(path: &Path) -> io::Result<Option<Loaded>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut loaded = Loaded::default();
    if bytes.is_empty() {
        loaded.damaged.push((
            1,
            "the file is empty; it should start with `ai-audit-highwater 1`".into(),
        ));
    }
    let text = String::from_utf8_lossy(&bytes);
    let complete = text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.is_empty() {
            continue;
        }
        if i == 0 {
            if format!("{line}\n") != HEADER {
                loaded
                    .damaged
                    .push((1, "the header is not `ai-audit-highwater 1`".into()));
            }
            continue;
        }
        match parse_line(line) {
            Ok((kind, tenant, tip)) => apply(&mut loaded.tips, kind, tenant, tip),
            // A torn last line: a crash cut it, and its commit was never acknowledged.
            Err(_) if i + 1 == lines.len() && !complete => {}
            // A fragment a crash left, ended by the next commit's leading newline: it is
            // shorter than a whole line (fewer fields, or a cut check).
            Err(_) if !whole(line) => {}
            Err(why) => loaded.damaged.push((i + 1, why)),
        }
    }
    Ok(Some(loaded))
}

/// Whether `line` has the shape of a whole record (five fields, a full check), as opposed to a
/// fragment cut short by a crash.
fn whole(line: &str) -> bool {
    line.split('\t').count() == 5 && line.rsplit('\t').next().is_some_and(|c| c.len() == 16)
}

/// Writes `tips` as a new record file at `path` (through a temporary file and a rename, so a
/// reader never sees half of it), synced with its directory.
fn write_whole(path: &Path, tips: &HashMap<TenantId, Tip>) -> io::Result<File> {
    let mut out = HEADER.as_bytes().to_vec();
    let mut sorted: Vec<_> = tips.iter().collect();
    sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
    for (tenant, tip) in sorted {
        render(&mut out, Kind::Ack, tenant, tip);
    }
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp_name);
    {
        let mut f = File::create(&tmp)?;
        f.write_all(&out)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Makes the rename durable; not every platform can open a directory.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    OpenOptions::new().append(true).open(path)
}

struct State {
    file: File,
    /// Bytes in the file (estimated from what this process wrote since it opened it).
    bytes: u64,
    /// Tenants known to the record (for the compaction threshold).
    tenants: u64,
    /// Records that could not be written yet (the disk was full): retried with the next commit.
    pending: Vec<u8>,
    sync: bool,
}

/// The open record of one store.
pub(crate) struct HighWater {
    path: PathBuf,
    state: Mutex<State>,
}

impl std::fmt::Debug for HighWater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HighWater")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl HighWater {
    /// Starts a new record at `path` from the store's current tips.
    pub(crate) fn create(path: &Path, tips: &HashMap<TenantId, Tip>) -> io::Result<Self> {
        let file = write_whole(path, tips)?;
        let bytes = file.metadata()?.len();
        Ok(Self::with(path, file, bytes, tips.len()))
    }

    /// Opens the existing record at `path` for appending.
    pub(crate) fn open(path: &Path, loaded: &Loaded) -> io::Result<Self> {
        let file = OpenOptions::new().append(true).open(path)?;
        let bytes = file.metadata()?.len();
        Ok(Self::with(path, file, bytes, loaded.tips.len()))
    }

    fn with(path: &Path, file: File, bytes: u64, tenants: usize) -> Self {
        Self {
            path: path.to_owned(),
            state: Mutex::new(State {
                file,
                bytes,
                tenants: tenants as u64,
                pending: Vec::new(),
                sync: true,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether each append is synced (on in `Durable` mode).
    pub(crate) fn set_sync(&self, sync: bool) {
        self.lock().sync = sync;
    }

    /// Appends the tips of one commit (call it after the commit is durable, before anyone is
    /// answered). On failure the records are kept and written with the next call.
    ///
    /// # Errors
    /// The write or sync failed (the records are kept for the next call).
    pub(crate) fn record<'t>(
        &self,
        kind: Kind,
        tips: impl IntoIterator<Item = (&'t TenantId, &'t Tip)>,
    ) -> io::Result<()> {
        let mut st = self.lock();
        for (tenant, tip) in tips {
            if st.pending.is_empty() {
                // Ends a fragment a crash (or a failed write) may have left at the end of the
                // file, so that it is not glued to this batch's first line.
                st.pending.push(b'\n');
            }
            render(&mut st.pending, kind, tenant, tip);
        }
        if st.pending.is_empty() {
            return Ok(());
        }
        let st = &mut *st;
        // Under the shared lock, and on the file now at the path: a compaction in another
        // process (exclusive lock, then rename) cannot slip between the check and the write.
        loop {
            self.reopen_if_replaced(st)?;
            lock_shared(&st.file)?;
            if same_file(&st.file, &self.path)? {
                break;
            }
            unlock(&st.file);
        }
        let written = st
            .file
            .write_all(&st.pending)
            .and_then(|()| if st.sync { st.file.sync_data() } else { Ok(()) });
        unlock(&st.file);
        written?;
        st.bytes += st.pending.len() as u64;
        st.pending.clear();
        if st.bytes > COMPACT_BYTES && st.bytes > COMPACT_FACTOR * 160 * st.tenants.max(1) {
            // Compaction is an optimisation: a failure leaves the appended file as it is.
            let _ = self.compact(st);
        }
        Ok(())
    }

    /// Another process compacted the file (renamed a new one into place): append to that one.
    fn reopen_if_replaced(&self, st: &mut State) -> io::Result<()> {
        if !same_file(&st.file, &self.path)? {
            st.file = OpenOptions::new().append(true).open(&self.path)?;
            st.bytes = st.file.metadata()?.len();
        }
        Ok(())
    }

    /// Rewrites the file with one line per tenant, under an exclusive lock that appenders of
    /// other processes wait for (they then reopen the new file).
    fn compact(&self, st: &mut State) -> io::Result<()> {
        st.file.lock()?;
        let done = (|| -> io::Result<Option<(File, usize)>> {
            if !same_file(&st.file, &self.path)? {
                return Ok(None);
            }
            // Lines that fail their check (a fragment a crash left) carry nothing usable; they
            // are not carried over.
            let loaded = load(&self.path)?.unwrap_or_default();
            let file = write_whole(&self.path, &loaded.tips)?;
            Ok(Some((file, loaded.tips.len())))
        })();
        unlock(&st.file);
        if let Some((file, tenants)) = done? {
            st.bytes = file.metadata()?.len();
            st.file = file;
            st.tenants = tenants as u64;
        }
        Ok(())
    }
}

fn lock_shared(f: &File) -> io::Result<()> {
    f.lock_shared()
}

fn unlock(f: &File) {
    let _ = f.unlock();
}

#[cfg(unix)]
fn same_file(f: &File, path: &Path) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt as _;
    let open = f.metadata()?;
    match std::fs::metadata(path) {
        Ok(now) => Ok(open.ino() == now.ino() && open.dev() == now.dev()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(not(unix))]
fn same_file(_: &File, path: &Path) -> io::Result<bool> {
    Ok(path.exists())
}

/// Compares the acknowledged tips with what the store holds: `stored(tenant)` gives the stored
/// tip, `hash_at(tenant, seq)` the stored `receipt_hash` at a position. A tenant whose rows
/// cannot be read (damaged) is reported as inconsistent; only failures of the backend itself
/// (retryable) stop the comparison.
pub(crate) fn compare(
    acknowledged: &HashMap<TenantId, Tip>,
    mut stored: impl FnMut(&TenantId) -> Result<Option<Tip>, StoreError>,
    mut hash_at: impl FnMut(&TenantId, u64) -> Result<Option<[u8; 32]>, StoreError>,
) -> Result<Vec<(TenantId, TenantFault)>, StoreError> {
    let mut faults = Vec::new();
    for (tenant, ack) in acknowledged {
        if ack.len == 0 {
            continue;
        }
        let fault = match compare_one(ack, stored(tenant), |seq| hash_at(tenant, seq)) {
            Ok(f) => f,
            Err(e) if e.is_retryable() => return Err(e),
            Err(e) => Some(TenantFault::Inconsistent {
                what: format!("its stored rows cannot be read: {e}"),
            }),
        };
        if let Some(f) = fault {
            faults.push((tenant.clone(), f));
        }
    }
    faults.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(faults)
}

fn compare_one(
    ack: &Tip,
    stored: Result<Option<Tip>, StoreError>,
    hash_at: impl FnOnce(u64) -> Result<Option<[u8; 32]>, StoreError>,
) -> Result<Option<TenantFault>, StoreError> {
    let now = stored?.map_or(0, |t| t.len);
    if now < ack.len {
        return Ok(Some(TenantFault::RolledBack {
            stored: now,
            acknowledged: ack.len,
            acknowledged_hash: ack.hash,
        }));
    }
    let at = ack.len - 1;
    Ok(match hash_at(at)? {
        Some(h) if h == ack.hash => None,
        Some(h) => Some(TenantFault::Diverged {
            at,
            stored_hash: h,
            acknowledged_hash: ack.hash,
        }),
        None => Some(TenantFault::Inconsistent {
            what: format!("the tip says {now} receipts but none is stored at {at}"),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tip(len: u64, b: u8) -> Tip {
        Tip { len, hash: [b; 32] }
    }

    #[test]
    fn records_raise_tips_gaps_replace_them_and_a_torn_last_line_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db-highwater");
        let hw = HighWater::create(&path, &HashMap::new()).unwrap();
        let t = TenantId::new("t\tab");
        hw.record(Kind::Ack, [(&t, &tip(5, 1))]).unwrap();
        hw.record(Kind::Ack, [(&t, &tip(3, 2))]).unwrap();
        assert_eq!(load(&path).unwrap().unwrap().tips[&t], tip(5, 1));
        hw.record(Kind::Gap, [(&t, &tip(4, 3))]).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(b"ack\t9\tdead");
        std::fs::write(&path, &bytes).unwrap();
        let loaded = load(&path).unwrap().unwrap();
        assert_eq!(loaded.tips[&t], tip(4, 3));
        assert!(loaded.damaged.is_empty(), "{:?}", loaded.damaged);
        // The next process appends after the fragment: it is ended, not glued to the record.
        let next = HighWater::open(&path, &loaded).unwrap();
        next.record(Kind::Ack, [(&t, &tip(5, 4))]).unwrap();
        let loaded = load(&path).unwrap().unwrap();
        assert_eq!(loaded.tips[&t], tip(5, 4));
        assert!(loaded.damaged.is_empty(), "{:?}", loaded.damaged);
    }

    #[test]
    fn a_growing_record_is_compacted_to_one_line_per_tenant_and_keeps_every_tip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db-highwater");
        let hw = HighWater::create(&path, &HashMap::new()).unwrap();
        hw.set_sync(false);
        let tenants: Vec<TenantId> = (0..50)
            .map(|i| TenantId::new(format!("tenant-{i}")))
            .collect();
        // Another process appending to the same file: its records must survive compaction.
        let other = HighWater::open(&path, &Loaded::default()).unwrap();
        other.set_sync(false);
        let stranger = TenantId::new("written-by-another-process");
        other.record(Kind::Ack, [(&stranger, &tip(7, 9))]).unwrap();
        let mut len = 0u64;
        let mut largest = 0u64;
        loop {
            len += 1;
            let t = tip(len, 1);
            hw.record(Kind::Ack, tenants.iter().map(|n| (n, &t)))
                .unwrap();
            let size = std::fs::metadata(&path).unwrap().len();
            if size < largest {
                assert!(
                    largest > COMPACT_BYTES / 2,
                    "compacted early, at {largest} bytes"
                );
                assert!(size < COMPACT_BYTES / 4, "not compacted: {size} bytes");
                break;
            }
            largest = size;
            assert!(len < 10_000, "the file was never compacted");
        }
        len += 1;
        let t = tip(len, 2);
        hw.record(Kind::Ack, tenants.iter().map(|n| (n, &t)))
            .unwrap();
        // The other process notices the new file and appends to it.
        other.record(Kind::Ack, [(&stranger, &tip(8, 9))]).unwrap();
        let loaded = load(&path).unwrap().unwrap();
        assert!(loaded.damaged.is_empty(), "{:?}", loaded.damaged);
        assert_eq!(loaded.tips.len(), 51);
        assert_eq!(loaded.tips[&tenants[17]], tip(len, 2));
        assert_eq!(loaded.tips[&stranger], tip(8, 9));
    }

    #[test]
    fn a_damaged_line_in_the_middle_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x-highwater");
        let hw = HighWater::create(&path, &HashMap::new()).unwrap();
        let t = TenantId::new("t0");
        hw.record(Kind::Ack, [(&t, &tip(5, 1))]).unwrap();
        hw.record(Kind::Ack, [(&t, &tip(6, 1))]).unwrap();
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replacen("\t5\t", "\t7\t", 1);
        std::fs::write(&path, text).unwrap();
        let loaded = load(&path).unwrap().unwrap();
        assert_eq!(loaded.damaged.len(), 1, "{:?}", loaded.damaged);
        assert_eq!(loaded.damaged[0].0, 3);
        assert_eq!(loaded.tips[&t].len, 6);
    }
}
