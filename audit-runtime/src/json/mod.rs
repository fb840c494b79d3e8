//! The JSON value model of the v1 formats — [`Value`], [`Object`], [`Number`] — with the strict
//! parser for untrusted input ([`parse`]) and the byte writers the canonical form is built on.
//!
//! A [`Value`] keeps what the formats need to stay byte-exact: the insertion order of object
//! keys, integers apart from floats, and integers up to 2^64-1. The parser refuses duplicate keys,
//! lone surrogates, integers the formats cannot carry and nesting deeper than [`MAX_DEPTH`].
//!
//! ```
//! use audit_runtime::json::{self, Object, Value};
//! let v = json::parse(br#"{"b":1,"a":[true,null,1.5]}"#)?;
//! let Value::Object(o) = &v else { return Err("not an object".into()) };
//! assert_eq!(o.iter().map(|(k, _)| k).collect::<Vec<_>>(), ["b", "a"]);
//! assert_eq!(Value::from(Object::new().with("b", 1)), json::parse(br#"{"b":1}"#)?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(clippy::indexing_slicing)]

mod float;
mod parse;
#[cfg(feature = "serde")]
mod serde;
mod value;
mod write;

#[cfg(feature = "serde")]
pub use self::serde::{SerializeError, to_value};
pub use float::format_f64;
pub use parse::{JsonError, MAX_DEPTH, parse};
pub use value::{Number, Object, Value};

pub(crate) use float::{write_f64, write_f64_python};
pub(crate) use parse::Parser;
pub(crate) use write::{
    to_hex, write_number, write_object_ordered, write_object_sorted, write_str,
    write_value_ordered, write_value_sorted,
};
