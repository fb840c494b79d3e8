//! `manifest.json`: the checksums of every other member, signed over the bytes of Python's
//! `json.dumps(manifest_without_signature, sort_keys=True)`.

use std::collections::BTreeMap;

use super::{ExportError, pyjson};
use crate::json::{self, Object, Value};
use crate::keys::VerifyingKey;

/// A parsed (or freshly built) manifest. Every field is kept, known or not, because the
/// signature covers them all.
#[derive(Clone, Debug)]
pub struct Manifest {
    fields: Object,
    signature: Option<Value>,
}

impl Manifest {
    /// A v1 manifest over `checksums` (member name → SHA-256 hex) for `key`, created at
    /// `created_at` (Python `isoformat()`), not yet signed.
    #[must_use]
    pub fn new(checksums: Object, key: &VerifyingKey, created_at: &str) -> Self {
        let fields = Object::new()
            .with("version", "1.0")
            .with("format", "ai-audit-evidence-package")
            .with("checksums", checksums)
            .with("key_fingerprint", key.fingerprint())
            .with("created_at", created_at);
        Self {
            fields,
            signature: None,
        }
    }

    /// Parses `manifest.json` strictly (no duplicate keys, no trailing data).
    ///
    /// # Errors
    /// [`ExportError::ManifestInvalid`] when it is not a JSON object.
    pub fn parse(bytes: &[u8]) -> Result<Self, ExportError> {
        let value = json::parse(bytes).map_err(|_| ExportError::ManifestInvalid {
            what: "it is not valid JSON (strict: UTF-8, no duplicate keys)",
        })?;
        let Value::Object(o) = value else {
            return Err(ExportError::ManifestInvalid {
                what: "it is not a JSON object",
            });
        };
        let mut fields = Object::new();
        let mut signature = None;
        for (k, v) in o.iter() {
            if k == "signature" {
                signature = Some(v.clone());
            } else {
                fields.insert(k, v.clone());
            }
        }
        Ok(Self { fields, signature })
    }

    /// The bytes the signature covers: Python's `json.dumps(manifest, sort_keys=True)` of every
    /// field except `signature`.
    #[must_use]
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        pyjson::write_python(&Value::Object(self.fields.clone()), None, &mut out);
        out
    }

    /// Adds the signature.
    #[must_use]
    pub fn with_signature(mut self, signature: &[u8; 64]) -> Self {
        self.signature = Some(Value::from(hex::encode(signature)));
        self
    }

    /// The signature field as written (any JSON value), if present.
    #[must_use]
    pub fn signature_value(&self) -> Option<&Value> {
        self.signature.as_ref()
    }

    /// The signature as 64 bytes, if the field is 128 hex characters.
    #[must_use]
    pub fn signature(&self) -> Option<[u8; 64]> {
        let Some(Value::String(s)) = &self.signature else {
            return None;
        };
        let mut out = [0u8; 64];
        hex::decode_to_slice(s.trim(), &mut out).ok()?;
        Some(out)
    }

    /// A top-level string field.
    #[must_use]
    pub fn str_field(&self, name: &str) -> Option<&str> {
        match self.fields.get(name) {
            Some(Value::String(s)) => Some(s),
            _ => None,
        }
    }

    /// The `checksums` object: member name → claimed SHA-256 (non-string values are kept as
    /// `None`).
    ///
    /// # Errors
    /// [`ExportError::ManifestInvalid`] when `checksums` is missing or not an object.
    pub fn checksums(&self) -> Result<BTreeMap<String, Option<String>>, ExportError> {
        let Some(Value::Object(o)) = self.fields.get("checksums") else {
            return Err(ExportError::ManifestInvalid {
                what: "it has no \"checksums\" object",
            });
        };
        Ok(o.iter()
            .map(|(k, v)| {
                let s = match v {
                    Value::String(s) => Some(s.clone()),
                    _ => None,
                };
                (k.to_owned(), s)
            })
            .collect())
    }

    /// The file: Python's `json.dumps(manifest, indent=2, sort_keys=True)`, no trailing newline.
    #[must_use]
    pub fn to_file_bytes(&self) -> Vec<u8> {
        let mut all = self.fields.clone();
        if let Some(sig) = &self.signature {
            all.insert("signature", sig.clone());
        }
        let mut out = Vec::with_capacity(1024);
        pyjson::write_python(&Value::Object(all), Some(2), &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genuine_vector_manifest_round_trips_byte_for_byte() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/vectors/genuine_bundle.zip"
        );
        let Ok(file) = std::fs::File::open(path) else {
            return; // the shared vectors are checked by the integration tests
        };
        let mut r = crate::bundle::EvidenceReader::open(file, crate::bundle::ReadLimits::default())
            .unwrap();
        let bytes = r.read_small("manifest.json").unwrap();
        let m = Manifest::parse(&bytes).unwrap();
        assert_eq!(m.to_file_bytes(), bytes);
        let key = VerifyingKey::from_hex(
            "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c",
        )
        .unwrap();
        assert!(key.verify_strict(&m.signing_bytes(), &m.signature().unwrap()));
    }
}
