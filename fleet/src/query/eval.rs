//! Evaluating a query against one thing.

use super::lexer::WordChar;
use super::{Bound, Expr, Field, Scalar, Test};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// What a query can see of a thing. A thing the broker has never seen is
/// not connected and has no connectivity timestamp or disconnect reason.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// `thingName`.
    pub thing_name: &'a str,
    /// `thingId`.
    pub thing_id: &'a str,
    /// `attributes.<name>`.
    pub attributes: &'a BTreeMap<String, String>,
    /// `connectivity.connected`.
    pub connected: bool,
    /// `connectivity.timestamp`: when it last connected or disconnected,
    /// in milliseconds since the epoch.
    pub connectivity_timestamp: Option<i64>,
    /// `connectivity.disconnectReason`.
    pub disconnect_reason: Option<&'a str>,
}

impl Facts<'_> {
    fn value(&self, field: &Field) -> Option<String> {
        match field {
            Field::ThingName => Some(self.thing_name.to_owned()),
            Field::ThingId => Some(self.thing_id.to_owned()),
            Field::Attribute(name) => self.attributes.get(name).cloned(),
            Field::Connected => Some(self.connected.to_string()),
            Field::ConnectivityTimestamp => self.connectivity_timestamp.map(|t| t.to_string()),
            Field::DisconnectReason => self.disconnect_reason.map(str::to_owned),
        }
    }
}

impl Expr {
    pub(super) fn eval(&self, facts: &Facts<'_>) -> bool {
        match self {
            Expr::And(items) => items.iter().all(|e| e.eval(facts)),
            Expr::Or(items) => items.iter().any(|e| e.eval(facts)),
            Expr::Not(e) => !e.eval(facts),
            Expr::Clause(field, test) => match facts.value(field) {
                None => false,
                Some(value) => test.holds(&value.to_lowercase()),
            },
        }
    }
}

impl Test {
    /// Whether a present value (lower-cased) passes.
    fn holds(&self, value: &str) -> bool {
        match self {
            Test::Exists => true,
            Test::Term(t) => value == t,
            Test::Pattern(p) => {
                let text: Vec<char> = value.chars().collect();
                glob(p, &text)
            }
            Test::Range(lo, hi) => above(lo, value) && below(hi, value),
        }
    }
}

/// `value` compared with a bound: numerically when the bound is a number
/// (None when the value is not one), as text otherwise.
fn compare(value: &str, bound: &Scalar) -> Option<Ordering> {
    match bound {
        Scalar::Number(b) => value.trim().parse::<f64>().ok()?.partial_cmp(b),
        Scalar::Text(b) => Some(value.cmp(b.as_str())),
    }
}

fn above(lo: &Bound, value: &str) -> bool {
    match lo {
        Bound::Open => true,
        Bound::Inclusive(b) => {
            matches!(compare(value, b), Some(Ordering::Greater | Ordering::Equal))
        }
        Bound::Exclusive(b) => compare(value, b) == Some(Ordering::Greater),
    }
}

fn below(hi: &Bound, value: &str) -> bool {
    match hi {
        Bound::Open => true,
        Bound::Inclusive(b) => matches!(compare(value, b), Some(Ordering::Less | Ordering::Equal)),
        Bound::Exclusive(b) => compare(value, b) == Some(Ordering::Less),
    }
}

/// Wildcard matching: `*` any run, `?` one character. Iterative with one
/// backtrack point, so a hostile pattern cannot make it exponential.
fn glob(pattern: &[WordChar], text: &[char]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(WordChar::Lit(c)) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            Some(WordChar::One) => {
                p += 1;
                t += 1;
            }
            Some(WordChar::Many) => {
                star = Some((p, t));
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == WordChar::Many)
}
