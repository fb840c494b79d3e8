//! The public key a verifying command pins: `--key`, `--key-file` or `AI_AUDIT_VERIFY_KEY`.

use std::path::PathBuf;

use audit_runtime::VerifyingKey;

/// Environment variable holding the pinned public key.
pub(crate) const ENV_VERIFY_KEY: &str = "AI_AUDIT_VERIFY_KEY";
/// The key pinned by `--key`, `--key-file` or `AI_AUDIT_VERIFY_KEY`, in that order.
pub(crate) fn load_pinned_key(
    key: Option<&str>,
    key_file: Option<&PathBuf>,
) -> Result<Option<VerifyingKey>, String> {
    let (text, origin) = if let Some(k) = key {
        (k.to_owned(), "--key".to_owned())
    } else if let Some(p) = key_file {
        let bytes = crate::common::read_limited(p, crate::common::MAX_KEY_FILE)
            .map_err(|e| format!("cannot read --key-file {}: {e}", p.display()))?
            .ok_or_else(|| {
                format!(
                    "--key-file {} is larger than {} bytes; it must hold a 64-hex-character public key",
                    p.display(),
                    crate::common::MAX_KEY_FILE
                )
            })?;
        let t = String::from_utf8(bytes)
            .map_err(|_| format!("--key-file {} is not UTF-8 text", p.display()))?;
        (t, format!("--key-file {}", p.display()))
    } else if let Ok(k) = std::env::var(ENV_VERIFY_KEY) {
        if k.trim().is_empty() {
            return Ok(None);
        }
        (k, ENV_VERIFY_KEY.to_owned())
    } else {
        return Ok(None);
    };
    let key = key_text(&text).map_err(|why| format!("{origin} {why}"))?;
    if assigned(&text, "AI_AUDIT_SIGNING_KEY").any(|v| !v.is_empty()) {
        eprintln!(
            "warning: {origin} also holds the secret signing key (AI_AUDIT_SIGNING_KEY); give verifiers only the public key"
        );
    }
    VerifyingKey::from_hex(key).map(Some).map_err(|e| {
        format!(
            "the public key from {origin} is unusable: {e}; give the 64-hex-character public key (the AI_AUDIT_VERIFY_KEY value `ai-audit gen-key` prints, or a bundle's public_key.hex)"
        )
    })
}

/// The values of the lines of `text` that assign `name` (`NAME=value` or `export NAME=value`,
/// the value unquoted).
fn assigned<'t>(text: &'t str, name: &'t str) -> impl Iterator<Item = &'t str> + 't {
    text.lines().filter_map(move |l| {
        let l = l.trim();
        let value = l
            .strip_prefix("export ")
            .unwrap_or(l)
            .trim_start()
            .strip_prefix(name)?
            .strip_prefix('=')?;
        Some(value.trim().trim_matches(['"', '\'']))
    })
}

/// The key in a key text: the text without a byte-order mark, or, in a saved `gen-key` output
/// (or an env file), the value of its one `AI_AUDIT_VERIFY_KEY=` line. A text with two such
/// lines, or with one and a bare key besides, is refused: which one is meant is not clear, and
/// pinning the wrong one would pass what the other key signed.
fn key_text(text: &str) -> Result<&str, &'static str> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut values = assigned(text, ENV_VERIFY_KEY);
    let Some(value) = values.next() else {
        return Ok(text);
    };
    if values.next().is_some() {
        return Err("has more than one AI_AUDIT_VERIFY_KEY line; keep only the key to pin");
    }
    let bare = text
        .lines()
        .map(str::trim)
        .any(|l| !l.is_empty() && !l.starts_with('#') && !l.contains('='));
    if bare {
        return Err(
            "has both an AI_AUDIT_VERIFY_KEY line and a bare key; keep only the key to pin",
        );
    }
    Ok(value)
}
