//! Splits a query string into tokens. Escapes (`\x`) and quotes are
//! resolved here, so the parser sees literal text and knows which `*` and
//! `?` are wildcards; characters of query features this subset does not
//! have (boosting, fuzzy and proximity search, regular expressions, `&&`,
//! `||`, `!`, `+`) are refused here, saying which feature they belong to.

use super::QueryError;

/// One character of an unquoted word: literal, or a wildcard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WordChar {
    Lit(char),
    /// `*`: any run of characters, possibly empty.
    Many,
    /// `?`: exactly one character.
    One,
}

/// An unquoted word, escapes resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Word(pub Vec<WordChar>);

impl Word {
    /// Whether it has a wildcard.
    pub fn is_pattern(&self) -> bool {
        self.0.iter().any(|c| !matches!(c, WordChar::Lit(_)))
    }

    /// The text, wildcards written as `*` and `?` (for messages, and for
    /// words that may not hold wildcards).
    pub fn text(&self) -> String {
        self.0
            .iter()
            .map(|c| match c {
                WordChar::Lit(c) => *c,
                WordChar::Many => '*',
                WordChar::One => '?',
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Token {
    LParen,
    RParen,
    Colon,
    Lt,
    Gt,
    /// `[` or `{`: an inclusive or exclusive lower bound.
    Open {
        inclusive: bool,
    },
    /// `]` or `}`: an inclusive or exclusive upper bound.
    Close {
        inclusive: bool,
    },
    /// `-` before a clause or group: NOT.
    Minus,
    And,
    Or,
    Not,
    To,
    Word(Word),
    Quoted(String),
}

/// Characters that end an unquoted word.
fn ends_word(c: char) -> bool {
    c.is_whitespace() || "()[]{}:<>\"".contains(c)
}

/// The feature a refused character belongs to, if it is one.
fn refused(c: char, next: Option<char>) -> Option<&'static str> {
    match (c, next) {
        ('^', _) => Some("boosting (`^`)"),
        ('~', _) => Some("fuzzy and proximity search (`~`)"),
        ('&', Some('&')) => Some("`&&` (write AND)"),
        ('|', Some('|')) => Some("`||` (write OR)"),
        ('!', _) => Some("`!` (write NOT)"),
        ('+', _) => Some("required terms (`+`)"),
        _ => None,
    }
}

/// The tokens of `input`.
pub(super) fn tokens(input: &str) -> Result<Vec<Token>, QueryError> {
    let mut out = Vec::new();
    let mut chars = input.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let simple = match c {
            '(' => Some(Token::LParen),
            ')' => Some(Token::RParen),
            ':' => Some(Token::Colon),
            '<' => Some(Token::Lt),
            '>' => Some(Token::Gt),
            '[' => Some(Token::Open { inclusive: true }),
            '{' => Some(Token::Open { inclusive: false }),
            ']' => Some(Token::Close { inclusive: true }),
            '}' => Some(Token::Close { inclusive: false }),
            '-' => Some(Token::Minus),
            _ => None,
        };
        if let Some(token) = simple {
            chars.next();
            out.push(token);
            continue;
        }
        if c == '"' {
            chars.next();
            out.push(Token::Quoted(quoted(&mut chars)?));
            continue;
        }
        if c == '/' {
            return Err(QueryError::unsupported(
                "regular expressions (`/…/`)",
                input,
            ));
        }
        let word = word(&mut chars, input)?;
        out.push(keyword(&word).unwrap_or(Token::Word(word)));
    }
    Ok(out)
}

/// AND, OR, NOT and TO, written in capitals and unescaped, as in Lucene.
fn keyword(word: &Word) -> Option<Token> {
    if word.is_pattern() {
        return None;
    }
    match word.text().as_str() {
        "AND" => Some(Token::And),
        "OR" => Some(Token::Or),
        "NOT" => Some(Token::Not),
        "TO" => Some(Token::To),
        _ => None,
    }
}

/// The rest of a quoted string, after its opening quote. Inside quotes
/// `*` and `?` are literal; `\"` and `\\` are escapes.
fn quoted(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<String, QueryError> {
    let mut text = String::new();
    loop {
        match chars.next() {
            None => return Err(QueryError("a quoted value has no closing `\"`".into())),
            Some('"') => return Ok(text),
            Some('\\') => match chars.next() {
                Some(c) => text.push(c),
                None => return Err(QueryError("the query ends with a lone `\\`".into())),
            },
            Some(c) => text.push(c),
        }
    }
}

/// An unquoted word: up to whitespace or a character that ends words.
/// Hyphens inside a word are literal (`tv-1`); only a leading one is NOT.
fn word(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    input: &str,
) -> Result<Word, QueryError> {
    let mut word = Vec::new();
    while let Some(&c) = chars.peek() {
        if ends_word(c) {
            break;
        }
        chars.next();
        let piece = match c {
            '\\' => match chars.next() {
                Some(escaped) => WordChar::Lit(escaped),
                None => return Err(QueryError("the query ends with a lone `\\`".into())),
            },
            '*' => WordChar::Many,
            '?' => WordChar::One,
            c => {
                if let Some(feature) = refused(c, chars.peek().copied()) {
                    return Err(QueryError::unsupported(feature, input));
                }
                WordChar::Lit(c)
            }
        };
        word.push(piece);
    }
    Ok(Word(word))
}
