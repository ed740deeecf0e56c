//! How a capability's config keys are read: its config struct's field
//! names are its keys (asked of serde, so they are written once), and a
//! grant table's entries go to the capability whose keys they are.

use serde::de::{self, DeserializeOwned, Visitor};

/// `C` made of the entries of `table` that are its fields.
pub(super) fn take<C: DeserializeOwned>(table: &mut toml::Table) -> Result<C, toml::de::Error> {
    let mine: toml::Table = struct_fields::<C>()
        .iter()
        .filter_map(|key| table.remove(*key).map(|value| ((*key).to_owned(), value)))
        .collect();
    toml::Value::Table(mine).try_into()
}

/// Whether `key = value` alone makes a valid `C`: the value's type, checked
/// where the value is, so that the error points at it.
pub(super) fn check_entry<C: DeserializeOwned>(
    key: &str,
    value: &toml::Value,
) -> Result<(), toml::de::Error> {
    let one = toml::Table::from_iter([(key.to_owned(), value.clone())]);
    toml::Value::Table(one).try_into::<C>().map(drop)
}

/// The field names of the serde struct `C`: what its derived
/// `Deserialize` hands to `deserialize_struct`, so that a capability's
/// keys are written once, as its config struct's fields.
pub(super) fn struct_fields<C: DeserializeOwned>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    // The deserializer only records the names; the error is expected.
    let _ = C::deserialize(FieldNames(&mut fields));
    fields
}

/// A deserializer that records the field names a struct asks for.
struct FieldNames<'a>(&'a mut &'static [&'static str]);

impl<'de> de::Deserializer<'de> for FieldNames<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("a capability's config is a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(de::Error::custom("only the field names were asked for"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}
