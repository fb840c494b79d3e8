//! `tree_prefix.json`: what ties a partial export's anchor to the bundle's checkpoint.
//!
//! A bundle of receipts `[a, b)` carries the checkpoint of `b` leaves. Its verifier recomputes
//! that root from the leaves it holds plus this prefix: the exact line of receipt `a − 1` (whose
//! `receipt_hash` is the anchor's `prev_receipt_hash`, and whose leaf is leaf `a − 1`) and the
//! frontier of the first `a − 1` leaves (one subtree hash per set bit of `a − 1`). Together
//! they are the compact range of `[0, a)`, so the recomputed root matches only if the bundle's
//! receipts are exactly leaves `[a, b)` of the checkpointed tree.
//!
//! ```json
//! {"anchor_receipt":"<base64 of the line>","frontier":["<base64 hash>",…],"frontier_size":41}
//! ```
#![deny(clippy::indexing_slicing)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::canonical;
use crate::json::{self, Object, Value};
use crate::merkle::{Frontier, Hash};

/// The prefix of a partial export's tree (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreePrefix {
    /// Frontier of the leaves before the anchor receipt.
    pub frontier: Frontier,
    /// The exact JSONL line of the anchor receipt (the one before the first exported).
    pub anchor_line: Vec<u8>,
}

/// Why `tree_prefix.json` cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tree_prefix.json is invalid: {what}")]
pub struct PrefixError {
    /// What is wrong.
    pub what: &'static str,
}

impl TreePrefix {
    /// A prefix.
    #[must_use]
    pub fn new(frontier: Frontier, anchor_line: Vec<u8>) -> Self {
        Self {
            frontier,
            anchor_line,
        }
    }

    /// The JSON bytes of `tree_prefix.json` (sorted keys, compact).
    #[must_use]
    pub fn to_json(&self) -> Vec<u8> {
        let hashes: Vec<Value> = self
            .frontier
            .hashes()
            .iter()
            .map(|h| Value::from(STANDARD.encode(h)))
            .collect();
        let v = Value::from(
            Object::new()
                .with("anchor_receipt", STANDARD.encode(&self.anchor_line))
                .with("frontier", Value::Array(hashes))
                .with("frontier_size", self.frontier.size()),
        );
        let mut out = Vec::new();
        canonical::write_ordered_value(&v, &mut out);
        out.push(b'\n');
        out
    }

    /// Parses `tree_prefix.json`.
    ///
    /// # Errors
    /// [`PrefixError`].
    pub fn parse(bytes: &[u8]) -> Result<Self, PrefixError> {
        let bad = |what| PrefixError { what };
        let o = match json::parse(bytes) {
            Ok(Value::Object(o)) => o,
            Ok(_) => return Err(bad("not a JSON object")),
            Err(_) => {
                return Err(bad(
                    "not valid strict JSON (malformed, or a key appears twice)",
                ));
            }
        };
        let anchor_line = match o.get("anchor_receipt") {
            Some(Value::String(s)) => STANDARD
                .decode(s)
                .map_err(|_| bad("anchor_receipt is not base64"))?,
            _ => return Err(bad("anchor_receipt is missing")),
        };
        let size = match o.get("frontier_size") {
            Some(Value::Number(n)) => n.as_int().and_then(|i| u64::try_from(i).ok()),
            _ => None,
        }
        .ok_or(bad("frontier_size is not a non-negative integer"))?;
        let Some(Value::Array(items)) = o.get("frontier") else {
            return Err(bad("frontier is not an array"));
        };
        if items.len() > 64 {
            return Err(bad("frontier holds more than 64 hashes"));
        }
        let mut hashes = Vec::with_capacity(items.len());
        for item in items {
            let h: Hash = match item {
                Value::String(s) => STANDARD.decode(s).ok().and_then(|b| b.try_into().ok()),
                _ => None,
            }
            .ok_or(bad("a frontier entry is not 32 bytes of base64"))?;
            hashes.push(h);
        }
        let frontier = Frontier::from_parts(size, hashes)
            .map_err(|_| bad("frontier does not hold one hash per set bit of frontier_size"))?;
        Ok(Self {
            frontier,
            anchor_line,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_prefixes_say_what_is_wrong() {
        for (text, says) in [
            (
                &br#"{"frontier":[],"frontier":[]}"#[..],
                "a key appears twice",
            ),
            (b"{", "not valid strict JSON"),
            (b"[1]", "not a JSON object"),
        ] {
            let err = TreePrefix::parse(text).unwrap_err().to_string();
            assert!(err.contains(says), "{err}");
        }
    }
}
