//! Roots and proofs over any source of complete subtree hashes (an in-memory tree, or a tree
//! kept in tiles by a store): the RFC 6962 `MTH`, `PATH` and `PROOF` recursions, reading only
//! O(log n) complete subtrees.

use super::{Frontier, Hash, MerkleError, empty_root, node_hash, split};

/// A source of the hashes of complete, aligned subtrees.
pub trait Nodes {
    /// What reading a node can fail with.
    type Error: From<MerkleError>;

    /// Leaves available.
    fn leaves(&self) -> u64;

    /// The hash of leaves `[index·2^level, (index+1)·2^level)`, which lie within
    /// [`Nodes::leaves`].
    ///
    /// # Errors
    /// A source that cannot read the node.
    fn node(&mut self, level: u32, index: u64) -> Result<Hash, Self::Error>;
}

fn check_size<N: Nodes + ?Sized>(n: &N, size: u64) -> Result<(), MerkleError> {
    if size > n.leaves() {
        return Err(MerkleError::SizeOutOfRange {
            size,
            available: n.leaves(),
        });
    }
    Ok(())
}

/// Hash of leaves `[start, start + size)`, `size ≥ 1`.
fn subtree<N: Nodes + ?Sized>(n: &mut N, start: u64, size: u64) -> Result<Hash, N::Error> {
    if size.is_power_of_two() && start.is_multiple_of(size) {
        let level = size.trailing_zeros();
        return n.node(level, start >> level);
    }
    if size <= 1 {
        return Ok(empty_root()); // unreachable for size 1 (a power of two); keeps it total
    }
    let k = split(size);
    let l = subtree(n, start, k)?;
    let r = subtree(n, start + k, size - k)?;
    Ok(node_hash(&l, &r))
}

/// The root of the first `size` leaves.
///
/// # Errors
/// [`MerkleError::SizeOutOfRange`], or the source's error.
pub fn root<N: Nodes + ?Sized>(n: &mut N, size: u64) -> Result<Hash, N::Error> {
    check_size(n, size)?;
    if size == 0 {
        return Ok(empty_root());
    }
    subtree(n, 0, size)
}

/// The frontier (compact range) of the first `size` leaves: one complete subtree per set bit.
///
/// # Errors
/// [`MerkleError::SizeOutOfRange`], or the source's error.
pub fn frontier<N: Nodes + ?Sized>(n: &mut N, size: u64) -> Result<Frontier, N::Error> {
    check_size(n, size)?;
    let mut hashes = Vec::with_capacity(size.count_ones() as usize);
    let mut start = 0u64;
    for level in (0..64u32).rev() {
        if size >> level & 1 == 1 {
            hashes.push(n.node(level, start >> level)?);
            start += 1 << level;
        }
    }
    Ok(Frontier::from_parts(size, hashes)?)
}

/// The inclusion proof of leaf `index` in the tree of the first `size` leaves, leaf upwards.
///
/// # Errors
/// [`MerkleError::SizeOutOfRange`], [`MerkleError::IndexOutOfRange`], or the source's error.
pub fn inclusion_proof<N: Nodes + ?Sized>(
    n: &mut N,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, N::Error> {
    check_size(n, size)?;
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size }.into());
    }
    let mut proof = Vec::new();
    path(n, index, 0, size, &mut proof)?;
    Ok(proof)
}

fn path<N: Nodes + ?Sized>(
    n: &mut N,
    m: u64,
    start: u64,
    size: u64,
    out: &mut Vec<Hash>,
) -> Result<(), N::Error> {
    if size <= 1 {
        return Ok(());
    }
    let k = split(size);
    if m < k {
        path(n, m, start, k, out)?;
        out.push(subtree(n, start + k, size - k)?);
    } else {
        path(n, m - k, start + k, size - k, out)?;
        out.push(subtree(n, start, k)?);
    }
    Ok(())
}

/// The consistency proof between the first `old_size` and `new_size` leaves.
///
/// # Errors
/// [`MerkleError::SizeOutOfRange`] if `old_size > new_size` or `new_size` is not available, or
/// the source's error.
pub fn consistency_proof<N: Nodes + ?Sized>(
    n: &mut N,
    old_size: u64,
    new_size: u64,
) -> Result<Vec<Hash>, N::Error> {
    check_size(n, new_size)?;
    if old_size > new_size {
        return Err(MerkleError::SizeOutOfRange {
            size: old_size,
            available: new_size,
        }
        .into());
    }
    let mut proof = Vec::new();
    if old_size > 0 && old_size < new_size {
        subproof(n, old_size, 0, new_size, true, &mut proof)?;
    }
    Ok(proof)
}

fn subproof<N: Nodes + ?Sized>(
    n: &mut N,
    m: u64,
    start: u64,
    size: u64,
    whole: bool,
    out: &mut Vec<Hash>,
) -> Result<(), N::Error> {
    if m == size {
        if !whole {
            out.push(subtree(n, start, size)?);
        }
        return Ok(());
    }
    let k = split(size);
    if m <= k {
        subproof(n, m, start, k, whole, out)?;
        out.push(subtree(n, start + k, size - k)?);
    } else {
        subproof(n, m - k, start + k, size - k, false, out)?;
        out.push(subtree(n, start, k)?);
    }
    Ok(())
}
