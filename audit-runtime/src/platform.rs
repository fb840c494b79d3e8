//! Which hardware paths the cryptography uses on this machine.

/// CPU features that the SHA-256 and Ed25519 implementations pick up at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CpuFeatures {
    /// SHA-NI: the `sha2` crate hashes with the SHA extensions.
    pub sha_ni: bool,
    /// AVX2: `curve25519-dalek` uses its AVX2 backend for Ed25519.
    pub avx2: bool,
    /// AVX-512 IFMA (used by `curve25519-dalek` only in builds that enable it).
    pub avx512_ifma: bool,
}

/// Detects the features on the running CPU.
#[must_use]
pub fn cpu_features() -> CpuFeatures {
    #[cfg(target_arch = "x86_64")]
    {
        CpuFeatures {
            sha_ni: std::arch::is_x86_feature_detected!("sha")
                && std::arch::is_x86_feature_detected!("sse4.1"),
            avx2: std::arch::is_x86_feature_detected!("avx2"),
            avx512_ifma: std::arch::is_x86_feature_detected!("avx512ifma"),
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        CpuFeatures {
            sha_ni: false,
            avx2: false,
            avx512_ifma: false,
        }
    }
}
