//! Published Ed25519 vectors for single and batch verification.
//!
//! Every vector is checked four ways, each of which must agree with
//! `ed25519_dalek::VerifyingKey::verify_strict`: our [`VerifyingKey::verify_strict`], the batch
//! verifier [`super::ed25519::verify_batch_one_key`] on the vector alone, the batch on the vector
//! mixed with other signatures under the same key, and the rule the chain verifier applies
//! (`verify::check_lines`: the batch, and one by one when it fails). The batch is randomized, so
//! each batch check runs many times.
//!
//! The batch is allowed one asymmetry, which is its documented contract: it may answer `false`
//! for a batch of valid signatures whose key or `R` carries a torsion component (then the caller
//! checks one by one and `verify_strict` decides); it must never answer `true` for a signature
//! `verify_strict` rejects.
//!
//! Sources (data copied as published, hex):
//! - RFC 8032 §7.1, "Test Vectors for Ed25519": TEST 1, TEST 2, TEST 3, TEST 1024 and TEST
//!   SHA(abc).
//! - K. Chalkias, F. Garillot, V. Nikolaenko, "Taming the many EdDSAs" (SSR 2020, IACR ePrint
//!   2020/1244): the 12 edge cases of its table, as published in the `cases.txt` of
//!   github.com/novifinancial/ed25519-speccheck (commit 2297da78dbbf8b2ace6b807208d09a3460ac67b8).
//!   Two more from an earlier revision of that file (commit
//!   c4196232fd2dee9f81083f8d9eb32212de921bd1) whose `R` is y = p, a non-canonical encoding of a
//!   point of order 4, are kept as extra cases.

use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::CompressedEdwardsY;
use curve25519_dalek::scalar::Scalar;
use sha2::{Digest as _, Sha512};

use super::ed25519::verify_batch_one_key;
use super::{SMALL_ORDER_R, SigningKey, VerifyingKey};

/// A batch item: message and signature.
type Item<'a> = (&'a [u8], [u8; 64]);

/// Runs of every randomized batch check.
const RUNS: usize = 32;

fn bytes(hex: &str) -> Vec<u8> {
    let clean: String = hex.split_whitespace().collect();
    hex::decode(clean).unwrap()
}

fn array<const N: usize>(hex: &str) -> [u8; N] {
    bytes(hex).try_into().unwrap()
}

/// `ed25519_dalek`'s `verify_strict`, the reference; `false` when the key does not even decode.
fn dalek_strict(public: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
    ed25519_dalek::VerifyingKey::from_bytes(public).is_ok_and(|k| {
        k.verify_strict(msg, &ed25519_dalek::Signature::from_bytes(sig))
            .is_ok()
    })
}

/// The batch verifier as the crate calls it (with the small-order `R` list), `RUNS` times:
/// `Some(answer)` if every run gave the same answer, `None` if runs disagreed.
fn batch(key: &ed25519_dalek::VerifyingKey, items: &[Item<'_>]) -> Option<bool> {
    let first = verify_batch_one_key(key, items, &SMALL_ORDER_R);
    (1..RUNS)
        .all(|_| verify_batch_one_key(key, items, &SMALL_ORDER_R) == first)
        .then_some(first)
}

/// What the chain verifier concludes for each item: all valid if the batch passes, else each
/// one by `verify_strict`.
fn chain_rule(key: &ed25519_dalek::VerifyingKey, items: &[Item<'_>]) -> Vec<bool> {
    let all = verify_batch_one_key(key, items, &SMALL_ORDER_R);
    items
        .iter()
        .map(|(m, s)| {
            all || key
                .verify_strict(m, &ed25519_dalek::Signature::from_bytes(s))
                .is_ok()
        })
        .collect()
}

/// The checks every vector goes through alone; `strict` is the reference answer.
fn check_alone(name: &str, public: &[u8; 32], msg: &[u8], sig: &[u8; 64], strict: bool) {
    // Our single verification, when the key is one we accept at all.
    match VerifyingKey::from_bytes(public) {
        Ok(k) => {
            assert_eq!(k.verify_strict(msg, sig), strict, "{name}: verify_strict");
            for _ in 0..RUNS {
                let ok = k.verify_strict_batch(&[(msg, *sig)]);
                assert!(
                    !ok || strict,
                    "{name}: verify_strict_batch passed a rejected vector"
                );
            }
        }
        // A key we refuse is one `verify_strict` rejects every signature under (small order).
        Err(_) => assert!(!strict, "{name}: refused a key verify_strict accepts"),
    }
    let Ok(dalek) = ed25519_dalek::VerifyingKey::from_bytes(public) else {
        assert!(!strict, "{name}");
        return;
    };
    let alone = batch(&dalek, &[(msg, *sig)]);
    assert!(
        alone.is_some(),
        "{name}: the batch answer varies between runs"
    );
    let alone = alone == Some(true);
    assert!(
        !alone || strict,
        "{name}: the batch passed a vector verify_strict rejects"
    );
    // Where the batch is meant to decide (no torsion anywhere), it decides as verify_strict.
    let r = CompressedEdwardsY(sig[..32].try_into().unwrap()).decompress();
    let torsion_free = dalek.to_edwards().is_torsion_free()
        && !dalek.to_edwards().is_small_order()
        && r.is_some_and(|r| r.is_torsion_free());
    if strict && torsion_free {
        assert!(alone, "{name}: the batch refused a valid signature");
    }
    for _ in 0..RUNS {
        assert_eq!(
            chain_rule(&dalek, &[(msg, *sig)]),
            [strict],
            "{name}: chain rule"
        );
    }
}

/// An RFC 8032 §7.1 vector: secret seed, public key, message, signature.
struct Rfc {
    name: &'static str,
    seed: &'static str,
    public: &'static str,
    msg: &'static str,
    sig: &'static str,
}

/// RFC 8032 §7.1 (the message of TEST SHA(abc) is SHA-512("abc")).
const RFC8032: [Rfc; 5] = [
    Rfc {
        name: "TEST 1",
        seed: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        public: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        msg: "",
        sig: "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155
              5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    },
    Rfc {
        name: "TEST 2",
        seed: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        public: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        msg: "72",
        sig: "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da
              085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    },
    Rfc {
        name: "TEST 3",
        seed: "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        public: "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        msg: "af82",
        sig: "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac
              18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    },
    Rfc {
        name: "TEST 1024",
        seed: "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
        public: "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
        msg: "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98
              fa6e264bf09efe12ee50f8f54e9f77b1e355f6c50544e23fb1433ddf73be84d8
              79de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d
              658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc
              1a858efcb8550ee3a5e1998bd177e93a7363c344fe6b199ee5d02e82d522c4fe
              ba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e
              06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbef
              efd75499da96bd68a8a97b928a8bbc103b6621fcde2beca1231d206be6cd9ec7
              aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed1
              85ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2
              d17ba70eb6248e594e1a2297acbbb39d502f1a8c6eb6f1ce22b3de1a1f40cc24
              554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f270
              88d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc
              2732e69485bbc9c90bfbd62481d9089beccf80cfe2df16a2cf65bd92dd597b07
              07e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128ba
              b27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51a
              ddd3b75a2b1ae0784504df543af8969be3ea7082ff7fc9888c144da2af58429e
              c96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb7
              51fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c
              42f58c30c04aafdb038dda0847dd988dcda6f3bfd15c4b4c4525004aa06eeff8
              ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34df
              f7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08
              d78ff4ef5d63653a65040cf9bfd4aca7984a74d37145986780fc0b16ac451649
              de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e4
              88acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a3
              2ef5b52a1ecc820e308aa342721aac0943bf6686b64b2579376504ccc493d97e
              6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5f
              b93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b5
              0d334ba77c225bc307ba537152f3f1610e4eafe595f6d9d90d11faa933a15ef1
              369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380d
              b2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c
              0618983f8741c5ef68d3a101e8a3b8cac60c905c15fc910840b94c00a0b9d0",
        sig: "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350
              aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03",
    },
    Rfc {
        name: "TEST SHA(abc)",
        seed: "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
        public: "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
        msg: "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a
              2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        sig: "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b589
              09351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
    },
];

#[test]
fn rfc8032_vectors_sign_and_verify_alone() {
    for v in &RFC8032 {
        let sk = SigningKey::from_seed(&array(v.seed));
        let public: [u8; 32] = array(v.public);
        let msg = bytes(v.msg);
        let sig: [u8; 64] = array(v.sig);
        assert_eq!(sk.verifying_key().to_bytes(), public, "{}", v.name);
        assert_eq!(sk.sign(&msg), sig, "{}: our signature", v.name);
        assert!(dalek_strict(&public, &msg, &sig), "{}", v.name);
        check_alone(v.name, &public, &msg, &sig, true);
    }
    assert_eq!(bytes(RFC8032[3].msg).len(), 1023);
    assert_eq!(bytes(RFC8032[4].msg), Sha512::digest(b"abc").to_vec());
}

#[test]
fn rfc8032_vectors_altered_anywhere_are_refused_alone() {
    for v in &RFC8032 {
        let public: [u8; 32] = array(v.public);
        let msg = bytes(v.msg);
        let sig: [u8; 64] = array(v.sig);
        for at in [0usize, 13, 31, 32, 45, 63] {
            let mut bad = sig;
            bad[at] ^= 0x20;
            let strict = dalek_strict(&public, &msg, &bad);
            assert!(!strict, "{} byte {at}", v.name);
            check_alone(v.name, &public, &msg, &bad, strict);
        }
        let mut other = msg.clone();
        other.push(0);
        check_alone(v.name, &public, &other, &sig, false);
    }
}

#[test]
fn rfc8032_vectors_pass_and_fail_mixed_into_batches_under_their_key() {
    for v in &RFC8032 {
        let sk = SigningKey::from_seed(&array(v.seed));
        let dalek = ed25519_dalek::VerifyingKey::from_bytes(&array(v.public)).unwrap();
        let vk = sk.verifying_key();
        let msg = bytes(v.msg);
        let sig: [u8; 64] = array(v.sig);
        let others: Vec<Vec<u8>> = (0..23u8).map(|i| vec![i; usize::from(i) * 7]).collect();
        for at in [0usize, 11, 23] {
            let mut items: Vec<Item<'_>> = others.iter().map(|m| (&m[..], sk.sign(m))).collect();
            items.insert(at, (&msg[..], sig));
            assert_eq!(batch(&dalek, &items), Some(true), "{} at {at}", v.name);
            assert!(vk.verify_strict_batch(&items), "{} at {at}", v.name);
            // The vector altered, among valid signatures: refused every run, and the chain rule
            // names exactly that one.
            let mut bad = items.clone();
            bad[at].1[40] ^= 1;
            assert_eq!(batch(&dalek, &bad), Some(false), "{} at {at}", v.name);
            let verdicts = chain_rule(&dalek, &bad);
            for (i, ok) in verdicts.iter().enumerate() {
                assert_eq!(*ok, i != at, "{} at {at}: item {i}", v.name);
            }
        }
    }
}

/// One case of "Taming the many EdDSAs": message, public key, signature, and whether
/// `verify_strict` accepts it (the paper's "Dalek strict" row: only case 3).
struct Edge {
    case: &'static str,
    msg: &'static str,
    public: &'static str,
    sig: &'static str,
    strict: bool,
}

/// The edge cases, in the order of ed25519-speccheck's `cases.txt`. What each exercises
/// ("small": of order dividing 8; "mixed": a torsion component plus a prime-order one; checked
/// by decoding the points): 0 small A, small R, S = 0; 1 small A, mixed R; 2 mixed A, small R;
/// 3 and 4 mixed A and R (3 satisfies the cofactorless equation, 4 only the cofactored one);
/// 5 mixed A, prime-order R (the paper's pre-reduced-scalar case); 6 S ≥ L; 7 S ≫ L (top bits
/// set); 8 and 9 mixed A, small R spelled non-canonically (y = −1 with the sign bit set, i.e.
/// x = −0); 10 and 11 small A spelled that way, mixed R.
const TAMING: [Edge; 14] = [
    Edge {
        case: "0",
        msg: "8c93255d71dcab10e8f379c26200f3c7bd5f09d9bc3068d3ef4edeb4853022b6",
        public: "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        sig: "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a
              0000000000000000000000000000000000000000000000000000000000000000",
        strict: false,
    },
    Edge {
        case: "1",
        msg: "9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79",
        public: "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        sig: "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43
              a5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04",
        strict: false,
    },
    Edge {
        case: "2",
        msg: "aebf3f2601a0c8c5d39cc7d8911642f740b78168218da8471772b35f9d35b9ab",
        public: "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
        sig: "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa
              8c4bd45aecaca5b24fb97bc10ac27ac8751a7dfe1baff8b953ec9f5833ca260e",
        strict: false,
    },
    Edge {
        case: "3",
        msg: "9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79",
        public: "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
        sig: "9046a64750444938de19f227bb80485e92b83fdb4b6506c160484c016cc1852f
              87909e14428a7a1d62e9f22f3d3ad7802db02eb2e688b6c52fcd6648a98bd009",
        strict: true,
    },
    Edge {
        case: "4",
        msg: "e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c",
        public: "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
        sig: "160a1cb0dc9c0258cd0a7d23e94d8fa878bcb1925f2c64246b2dee1796bed512
              5ec6bc982a269b723e0668e540911a9a6a58921d6925e434ab10aa7940551a09",
        strict: false,
    },
    Edge {
        case: "5",
        msg: "e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c",
        public: "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
        sig: "21122a84e0b5fca4052f5b1235c80a537878b38f3142356b2c2384ebad4668b7
              e40bc836dac0f71076f9abe3a53f9c03c1ceeeddb658d0030494ace586687405",
        strict: false,
    },
    Edge {
        case: "6",
        msg: "85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40",
        public: "442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623",
        sig: "e96f66be976d82e60150baecff9906684aebb1ef181f67a7189ac78ea23b6c0e
              547f7690a0e2ddcd04d87dbc3490dc19b3b3052f7ff0538cb68afb369ba3a514",
        strict: false,
    },
    Edge {
        case: "7",
        msg: "85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40",
        public: "442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623",
        sig: "8ce5b96c8f26d0ab6c47958c9e68b937104cd36e13c33566acd2fe8d38aa1942
              7e71f98a473474f2f13f06f97c20d58cc3f54b8bd0d272f42b695dd7e89a8c22",
        strict: false,
    },
    Edge {
        case: "8",
        msg: "9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41",
        public: "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
        sig: "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff
              03be9678ac102edcd92b0210bb34d7428d12ffc5df5f37e359941266a4e35f0f",
        strict: false,
    },
    Edge {
        case: "9",
        msg: "9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41",
        public: "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
        sig: "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff
              ca8c5b64cd208982aa38d4936621a4775aa233aa0505711d8fdcfdaa943d4908",
        strict: false,
    },
    Edge {
        case: "10",
        msg: "e96b7021eb39c1a163b6da4e3093dcd3f21387da4cc4572be588fafae23c155b",
        public: "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        sig: "a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dc
              a5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04",
        strict: false,
    },
    Edge {
        case: "11",
        msg: "39a591f5321bbe07fd5a23dc2f39d025d74526615746727ceefd6e82ae65c06f",
        public: "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        sig: "a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dc
              a5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04",
        strict: false,
    },
    // The earlier revision's cases 8 and 9: R is y = p (0 + p), a point of order 4.
    Edge {
        case: "8 (earlier revision)",
        msg: "fdaebc429f4a735932a160da1301080c13280eea8bc280d1b392c6b9e6ba3a5a",
        public: "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
        sig: "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f
              454d370c8d9fc323a41450f8d513eafeb5b0697390c1e505a0d4ddc71f566607",
        strict: false,
    },
    Edge {
        case: "9 (earlier revision)",
        msg: "84b698d39be126ff55fe45079e6c8bf64a0d7db6994560b4e96b7021eb39c1a1",
        public: "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
        sig: "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f
              084d5b99c2a9463d9c8bd5026916996984eeec87ddf1d3be329006ace1b37b09",
        strict: false,
    },
];

#[test]
fn taming_the_many_eddsas_cases_agree_with_verify_strict_alone() {
    for e in &TAMING {
        let public: [u8; 32] = array(e.public);
        let msg = bytes(e.msg);
        let sig: [u8; 64] = array(e.sig);
        let name = format!("case {}", e.case);
        // The data is what the paper says it is: only case 3 passes verify_strict.
        assert_eq!(dalek_strict(&public, &msg, &sig), e.strict, "{name}");
        check_alone(&name, &public, &msg, &sig, e.strict);
    }
}

#[test]
fn taming_the_many_eddsas_cases_agree_with_verify_strict_in_batches_under_their_key() {
    // Every subset of the cases sharing a key, in both orders.
    let mut keys: Vec<&str> = TAMING.iter().map(|e| e.public).collect();
    keys.sort_unstable();
    keys.dedup();
    for public in keys {
        let Ok(dalek) = ed25519_dalek::VerifyingKey::from_bytes(&array(public)) else {
            continue;
        };
        let cases: Vec<(&Edge, Vec<u8>, [u8; 64])> = TAMING
            .iter()
            .filter(|e| e.public == public)
            .map(|e| (e, bytes(e.msg), array(e.sig)))
            .collect();
        for subset in 1..(1u32 << cases.len()) {
            let mut picked: Vec<(&Edge, Item<'_>)> = cases
                .iter()
                .enumerate()
                .filter(|(i, _)| subset & (1 << i) != 0)
                .map(|(_, (e, m, s))| (*e, (&m[..], *s)))
                .collect();
            for _ in 0..2 {
                let items: Vec<Item<'_>> = picked.iter().map(|(_, it)| *it).collect();
                let want: Vec<bool> = picked.iter().map(|(e, _)| e.strict).collect();
                let all_valid = want.iter().all(|v| *v);
                let got = batch(&dalek, &items);
                assert!(got.is_some(), "key {public} subset {subset:b}: varies");
                assert!(
                    got == Some(false) || all_valid,
                    "key {public} subset {subset:b}: the batch passed a rejected case"
                );
                assert_eq!(
                    chain_rule(&dalek, &items),
                    want,
                    "key {public} subset {subset:b}"
                );
                picked.reverse();
            }
        }
    }
}

/// A signature over `msg` by the key of `seed` whose `R` is `r_enc` (any 32 bytes) and whose
/// `S` fits it as the key holder would compute it for `R = r·B + (torsion)`: `S = r + k·a`, with
/// `k` hashed over `r_enc` as given.
fn forced_r(seed: &[u8; 32], msg: &[u8], r_enc: [u8; 32], r: Scalar) -> [u8; 64] {
    let h: [u8; 64] = Sha512::digest(seed).into();
    let a = Scalar::from_bytes_mod_order(curve25519_dalek::scalar::clamp_integer(
        h[..32].try_into().unwrap(),
    ));
    let public = SigningKey::from_seed(seed).verifying_key().to_bytes();
    let k = Scalar::from_bytes_mod_order_wide(
        &Sha512::new()
            .chain_update(r_enc)
            .chain_update(public)
            .chain_update(msg)
            .finalize()
            .into(),
    );
    let s = r + k * a;
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&r_enc);
    sig[32..].copy_from_slice(s.as_bytes());
    sig
}

#[test]
fn taming_shapes_under_a_key_we_hold_are_refused_among_valid_signatures() {
    // The shapes of the paper's R and S cases, made under a key whose valid signatures can
    // surround them: every small-order R (canonical or not, with S fitted to R = 0·B + T), an R
    // with a torsion component, S + L, and S with its top bits set.
    let seed = [0x42; 32];
    let sk = SigningKey::from_seed(&seed);
    let dalek = ed25519_dalek::VerifyingKey::from_bytes(&sk.verifying_key().to_bytes()).unwrap();
    let msgs: Vec<Vec<u8>> = (0..16u8).map(|i| vec![i ^ 0x5a; 40]).collect();
    let valid: Vec<Item<'_>> = msgs.iter().map(|m| (&m[..], sk.sign(m))).collect();
    let mut shapes: Vec<(String, [u8; 64])> = Vec::new();
    for r_enc in SMALL_ORDER_R {
        shapes.push((
            format!("small-order R {}", hex::encode(r_enc)),
            forced_r(&seed, &msgs[5], r_enc, Scalar::ZERO),
        ));
    }
    for (i, t) in EIGHT_TORSION.iter().enumerate().skip(1) {
        let r = Scalar::from(0x1234_5678_u64);
        let big_r = (curve25519_dalek::constants::ED25519_BASEPOINT_POINT * r + t).compress();
        shapes.push((
            format!("R with torsion {i}"),
            forced_r(&seed, &msgs[5], big_r.to_bytes(), r),
        ));
    }
    let good = valid[5].1;
    let mut s_plus_l = good;
    let mut carry = 0u16;
    // L = 2^252 + 27742317777372353535851937790883648493 (RFC 8032 §5.1), little-endian.
    let l: [u8; 32] = array("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
    for (i, li) in l.iter().enumerate() {
        let v = u16::from(s_plus_l[32 + i]) + u16::from(*li) + carry;
        s_plus_l[32 + i] = v.to_le_bytes()[0];
        carry = v >> 8;
    }
    shapes.push(("S + L".into(), s_plus_l));
    let mut s_high = good;
    s_high[63] |= 0xe0;
    shapes.push(("S with its top bits set".into(), s_high));
    for (name, sig) in &shapes {
        assert!(
            !dalek_strict(&sk.verifying_key().to_bytes(), &msgs[5], sig),
            "{name}"
        );
        check_alone(name, &sk.verifying_key().to_bytes(), &msgs[5], sig, false);
        let mut items = valid.clone();
        items[5].1 = *sig;
        assert_eq!(batch(&dalek, &items), Some(false), "{name}");
        let verdicts = chain_rule(&dalek, &items);
        for (i, ok) in verdicts.iter().enumerate() {
            assert_eq!(*ok, i != 5, "{name}: item {i}");
        }
    }
}

/// Issue 24: the batch verifier took any torsion-free key, and the identity point is
/// torsion-free. Under the identity as key, `R = r·B` with `S = r` satisfies the batch equation
/// for any message (`k·A` vanishes), so anyone could "sign"; `verify_strict` refuses small-order
/// keys. [`VerifyingKey::from_bytes`] refuses them too, so no caller could reach this, but the
/// batch verifier now refuses them itself.
#[test]
fn issue_24_batch_refuses_a_small_order_key() {
    // Every small-order encoding, the identity's among them (canonical, and y = 1 + p).
    let keys = SMALL_ORDER_R;
    let msg = b"forged under a small-order key";
    let r = Scalar::from(77u64);
    let big_r = curve25519_dalek::constants::ED25519_BASEPOINT_POINT * r;
    let mut forged = [0u8; 64];
    forged[..32].copy_from_slice(big_r.compress().as_bytes());
    forged[32..].copy_from_slice(r.as_bytes());
    let mut decoded = 0;
    for public in keys {
        let Ok(dalek) = ed25519_dalek::VerifyingKey::from_bytes(&public) else {
            continue;
        };
        decoded += 1;
        assert!(dalek.is_weak());
        assert!(!dalek_strict(&public, msg, &forged));
        assert!(VerifyingKey::from_bytes(&public).is_err());
        assert_eq!(
            batch(&dalek, &[(&msg[..], forged)]),
            Some(false),
            "key {}",
            hex::encode(public)
        );
        check_alone("small-order key", &public, msg, &forged, false);
    }
    assert!(decoded >= 8, "{decoded}");
}
