//! Configuration from the environment, compatible with the Python library's variables.

use std::fmt;
use std::sync::Once;

use crate::keys::{KeyError, SigningKey};

/// `AI_AUDIT_ENV`: `production` refuses to run without a persistent key.
pub const ENV_MODE: &str = "AI_AUDIT_ENV";
/// `AI_AUDIT_SIGNING_KEY`: the signing seed as 64 hex characters.
pub const ENV_SIGNING_KEY: &str = "AI_AUDIT_SIGNING_KEY";
/// `AI_AUDIT_SIGNING_KEY_FILE`: a file holding the signing seed as hex.
pub const ENV_SIGNING_KEY_FILE: &str = "AI_AUDIT_SIGNING_KEY_FILE";

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Production mode without a persistent key.
    #[error(
        "AI_AUDIT_ENV=production requires a persistent signing key: set AI_AUDIT_SIGNING_KEY (64 hex characters, from `ai-audit gen-key`) or AI_AUDIT_SIGNING_KEY_FILE"
    )]
    MissingKeyInProduction,
    /// The key variable or file is malformed.
    #[error("the signing key from {source_name} is unusable")]
    BadKey {
        /// Which variable the key came from.
        source_name: &'static str,
        /// What is wrong with it.
        #[source]
        source: KeyError,
    },
}

/// Where the signing key came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeySource {
    /// `AI_AUDIT_SIGNING_KEY`.
    Env,
    /// `AI_AUDIT_SIGNING_KEY_FILE`.
    File,
    /// Set in code.
    Explicit,
    /// Generated for this process only: receipts it signs cannot be verified after the process
    /// exits unless its public key was recorded.
    Ephemeral,
}

/// The runtime configuration.
#[derive(Debug)]
pub struct AuditConfig {
    production: bool,
    signing_key: SigningKey,
    key_source: KeySource,
}

/// The warning given once per process when an ephemeral key is used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EphemeralKeyWarning {
    /// Fingerprint of the ephemeral public key.
    pub fingerprint: String,
}

impl fmt::Display for EphemeralKeyWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ai-audit: no signing key configured; using an ephemeral key (fingerprint {}) that dies with this process. Receipts signed now cannot be verified later. Set AI_AUDIT_SIGNING_KEY (see `ai-audit gen-key`), and AI_AUDIT_ENV=production to make this an error",
            self.fingerprint
        )
    }
}

static EPHEMERAL_WARNING: Once = Once::new();

impl AuditConfig {
    /// Reads `AI_AUDIT_ENV`, `AI_AUDIT_SIGNING_KEY` and `AI_AUDIT_SIGNING_KEY_FILE`.
    ///
    /// Without a key: in production an error; otherwise an ephemeral key, and one warning per
    /// process on standard error (also available from [`AuditConfig::warning`]).
    ///
    /// # Errors
    /// [`ConfigError::MissingKeyInProduction`] or [`ConfigError::BadKey`].
    pub fn from_env() -> Result<Self, ConfigError> {
        let cfg = Self::from_vars(|name| std::env::var(name).ok())?;
        if let Some(w) = cfg.warning() {
            EPHEMERAL_WARNING.call_once(|| eprintln!("{w}"));
        }
        Ok(cfg)
    }

    /// As [`AuditConfig::from_env`], reading variables through `get` (for tests), and without
    /// printing anything.
    ///
    /// ```
    /// use audit_runtime::{AuditConfig, KeySource};
    /// let cfg = AuditConfig::from_vars(|n| (n == "AI_AUDIT_SIGNING_KEY").then(|| "01".repeat(32)))?;
    /// assert_eq!(cfg.key_source(), KeySource::Env);
    /// assert!(AuditConfig::from_vars(|n| (n == "AI_AUDIT_ENV").then(|| "production".into())).is_err());
    /// # Ok::<(), audit_runtime::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// As [`AuditConfig::from_env`].
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let production = get(ENV_MODE).is_some_and(|v| v.trim().eq_ignore_ascii_case("production"));
        let key_hex = get(ENV_SIGNING_KEY).filter(|v| !v.trim().is_empty());
        let key_file = get(ENV_SIGNING_KEY_FILE).filter(|v| !v.trim().is_empty());
        let (signing_key, key_source) = if let Some(hex) = key_hex {
            let hex = zeroize::Zeroizing::new(hex);
            let k = SigningKey::from_hex(&hex).map_err(|source| ConfigError::BadKey {
                source_name: ENV_SIGNING_KEY,
                source,
            })?;
            (k, KeySource::Env)
        } else if let Some(path) = key_file {
            let k = SigningKey::from_file(path.trim()).map_err(|source| ConfigError::BadKey {
                source_name: ENV_SIGNING_KEY_FILE,
                source,
            })?;
            (k, KeySource::File)
        } else if production {
            return Err(ConfigError::MissingKeyInProduction);
        } else {
            let k = SigningKey::generate().map_err(|source| ConfigError::BadKey {
                source_name: "the operating system's random generator",
                source,
            })?;
            (k, KeySource::Ephemeral)
        };
        Ok(Self {
            production,
            signing_key,
            key_source,
        })
    }

    /// A configuration with an explicit key.
    #[must_use]
    pub fn with_key(signing_key: SigningKey, production: bool) -> Self {
        Self {
            production,
            signing_key,
            key_source: KeySource::Explicit,
        }
    }

    /// Whether `AI_AUDIT_ENV=production`.
    #[must_use]
    pub fn is_production(&self) -> bool {
        self.production
    }

    /// The signing key.
    #[must_use]
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing_key
    }

    /// Where the key came from.
    #[must_use]
    pub fn key_source(&self) -> KeySource {
        self.key_source
    }

    /// The ephemeral-key warning, if this configuration uses one.
    #[must_use]
    pub fn warning(&self) -> Option<EphemeralKeyWarning> {
        (self.key_source == KeySource::Ephemeral).then(|| EphemeralKeyWarning {
            fingerprint: self.signing_key.verifying_key().fingerprint(),
        })
    }
}
