//! Any `serde::Serialize` value as a canonical [`Value`] (feature `serde`), so it can be hashed
//! with [`hash_json`](crate::canonical::hash_json).
//!
//! Integers keep their exact value (up to 2^64-1 and down to -2^63), floats stay floats, and map
//! keys that are not strings are turned into strings the way orjson's `OPT_NON_STR_KEYS` does:
//! integers in decimal, floats in the canonical float spelling, `true`/`false`, `null` for a
//! unit or `None`, a unit variant by its name.

use std::fmt;

use serde::ser::{self, Serialize};

use super::value::{Number, Object, Value};

/// Why a value could not be turned into a canonical [`Value`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SerializeError {
    /// An integer outside [-2^63, 2^64-1], which the v1 canonical form cannot carry.
    #[error(
        "integer {0} is outside the range the canonical form carries (-2^63..=2^64-1); serialize it as a string"
    )]
    IntegerOutOfRange(i128),
    /// A map key that is a sequence, a map or a struct.
    #[error("a map key must be a string, number, bool, unit or unit variant; {0} cannot be a key")]
    UnsupportedKey(&'static str),
    /// The value's `Serialize` impl reported an error.
    #[error("the value's Serialize impl failed: {0}")]
    Custom(String),
}

impl ser::Error for SerializeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self::Custom(msg.to_string())
    }
}

/// `value` as a canonical [`Value`].
///
/// ```
/// use std::collections::BTreeMap;
/// use audit_runtime::canonical::{hash_json, sha256_hex};
/// use audit_runtime::json::to_value;
/// let m: BTreeMap<u32, f64> = [(2, 0.5), (10, 1.0)].into();
/// assert_eq!(hash_json(&to_value(&m)?), sha256_hex(br#"{"10":1.0,"2":0.5}"#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`SerializeError`] for integers the canonical form cannot carry, keys that cannot be strings,
/// and errors of the value's own `Serialize` impl.
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, SerializeError> {
    value.serialize(ValueSerializer)
}

fn int(v: i128) -> Result<Value, SerializeError> {
    Number::int(v)
        .map(Value::Number)
        .ok_or(SerializeError::IntegerOutOfRange(v))
}

struct ValueSerializer;

impl ser::Serializer for ValueSerializer {
    type Ok = Value;
    type Error = SerializeError;
    type SerializeSeq = SeqBuilder;
    type SerializeTuple = SeqBuilder;
    type SerializeTupleStruct = SeqBuilder;
    type SerializeTupleVariant = VariantBuilder<SeqBuilder>;
    type SerializeMap = MapBuilder;
    type SerializeStruct = MapBuilder;
    type SerializeStructVariant = VariantBuilder<MapBuilder>;

    fn serialize_bool(self, v: bool) -> Result<Value, SerializeError> {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Value, SerializeError> {
        int(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<Value, SerializeError> {
        int(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<Value, SerializeError> {
        int(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<Value, SerializeError> {
        int(v.into())
    }
    fn serialize_i128(self, v: i128) -> Result<Value, SerializeError> {
        int(v)
    }
    fn serialize_u8(self, v: u8) -> Result<Value, SerializeError> {
        int(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<Value, SerializeError> {
        int(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<Value, SerializeError> {
        int(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<Value, SerializeError> {
        int(v.into())
    }
    fn serialize_u128(self, v: u128) -> Result<Value, SerializeError> {
        i128::try_from(v).map_or(Err(SerializeError::IntegerOutOfRange(i128::MAX)), int)
    }
    fn serialize_f32(self, v: f32) -> Result<Value, SerializeError> {
        Ok(Value::Number(Number::float(f64::from(v))))
    }
    fn serialize_f64(self, v: f64) -> Result<Value, SerializeError> {
        Ok(Value::Number(Number::float(v)))
    }
    fn serialize_char(self, v: char) -> Result<Value, SerializeError> {
        Ok(Value::String(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value, SerializeError> {
        Ok(Value::String(v.to_owned()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value, SerializeError> {
        Ok(Value::Array(
            v.iter()
                .map(|b| Value::Number(Number::from(u32::from(*b))))
                .collect(),
        ))
    }
    fn serialize_none(self) -> Result<Value, SerializeError> {
        Ok(Value::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, SerializeError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value, SerializeError> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value, SerializeError> {
        Ok(Value::Null)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Value, SerializeError> {
        Ok(Value::String(variant.to_owned()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Value, SerializeError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Value, SerializeError> {
        Ok(Value::Object(
            Object::new().with(variant, value.serialize(self)?),
        ))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqBuilder, SerializeError> {
        Ok(SeqBuilder(Vec::with_capacity(len.unwrap_or(0).min(4096))))
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqBuilder, SerializeError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<SeqBuilder, SerializeError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<VariantBuilder<SeqBuilder>, SerializeError> {
        Ok(VariantBuilder {
            variant,
            inner: self.serialize_seq(Some(len))?,
        })
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<MapBuilder, SerializeError> {
        Ok(MapBuilder {
            object: Object::new(),
            key: None,
        })
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<MapBuilder, SerializeError> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<VariantBuilder<MapBuilder>, SerializeError> {
        Ok(VariantBuilder {
            variant,
            inner: self.serialize_map(Some(len))?,
        })
    }
}

struct SeqBuilder(Vec<Value>);

impl ser::SerializeSeq for SeqBuilder {
    type Ok = Value;
    type Error = SerializeError;
    fn serialize_element<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
    ) -> Result<(), SerializeError> {
        self.0.push(value.serialize(ValueSerializer)?);
        Ok(())
    }
    fn end(self) -> Result<Value, SerializeError> {
        Ok(Value::Array(self.0))
    }
}

impl ser::SerializeTuple for SeqBuilder {
    type Ok = Value;
    type Error = SerializeError;
    fn serialize_element<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
    ) -> Result<(), SerializeError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Value, SerializeError> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for SeqBuilder {
    type Ok = Value;
    type Error = SerializeError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SerializeError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Value, SerializeError> {
        ser::SerializeSeq::end(self)
    }
}

struct MapBuilder {
    object: Object,
    key: Option<String>,
}

impl ser::SerializeMap for MapBuilder {
    type Ok = Value;
    type Error = SerializeError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), SerializeError> {
        self.key = Some(key_string(key.serialize(ValueSerializer)?)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SerializeError> {
        let key = self
            .key
            .take()
            .ok_or_else(|| SerializeError::Custom("map value without a key".to_owned()))?;
        self.object.insert(key, value.serialize(ValueSerializer)?);
        Ok(())
    }
    fn end(self) -> Result<Value, SerializeError> {
        Ok(Value::Object(self.object))
    }
}

impl ser::SerializeStruct for MapBuilder {
    type Ok = Value;
    type Error = SerializeError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), SerializeError> {
        self.object.insert(key, value.serialize(ValueSerializer)?);
        Ok(())
    }
    fn end(self) -> Result<Value, SerializeError> {
        Ok(Value::Object(self.object))
    }
}

/// A tuple or struct variant: `{"Variant": [...]}` or `{"Variant": {...}}`, as serde_json does.
struct VariantBuilder<B> {
    variant: &'static str,
    inner: B,
}

impl ser::SerializeTupleVariant for VariantBuilder<SeqBuilder> {
    type Ok = Value;
    type Error = SerializeError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SerializeError> {
        ser::SerializeSeq::serialize_element(&mut self.inner, value)
    }
    fn end(self) -> Result<Value, SerializeError> {
        let inner = ser::SerializeSeq::end(self.inner)?;
        Ok(Value::Object(Object::new().with(self.variant, inner)))
    }
}

impl ser::SerializeStructVariant for VariantBuilder<MapBuilder> {
    type Ok = Value;
    type Error = SerializeError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), SerializeError> {
        ser::SerializeStruct::serialize_field(&mut self.inner, key, value)
    }
    fn end(self) -> Result<Value, SerializeError> {
        let inner = ser::SerializeStruct::end(self.inner)?;
        Ok(Value::Object(Object::new().with(self.variant, inner)))
    }
}

/// orjson's `OPT_NON_STR_KEYS` spelling of a key.
fn key_string(key: Value) -> Result<String, SerializeError> {
    match key {
        Value::String(s) => Ok(s),
        Value::Bool(b) => Ok(if b { "true" } else { "false" }.to_owned()),
        Value::Null => Ok("null".to_owned()),
        Value::Number(n) => Ok(match n.as_int() {
            Some(i) => i.to_string(),
            None => super::format_f64(n.as_f64()),
        }),
        Value::Array(_) => Err(SerializeError::UnsupportedKey("a sequence")),
        Value::Object(_) => Err(SerializeError::UnsupportedKey("a map or struct")),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::json::write_value_sorted;

    /// The bytes `canonical::hash_json` hashes.
    fn canonical_bytes(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        write_value_sorted(v, &mut out);
        out
    }

    fn canonical_of<T: Serialize>(v: &T) -> Vec<u8> {
        canonical_bytes(&to_value(v).unwrap())
    }

    #[test]
    fn integers_keep_their_exact_value() {
        assert_eq!(canonical_of(&u64::MAX), b"18446744073709551615");
        assert_eq!(canonical_of(&i64::MIN), b"-9223372036854775808");
        assert!(matches!(
            to_value(&u128::MAX),
            Err(SerializeError::IntegerOutOfRange(_))
        ));
    }

    #[test]
    fn floats_stay_floats() {
        assert_eq!(canonical_of(&vec![1.0, 0.5]), b"[1.0,0.5]");
    }

    #[test]
    fn non_string_keys_are_stringified_like_orjson() {
        let m: BTreeMap<i64, bool> = [(-1, true), (7, false)].into();
        assert_eq!(canonical_of(&m), br#"{"-1":true,"7":false}"#);
        let b: BTreeMap<bool, u8> = [(true, 1)].into();
        assert_eq!(canonical_of(&b), br#"{"true":1}"#);
        let v: BTreeMap<Vec<u8>, u8> = [(vec![1], 1)].into();
        assert!(matches!(
            to_value(&v),
            Err(SerializeError::UnsupportedKey(_))
        ));
    }

    #[test]
    fn nested_structures_match_serde_json() {
        let v: (Option<&str>, BTreeMap<&str, Vec<u32>>) = (None, [("k", vec![1, 2])].into());
        let ours = to_value(&v).unwrap();
        let theirs = crate::json::parse(serde_json::to_string(&v).unwrap().as_bytes()).unwrap();
        assert_eq!(canonical_bytes(&ours), canonical_bytes(&theirs));
    }
}
