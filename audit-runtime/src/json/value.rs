//! A JSON value that keeps what the v1 formats need to stay byte-exact: insertion order of object
//! keys, the difference between integers and floats, and integers up to 2^64-1.

use std::fmt;

/// The smallest integer the v1 canonical form can carry (-2^63).
pub(crate) const INT_MIN: i128 = i64::MIN as i128;
/// The largest integer the v1 canonical form can carry (2^64-1).
pub(crate) const INT_MAX: i128 = u64::MAX as i128;

/// A JSON number: an integer in [-2^63, 2^64-1] or a double.
///
/// Integers and floats stay distinct because the canonical form spells them differently
/// (`1` versus `1.0`).
#[derive(Clone, Copy, PartialEq)]
pub struct Number(N);

#[derive(Clone, Copy, PartialEq)]
enum N {
    Int(i128),
    Float(f64),
}

impl Number {
    /// An integer, if it lies in the range the v1 canonical form can carry ([-2^63, 2^64-1]).
    #[must_use]
    pub fn int(value: i128) -> Option<Self> {
        (INT_MIN..=INT_MAX)
            .contains(&value)
            .then_some(Self(N::Int(value)))
    }

    /// A double. NaN and infinities are allowed here and canonicalize to `null`, as orjson does.
    #[must_use]
    pub fn float(value: f64) -> Self {
        Self(N::Float(value))
    }

    /// The integer value, if this number is an integer.
    #[must_use]
    pub fn as_int(&self) -> Option<i128> {
        match self.0 {
            N::Int(i) => Some(i),
            N::Float(_) => None,
        }
    }

    /// The value as a double (integers are converted, possibly with rounding).
    #[must_use]
    #[expect(clippy::cast_precision_loss, reason = "documented lossy conversion")]
    pub fn as_f64(&self) -> f64 {
        match self.0 {
            N::Int(i) => i as f64,
            N::Float(f) => f,
        }
    }

    /// Whether this number was written (or built) as a float.
    #[must_use]
    pub fn is_float(&self) -> bool {
        matches!(self.0, N::Float(_))
    }
}

impl fmt::Debug for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            N::Int(i) => write!(f, "{i}"),
            N::Float(x) => write!(f, "{x:?}"),
        }
    }
}

impl From<i64> for Number {
    fn from(v: i64) -> Self {
        Self(N::Int(i128::from(v)))
    }
}
impl From<u64> for Number {
    fn from(v: u64) -> Self {
        Self(N::Int(i128::from(v)))
    }
}
impl From<i32> for Number {
    fn from(v: i32) -> Self {
        Self(N::Int(i128::from(v)))
    }
}
impl From<u32> for Number {
    fn from(v: u32) -> Self {
        Self(N::Int(i128::from(v)))
    }
}
impl From<f64> for Number {
    fn from(v: f64) -> Self {
        Self(N::Float(v))
    }
}

/// A JSON value as it appears in a receipt's `detail` objects.
#[derive(Clone, PartialEq, Default)]
pub enum Value {
    /// `null`
    #[default]
    Null,
    /// `true` or `false`
    Bool(bool),
    /// An integer or a double.
    Number(Number),
    /// A string (always valid Unicode: lone surrogates cannot be represented).
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object, in insertion order.
    Object(Object),
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Self::Bool(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::String(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::String(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Self::Number(Number::float(v))
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::Number(Number::from(v))
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Self::Number(Number::from(v))
    }
}
impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Self::Number(Number::from(v))
    }
}
impl From<Object> for Value {
    fn from(v: Object) -> Self {
        Self::Object(v)
    }
}
impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Self {
        Self::Array(v.into_iter().map(Into::into).collect())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Null, Into::into)
    }
}

/// A JSON object that keeps insertion order, with Python `dict` semantics: inserting an existing
/// key replaces its value in place.
#[derive(Clone, PartialEq, Default)]
pub struct Object {
    entries: Vec<(String, Value)>,
}

impl fmt::Debug for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&Value::Object(self.clone()), f)
    }
}

impl Object {
    /// An empty object.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts or replaces `key`, keeping the position of an existing key.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) {
        let key = key.into();
        let value = value.into();
        if let Some(slot) = self.entries.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = value;
        } else {
            self.entries.push((key, value));
        }
    }

    /// Builder-style [`Object::insert`].
    #[must_use]
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.insert(key, value);
        self
    }

    /// The value stored under `key`.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the object has no entries.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Appends an entry without checking for an existing key (the parser checks duplicates itself).
    pub(crate) fn push_unchecked(&mut self, key: String, value: Value) {
        self.entries.push((key, value));
    }
}

impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for Object {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut o = Self::new();
        for (k, v) in iter {
            o.insert(k, v);
        }
        o
    }
}
