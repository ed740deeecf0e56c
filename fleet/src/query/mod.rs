//! The query language of dynamic thing groups: a subset of AWS IoT fleet
//! indexing's query syntax
//! (<https://docs.aws.amazon.com/iot/latest/developerguide/query-syntax.html>,
//! examples: <https://docs.aws.amazon.com/iot/latest/developerguide/example-queries.html>),
//! over the fields this service knows about a thing: its name and id, its
//! registry attributes and its connectivity as the embedded broker sees it.
//!
//! What the subset has (docs/fleet.md, "Dynamic thing groups", lists it for
//! operators):
//!
//! - fields: `thingName`, `thingId`, `attributes.<name>`,
//!   `connectivity.connected` (`true`/`false`), `connectivity.timestamp`
//!   (milliseconds since the epoch) and `connectivity.disconnectReason`;
//! - `field:value`, case-insensitive; `"quoted values"`; `*` and `?`
//!   wildcards (not leading; `field:*` alone means "has the field");
//! - ranges `field:[a TO b]`, with `{`/`}` for exclusive bounds, numeric
//!   when both bounds are numbers, else text; `field<v` and `field>v`;
//! - `AND`, `OR`, `NOT`, a leading `-` for NOT, juxtaposition as AND,
//!   parentheses, field grouping (`thingName:(a* OR b*)`), `\` escapes;
//! - at most [`MAX_TERMS`] terms, AWS's limit.
//!
//! Everything else is refused with a [`QueryError`] naming it, so that a
//! query never silently means something other than on AWS: terms without
//! a field, the other fields (shadows, thing types, Device Defender, group
//! names), leading wildcards, regular expressions, boosting, fuzzy and
//! proximity search, `<=`/`>=`.
//!
//! Precedence: NOT binds tightest, then AND (written or implied), then OR.

mod eval;
mod lexer;
mod parser;

#[cfg(test)]
mod tests;

pub use eval::Facts;

/// AWS's limit on the terms of one query ("The maximum number of terms in a
/// query is seven", query-syntax.html).
pub const MAX_TERMS: usize = 7;

/// Why a query string was refused; the message says what and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub String);

impl QueryError {
    fn unsupported(feature: &str, query: &str) -> Self {
        Self(format!(
            "{feature} is not supported in dynamic thing group queries here (query: {query:?})"
        ))
    }
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    expr: Expr,
}

impl Query {
    /// Parses `text`, refusing anything outside the subset.
    pub fn parse(text: &str) -> Result<Query, QueryError> {
        let expr = parser::parse(text)?;
        let terms = expr.terms();
        if terms > MAX_TERMS {
            return Err(QueryError(format!(
                "the query has {terms} terms; at most {MAX_TERMS} are allowed"
            )));
        }
        Ok(Query { expr })
    }

    /// Whether the thing described by `facts` matches.
    pub fn matches(&self, facts: &Facts<'_>) -> bool {
        self.expr.eval(facts)
    }
}

/// A query's syntax tree.
#[derive(Debug, Clone, PartialEq)]
enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Clause(Field, Test),
}

impl Expr {
    fn terms(&self) -> usize {
        match self {
            Expr::And(v) | Expr::Or(v) => v.iter().map(Expr::terms).sum(),
            Expr::Not(e) => e.terms(),
            Expr::Clause(..) => 1,
        }
    }
}

/// What a clause looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Field {
    ThingName,
    ThingId,
    Attribute(String),
    Connected,
    ConnectivityTimestamp,
    DisconnectReason,
}

impl Field {
    /// The fields this subset knows, for messages.
    const SUPPORTED: &'static str = "thingName, thingId, attributes.<name>, \
        connectivity.connected, connectivity.timestamp, connectivity.disconnectReason";

    fn parse(name: &str) -> Result<Field, QueryError> {
        match name {
            "thingName" => Ok(Field::ThingName),
            "thingId" => Ok(Field::ThingId),
            "connectivity.connected" => Ok(Field::Connected),
            "connectivity.timestamp" => Ok(Field::ConnectivityTimestamp),
            "connectivity.disconnectReason" => Ok(Field::DisconnectReason),
            _ => match name.strip_prefix("attributes.") {
                Some(attr) if !attr.is_empty() => Ok(Field::Attribute(attr.to_owned())),
                _ => Err(QueryError(format!(
                    "field {name:?} is not supported in dynamic thing group queries here \
                     (field names are case-sensitive; supported: {})",
                    Self::SUPPORTED
                ))),
            },
        }
    }
}

/// What a clause tests its field's value for. Text is kept lower-cased:
/// matching is case-insensitive, as AWS's is.
#[derive(Debug, Clone, PartialEq)]
enum Test {
    /// `field:*`: the field has a value.
    Exists,
    /// `field:value`: equal.
    Term(String),
    /// `field:ab*c?`: matches the pattern.
    Pattern(Vec<lexer::WordChar>),
    /// `field:[a TO b]`, `field<b`, `field>a`.
    Range(Bound, Bound),
}

/// One end of a range.
#[derive(Debug, Clone, PartialEq)]
enum Bound {
    /// `field<b` has no lower bound, `field>a` no upper one.
    Open,
    Inclusive(Scalar),
    Exclusive(Scalar),
}

/// A range bound: compared as numbers when both bounds are numbers (and
/// then a value that is not a number is outside), else as text.
#[derive(Debug, Clone, PartialEq)]
enum Scalar {
    Number(f64),
    Text(String),
}
