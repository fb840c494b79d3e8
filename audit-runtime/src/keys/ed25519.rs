//! Ed25519 for one key at high volume: deterministic RFC 8032 signing from a cached expanded key
//! with a wider fixed-base table, and batch verification under a single public key.
//!
//! Both produce exactly what `ed25519-dalek` produces: signatures are byte-identical, and the batch
//! accepts exactly the signatures `verify_strict` accepts (see [`verify_batch_one_key`] for the
//! probabilities); the unit tests check that against `ed25519-dalek`.

use std::sync::OnceLock;

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsBasepointTableRadix32, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{BasepointTable as _, IsIdentity as _, VartimeMultiscalarMul as _};
use sha2::{Digest, Sha512};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// The fixed-base table. Of radix 16 (`ed25519-dalek`'s), 32, 64, 128 and 256, radix 32 measured
/// fastest here (about 8% below radix 16: fewer additions, constant-time lookups still short);
/// built once per process (about 100 KiB).
fn table() -> &'static EdwardsBasepointTableRadix32 {
    static TABLE: OnceLock<EdwardsBasepointTableRadix32> = OnceLock::new();
    TABLE.get_or_init(|| EdwardsBasepointTableRadix32::create(&ED25519_BASEPOINT_POINT))
}

/// The expanded secret (clamped scalar and nonce prefix) with the public key bytes.
#[derive(Clone)]
pub(super) struct Expanded {
    scalar: Scalar,
    prefix: [u8; 32],
    public: [u8; 32],
}

impl Zeroize for Expanded {
    fn zeroize(&mut self) {
        self.scalar.zeroize();
        self.prefix.zeroize();
    }
}

impl Drop for Expanded {
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl ZeroizeOnDrop for Expanded {}

fn wide(h: Sha512) -> Scalar {
    let mut out = [0u8; 64];
    out.copy_from_slice(&h.finalize());
    let s = Scalar::from_bytes_mod_order_wide(&out);
    out.zeroize();
    s
}

impl Expanded {
    pub(super) fn new(key: &ed25519_dalek::SigningKey) -> Self {
        let mut h = [0u8; 64];
        h.copy_from_slice(&Sha512::digest(key.as_bytes()));
        let mut low = [0u8; 32];
        let mut prefix = [0u8; 32];
        for (i, b) in h.iter().enumerate() {
            match (low.get_mut(i), prefix.get_mut(i.wrapping_sub(32))) {
                (Some(l), _) => *l = *b,
                (None, Some(p)) => *p = *b,
                (None, None) => {}
            }
        }
        h.zeroize();
        let scalar = Scalar::from_bytes_mod_order(curve25519_dalek::scalar::clamp_integer(low));
        low.zeroize();
        Self {
            scalar,
            prefix,
            public: key.verifying_key().to_bytes(),
        }
    }

    /// Pure Ed25519 (RFC 8032 §5.1.6).
    pub(super) fn sign(&self, msg: &[u8]) -> [u8; 64] {
        let r = wide(Sha512::new().chain_update(self.prefix).chain_update(msg));
        let big_r = table().mul_base(&r).compress();
        let k = wide(
            Sha512::new()
                .chain_update(big_r.as_bytes())
                .chain_update(self.public)
                .chain_update(msg),
        );
        let s = k * self.scalar + r;
        let mut sig = [0u8; 64];
        let (a, b) = sig.split_at_mut(32);
        a.copy_from_slice(big_r.as_bytes());
        b.copy_from_slice(s.as_bytes());
        sig
    }
}

/// `true` if the 32 bytes spell a y coordinate ≥ p = 2^255 − 19 (a non-canonical encoding, which
/// `verify_strict` rejects because the recomputed `R` never re-encodes to it).
fn non_canonical_y(r: &[u8; 32]) -> bool {
    let (first, rest) = r.split_at(1);
    let (middle, last) = rest.split_at(30);
    first.first().is_some_and(|b| *b >= 0xed)
        && middle.iter().all(|b| *b == 0xff)
        && last.first().is_some_and(|b| b & 0x7f == 0x7f)
}

/// Checks every `(message, signature)` under one public key with one randomized equation:
/// `Σ zᵢ·Rᵢ + (Σ zᵢ·kᵢ)·A − (Σ zᵢ·sᵢ)·B = 0`, with 128-bit random `zᵢ`. The key appears once
/// (not once per signature as in a general batch), so the multiscalar multiplication has n + 2
/// points instead of 2n + 1.
///
/// The equation alone is cofactorless only in part: it checks the prime-order part of every
/// signature (a bad one passes with probability about 2⁻¹²⁵), but torsion components of the `Rᵢ`
/// cancel whenever `Σ zᵢ·Tᵢ = 0`, which for one `R` with a component of order 2 is an even
/// `zᵢ`: such a signature (`verify_strict` refuses it; only the key holder can make one) would
/// pass every other run. So the key must be torsion-free (and not of small order, which leaves
/// out the identity: `k·A` would vanish), and [`torsion_free`] checks the `Rᵢ`
/// in [`TORSION_TESTS`] random subset sums: such a signature then passes with probability at
/// most 2⁻³², whatever else the batch holds.
///
/// `small_order_r` names `R` encodings to refuse outright. `false` if any signature is invalid
/// (or randomness is unavailable); the caller then checks one by one.
pub(super) fn verify_batch_one_key(
    key: &ed25519_dalek::VerifyingKey,
    items: &[(&[u8], [u8; 64])],
    small_order_r: &[[u8; 32]],
) -> bool {
    let n = items.len();
    // 16 bytes of zᵢ and 4 of subset bits per signature.
    let mut random = vec![0u8; n * 20];
    if getrandom::fill(&mut random).is_err() {
        return false;
    }
    let (z_bytes, mask_bytes) = random.split_at(n * 16);
    let public = key.to_bytes();
    let big_a = key.to_edwards();
    if big_a.is_small_order() || !big_a.is_torsion_free() {
        // A key with a torsion component: its signatures are checked one by one. A key of small
        // order is refused too, as `verify_strict` refuses it: the identity is torsion-free, and
        // under it `R = r·B`, `s = r` satisfies the equation for any message.
        return false;
    }
    let mut scalars = Vec::with_capacity(n + 2);
    let mut points = Vec::with_capacity(n + 2);
    let mut sum_zs = Scalar::ZERO;
    let mut sum_zk = Scalar::ZERO;
    for ((msg, sig), z16) in items.iter().zip(z_bytes.chunks_exact(16)) {
        let mut r_bytes = [0u8; 32];
        let mut s_bytes = [0u8; 32];
        let (r, s) = sig.split_at(32);
        r_bytes.copy_from_slice(r);
        s_bytes.copy_from_slice(s);
        if small_order_r.contains(&r_bytes) || non_canonical_y(&r_bytes) {
            return false;
        }
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)) else {
            return false;
        };
        let Some(big_r) = CompressedEdwardsY(r_bytes).decompress() else {
            return false;
        };
        let k = wide(
            Sha512::new()
                .chain_update(r_bytes)
                .chain_update(public)
                .chain_update(msg),
        );
        let mut zb = [0u8; 32];
        let (lo, _) = zb.split_at_mut(16);
        lo.copy_from_slice(z16);
        let z = Scalar::from_bytes_mod_order(zb);
        sum_zs += z * s;
        sum_zk += z * k;
        scalars.push(z);
        points.push(big_r);
    }
    let masks: Vec<u32> = mask_bytes
        .chunks_exact(4)
        .map(|b| b.iter().fold(0u32, |m, x| (m << 8) | u32::from(*x)))
        .collect();
    if !torsion_free(&points, &masks) {
        return false;
    }
    scalars.push(sum_zk);
    points.push(big_a);
    scalars.push(-sum_zs);
    points.push(ED25519_BASEPOINT_POINT);
    EdwardsPoint::vartime_multiscalar_mul(scalars, points).is_identity()
}

/// Subset-sum tests run by [`torsion_free`].
const TORSION_TESTS: usize = 32;

/// `true` if no point carries a torsion component, except with probability at most
/// 2^−[`TORSION_TESTS`] when one does (and always when none does).
///
/// Test `j` sums the points whose mask has bit `j` set and checks that the sum is torsion-free
/// (`l·S = 0`). Each test misses a nonzero sum of torsion components `Σ wᵢ·Tᵢ` (`wᵢ` random
/// bits) with probability at most 1/2: given the other bits, at most one value of the bit of a
/// point with a nonzero `Tᵢ` cancels it. The sums are built four points at a time from a table
/// of their 16 subset sums, about 11 point additions per point in all, against the roughly 50
/// the one `l·Rᵢ` per point would cost.
fn torsion_free(points: &[EdwardsPoint], masks: &[u32]) -> bool {
    use curve25519_dalek::traits::Identity as _;
    let mut sums = [EdwardsPoint::identity(); TORSION_TESTS];
    for (four, bits) in points.chunks(4).zip(masks.chunks(4)) {
        let mut table = [EdwardsPoint::identity(); 16];
        for (i, p) in four.iter().enumerate() {
            let bit = 1usize << i;
            if let Some(t) = table.get_mut(bit) {
                *t = *p;
            }
            for m in 1..bit {
                if let Some(sum) = table.get(m).map(|t| t + p)
                    && let Some(t) = table.get_mut(bit | m)
                {
                    *t = sum;
                }
            }
        }
        for (j, sum) in sums.iter_mut().enumerate() {
            let index = bits
                .iter()
                .enumerate()
                .fold(0usize, |x, (i, w)| x | ((((w >> j) & 1) as usize) << i));
            if index != 0
                && let Some(t) = table.get(index)
            {
                *sum += t;
            }
        }
    }
    sums.iter().all(EdwardsPoint::is_torsion_free)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::Signer as _;

    fn key(seed: u8) -> ed25519_dalek::SigningKey {
        ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn signatures_equal_ed25519_dalek() {
        for seed in 0..20u8 {
            let k = key(seed);
            let e = Expanded::new(&k);
            for len in [0usize, 1, 31, 32, 64, 127, 128, 700, 1500] {
                let msg: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(seed)).collect();
                assert_eq!(
                    e.sign(&msg),
                    k.sign(&msg).to_bytes(),
                    "seed {seed} len {len}"
                );
            }
        }
    }

    #[test]
    fn batch_accepts_valid_and_refuses_any_bad_item() {
        let k = key(9);
        let e = Expanded::new(&k);
        let msgs: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 100 + usize::from(i)]).collect();
        let sigs: Vec<[u8; 64]> = msgs.iter().map(|m| e.sign(m)).collect();
        let vk = k.verifying_key();
        let items: Vec<(&[u8], [u8; 64])> = msgs.iter().map(|m| &m[..]).zip(sigs).collect();
        assert!(verify_batch_one_key(&vk, &items, &[]));
        for bad in [0usize, 17, 39] {
            for byte in [0usize, 31, 32, 63] {
                let mut v = items.clone();
                v[bad].1[byte] ^= 0x04;
                assert!(
                    !verify_batch_one_key(&vk, &v, &[]),
                    "item {bad} byte {byte}"
                );
            }
            let mut v = items.clone();
            let other = b"another message".to_vec();
            v[bad].0 = &other;
            assert!(!verify_batch_one_key(&vk, &v, &[]));
        }
        // Another key's valid signatures.
        let other = key(10).verifying_key();
        assert!(!verify_batch_one_key(&other, &items, &[]));
    }

    /// A signature whose `R` carries a torsion component of order `order`: `s` fits `R` as the
    /// key holder would compute it, so the prime-order part of the equation holds, and only the
    /// torsion tells it from a valid one.
    fn torsion_signature(e: &Expanded, msg: &[u8], order: u64) -> [u8; 64] {
        use curve25519_dalek::constants::EIGHT_TORSION;
        let t = EIGHT_TORSION[usize::try_from(8 / order).unwrap()];
        let r = Scalar::from(0x5eed_u64 + order);
        let big_r = (table().mul_base(&r) + t).compress();
        let k = wide(
            Sha512::new()
                .chain_update(big_r.as_bytes())
                .chain_update(e.public)
                .chain_update(msg),
        );
        let s = k * e.scalar + r;
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(big_r.as_bytes());
        sig[32..].copy_from_slice(s.as_bytes());
        sig
    }

    #[test]
    fn batch_refuses_an_r_with_a_torsion_component_every_time() {
        let k = key(11);
        let e = Expanded::new(&k);
        let vk = k.verifying_key();
        let msgs: Vec<Vec<u8>> = (0..50u8).map(|i| vec![i; 80]).collect();
        let valid: Vec<(&[u8], [u8; 64])> = msgs.iter().map(|m| (&m[..], e.sign(m))).collect();
        assert!(verify_batch_one_key(&vk, &valid, &[]));
        for order in [2u64, 4, 8] {
            let bad = torsion_signature(&e, &msgs[7], order);
            // What `verify_strict` (and OpenSSL, libsodium) says; the cofactored equation holds.
            assert!(
                vk.verify_strict(&msgs[7], &ed25519_dalek::Signature::from_bytes(&bad))
                    .is_err()
            );
            let mut one = valid.clone();
            one[7].1 = bad;
            // Two that cancel in any equation with odd weights: the same component twice.
            let mut two = one.clone();
            two[30].1 = torsion_signature(&e, &msgs[30], order);
            // Without the subset tests, an order-2 component passes about every other run.
            for run in 0..64 {
                assert!(
                    !verify_batch_one_key(&vk, &one, &[]),
                    "order {order} run {run}"
                );
                assert!(
                    !verify_batch_one_key(&vk, &two, &[]),
                    "order {order} run {run}"
                );
                assert!(!verify_batch_one_key(&vk, &one[7..8], &[]), "order {order}");
            }
        }
    }

    #[test]
    fn subset_tests_find_any_torsion_and_pass_none() {
        use curve25519_dalek::constants::EIGHT_TORSION;
        let clean: Vec<EdwardsPoint> = (1..=37u64)
            .map(|i| table().mul_base(&Scalar::from(i)))
            .collect();
        let masks: Vec<u32> = (0..37u32).map(|i| i.wrapping_mul(0x9e37_79b9)).collect();
        assert!(torsion_free(&clean, &masks));
        for (at, t) in [(0usize, 4usize), (36, 1), (17, 2), (4, 6)] {
            let mut p = clean.clone();
            p[at] += EIGHT_TORSION[t];
            // A point in every subset is found by the first test.
            let mut all = masks.clone();
            all[at] = u32::MAX;
            assert!(!torsion_free(&p, &all), "point {at} torsion {t}");
            // A point in no subset cannot be.
            let mut none = masks.clone();
            none[at] = 0;
            assert!(torsion_free(&p, &none), "point {at} torsion {t}");
        }
    }

    #[test]
    fn batch_refuses_non_canonical_s_and_r() {
        let k = key(3);
        let e = Expanded::new(&k);
        let msg = b"m".to_vec();
        let mut sig = e.sign(&msg);
        // s + l is the same scalar, non-canonical.
        let l: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut carry = 0u16;
        for (i, li) in l.iter().enumerate() {
            let v = u16::from(sig[32 + i]) + u16::from(*li) + carry;
            sig[32 + i] = (v & 0xff) as u8;
            carry = v >> 8;
        }
        let vk = k.verifying_key();
        assert!(!verify_batch_one_key(&vk, &[(&msg[..], sig)], &[]));
        let mut r = [0xffu8; 32];
        r[0] = 0xf0;
        r[31] = 0x7f;
        assert!(non_canonical_y(&r));
        r[0] = 0xec;
        assert!(!non_canonical_y(&r));
    }
}
