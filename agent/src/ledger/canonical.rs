//! Canonical bytes of a record: the same JSON value always gives the same bytes, however
//! its maps were built (the rule is in the module doc of `ledger`). Written straight from
//! serde's data model, so a record is never first built as a `serde_json::Value`: the
//! bytes are what `serde_json::to_value` and then sorting every object would give.
use std::{borrow::Cow, fmt::Display};

use serde::{
    Serialize,
    ser::{self, Impossible},
};
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum CanonicalError {
    #[error("{0}")]
    Custom(String),
    #[error("a map key must be a string, a number or a bool")]
    Key,
    #[error("expected a value that serialises as a JSON object")]
    NotAnObject,
}

impl ser::Error for CanonicalError {
    fn custom<T: Display>(msg: T) -> Self {
        Self::Custom(msg.to_string())
    }
}

/// The canonical bytes of `record`: compact JSON, object keys sorted at every depth.
pub fn canonical(record: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    record.serialize(Writer { out: &mut out, adjust: None }).expect("every JSON value has canonical bytes");
    out
}

/// The canonical bytes of `value`, which must serialise as an object, without its
/// top-level keys `omit` and with the entries `extra` added.
pub fn canonical_object<T: Serialize + ?Sized>(
    value: &T,
    omit: &[&str],
    extra: &[(&'static str, &Value)],
) -> Result<Vec<u8>, CanonicalError> {
    let mut out = Vec::with_capacity(1024);
    let adjust = Adjust { omit, extra };
    value.serialize(Writer { out: &mut out, adjust: Some(&adjust) })?;
    if out.first() != Some(&b'{') {
        return Err(CanonicalError::NotAnObject);
    }
    Ok(out)
}

/// What [`canonical_object`] changes in the top-level object.
struct Adjust<'a> {
    omit: &'a [&'a str],
    extra: &'a [(&'static str, &'a Value)],
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(out, s).expect("writing a string to a Vec cannot fail");
}

/// Writes one value to `out`; objects are gathered and sorted before they are written.
struct Writer<'a> {
    out: &'a mut Vec<u8>,
    /// Only for the top-level value of [`canonical_object`].
    adjust: Option<&'a Adjust<'a>>,
}

impl Writer<'_> {
    fn raw(self, bytes: &[u8]) -> Result<(), CanonicalError> {
        self.out.extend_from_slice(bytes);
        Ok(())
    }

    fn display(self, value: impl Display) -> Result<(), CanonicalError> {
        use std::io::Write as _;
        write!(self.out, "{value}").expect("writing to a Vec cannot fail");
        Ok(())
    }

    /// `{"variant":` … the caller writes the value and the closing brace. An enum's
    /// variant is not an object [`canonical_object`] can change.
    fn open_variant(&mut self, variant: &str) -> Result<(), CanonicalError> {
        if self.adjust.is_some() {
            return Err(CanonicalError::NotAnObject);
        }
        self.out.push(b'{');
        write_str(self.out, variant);
        self.out.push(b':');
        Ok(())
    }
}

/// An object's entries, each value's bytes kept in one buffer, sorted when written.
#[derive(Default)]
struct Object {
    entries: Vec<Entry>,
    values: Vec<u8>,
    /// A map's key, between `serialize_key` and `serialize_value`.
    key: Option<String>,
}

struct Entry {
    key: Cow<'static, str>,
    value: std::ops::Range<usize>,
}

impl Object {
    fn entry<T: Serialize + ?Sized>(&mut self, key: Cow<'static, str>, value: &T) -> Result<(), CanonicalError> {
        let start = self.values.len();
        value.serialize(Writer { out: &mut self.values, adjust: None })?;
        self.entries.push(Entry { key, value: start..self.values.len() });
        Ok(())
    }

    /// Keys sorted by their UTF-8 bytes; of a key given twice, the last value counts (as
    /// in a map built from the same calls).
    fn write(mut self, out: &mut Vec<u8>) {
        self.entries.sort_by(|a, b| a.key.as_bytes().cmp(b.key.as_bytes()));
        out.push(b'{');
        let mut first = true;
        for (i, entry) in self.entries.iter().enumerate() {
            if self.entries.get(i + 1).is_some_and(|next| next.key == entry.key) {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            write_str(out, &entry.key);
            out.push(b':');
            out.extend_from_slice(&self.values[entry.value.clone()]);
        }
        out.push(b'}');
    }
}

/// An object being written: its entries, then where it goes.
struct ObjectWriter<'a> {
    object: Object,
    out: &'a mut Vec<u8>,
    /// Set for a struct variant: the object is the value of `{"variant": …}`.
    variant: bool,
    adjust: Option<&'a Adjust<'a>>,
}

impl ObjectWriter<'_> {
    fn finish(mut self) -> Result<(), CanonicalError> {
        if let Some(adjust) = self.adjust {
            self.object.entries.retain(|entry| !adjust.omit.contains(&entry.key.as_ref()));
            for (key, item) in adjust.extra {
                self.object.entry(Cow::Borrowed(*key), *item)?;
            }
        }
        self.object.write(self.out);
        if self.variant {
            self.out.push(b'}');
        }
        Ok(())
    }
}

impl ser::SerializeMap for ObjectWriter<'_> {
    type Ok = ();
    type Error = CanonicalError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), CanonicalError> {
        self.object.key = Some(key.serialize(KeyWriter)?);
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CanonicalError> {
        let key = self.object.key.take().ok_or(CanonicalError::Key)?;
        self.object.entry(Cow::Owned(key), value)
    }

    fn end(self) -> Result<(), CanonicalError> {
        self.finish()
    }
}

/// A struct's fields, and a struct variant's, are an object's entries.
macro_rules! struct_impl {
    ($trait:ident) => {
        impl ser::$trait for ObjectWriter<'_> {
            type Ok = ();
            type Error = CanonicalError;

            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), CanonicalError> {
                self.object.entry(Cow::Borrowed(key), value)
            }

            fn end(self) -> Result<(), CanonicalError> {
                self.finish()
            }
        }
    };
}
struct_impl!(SerializeStruct);
struct_impl!(SerializeStructVariant);

/// An array being written, element by element (order is kept).
struct ArrayWriter<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
    /// Set for a tuple variant: the array is the value of `{"variant": …}`.
    variant: bool,
}

impl ArrayWriter<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CanonicalError> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        value.serialize(Writer { out: self.out, adjust: None })
    }

    fn finish(self) -> Result<(), CanonicalError> {
        self.out.push(b']');
        if self.variant {
            self.out.push(b'}');
        }
        Ok(())
    }
}

macro_rules! array_impl {
    ($trait:ident, $method:ident) => {
        impl ser::$trait for ArrayWriter<'_> {
            type Ok = ();
            type Error = CanonicalError;

            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CanonicalError> {
                self.element(value)
            }

            fn end(self) -> Result<(), CanonicalError> {
                self.finish()
            }
        }
    };
}
array_impl!(SerializeSeq, serialize_element);
array_impl!(SerializeTuple, serialize_element);
array_impl!(SerializeTupleStruct, serialize_field);
array_impl!(SerializeTupleVariant, serialize_field);

/// `serialize_<integer>` methods that each hand their value to `self.$write`.
macro_rules! integers {
    ($write:ident -> $ok:ty; $($method:ident: $int:ty),* $(,)?) => {
        $(
            fn $method(self, v: $int) -> Result<$ok, CanonicalError> {
                self.$write(v)
            }
        )*
    };
}

impl<'a> ser::Serializer for Writer<'a> {
    type Ok = ();
    type Error = CanonicalError;
    type SerializeSeq = ArrayWriter<'a>;
    type SerializeTuple = ArrayWriter<'a>;
    type SerializeTupleStruct = ArrayWriter<'a>;
    type SerializeTupleVariant = ArrayWriter<'a>;
    type SerializeMap = ObjectWriter<'a>;
    type SerializeStruct = ObjectWriter<'a>;
    type SerializeStructVariant = ObjectWriter<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), CanonicalError> {
        self.raw(if v { b"true" } else { b"false" })
    }
    integers!(display -> (); serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64,
        serialize_u128: u128);
    fn serialize_f32(self, v: f32) -> Result<(), CanonicalError> {
        // As serde_json stores an f32 in a Value: widened to f64.
        self.serialize_f64(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<(), CanonicalError> {
        // serde_json's shortest round-trip form; NaN and infinities become null, as in a Value.
        match serde_json::Number::from_f64(v) {
            Some(n) => self.display(n),
            None => self.raw(b"null"),
        }
    }
    fn serialize_char(self, v: char) -> Result<(), CanonicalError> {
        write_str(self.out, v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), CanonicalError> {
        write_str(self.out, v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), CanonicalError> {
        // As serde_json writes bytes: an array of numbers.
        let mut array = ArrayWriter { out: self.out, first: true, variant: false };
        array.out.push(b'[');
        for byte in v {
            array.element(byte)?;
        }
        array.finish()
    }
    fn serialize_none(self) -> Result<(), CanonicalError> {
        self.raw(b"null")
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), CanonicalError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), CanonicalError> {
        self.raw(b"null")
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), CanonicalError> {
        self.raw(b"null")
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), CanonicalError> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), CanonicalError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        mut self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), CanonicalError> {
        self.open_variant(variant)?;
        value.serialize(Writer { out: self.out, adjust: None })?;
        self.out.push(b'}');
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<ArrayWriter<'a>, CanonicalError> {
        self.out.push(b'[');
        Ok(ArrayWriter { out: self.out, first: true, variant: false })
    }
    fn serialize_tuple(self, len: usize) -> Result<ArrayWriter<'a>, CanonicalError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<ArrayWriter<'a>, CanonicalError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        mut self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<ArrayWriter<'a>, CanonicalError> {
        self.open_variant(variant)?;
        self.out.push(b'[');
        Ok(ArrayWriter { out: self.out, first: true, variant: true })
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<ObjectWriter<'a>, CanonicalError> {
        Ok(ObjectWriter { object: Object::default(), out: self.out, variant: false, adjust: self.adjust })
    }
    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<ObjectWriter<'a>, CanonicalError> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        mut self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<ObjectWriter<'a>, CanonicalError> {
        self.open_variant(variant)?;
        Ok(ObjectWriter { object: Object::default(), out: self.out, variant: true, adjust: None })
    }
}

/// A map key as the string serde_json would make of it.
struct KeyWriter;

impl KeyWriter {
    fn key(self, v: impl Display) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
}

impl ser::Serializer for KeyWriter {
    type Ok = String;
    type Error = CanonicalError;
    type SerializeSeq = Impossible<String, CanonicalError>;
    type SerializeTuple = Impossible<String, CanonicalError>;
    type SerializeTupleStruct = Impossible<String, CanonicalError>;
    type SerializeTupleVariant = Impossible<String, CanonicalError>;
    type SerializeMap = Impossible<String, CanonicalError>;
    type SerializeStruct = Impossible<String, CanonicalError>;
    type SerializeStructVariant = Impossible<String, CanonicalError>;

    fn serialize_bool(self, v: bool) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    integers!(key -> String; serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64);
    fn serialize_f32(self, _v: f32) -> Result<String, CanonicalError> {
        Err(CanonicalError::Key)
    }
    fn serialize_f64(self, _v: f64) -> Result<String, CanonicalError> {
        Err(CanonicalError::Key)
    }
    fn serialize_char(self, v: char) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_str(self, v: &str) -> Result<String, CanonicalError> {
        Ok(v.to_owned())
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<String, CanonicalError> {
        Err(CanonicalError::Key)
    }
    fn serialize_none(self) -> Result<String, CanonicalError> {
        Err(CanonicalError::Key)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<String, CanonicalError> {
        Err(CanonicalError::Key)
    }
    fn serialize_unit(self) -> Result<String, CanonicalError> {
        Err(CanonicalError::Key)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<String, CanonicalError> {
        Err(CanonicalError::Key)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<String, CanonicalError> {
        Ok(variant.to_owned())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<String, CanonicalError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<String, CanonicalError> {
        Err(CanonicalError::Key)
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, CanonicalError> {
        Err(CanonicalError::Key)
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, CanonicalError> {
        Err(CanonicalError::Key)
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, CanonicalError> {
        Err(CanonicalError::Key)
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, CanonicalError> {
        Err(CanonicalError::Key)
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, CanonicalError> {
        Err(CanonicalError::Key)
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeStruct, CanonicalError> {
        Err(CanonicalError::Key)
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, CanonicalError> {
        Err(CanonicalError::Key)
    }
}
