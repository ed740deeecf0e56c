//! Reading a JSON object field by field, so that every refusal names the
//! field by its full path (`abortConfig.criteriaList[1].thresholdPercentage`)
//! and says what it must be. serde's own messages name the type, not the
//! field, and an operator cannot act on "expected u32 at line 1 column 214".

use super::ConfigError;
use serde_json::{Map, Value};
use std::ops::RangeInclusive;

/// An object being read. Fields are taken one by one; [`Obj::finish`]
/// refuses the ones nobody took, so that a misspelt field is an error
/// rather than silently ignored (a typo in an abort rule must not disable
/// it).
pub(super) struct Obj<'a> {
    path: String,
    map: &'a Map<String, Value>,
    taken: Vec<&'static str>,
}

impl<'a> Obj<'a> {
    /// `value`, which must be an object, found at `path`.
    pub fn new(path: String, value: &'a Value) -> Result<Self, ConfigError> {
        match value {
            Value::Object(map) => Ok(Self {
                path,
                map,
                taken: Vec::new(),
            }),
            other => Err(ConfigError::new(
                &path,
                format!("must be an object, not {other}"),
            )),
        }
    }

    /// The path of field `key`.
    pub fn path_of(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }

    /// Field `key`; null counts as absent (as AWS's SDKs treat it).
    pub fn get(&mut self, key: &'static str) -> Option<&'a Value> {
        self.taken.push(key);
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// An error about field `key`.
    pub fn error(&self, key: &str, what: impl Into<String>) -> ConfigError {
        ConfigError::new(&self.path_of(key), what)
    }

    /// A required field: its absence is an error naming it.
    pub fn required<T>(&self, key: &str, value: Option<T>) -> Result<T, ConfigError> {
        value.ok_or_else(|| self.error(key, "is required"))
    }

    /// An integer in `range`.
    pub fn int(
        &mut self,
        key: &'static str,
        range: RangeInclusive<u32>,
    ) -> Result<Option<u32>, ConfigError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let n = v.as_u64().and_then(|n| u32::try_from(n).ok());
        match n.filter(|n| range.contains(n)) {
            Some(n) => Ok(Some(n)),
            None => Err(self.error(
                key,
                format!(
                    "must be an integer from {} to {}, not {v}",
                    range.start(),
                    range.end()
                ),
            )),
        }
    }

    /// A number in `range` with at most `decimals` digits after the point
    /// (AWS: "supports up to one digit after the decimal").
    pub fn number(
        &mut self,
        key: &'static str,
        range: RangeInclusive<f64>,
        decimals: i32,
    ) -> Result<Option<f64>, ConfigError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let Some(x) = v.as_f64().filter(|x| range.contains(x)) else {
            return Err(self.error(
                key,
                format!(
                    "must be a number from {} to {}, not {v}",
                    range.start(),
                    range.end()
                ),
            ));
        };
        let scaled = x * 10f64.powi(decimals);
        if (scaled - scaled.round()).abs() > 1e-6 {
            return Err(self.error(
                key,
                format!("{x} has more than {decimals} digit(s) after the decimal point"),
            ));
        }
        Ok(Some(x))
    }

    /// A string.
    pub fn string(&mut self, key: &'static str) -> Result<Option<&'a str>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.error(key, format!("must be a string, not {other}"))),
        }
    }

    /// One of `allowed` (an AWS enum), parsed by `parse`.
    pub fn choice<T>(
        &mut self,
        key: &'static str,
        allowed: &[&str],
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, ConfigError> {
        let Some(s) = self.string(key)? else {
            return Ok(None);
        };
        parse(s).map(Some).ok_or_else(|| {
            self.error(
                key,
                format!("must be one of {}, not {s:?}", allowed.join(", ")),
            )
        })
    }

    /// A nested object.
    pub fn object(&mut self, key: &'static str) -> Result<Option<Obj<'a>>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => Obj::new(self.path_of(key), v).map(Some),
        }
    }

    /// An array of objects, each with its path (`key[i]`).
    pub fn objects(&mut self, key: &'static str) -> Result<Option<Vec<Obj<'a>>>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| Obj::new(format!("{}[{i}]", self.path_of(key)), v))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(other) => Err(self.error(key, format!("must be an array, not {other}"))),
        }
    }

    /// Refuses the fields that were not taken.
    pub fn finish(self) -> Result<(), ConfigError> {
        match self.map.keys().find(|k| !self.taken.contains(&k.as_str())) {
            None => Ok(()),
            Some(unknown) => Err(ConfigError::new(
                &self.path_of(unknown),
                format!(
                    "is not a field of {}; the fields are {}",
                    self.path,
                    self.taken.join(", ")
                ),
            )),
        }
    }
}
