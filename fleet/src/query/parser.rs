//! Tokens to an [`Expr`], by recursive descent over
//!
//! ```text
//! or     := and ("OR" and)*
//! and    := unary (["AND"] unary)*         juxtaposition is AND
//! unary  := ("NOT" | "-") unary | "(" or ")" | clause
//! clause := field ":" value | field ":" "(" or ")" | field ("<" | ">") scalar
//! value  := word | "quoted" | "-" word | ("[" | "{") scalar "TO" scalar ("]" | "}")
//! ```
//!
//! Inside a field group (`field:( … )`) a clause is a bare value for that
//! field.

use super::lexer::{self, Token, Word, WordChar};
use super::{Bound, Expr, Field, QueryError, Scalar, Test};

pub(super) fn parse(text: &str) -> Result<Expr, QueryError> {
    if text.trim().is_empty() {
        return Err(QueryError("the query string is empty".into()));
    }
    let mut p = Parser {
        tokens: lexer::tokens(text)?,
        pos: 0,
    };
    let expr = p.or(None)?;
    match p.next() {
        None => Ok(expr),
        Some(t) => Err(unexpected(Some(&t), "the end of the query")),
    }
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn expect(&mut self, want: &Token, what: &str) -> Result<(), QueryError> {
        match self.next() {
            Some(t) if t == *want => Ok(()),
            other => Err(unexpected(other.as_ref(), what)),
        }
    }

    /// `field` is the group's field inside `field:( … )`.
    fn or(&mut self, field: Option<&Field>) -> Result<Expr, QueryError> {
        let mut items = vec![self.and(field)?];
        while self.peek() == Some(&Token::Or) {
            self.pos += 1;
            items.push(self.and(field)?);
        }
        Ok(flatten(items, Expr::Or))
    }

    fn and(&mut self, field: Option<&Field>) -> Result<Expr, QueryError> {
        let mut items = vec![self.unary(field)?];
        loop {
            match self.peek() {
                None | Some(Token::Or) | Some(Token::RParen) => break,
                Some(Token::And) => {
                    self.pos += 1;
                    items.push(self.unary(field)?);
                }
                Some(_) => items.push(self.unary(field)?),
            }
        }
        Ok(flatten(items, Expr::And))
    }

    fn unary(&mut self, field: Option<&Field>) -> Result<Expr, QueryError> {
        match self.peek() {
            Some(Token::Not) | Some(Token::Minus) => {
                self.pos += 1;
                Ok(Expr::Not(Box::new(self.unary(field)?)))
            }
            Some(Token::LParen) => {
                self.pos += 1;
                let inner = self.or(field)?;
                self.expect(&Token::RParen, "`)`")?;
                Ok(inner)
            }
            _ => match field {
                None => self.clause(),
                Some(f) => Ok(Expr::Clause(f.clone(), self.value(f)?)),
            },
        }
    }

    fn clause(&mut self) -> Result<Expr, QueryError> {
        let name = match self.next() {
            Some(Token::Word(w)) => w.text(),
            Some(Token::Quoted(q)) => return Err(no_field(&format!("\"{q}\""))),
            other => return Err(unexpected(other.as_ref(), "a field name")),
        };
        match self.peek() {
            Some(Token::Colon) => {
                self.pos += 1;
                let field = Field::parse(&name)?;
                if self.peek() == Some(&Token::LParen) {
                    self.pos += 1;
                    let group = self.or(Some(&field))?;
                    self.expect(&Token::RParen, "`)` closing the field group")?;
                    return Ok(group);
                }
                let test = self.value(&field)?;
                Ok(Expr::Clause(field, test))
            }
            Some(Token::Lt) | Some(Token::Gt) => {
                let below = self.next() == Some(Token::Lt);
                let field = Field::parse(&name)?;
                let bound = Bound::Exclusive(self.scalar()?);
                let test = if below {
                    Test::Range(Bound::Open, bound)
                } else {
                    Test::Range(bound, Bound::Open)
                };
                Ok(Expr::Clause(field.clone(), checked(&field, test)?))
            }
            _ => Err(no_field(&name)),
        }
    }

    /// The value after `field:`, checked against what the field holds.
    fn value(&mut self, field: &Field) -> Result<Test, QueryError> {
        let test = match self.next() {
            Some(Token::Word(w)) => word_test(&w)?,
            Some(Token::Quoted(q)) => Test::Term(q.to_lowercase()),
            Some(Token::Minus) => match self.next() {
                Some(Token::Word(w)) if !w.is_pattern() => {
                    Test::Term(format!("-{}", w.text().to_lowercase()))
                }
                other => return Err(unexpected(other.as_ref(), "a value after `-`")),
            },
            Some(Token::Open { inclusive }) => self.range(inclusive)?,
            other => return Err(unexpected(other.as_ref(), "a value")),
        };
        checked(field, test)
    }

    /// The rest of `[a TO b]` after its opening bracket.
    fn range(&mut self, lower_inclusive: bool) -> Result<Test, QueryError> {
        let lo = self.scalar()?;
        self.expect(&Token::To, "`TO` in a range")?;
        let hi = self.scalar()?;
        let upper_inclusive = match self.next() {
            Some(Token::Close { inclusive }) => inclusive,
            other => return Err(unexpected(other.as_ref(), "`]` or `}` closing the range")),
        };
        if matches!(lo, Scalar::Number(_)) != matches!(hi, Scalar::Number(_)) {
            return Err(QueryError(
                "a range's bounds must both be numbers or both be text".into(),
            ));
        }
        let bound = |inclusive, s| {
            if inclusive {
                Bound::Inclusive(s)
            } else {
                Bound::Exclusive(s)
            }
        };
        Ok(Test::Range(
            bound(lower_inclusive, lo),
            bound(upper_inclusive, hi),
        ))
    }

    /// A range bound or the operand of `<` / `>`.
    fn scalar(&mut self) -> Result<Scalar, QueryError> {
        let (negative, token) = match self.next() {
            Some(Token::Minus) => (true, self.next()),
            t => (false, t),
        };
        match token {
            Some(Token::Quoted(q)) if !negative => Ok(Scalar::Text(q.to_lowercase())),
            Some(Token::Word(w)) if w.0 == [WordChar::Many] => Err(QueryError(
                "open-ended ranges (`[a TO *]`) are not supported here: write field>a or field<b"
                    .into(),
            )),
            Some(Token::Word(w)) if w.is_pattern() => Err(QueryError(format!(
                "a range bound cannot hold a wildcard: {:?}",
                w.text()
            ))),
            Some(Token::Word(w)) => {
                let text = format!("{}{}", if negative { "-" } else { "" }, w.text());
                if text.starts_with('=') {
                    return Err(QueryError(
                        "`<=` and `>=` are not supported here: write a range, \
                         field:[a TO b] (inclusive) or field:{a TO b} (exclusive)"
                            .into(),
                    ));
                }
                Ok(match text.parse::<f64>() {
                    Ok(n) if n.is_finite() => Scalar::Number(n),
                    _ => Scalar::Text(text.to_lowercase()),
                })
            }
            other => Err(unexpected(other.as_ref(), "a number or text")),
        }
    }
}

/// One item stays itself; several become `make(items)`.
fn flatten(mut items: Vec<Expr>, make: fn(Vec<Expr>) -> Expr) -> Expr {
    if items.len() == 1 {
        items.remove(0)
    } else {
        make(items)
    }
}

/// The test an unquoted value word stands for.
fn word_test(w: &Word) -> Result<Test, QueryError> {
    if w.0 == [WordChar::Many] {
        return Ok(Test::Exists);
    }
    if !w.is_pattern() {
        return Ok(Test::Term(w.text().to_lowercase()));
    }
    if matches!(w.0.first(), Some(WordChar::Many | WordChar::One)) {
        return Err(QueryError(format!(
            "leading wildcards are not supported (AWS does not support them either): {:?}",
            w.text()
        )));
    }
    let lower =
        w.0.iter()
            .flat_map(|c| match c {
                WordChar::Lit(c) => c.to_lowercase().map(WordChar::Lit).collect::<Vec<_>>(),
                other => vec![*other],
            })
            .collect();
    Ok(Test::Pattern(lower))
}

/// Refuses tests a field's values can never meet, so that a typo fails at
/// creation instead of making an empty group: `connectivity.connected` is
/// `true` or `false`, `connectivity.timestamp` a number of milliseconds.
fn checked(field: &Field, test: Test) -> Result<Test, QueryError> {
    match (field, &test) {
        (_, Test::Exists) => Ok(test),
        (Field::Connected, Test::Term(t)) if t == "true" || t == "false" => Ok(test),
        (Field::Connected, _) => Err(QueryError(
            "connectivity.connected takes true, false or *".into(),
        )),
        (Field::ConnectivityTimestamp, Test::Term(t)) => match t.parse::<i64>() {
            Ok(ms) => {
                let at = Scalar::Number(ms as f64);
                Ok(Test::Range(
                    Bound::Inclusive(at.clone()),
                    Bound::Inclusive(at),
                ))
            }
            Err(_) => Err(timestamp_error()),
        },
        (Field::ConnectivityTimestamp, Test::Range(lo, hi))
            if [lo, hi].iter().all(|b| {
                matches!(
                    b,
                    Bound::Open
                        | Bound::Inclusive(Scalar::Number(_))
                        | Bound::Exclusive(Scalar::Number(_))
                )
            }) =>
        {
            Ok(test)
        }
        (Field::ConnectivityTimestamp, _) => Err(timestamp_error()),
        _ => Ok(test),
    }
}

fn timestamp_error() -> QueryError {
    QueryError(
        "connectivity.timestamp takes milliseconds since the epoch: a number, a numeric range, \
         or < / > a number"
            .into(),
    )
}

fn no_field(term: &str) -> QueryError {
    QueryError(format!(
        "the term {term} has no field: searching every field is not supported here; \
         write field:value, e.g. thingName:{term}"
    ))
}

fn unexpected(token: Option<&Token>, wanted: &str) -> QueryError {
    let found = match token {
        None => "the end of the query".to_owned(),
        Some(t) => describe(t),
    };
    QueryError(format!("expected {wanted}, found {found}"))
}

fn describe(t: &Token) -> String {
    match t {
        Token::LParen => "`(`".into(),
        Token::RParen => "`)`".into(),
        Token::Colon => "`:`".into(),
        Token::Lt => "`<`".into(),
        Token::Gt => "`>`".into(),
        Token::Open { inclusive: true } => "`[`".into(),
        Token::Open { inclusive: false } => "`{`".into(),
        Token::Close { inclusive: true } => "`]`".into(),
        Token::Close { inclusive: false } => "`}`".into(),
        Token::Minus => "`-`".into(),
        Token::And => "AND".into(),
        Token::Or => "OR".into(),
        Token::Not => "NOT".into(),
        Token::To => "TO".into(),
        Token::Word(w) => format!("{:?}", w.text()),
        Token::Quoted(q) => format!("\"{q}\""),
    }
}
