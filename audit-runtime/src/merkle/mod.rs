//! RFC 6962 / RFC 9162 Merkle trees: the tree hash, inclusion proofs and consistency proofs.
//!
//! Leaves are hashed as `SHA-256(0x00 || data)`, interior nodes as `SHA-256(0x01 || left ||
//! right)`, a tree of `n > 1` leaves splits at the largest power of two below `n`, and the empty
//! tree's hash is `SHA-256("")`. For `n ≥ 1` this equals the Python library's batch root (its
//! empty root differs: 32 zero bytes, W14).
//!
//! ```
//! use audit_runtime::merkle::{self, MerkleTree};
//! let leaves: Vec<_> = (0..10u8).map(|i| merkle::leaf_hash(&[i])).collect();
//! let tree = MerkleTree::new(leaves.clone());
//! let root = tree.root(10)?;
//! let proof = tree.inclusion_proof(3, 10)?;
//! merkle::verify_inclusion(&leaves[3], 3, 10, &proof, &root)?;
//! let old = tree.root(6)?;
//! let consistency = tree.consistency_proof(6, 10)?;
//! merkle::verify_consistency(6, 10, &old, &root, &consistency)?;
//! # Ok::<(), audit_runtime::merkle::MerkleError>(())
//! ```
#![deny(clippy::indexing_slicing)]

mod frontier;
pub mod nodes;

use sha2::{Digest, Sha256};

pub use frontier::Frontier;
pub use nodes::Nodes;

/// A SHA-256 tree hash.
pub type Hash = [u8; 32];

/// Why a proof could not be made or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MerkleError {
    /// A leaf index outside the tree.
    #[error("leaf index {index} is outside a tree of {size} leaves")]
    IndexOutOfRange {
        /// The index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A tree size larger than the leaves available, or an old size larger than the new one.
    #[error("tree size {size} is not available (have {available} leaves)")]
    SizeOutOfRange {
        /// The requested size.
        size: u64,
        /// What is available.
        available: u64,
    },
    /// The proof has the wrong number of hashes for the claimed position and sizes.
    #[error("the proof has {got} hashes; a proof for these sizes has {want}")]
    WrongProofSize {
        /// Hashes in the proof.
        got: usize,
        /// Hashes it should have.
        want: usize,
    },
    /// The recomputed root differs from the claimed one.
    #[error("the proof leads to root {computed}, not to the claimed root {claimed}")]
    RootMismatch {
        /// The root the proof leads to (hex).
        computed: String,
        /// The root that was claimed (hex).
        claimed: String,
    },
}

/// `SHA-256(0x00 || data)`.
#[must_use]
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
#[must_use]
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The hash of the empty tree, `SHA-256("")`.
#[must_use]
pub fn empty_root() -> Hash {
    Sha256::digest(b"").into()
}

/// The largest power of two strictly below `n` (`n ≥ 2`).
fn split(n: u64) -> u64 {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// A tree over leaf hashes that keeps every complete, aligned subtree hash, so roots and proofs
/// for any prefix of its leaves cost O(log² n) hashes at most.
#[derive(Clone, Debug, Default)]
pub struct MerkleTree {
    /// `levels[k][i]` is the hash of leaves `[i·2^k, (i+1)·2^k)`.
    levels: Vec<Vec<Hash>>,
}

impl MerkleTree {
    /// A tree over `leaf_hashes` (already `leaf_hash`ed).
    #[must_use]
    pub fn new(leaf_hashes: Vec<Hash>) -> Self {
        let mut t = Self {
            levels: vec![Vec::new()],
        };
        for h in leaf_hashes {
            t.push(h);
        }
        t
    }

    /// Appends a leaf hash: O(log n) hashes.
    pub fn push(&mut self, leaf: Hash) {
        let mut level = 0;
        let mut cur = leaf;
        loop {
            if self.levels.len() <= level {
                self.levels.push(Vec::new());
            }
            let Some(row) = self.levels.get_mut(level) else {
                return;
            };
            row.push(cur);
            if !row.len().is_multiple_of(2) {
                return;
            }
            let (Some(l), Some(r)) = (row.get(row.len() - 2), row.last()) else {
                return;
            };
            cur = node_hash(l, r);
            level += 1;
        }
    }

    /// Number of leaves.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Whether the tree has no leaves.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The root of the first `size` leaves.
    ///
    /// # Errors
    /// [`MerkleError::SizeOutOfRange`].
    pub fn root(&self, size: u64) -> Result<Hash, MerkleError> {
        nodes::root(&mut InMemory(self), size)
    }

    /// The frontier (compact range) of the first `size` leaves.
    ///
    /// # Errors
    /// [`MerkleError::SizeOutOfRange`].
    pub fn frontier(&self, size: u64) -> Result<Frontier, MerkleError> {
        nodes::frontier(&mut InMemory(self), size)
    }

    /// The inclusion proof of leaf `index` in the tree of the first `size` leaves (RFC 6962
    /// `PATH`), ordered from the leaf up.
    ///
    /// # Errors
    /// [`MerkleError::SizeOutOfRange`] or [`MerkleError::IndexOutOfRange`].
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, MerkleError> {
        nodes::inclusion_proof(&mut InMemory(self), index, size)
    }

    /// The consistency proof between the trees of the first `old_size` and `new_size` leaves
    /// (RFC 6962 `PROOF`).
    ///
    /// # Errors
    /// [`MerkleError::SizeOutOfRange`] if `old_size > new_size` or `new_size` exceeds the tree.
    pub fn consistency_proof(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<Vec<Hash>, MerkleError> {
        nodes::consistency_proof(&mut InMemory(self), old_size, new_size)
    }
}

/// A [`MerkleTree`] as a [`Nodes`] source.
struct InMemory<'a>(&'a MerkleTree);

impl Nodes for InMemory<'_> {
    type Error = MerkleError;

    fn leaves(&self) -> u64 {
        self.0.len()
    }

    fn node(&mut self, level: u32, index: u64) -> Result<Hash, MerkleError> {
        let idx = usize::try_from(index).unwrap_or(usize::MAX);
        self.0
            .levels
            .get(level as usize)
            .and_then(|l| l.get(idx))
            .copied()
            .ok_or(MerkleError::SizeOutOfRange {
                size: index.saturating_add(1) << level,
                available: self.0.len(),
            })
    }
}

fn mismatch(computed: &Hash, claimed: &Hash) -> MerkleError {
    MerkleError::RootMismatch {
        computed: hex::encode(computed),
        claimed: hex::encode(claimed),
    }
}

/// The number of hashes an inclusion proof for `index` in a tree of `size > index` leaves has:
/// the verification loop below, run without hashing.
fn inclusion_len(index: u64, size: u64) -> usize {
    let (mut fn_, mut sn, mut n) = (index, size - 1, 0usize);
    while sn > 0 {
        if fn_ & 1 == 0 && fn_ == sn {
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        }
        n += 1;
        fn_ >>= 1;
        sn >>= 1;
    }
    n
}

/// Verifies that `leaf` (a leaf hash) is at `index` in the tree of `size` leaves with `root`
/// (RFC 9162 §2.1.3.2).
///
/// # Errors
/// [`MerkleError`] naming what does not hold.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), MerkleError> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    let want = inclusion_len(index, size);
    if proof.len() != want {
        return Err(MerkleError::WrongProofSize {
            got: proof.len(),
            want,
        });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return Err(MerkleError::WrongProofSize {
                got: proof.len(),
                want,
            });
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(MerkleError::WrongProofSize {
            got: proof.len(),
            want,
        });
    }
    if r != *root {
        return Err(mismatch(&r, root));
    }
    Ok(())
}

/// Verifies that the tree of `new_size` leaves with `new_root` extends the tree of `old_size`
/// leaves with `old_root` (RFC 9162 §2.1.4.2). Equal sizes need equal roots and an empty proof.
///
/// # Errors
/// [`MerkleError`] naming what does not hold.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), MerkleError> {
    if old_size > new_size {
        return Err(MerkleError::SizeOutOfRange {
            size: old_size,
            available: new_size,
        });
    }
    if old_size == new_size || old_size == 0 {
        if !proof.is_empty() {
            return Err(MerkleError::WrongProofSize {
                got: proof.len(),
                want: 0,
            });
        }
        if old_size == new_size && old_root != new_root {
            return Err(mismatch(new_root, old_root));
        }
        return Ok(());
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut fn_, mut sn) = (old_size - 1, new_size - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let Some((first, rest)) = path.split_first() else {
        return Err(MerkleError::WrongProofSize { got: 0, want: 1 });
    };
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if sn == 0 {
            return Err(MerkleError::WrongProofSize {
                got: proof.len(),
                want: proof.len().saturating_sub(1),
            });
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(MerkleError::WrongProofSize {
            got: proof.len(),
            want: proof.len() + 1,
        });
    }
    if fr != *old_root {
        return Err(mismatch(&fr, old_root));
    }
    if sr != *new_root {
        return Err(mismatch(&sr, new_root));
    }
    Ok(())
}
