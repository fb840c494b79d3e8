//! The right-edge frontier of a tree (a "compact range" from leaf 0): the hashes of the complete
//! subtrees that cover `[0, size)`, largest first. It is all that is needed to append leaves and
//! to compute the root, in O(log n) memory.

use super::{Hash, MerkleError, empty_root, node_hash};

/// The complete subtrees covering the first `size` leaves of a tree, largest (leftmost) first.
///
/// ```
/// use audit_runtime::merkle::{self, Frontier, MerkleTree};
/// let leaves: Vec<_> = (0..7u8).map(|i| merkle::leaf_hash(&[i])).collect();
/// let mut f = Frontier::new();
/// for l in &leaves {
///     f.push(*l);
/// }
/// assert_eq!(f.root(), MerkleTree::new(leaves).root(7)?);
/// # Ok::<(), merkle::MerkleError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    hashes: Vec<Hash>,
}

impl Frontier {
    /// The frontier of the empty tree.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A frontier from its parts: `hashes` are the roots of the complete subtrees covering
    /// `[0, size)`, largest first (one per set bit of `size`).
    ///
    /// # Errors
    /// [`MerkleError::WrongProofSize`] when `hashes` does not hold one hash per set bit of `size`.
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Result<Self, MerkleError> {
        let want = size.count_ones() as usize;
        if hashes.len() != want {
            return Err(MerkleError::WrongProofSize {
                got: hashes.len(),
                want,
            });
        }
        Ok(Self { size, hashes })
    }

    /// Number of leaves covered.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The subtree hashes, largest first.
    #[must_use]
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Appends a leaf hash: O(1) amortized, O(log n) at worst.
    pub fn push(&mut self, leaf: Hash) {
        let mut h = leaf;
        let mut s = self.size;
        while s & 1 == 1 {
            let Some(left) = self.hashes.pop() else {
                break;
            };
            h = node_hash(&left, &h);
            s >>= 1;
        }
        self.hashes.push(h);
        self.size += 1;
    }

    /// The RFC 6962 root of the covered leaves (`SHA-256("")` when empty).
    #[must_use]
    pub fn root(&self) -> Hash {
        let mut it = self.hashes.iter().rev();
        let Some(last) = it.next() else {
            return empty_root();
        };
        it.fold(*last, |acc, left| node_hash(left, &acc))
    }
}
