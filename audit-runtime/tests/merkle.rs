//! RFC 6962 / 9162 trees: known answers, the Python library's batch seal, and properties over
//! every size up to 2048.
#![expect(
    clippy::unwrap_used,
    reason = "a broken fixture should fail the test loudly"
)]

use std::path::PathBuf;

use audit_runtime::VerifyingKey;
use audit_runtime::canonical::{parse_line, seal_payload};
use audit_runtime::merkle::{
    Hash, MerkleError, MerkleTree, empty_root, leaf_hash, node_hash, verify_consistency,
    verify_inclusion,
};

fn h(hex_str: &str) -> Hash {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_str, &mut out).unwrap();
    out
}

/// The reference definition, written independently of the tree: RFC 6962 §2.1 MTH.
fn mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

#[test]
fn roots_match_the_rfc_6962_test_vectors() {
    // The eight leaf inputs of the RFC 6962 test data (certificate-transparency / transparency-dev).
    let inputs: [&[u8]; 8] = [
        b"",
        &[0x00],
        &[0x10],
        &[0x20, 0x21],
        &[0x30, 0x31],
        &[0x40, 0x41, 0x42, 0x43],
        &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
        &[
            0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d,
            0x6e, 0x6f,
        ],
    ];
    let roots = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    let tree = MerkleTree::new(inputs.iter().map(|d| leaf_hash(d)).collect());
    for (i, want) in roots.iter().enumerate() {
        assert_eq!(
            hex::encode(tree.root(i as u64 + 1).unwrap()),
            *want,
            "size {}",
            i + 1
        );
    }
    assert_eq!(
        hex::encode(tree.root(0).unwrap()),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[test]
fn the_python_batch_seal_root_and_inclusion_proof_verify() {
    let dir = std::env::var_os("AI_AUDIT_VECTORS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors"),
        PathBuf::from,
    );
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("batch_seal_10.json")).unwrap()).unwrap();
    let data = std::fs::read_to_string(dir.join("receipts.jsonl")).unwrap();
    // Leaf data is each receipt's v1 seal payload (what Python's MerkleBatcher hashes).
    let leaves: Vec<Hash> = data
        .lines()
        .take(10)
        .map(|l| leaf_hash(&seal_payload(&parse_line(l.as_bytes()).unwrap().receipt).unwrap()))
        .collect();
    let want: Vec<Hash> = v["leaf_hashes_hex"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| h(x.as_str().unwrap()))
        .collect();
    assert_eq!(leaves, want);
    let tree = MerkleTree::new(leaves.clone());
    let root = tree.root(10).unwrap();
    assert_eq!(
        hex::encode(root),
        v["seal"]["merkle_root"].as_str().unwrap()
    );
    let ours = tree.inclusion_proof(3, 10).unwrap();
    let theirs: Vec<Hash> = v["inclusion_proof_leaf_3"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| h(p["sibling_hex"].as_str().unwrap()))
        .collect();
    assert_eq!(ours, theirs, "the same siblings, leaf to root");
    verify_inclusion(&leaves[3], 3, 10, &theirs, &root).unwrap();
    // The seal's signature covers its orjson payload.
    let key = VerifyingKey::from_hex(v["public_key_hex"].as_str().unwrap()).unwrap();
    let mut sig = [0u8; 64];
    hex::decode_to_slice(v["seal"]["signature"].as_str().unwrap(), &mut sig).unwrap();
    assert!(key.verify_strict(v["seal_payload_utf8"].as_str().unwrap().as_bytes(), &sig));
}

fn leaves(n: usize) -> Vec<Hash> {
    (0..n as u32).map(|i| leaf_hash(&i.to_le_bytes())).collect()
}

#[test]
fn roots_and_inclusion_proofs_hold_for_every_size_up_to_2048() {
    let all = leaves(2048);
    let tree = MerkleTree::new(all.clone());
    let mut naive_checked = 0;
    for n in 1..=2048u64 {
        let root = tree.root(n).unwrap();
        if n <= 130 || n % 97 == 0 || n.is_power_of_two() || n == 2048 {
            assert_eq!(root, mth(&all[..n as usize]), "size {n}");
            naive_checked += 1;
        }
        // Every leaf of every size (2,098,176 proofs).
        for i in 0..n {
            let proof = tree.inclusion_proof(i, n).unwrap();
            verify_inclusion(&all[i as usize], i, n, &proof, &root).unwrap();
        }
    }
    assert!(naive_checked > 140);
}

#[test]
fn consistency_proofs_hold_between_sizes() {
    let all = leaves(600);
    let tree = MerkleTree::new(all);
    for new in 1..=600u64 {
        let new_root = tree.root(new).unwrap();
        let olds: Vec<u64> = if new <= 64 {
            (0..=new).collect()
        } else {
            vec![0, 1, 2, new / 3, new / 2, new - 1, new, 64]
        };
        for old in olds {
            let proof = tree.consistency_proof(old, new).unwrap();
            let res = verify_consistency(old, new, &tree.root(old).unwrap(), &new_root, &proof);
            assert!(res.is_ok(), "{old} -> {new}: {res:?}");
        }
    }
}

fn flip(h: &Hash, bit: usize) -> Hash {
    let mut x = *h;
    x[bit / 8] ^= 1 << (bit % 8);
    x
}

#[test]
fn any_single_bit_change_to_a_proof_root_or_leaf_fails() {
    let all = leaves(37);
    let tree = MerkleTree::new(all.clone());
    let root = tree.root(37).unwrap();
    let proof = tree.inclusion_proof(21, 37).unwrap();
    for bit in 0..256 {
        assert!(verify_inclusion(&flip(&all[21], bit), 21, 37, &proof, &root).is_err());
        assert!(verify_inclusion(&all[21], 21, 37, &proof, &flip(&root, bit)).is_err());
        for j in 0..proof.len() {
            let mut p = proof.clone();
            p[j] = flip(&p[j], bit);
            assert!(verify_inclusion(&all[21], 21, 37, &p, &root).is_err());
        }
    }
    // Wrong position, wrong size, truncated or padded proofs.
    assert!(verify_inclusion(&all[21], 20, 37, &proof, &root).is_err());
    // A size with another proof shape fails. (A size with the same shape, e.g. 38, recomputes the
    // same root: an inclusion proof binds the size only through the signed checkpoint it is
    // checked against, as in RFC 9162.)
    assert!(verify_inclusion(&all[21], 21, 80, &proof, &root).is_err());
    assert!(matches!(
        verify_inclusion(&all[21], 21, 37, &proof[..proof.len() - 1], &root),
        Err(MerkleError::WrongProofSize { .. })
    ));
    let mut longer = proof.clone();
    longer.push(root);
    assert!(matches!(
        verify_inclusion(&all[21], 21, 37, &longer, &root),
        Err(MerkleError::WrongProofSize { .. })
    ));
    assert!(matches!(
        verify_inclusion(&all[21], 37, 37, &proof, &root),
        Err(MerkleError::IndexOutOfRange { .. })
    ));

    let old = tree.root(20).unwrap();
    let cproof = tree.consistency_proof(20, 37).unwrap();
    verify_consistency(20, 37, &old, &root, &cproof).unwrap();
    for bit in 0..256 {
        assert!(verify_consistency(20, 37, &flip(&old, bit), &root, &cproof).is_err());
        assert!(verify_consistency(20, 37, &old, &flip(&root, bit), &cproof).is_err());
        for j in 0..cproof.len() {
            let mut p = cproof.clone();
            p[j] = flip(&p[j], bit);
            assert!(verify_consistency(20, 37, &old, &root, &p).is_err());
        }
    }
    assert!(verify_consistency(21, 37, &old, &root, &cproof).is_err());
    assert!(verify_consistency(20, 100, &old, &root, &cproof).is_err());
    assert!(verify_consistency(37, 20, &root, &old, &[]).is_err());
}

#[test]
fn a_rollback_or_a_fork_is_not_consistent() {
    let honest = MerkleTree::new(leaves(50));
    let old_root = honest.root(40).unwrap();
    // A fork: the same first 39 leaves, then different history, same size as the honest tree.
    let mut forked = leaves(39);
    forked.extend((0..11u32).map(|i| leaf_hash(&(1000 + i).to_le_bytes())));
    let fork = MerkleTree::new(forked);
    let proof = fork.consistency_proof(40, 50).unwrap();
    assert!(verify_consistency(40, 50, &old_root, &fork.root(50).unwrap(), &proof).is_err());
    // A rollback: a smaller tree cannot extend a larger one.
    assert!(honest.consistency_proof(45, 40).is_err());
    assert!(verify_consistency(45, 40, &honest.root(45).unwrap(), &old_root, &[]).is_err());
}

#[test]
fn asking_beyond_the_tree_is_an_error_not_a_panic() {
    let tree = MerkleTree::new(leaves(5));
    assert!(tree.root(6).is_err());
    assert!(tree.inclusion_proof(5, 5).is_err());
    assert!(tree.inclusion_proof(0, 6).is_err());
    assert!(tree.consistency_proof(2, 6).is_err());
    assert!(MerkleTree::default().inclusion_proof(0, 0).is_err());
    assert_eq!(MerkleTree::default().root(0).unwrap(), empty_root());
}
