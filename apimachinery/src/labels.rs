//! Kubernetes label selectors: the grammar the API server accepts for `?labelSelector=`, its
//! validation rules, matching semantics and canonical string form.
//!
//! Contract kept by this module:
//! - [`Selector::parse`] accepts exactly the language of `k8s.io/apimachinery/pkg/labels.Parse`:
//!   comma-separated requirements `key`, `!key`, `key=v`, `key==v`, `key!=v`, `key in (v1,v2)`,
//!   `key notin (v1,v2)`, `key>N`, `key<N`; blanks (space, tab, CR, LF) separate tokens; `in` and
//!   `notin` are keywords only in operator position; value lists follow the API server's quirks
//!   (`in ()` is the set `{""}`, `(a,)` is `{a, ""}`, `(a,,)` is an error). One deliberate
//!   difference: a NUL byte is an ordinary (and therefore invalid) character here, where Go's lexer
//!   treats it as the end of the input.
//! - Keys are qualified names (optional DNS-1123 subdomain prefix of at most 253 characters, `/`,
//!   name of at most 63 characters); values are empty or at most 63 characters of `[A-Za-z0-9._-]`
//!   starting and ending alphanumeric. Validation messages carry the API server's wording.
//! - Errors never panic; they name the input, the byte position and what is wrong.
//! - Requirements are kept sorted (key, operator, values) and values sorted and de-duplicated, so
//!   [`Display`](fmt::Display) is canonical and parses back to an equal selector (except
//!   [`Selector::nothing`], which, as in Go, prints as the empty string).
//! - `=` and `==` are the same operator ([`Operator::Equals`]) and print as `=`.
//! - Matching is Go's: `!=` and `notin` match when the key is absent, `=` and `in` need it present;
//!   matching allocates nothing.

use std::collections::BTreeMap;
use std::fmt;

/// A label selector parse error naming the input and the byte position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid label selector {input:?} at position {position}: {message}")]
pub struct ParseError {
    /// The whole selector (for selectors built from a `LabelSelector`, the path of the offending
    /// entry, e.g. `matchExpressions[1]`).
    pub input: String,
    /// Byte offset of the problem.
    pub position: usize,
    /// What is wrong.
    pub message: String,
}

/// How a [`Requirement`] relates a key to its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operator {
    /// `key`: the key is present.
    Exists,
    /// `!key`: the key is absent.
    DoesNotExist,
    /// `key=v` or `key==v`: the key is present with value `v`.
    Equals,
    /// `key!=v`: the key is absent or its value is not `v`.
    NotEquals,
    /// `key in (a,b)`: the key is present with one of the values.
    In,
    /// `key notin (a,b)`: the key is absent or its value is none of the values.
    NotIn,
    /// `key>N`: the key is present and its value is an integer greater than `N`.
    GreaterThan,
    /// `key<N`: the key is present and its value is an integer less than `N`.
    LessThan,
}

impl Operator {
    /// The operator's name in the API server's messages (`in`, `notin`, `=`, `!=`, `gt`, `lt`,
    /// `exists`, `!`).
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Exists => "exists",
            Operator::DoesNotExist => "!",
            Operator::Equals => "=",
            Operator::NotEquals => "!=",
            Operator::In => "in",
            Operator::NotIn => "notin",
            Operator::GreaterThan => "gt",
            Operator::LessThan => "lt",
        }
    }
}

/// One validated `key op values` term of a selector.
///
/// Values are sorted and free of duplicates. Build one with [`Requirement::new`] or get them from
/// [`Selector::requirements`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Requirement {
    key: String,
    op: Operator,
    values: Vec<String>,
    /// The integer bound of `>`/`<` (0 for other operators).
    bound: i64,
}

impl Requirement {
    /// Builds and validates a requirement, with the API server's rules: a valid key; one value for
    /// `=`/`!=`; at least one for `in`/`notin`; none for exists/does-not-exist; one integer for
    /// `>`/`<`; every value a valid label value (the empty value included).
    ///
    /// ```
    /// use rudder_apimachinery::labels::{Operator, Requirement};
    /// let r = Requirement::new("tier", Operator::In, ["web", "api"]).unwrap();
    /// assert_eq!(r.values(), ["api", "web"]);
    /// assert_eq!(r.to_string(), "tier in (api,web)");
    /// ```
    pub fn new<I, V>(key: impl Into<String>, op: Operator, values: I) -> Result<Self, ParseError>
    where
        I: IntoIterator<Item = V>,
        V: Into<String>,
    {
        let key = key.into();
        let values: Vec<(String, usize)> = values.into_iter().map(|v| (v.into(), 0)).collect();
        let input = key.clone();
        build_requirement(key, op, values).map_err(|(_, message)| ParseError { input, position: 0, message })
    }

    /// The label key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.op
    }

    /// The values, sorted and de-duplicated (empty for exists/does-not-exist).
    pub fn values(&self) -> &[String] {
        &self.values
    }

    fn has_value(&self, v: &str) -> bool {
        if self.values.len() <= 4 {
            self.values.iter().any(|x| x == v)
        } else {
            self.values.binary_search_by(|x| x.as_str().cmp(v)).is_ok()
        }
    }

    /// Whether a label value (`None` when the key is absent) satisfies this requirement.
    pub fn matches_value(&self, value: Option<&str>) -> bool {
        match (self.op, value) {
            (Operator::Exists, v) => v.is_some(),
            (Operator::DoesNotExist, v) => v.is_none(),
            (Operator::Equals | Operator::In, Some(v)) => self.has_value(v),
            (Operator::Equals | Operator::In, None) => false,
            (Operator::NotEquals | Operator::NotIn, Some(v)) => !self.has_value(v),
            (Operator::NotEquals | Operator::NotIn, None) => true,
            (Operator::GreaterThan, Some(v)) => v.parse::<i64>().is_ok_and(|n| n > self.bound),
            (Operator::LessThan, Some(v)) => v.parse::<i64>().is_ok_and(|n| n < self.bound),
            (Operator::GreaterThan | Operator::LessThan, None) => false,
        }
    }

    /// Whether a label set satisfies this requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_value(labels.get(self.key.as_str()).map(String::as_str))
    }

    fn sort_key(&self) -> (&str, Operator, &[String]) {
        (&self.key, self.op, &self.values)
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let one = self.values.first().map(String::as_str).unwrap_or("");
        match self.op {
            Operator::Exists => f.write_str(&self.key),
            Operator::DoesNotExist => write!(f, "!{}", self.key),
            Operator::Equals => write!(f, "{}={one}", self.key),
            Operator::NotEquals => write!(f, "{}!={one}", self.key),
            Operator::GreaterThan => write!(f, "{}>{one}", self.key),
            Operator::LessThan => write!(f, "{}<{one}", self.key),
            Operator::In | Operator::NotIn => {
                write!(f, "{} {} (", self.key, self.op.as_str())?;
                for (i, v) in self.values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    f.write_str(v)?;
                }
                f.write_str(")")
            }
        }
    }
}

/// A parsed label selector: a conjunction of [`Requirement`]s, or the special selector that
/// matches nothing.
///
/// ```
/// use std::collections::BTreeMap;
/// use rudder_apimachinery::labels::Selector;
/// let sel: Selector = "tier in (web, api), !canary, env!=prod".parse().unwrap();
/// assert_eq!(sel.to_string(), "!canary,env!=prod,tier in (api,web)");
/// let labels = BTreeMap::from([("tier".to_string(), "web".to_string())]);
/// assert!(sel.matches(&labels));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct Selector {
    nothing: bool,
    requirements: Vec<Requirement>,
}

impl Selector {
    /// Parses the API server's selector grammar (see the module documentation). The empty or
    /// all-blank string is [`Selector::everything`].
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let tokens = lex(input);
        let mut p = Parser { input, tokens, next: 0 };
        let requirements =
            p.parse().map_err(|(position, message)| ParseError { input: input.to_owned(), position, message })?;
        Ok(Self::new(requirements))
    }

    /// A selector from requirements (sorted into canonical order).
    pub fn new(mut requirements: Vec<Requirement>) -> Self {
        requirements.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        Self { nothing: false, requirements }
    }

    /// Matches every label set.
    pub fn everything() -> Self {
        Self { nothing: false, requirements: Vec::new() }
    }

    /// Matches no label set. Prints as the empty string, like Go's `labels.Nothing()`.
    pub fn nothing() -> Self {
        Self { nothing: true, requirements: Vec::new() }
    }

    /// Whether this is [`Selector::nothing`].
    pub fn is_nothing(&self) -> bool {
        self.nothing
    }

    /// Adds a requirement, keeping canonical order. Adding to [`Selector::nothing`] keeps it
    /// matching nothing.
    pub fn with_requirement(mut self, requirement: Requirement) -> Self {
        if !self.nothing {
            let pos = self.requirements.partition_point(|r| r.sort_key() <= requirement.sort_key());
            self.requirements.insert(pos, requirement);
        }
        self
    }

    /// The requirements in canonical order (empty for both everything and nothing; see
    /// [`Selector::is_nothing`]).
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Whether the labels satisfy every requirement. Allocates nothing.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_fn(|k| labels.get(k).map(String::as_str))
    }

    /// Like [`Selector::matches`] for any label source: `get(key)` returns the value of a label,
    /// `None` when absent.
    pub fn matches_fn<'v>(&self, get: impl Fn(&str) -> Option<&'v str>) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches_value(get(&r.key)))
    }

    /// Whether this selector has no requirements (matches everything). False for
    /// [`Selector::nothing`].
    pub fn is_empty(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    /// If the selector requires `key` to have one specific value (`key=v` or `key in (v)`),
    /// that value; lets indexers answer a list call from an index.
    pub fn requires_exact_match(&self, key: &str) -> Option<&str> {
        let r = self.requirements.iter().find(|r| r.key == key)?;
        match (r.op, r.values.as_slice()) {
            (Operator::Equals | Operator::In, [v]) => Some(v),
            _ => None,
        }
    }

    /// From a `LabelSelector` (`None` matches nothing; an empty one everything): `matchLabels`
    /// become `=` requirements, `matchExpressions` `In`/`NotIn`/`Exists`/`DoesNotExist`
    /// requirements. Invalid keys, values or operators are errors naming the offending entry.
    pub fn from_label_selector(
        sel: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>,
    ) -> Result<Self, ParseError> {
        let Some(sel) = sel else { return Ok(Self::nothing()) };
        let mut requirements = Vec::new();
        let entry_error = |input: String, message: String| ParseError { input, position: 0, message };
        for (k, v) in sel.match_labels.iter().flatten() {
            let r = build_requirement(k.clone(), Operator::Equals, vec![(v.clone(), 0)])
                .map_err(|(_, m)| entry_error(format!("matchLabels[{k}]"), m))?;
            requirements.push(r);
        }
        for (i, expr) in sel.match_expressions.iter().flatten().enumerate() {
            let path = || format!("matchExpressions[{i}]");
            let op = match expr.operator.as_str() {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                other => {
                    return Err(entry_error(path(), format!("{other:?} is not a valid label selector operator")));
                }
            };
            let values = expr.values.iter().flatten().map(|v| (v.clone(), 0)).collect();
            let r = build_requirement(expr.key.clone(), op, values).map_err(|(_, m)| entry_error(path(), m))?;
            requirements.push(r);
        }
        Ok(Self::new(requirements))
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            fmt::Display::fmt(r, f)?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Selector {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

// ---------------------------------------------------------------------------------------------
// Validation (messages worded as k8s.io/apimachinery/pkg/util/validation words them).

const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and \
                                  end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', \
                               '_' or '.', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric \
                                     characters, '-' or '.', and must start and end with an alphanumeric character";
/// Longest label name (the part after `/`) and longest label value.
pub const MAX_NAME_LEN: usize = 63;
/// Longest key prefix (a DNS-1123 subdomain).
pub const MAX_PREFIX_LEN: usize = 253;

fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    let mut s = format!("{msg} (e.g. ");
    for (i, e) in examples.iter().enumerate() {
        if i > 0 {
            s.push_str(" or ");
        }
        s.push('\'');
        s.push_str(e);
        s.push_str("', ");
    }
    s.push_str("regex used for validation is '");
    s.push_str(fmt);
    s.push_str("')");
    s
}

fn max_len_error(n: usize) -> String {
    format!("must be no more than {n} characters")
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
fn is_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => {
            f.is_ascii_alphanumeric()
                && l.is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*`
fn is_dns1123_subdomain_syntax(s: &str) -> bool {
    s.split('.').all(|label| {
        let b = label.as_bytes();
        let ok_end = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        match (b.first(), b.last()) {
            (Some(f), Some(l)) => ok_end(f) && ok_end(l) && b.iter().all(|c| ok_end(c) || *c == b'-'),
            _ => false,
        }
    })
}

fn key_errors(key: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let mut parts = key.split('/');
    let first = parts.next().unwrap_or("");
    let (prefix, name) = match (parts.next(), parts.next()) {
        (None, _) => (None, first),
        (Some(name), None) => (Some(first), name),
        (Some(_), Some(_)) => {
            errs.push(format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, &["MyName", "my.name", "123-abc"])
            ));
            return errs;
        }
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            errs.push("prefix part must be non-empty".to_owned());
        } else {
            if prefix.len() > MAX_PREFIX_LEN {
                errs.push(format!("prefix part {}", max_len_error(MAX_PREFIX_LEN)));
            }
            if !is_dns1123_subdomain_syntax(prefix) {
                errs.push(format!(
                    "prefix part {}",
                    regex_error(DNS1123_SUBDOMAIN_MSG, DNS1123_SUBDOMAIN_FMT, &["example.com"])
                ));
            }
        }
    }
    if name.is_empty() {
        errs.push("name part must be non-empty".to_owned());
    } else if name.len() > MAX_NAME_LEN {
        errs.push(format!("name part {}", max_len_error(MAX_NAME_LEN)));
    }
    if !is_qualified_name_part(name) {
        errs.push(format!(
            "name part {}",
            regex_error(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, &["MyName", "my.name", "123-abc"])
        ));
    }
    errs
}

fn value_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > MAX_NAME_LEN {
        errs.push(max_len_error(MAX_NAME_LEN));
    }
    if !value.is_empty() && !is_qualified_name_part(value) {
        errs.push(regex_error(LABEL_VALUE_MSG, LABEL_VALUE_FMT, &["MyValue", "my_value", "12345"]));
    }
    errs
}

/// Checks a label key (qualified name with optional DNS-1123 subdomain prefix); the error lists
/// every rule broken, worded as the API server words it, joined by `"; "`.
pub fn validate_label_key(key: &str) -> Result<(), String> {
    let errs = key_errors(key);
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("; "))
    }
}

/// Checks a label value (empty, or at most 63 characters of `[A-Za-z0-9._-]` starting and ending
/// alphanumeric); the error is worded as the API server words it.
pub fn validate_label_value(value: &str) -> Result<(), String> {
    let errs = value_errors(value);
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("; "))
    }
}

fn key_error_message(key: &str, detail: String) -> String {
    format!("invalid label key {key:?}: {detail}")
}

/// Validates and builds; errors carry the position of the offending value (or 0 for the key and
/// the operator) and a message.
fn build_requirement(key: String, op: Operator, values: Vec<(String, usize)>) -> Result<Requirement, (usize, String)> {
    if let Err(e) = validate_label_key(&key) {
        return Err((0, key_error_message(&key, e)));
    }
    let first_pos = values.first().map_or(0, |v| v.1);
    let count_error = match op {
        Operator::In | Operator::NotIn if values.is_empty() => {
            Some("for 'in', 'notin' operators, values set can't be empty")
        }
        Operator::Equals | Operator::NotEquals if values.len() != 1 => {
            Some("exact-match compatibility requires one single value")
        }
        Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
            Some("values set must be empty for exists and does not exist")
        }
        Operator::GreaterThan | Operator::LessThan if values.len() != 1 => {
            Some("for 'Gt', 'Lt' operators, exactly one value is required")
        }
        _ => None,
    };
    if let Some(m) = count_error {
        return Err((first_pos, m.to_owned()));
    }
    let mut bound = 0;
    if matches!(op, Operator::GreaterThan | Operator::LessThan) {
        match values.first().map(|v| v.0.parse::<i64>()) {
            Some(Ok(n)) => bound = n,
            _ => return Err((first_pos, "for 'Gt', 'Lt' operators, the value must be an integer".to_owned())),
        }
    }
    for (v, pos) in &values {
        if let Err(e) = validate_label_value(v) {
            return Err((*pos, format!("invalid label value {v:?} for key {key:?}: {e}")));
        }
    }
    let mut values: Vec<String> = values.into_iter().map(|v| v.0).collect();
    values.sort();
    values.dedup();
    Ok(Requirement { key, op, values, bound })
}

// ---------------------------------------------------------------------------------------------
// Lexer and parser (same token language and decisions as the Go parser).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    End,
    Ident,
    /// The keyword `in` (an identifier where values or keys are expected).
    In,
    /// The keyword `notin` (an identifier where values or keys are expected).
    NotIn,
    Comma,
    Open,
    Close,
    Bang,
    Eq,
    DoubleEq,
    NotEq,
    Gt,
    Lt,
}

#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    tok: Tok,
    text: &'a str,
    pos: usize,
}

fn is_blank(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(c: u8) -> bool {
    matches!(c, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

/// Splits the input into tokens; always ends with one `End` token. All boundaries fall next to
/// ASCII bytes, so slicing is always on character boundaries.
fn lex(input: &str) -> Vec<Token<'_>> {
    let b = input.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while b.get(i).copied().is_some_and(is_blank) {
            i += 1;
        }
        let start = i;
        let Some(&c) = b.get(i) else {
            out.push(Token { tok: Tok::End, text: "", pos: b.len() });
            return out;
        };
        let tok = if is_special(c) {
            match (c, b.get(i + 1).copied()) {
                (b'!', Some(b'=')) => {
                    i += 2;
                    Tok::NotEq
                }
                (b'=', Some(b'=')) => {
                    i += 2;
                    Tok::DoubleEq
                }
                _ => {
                    i += 1;
                    match c {
                        b'!' => Tok::Bang,
                        b'=' => Tok::Eq,
                        b'(' => Tok::Open,
                        b')' => Tok::Close,
                        b',' => Tok::Comma,
                        b'>' => Tok::Gt,
                        _ => Tok::Lt,
                    }
                }
            }
        } else {
            while b.get(i).is_some_and(|&c| !is_special(c) && !is_blank(c)) {
                i += 1;
            }
            match input.get(start..i) {
                Some("in") => Tok::In,
                Some("notin") => Tok::NotIn,
                _ => Tok::Ident,
            }
        };
        out.push(Token { tok, text: input.get(start..i).unwrap_or(""), pos: start });
    }
}

/// Where the parser is: keywords are operators only in `Operator` context.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Operator,
    Values,
}

type PResult<T> = Result<T, (usize, String)>;

struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Token<'a>>,
    next: usize,
}

impl<'a> Parser<'a> {
    fn token(&self, ctx: Ctx) -> Token<'a> {
        let idx = self.next.min(self.tokens.len().saturating_sub(1));
        let mut t = self.tokens.get(idx).copied().unwrap_or(Token { tok: Tok::End, text: "", pos: self.input.len() });
        if ctx == Ctx::Values && matches!(t.tok, Tok::In | Tok::NotIn) {
            t.tok = Tok::Ident;
        }
        t
    }

    fn peek(&self, ctx: Ctx) -> Token<'a> {
        self.token(ctx)
    }

    fn bump(&mut self, ctx: Ctx) -> Token<'a> {
        let t = self.token(ctx);
        if self.next < self.tokens.len() {
            self.next += 1;
        }
        t
    }

    fn found(t: Token<'_>, expected: &str) -> (usize, String) {
        (t.pos, format!("found '{}', expected: {expected}", t.text))
    }

    fn in_requirement<T>(r: PResult<T>) -> PResult<T> {
        r.map_err(|(p, m)| (p, format!("unable to parse requirement: {m}")))
    }

    fn parse(&mut self) -> PResult<Vec<Requirement>> {
        let mut out = Vec::new();
        loop {
            let t = self.peek(Ctx::Values);
            match t.tok {
                Tok::Ident | Tok::Bang => {
                    out.push(Self::in_requirement(self.requirement())?);
                    let t = self.bump(Ctx::Values);
                    match t.tok {
                        Tok::End => return Ok(out),
                        Tok::Comma => {
                            let t2 = self.peek(Ctx::Values);
                            if !matches!(t2.tok, Tok::Ident | Tok::Bang) {
                                return Err(Self::found(t2, "identifier after ','"));
                            }
                        }
                        _ => return Err(Self::found(t, "',' or 'end of string'")),
                    }
                }
                Tok::End => return Ok(out),
                _ => return Err(Self::found(t, "!, identifier, or 'end of string'")),
            }
        }
    }

    fn requirement(&mut self) -> PResult<Requirement> {
        let (key, key_pos, unary) = self.key_and_unary_operator()?;
        let op = match unary {
            Some(op) => op,
            None => self.operator()?,
        };
        let values = match op {
            Operator::Exists | Operator::DoesNotExist => Vec::new(),
            Operator::In | Operator::NotIn => self.value_set()?,
            _ => self.exact_value()?,
        };
        build_requirement(key.to_owned(), op, values).map_err(|(pos, m)| {
            // Key problems were reported already; remaining ones point at a value (or, with no
            // values, at the key).
            (if pos == 0 { key_pos } else { pos }, m)
        })
    }

    /// `[!] KEY`, inferring exists/does-not-exist when no binary operator follows.
    fn key_and_unary_operator(&mut self) -> PResult<(&'a str, usize, Option<Operator>)> {
        let mut t = self.bump(Ctx::Values);
        let negated = t.tok == Tok::Bang;
        if negated {
            t = self.bump(Ctx::Values);
        }
        if t.tok != Tok::Ident {
            return Err(Self::found(t, "identifier"));
        }
        if let Err(e) = validate_label_key(t.text) {
            return Err((t.pos, key_error_message(t.text, e)));
        }
        let unary = if negated {
            Some(Operator::DoesNotExist)
        } else if matches!(self.peek(Ctx::Values).tok, Tok::End | Tok::Comma) {
            Some(Operator::Exists)
        } else {
            None
        };
        Ok((t.text, t.pos, unary))
    }

    fn operator(&mut self) -> PResult<Operator> {
        let t = self.bump(Ctx::Operator);
        Ok(match t.tok {
            Tok::In => Operator::In,
            Tok::NotIn => Operator::NotIn,
            Tok::Eq | Tok::DoubleEq => Operator::Equals,
            Tok::NotEq => Operator::NotEquals,
            Tok::Gt => Operator::GreaterThan,
            Tok::Lt => Operator::LessThan,
            _ => return Err(Self::found(t, "in, notin, =, ==, !=, gt, lt")),
        })
    }

    /// `( values )` after `in`/`notin`.
    fn value_set(&mut self) -> PResult<Vec<(String, usize)>> {
        let t = self.bump(Ctx::Values);
        if t.tok != Tok::Open {
            return Err((t.pos, format!("found '{}' expected: '('", t.text)));
        }
        let t = self.peek(Ctx::Values);
        match t.tok {
            Tok::Ident | Tok::Comma => {
                let values = self.value_list()?;
                let close = self.bump(Ctx::Values);
                if close.tok != Tok::Close {
                    return Err(Self::found(close, "')'"));
                }
                Ok(values)
            }
            Tok::Close => {
                self.bump(Ctx::Values);
                Ok(vec![(String::new(), t.pos)])
            }
            _ => Err(Self::found(t, "',', ')' or identifier")),
        }
    }

    /// A comma-separated list of possibly empty values, stopping before `)`. Empty entries follow
    /// the Go parser exactly (including its rejection of `(a,,)`).
    fn value_list(&mut self) -> PResult<Vec<(String, usize)>> {
        let mut values: Vec<(String, usize)> = Vec::new();
        loop {
            let t = self.bump(Ctx::Values);
            match t.tok {
                Tok::Ident => {
                    values.push((t.text.to_owned(), t.pos));
                    let t2 = self.peek(Ctx::Values);
                    match t2.tok {
                        Tok::Comma => continue,
                        Tok::Close => return Ok(values),
                        _ => return Err(Self::found(t2, "',' or ')'")),
                    }
                }
                Tok::Comma => {
                    if values.is_empty() {
                        values.push((String::new(), t.pos));
                    }
                    let t2 = self.peek(Ctx::Values);
                    match t2.tok {
                        Tok::Close => {
                            values.push((String::new(), t.pos));
                            return Ok(values);
                        }
                        Tok::Comma => {
                            self.bump(Ctx::Values);
                            values.push((String::new(), t2.pos));
                        }
                        _ => {}
                    }
                }
                _ => return Err(Self::found(t, "',', or identifier")),
            }
        }
    }

    /// The single value after `=`, `==`, `!=`, `>` or `<` (empty when the requirement ends).
    fn exact_value(&mut self) -> PResult<Vec<(String, usize)>> {
        let t = self.peek(Ctx::Values);
        if matches!(t.tok, Tok::End | Tok::Comma) {
            return Ok(vec![(String::new(), t.pos)]);
        }
        let t = self.bump(Ctx::Values);
        if t.tok == Tok::Ident {
            Ok(vec![(t.text.to_owned(), t.pos)])
        } else {
            Err(Self::found(t, "identifier"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn parse_ok(input: &str) -> Selector {
        Selector::parse(input).unwrap_or_else(|e| panic!("{input:?} should parse: {e}"))
    }

    fn parse_err(input: &str) -> ParseError {
        match Selector::parse(input) {
            Ok(s) => panic!("{input:?} should fail, parsed as {s:?}"),
            Err(e) => e,
        }
    }

    /// Every successful parse prints canonically and parses back to an equal selector.
    fn assert_round_trip(sel: &Selector) {
        let printed = sel.to_string();
        let again = Selector::parse(&printed).unwrap_or_else(|e| panic!("{printed:?} does not reparse: {e}"));
        assert_eq!(&again, sel, "round trip of {printed:?}");
        assert_eq!(again.to_string(), printed);
    }

    #[test]
    fn parses_every_operator_to_its_canonical_form() {
        let cases: &[(&str, &str)] = &[
            ("", ""),
            (" \t\r\n ", ""),
            ("x", "x"),
            ("!x", "!x"),
            ("! x", "!x"),
            ("  x  ", "x"),
            ("x=a", "x=a"),
            ("x==a", "x=a"),
            ("x!=a", "x!=a"),
            ("x = a", "x=a"),
            ("x\t==\na", "x=a"),
            ("x !=a", "x!=a"),
            ("x=", "x="),
            ("x==", "x="),
            ("x!=", "x!="),
            ("x=,y", "x=,y"),
            ("x= ,y", "x=,y"),
            ("x in (a,b)", "x in (a,b)"),
            ("x in (b, a ,a)", "x in (a,b)"),
            ("x in(a)", "x in (a)"),
            ("x in ( a )", "x in (a)"),
            ("x notin (a)", "x notin (a)"),
            ("x notin(b,a)", "x notin (a,b)"),
            ("x in ()", "x in ()"),
            ("x in ( )", "x in ()"),
            ("x in (,)", "x in ()"),
            ("x in (,,,)", "x in ()"),
            ("x in (a,)", "x in (,a)"),
            ("x in (,a)", "x in (,a)"),
            ("x in (a,,b)", "x in (,a,b)"),
            ("x in (a,,,b)", "x in (,a,b)"),
            ("x notin ()", "x notin ()"),
            ("x in (in,notin)", "x in (in,notin)"),
            ("in in (in)", "in in (in)"),
            ("notin notin (x)", "notin notin (x)"),
            ("in", "in"),
            ("!notin", "!notin"),
            ("x=in", "x=in"),
            ("x!=notin", "x!=notin"),
            ("x>1", "x>1"),
            ("x < 10", "x<10"),
            ("x>007", "x>007"),
            ("b=2,a=1", "a=1,b=2"),
            ("a!=2,a!=1", "a!=1,a!=2"),
            ("a,b,!c", "a,b,!c"),
            ("c , b , a", "a,b,c"),
            ("example.com/app=web", "example.com/app=web"),
            ("k8s.io/a-b_c.d=V_1.x-Y", "k8s.io/a-b_c.d=V_1.x-Y"),
            ("tier in (web, api), !canary, env!=prod", "!canary,env!=prod,tier in (api,web)"),
            ("x=a,x in (b)", "x=a,x in (b)"),
        ];
        for (input, canonical) in cases {
            let sel = parse_ok(input);
            assert_eq!(sel.to_string(), *canonical, "canonical form of {input:?}");
            assert_round_trip(&sel);
            let from_str: Selector = input.parse().unwrap();
            assert_eq!(from_str, sel);
        }
    }

    #[test]
    fn exposes_parsed_requirements() {
        let sel = parse_ok("x in (b,a,,a), !y, z==1, w!=2, v, u>3, t<4, s notin (q)");
        let got: Vec<(&str, Operator, Vec<&str>)> = sel
            .requirements()
            .iter()
            .map(|r| (r.key(), r.operator(), r.values().iter().map(String::as_str).collect()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("s", Operator::NotIn, vec!["q"]),
                ("t", Operator::LessThan, vec!["4"]),
                ("u", Operator::GreaterThan, vec!["3"]),
                ("v", Operator::Exists, vec![]),
                ("w", Operator::NotEquals, vec!["2"]),
                ("x", Operator::In, vec!["", "a", "b"]),
                ("y", Operator::DoesNotExist, vec![]),
                ("z", Operator::Equals, vec!["1"]),
            ]
        );
        assert!(!sel.is_empty());
        assert!(parse_ok("").is_empty());
        assert!(parse_ok("").requirements().is_empty());
    }

    #[test]
    fn reports_syntax_errors_with_go_messages_and_positions() {
        let cases: &[(&str, usize, &str)] = &[
            (",", 0, "found ',', expected: !, identifier, or 'end of string'"),
            ("=a", 0, "found '=', expected: !, identifier, or 'end of string'"),
            ("(", 0, "found '(', expected: !, identifier, or 'end of string'"),
            (")", 0, "found ')', expected: !, identifier, or 'end of string'"),
            ("x,", 2, "found '', expected: identifier after ','"),
            ("x,,y", 2, "found ',', expected: identifier after ','"),
            ("x, =", 3, "found '=', expected: identifier after ','"),
            ("x y", 2, "unable to parse requirement: found 'y', expected: in, notin, =, ==, !=, gt, lt"),
            ("x !y", 2, "found '!', expected: in, notin, =, ==, !=, gt, lt"),
            ("x (a)", 2, "found '(', expected: in, notin"),
            ("x=a b", 4, "found 'b', expected: ',' or 'end of string'"),
            ("x in (a) y", 9, "found 'y', expected: ',' or 'end of string'"),
            ("!x=a", 2, "found '=', expected: ',' or 'end of string'"),
            ("x===a", 3, "found '=', expected: identifier"),
            ("x=(a)", 2, "found '(', expected: identifier"),
            ("!!x", 1, "found '!', expected: identifier"),
            ("!", 1, "found '', expected: identifier"),
            ("! ,", 2, "found ',', expected: identifier"),
            ("x in", 4, "found '' expected: '('"),
            ("x in a", 5, "found 'a' expected: '('"),
            ("x in )", 5, "found ')' expected: '('"),
            ("x in ((", 6, "found '(', expected: ',', ')' or identifier"),
            ("x in (", 6, "found '', expected: ',', ')' or identifier"),
            ("x in (a", 7, "found '', expected: ',' or ')'"),
            ("x in (a,b", 9, "found '', expected: ',' or ')'"),
            ("x in (a b)", 8, "found 'b', expected: ',' or ')'"),
            ("x in (a,,)", 9, "found ')', expected: ',', or identifier"),
            ("x in (,,)", 8, "found ')', expected: ',', or identifier"),
            ("x in (a,=)", 8, "found '=', expected: ',', or identifier"),
            ("x in (a))", 8, "found ')', expected: ',' or 'end of string'"),
            ("x>a", 2, "for 'Gt', 'Lt' operators, the value must be an integer"),
            ("x<", 2, "for 'Gt', 'Lt' operators, the value must be an integer"),
            ("x>99999999999999999999", 2, "for 'Gt', 'Lt' operators, the value must be an integer"),
        ];
        for (input, position, message) in cases {
            let e = parse_err(input);
            assert_eq!(e.input, *input);
            assert_eq!(e.position, *position, "position for {input:?}: {e}");
            assert!(e.message.contains(message), "message for {input:?}: got {:?}, want {message:?}", e.message);
            assert!(e.message.starts_with("unable to parse requirement: ") || e.message.starts_with("found '"));
        }
    }

    #[test]
    fn validates_keys_like_the_api_server() {
        let name63 = "a".repeat(63);
        let name64 = "a".repeat(64);
        let prefix253 = "p".repeat(253);
        let prefix254 = "p".repeat(254);
        let ok: Vec<String> = vec![
            "a".into(),
            "A".into(),
            "1".into(),
            "a.b_c-D".into(),
            "a--b".into(),
            name63.clone(),
            format!("{prefix253}/{name63}"),
            "example.com/x".into(),
            "a-b.c-d.e1/x".into(),
            "1.2.3/x".into(),
        ];
        for key in &ok {
            assert!(validate_label_key(key).is_ok(), "{key:?} should be a valid key");
            assert_eq!(parse_ok(key).requirements()[0].key(), key);
        }
        let bad: Vec<(String, &str)> = vec![
            (name64.clone(), "name part must be no more than 63 characters"),
            (format!("x/{name64}"), "name part must be no more than 63 characters"),
            (format!("{prefix254}/x"), "prefix part must be no more than 253 characters"),
            ("-a".into(), "name part must consist of alphanumeric characters"),
            ("a-".into(), "name part must consist of alphanumeric characters"),
            ("_a".into(), "name part must consist"),
            ("a.".into(), "name part must consist"),
            ("a@b".into(), "name part must consist"),
            ("ünï".into(), "name part must consist"),
            ("a\0".into(), "name part must consist"),
            ("/a".into(), "prefix part must be non-empty"),
            ("a/".into(), "name part must be non-empty"),
            ("a/b/c".into(), "a qualified name must consist of"),
            ("A.com/x".into(), "prefix part a lowercase RFC 1123 subdomain must consist of"),
            ("a..b/x".into(), "prefix part a lowercase RFC 1123 subdomain"),
            ("-a/x".into(), "prefix part a lowercase RFC 1123 subdomain"),
            ("a-.b/x".into(), "prefix part a lowercase RFC 1123 subdomain"),
            ("a_b/x".into(), "prefix part a lowercase RFC 1123 subdomain"),
        ];
        for (key, message) in &bad {
            let detail = validate_label_key(key).expect_err(key);
            assert!(detail.contains(message), "{key:?}: {detail:?} lacks {message:?}");
            for input in [key.clone(), format!("!{key}"), format!("{key}=v"), format!("ok,{key} in (v)")] {
                let e = parse_err(&input);
                assert!(e.message.contains(message), "{input:?}: {e}");
                assert!(e.message.contains("invalid label key"), "{input:?}: {e}");
                assert_eq!(&input[e.position..e.position + key.len()], key.as_str(), "position for {input:?}");
            }
        }
        // Exact wording, as the API server words it.
        assert_eq!(
            validate_label_key("-x").unwrap_err(),
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an \
             alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is \
             '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        );
        // An over-long name breaking the character rules too reports both.
        let both = validate_label_key(&format!("{name64}-")).unwrap_err();
        assert!(both.contains("no more than 63") && both.contains("; name part must consist"), "{both}");
    }

    #[test]
    fn validates_values_like_the_api_server() {
        let v63 = "v".repeat(63);
        let v64 = "v".repeat(64);
        for v in ["", "a", "A", "1", "a.b_c-D", "a__b", v63.as_str()] {
            assert!(validate_label_value(v).is_ok(), "{v:?}");
            assert!(Selector::parse(&format!("k={v}")).is_ok(), "{v:?}");
            assert!(Selector::parse(&format!("k in ({v})")).is_ok(), "{v:?}");
        }
        let bad: &[(&str, &str)] = &[
            (&v64, "must be no more than 63 characters"),
            ("-a", "a valid label must be an empty string or consist of"),
            ("a-", "a valid label must be"),
            ("_a", "a valid label must be"),
            ("a.", "a valid label must be"),
            ("a/b", "a valid label must be"),
            ("ü", "a valid label must be"),
            ("-1", "a valid label must be"),
        ];
        for (v, message) in bad {
            let detail = validate_label_value(v).unwrap_err();
            assert!(detail.contains(message), "{v:?}: {detail}");
            for (input, pos) in [
                (format!("key={v}"), 4),
                (format!("key!= {v}"), 6),
                (format!("key in (ok,{v})"), 11),
                (format!("key notin ({v})"), 11),
            ] {
                let e = parse_err(&input);
                assert!(e.message.contains(message), "{input:?}: {e}");
                assert!(e.message.contains("invalid label value"), "{input:?}: {e}");
                assert_eq!(e.position, pos, "{input:?}");
            }
        }
        // An integer bound must also be a valid label value.
        assert!(parse_err("x>-1").message.contains("a valid label must be"));
        assert!(parse_err("x>+1").message.contains("a valid label must be"));
    }

    #[test]
    fn matches_with_go_semantics() {
        let set = labels(&[("app", "web"), ("tier", ""), ("n", "5"), ("neg", "-3")]);
        let cases: &[(&str, bool)] = &[
            ("", true),
            ("app", true),
            ("!app", false),
            ("missing", false),
            ("!missing", true),
            ("tier", true),
            ("app=web", true),
            ("app==web", true),
            ("app=api", false),
            ("missing=x", false),
            ("missing=", false),
            ("tier=", true),
            ("tier=x", false),
            ("app!=api", true),
            ("app!=web", false),
            ("missing!=x", true),
            ("missing!=", true),
            ("tier!=", false),
            ("app in (web,api)", true),
            ("app in (api)", false),
            ("missing in (x)", false),
            ("missing in ()", false),
            ("tier in ()", true),
            ("tier in (a,)", true),
            ("app notin (web)", false),
            ("app notin (api,db)", true),
            ("missing notin (x)", true),
            ("tier notin ()", false),
            ("app in (a,b,c,d,web,z)", true),
            ("app in (a,b,c,d,e,z)", false),
            ("app notin (a,b,c,d,web,z)", false),
            ("n>4", true),
            ("n>5", false),
            ("n<6", true),
            ("n<5", false),
            ("neg<0", true),
            ("neg>0", false),
            ("app>1", false),
            ("app<1", false),
            ("tier<1", false),
            ("missing>1", false),
            ("missing<1", false),
            ("app=web,tier", true),
            ("app=web,!tier", false),
            ("app=web,n>1,missing notin (a),!other", true),
        ];
        for (input, want) in cases {
            let sel = parse_ok(input);
            assert_eq!(sel.matches(&set), *want, "{input:?} against {set:?}");
            assert_eq!(sel.matches_fn(|k| set.get(k).map(String::as_str)), *want, "{input:?} via matches_fn");
        }
        assert!(Selector::everything().matches(&BTreeMap::new()));
        assert!(!Selector::nothing().matches(&BTreeMap::new()));
        assert!(!Selector::nothing().matches(&set));
        assert!(parse_ok("!a").matches(&BTreeMap::new()));
        assert!(!parse_ok("a").matches(&BTreeMap::new()));
    }

    #[test]
    fn everything_nothing_and_with_requirement() {
        assert!(Selector::everything().is_empty());
        assert!(!Selector::everything().is_nothing());
        assert!(!Selector::nothing().is_empty());
        assert!(Selector::nothing().is_nothing());
        assert_eq!(Selector::nothing().to_string(), "");
        assert_eq!(Selector::default(), Selector::everything());
        assert_ne!(Selector::nothing(), Selector::everything());

        let a = Requirement::new("a", Operator::Equals, ["1"]).unwrap();
        let b = Requirement::new("b", Operator::Exists, Vec::<String>::new()).unwrap();
        let sel = Selector::everything().with_requirement(b.clone()).with_requirement(a.clone());
        assert_eq!(sel.to_string(), "a=1,b");
        assert_eq!(sel, parse_ok("b,a=1"));
        assert_eq!(sel, Selector::new(vec![b.clone(), a.clone()]));
        let none = Selector::nothing().with_requirement(a);
        assert!(none.is_nothing());
        assert!(!none.matches(&labels(&[("a", "1")])));
    }

    #[test]
    fn requirement_new_validates_counts_and_values() {
        let r = Requirement::new("tier", Operator::NotIn, ["b", "a", "b"]).unwrap();
        assert_eq!(r.values(), ["a", "b"]);
        assert_eq!(r.to_string(), "tier notin (a,b)");
        assert!(r.matches(&labels(&[("tier", "c")])));
        assert!(!r.matches(&labels(&[("tier", "a")])));

        let none: [&str; 0] = [];
        let cases: Vec<(Result<Requirement, ParseError>, &str)> = vec![
            (Requirement::new("k", Operator::In, none), "values set can't be empty"),
            (Requirement::new("k", Operator::NotIn, none), "values set can't be empty"),
            (Requirement::new("k", Operator::Equals, ["a", "b"]), "requires one single value"),
            (Requirement::new("k", Operator::NotEquals, none), "requires one single value"),
            (Requirement::new("k", Operator::Exists, ["a"]), "values set must be empty"),
            (Requirement::new("k", Operator::DoesNotExist, ["a"]), "values set must be empty"),
            (Requirement::new("k", Operator::GreaterThan, ["1", "2"]), "exactly one value is required"),
            (Requirement::new("k", Operator::LessThan, ["x"]), "the value must be an integer"),
            (Requirement::new("k", Operator::In, ["a", "-b"]), "invalid label value \"-b\""),
            (Requirement::new("", Operator::Exists, none), "name part must be non-empty"),
        ];
        for (result, message) in cases {
            let e = result.expect_err(message);
            assert!(e.message.contains(message), "{e}");
        }
    }

    #[test]
    fn requires_exact_match() {
        let sel = parse_ok("a=1,b in (2),c in (3,4),d!=5,e");
        assert_eq!(sel.requires_exact_match("a"), Some("1"));
        assert_eq!(sel.requires_exact_match("b"), Some("2"));
        assert_eq!(sel.requires_exact_match("c"), None);
        assert_eq!(sel.requires_exact_match("d"), None);
        assert_eq!(sel.requires_exact_match("e"), None);
        assert_eq!(sel.requires_exact_match("f"), None);
    }

    fn expr(key: &str, op: &str, values: Option<&[&str]>) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: values.map(|v| v.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[test]
    fn converts_label_selectors() {
        let none = Selector::from_label_selector(None).unwrap();
        assert!(none.is_nothing());
        assert!(!none.matches(&BTreeMap::new()));

        for empty in [
            LabelSelector::default(),
            LabelSelector { match_labels: Some(BTreeMap::new()), match_expressions: Some(vec![]) },
        ] {
            let sel = Selector::from_label_selector(Some(&empty)).unwrap();
            assert!(sel.is_empty());
            assert!(sel.matches(&labels(&[("x", "y")])));
        }

        let ls = LabelSelector {
            match_labels: Some(labels(&[("app", "web"), ("env", "")])),
            match_expressions: Some(vec![
                expr("tier", "In", Some(&["b", "a"])),
                expr("canary", "DoesNotExist", None),
                expr("zone", "NotIn", Some(&["z1"])),
                expr("owner", "Exists", Some(&[])),
            ]),
        };
        let sel = Selector::from_label_selector(Some(&ls)).unwrap();
        assert_eq!(sel.to_string(), "app=web,!canary,env=,owner,tier in (a,b),zone notin (z1)");
        assert_eq!(sel, parse_ok(&sel.to_string()));
        assert!(sel.matches(&labels(&[("app", "web"), ("env", ""), ("tier", "a"), ("owner", "me")])));
        assert!(!sel.matches(&labels(&[("app", "web"), ("env", ""), ("tier", "a")])));
        assert!(!sel.matches(&labels(&[("app", "web"), ("env", ""), ("tier", "a"), ("owner", "me"), ("zone", "z1")])));

        let bad: Vec<(LabelSelector, &str, &str)> = vec![
            (
                LabelSelector { match_expressions: Some(vec![expr("a", "Foo", None)]), ..Default::default() },
                "matchExpressions[0]",
                "\"Foo\" is not a valid label selector operator",
            ),
            (
                LabelSelector { match_expressions: Some(vec![expr("a", "in", Some(&["x"]))]), ..Default::default() },
                "matchExpressions[0]",
                "\"in\" is not a valid label selector operator",
            ),
            (
                LabelSelector {
                    match_expressions: Some(vec![expr("a", "Exists", None), expr("b", "In", None)]),
                    ..Default::default()
                },
                "matchExpressions[1]",
                "values set can't be empty",
            ),
            (
                LabelSelector { match_expressions: Some(vec![expr("a", "NotIn", Some(&[]))]), ..Default::default() },
                "matchExpressions[0]",
                "values set can't be empty",
            ),
            (
                LabelSelector {
                    match_expressions: Some(vec![expr("a", "Exists", Some(&["x"]))]),
                    ..Default::default()
                },
                "matchExpressions[0]",
                "values set must be empty",
            ),
            (
                LabelSelector { match_expressions: Some(vec![expr("a b", "Exists", None)]), ..Default::default() },
                "matchExpressions[0]",
                "invalid label key",
            ),
            (
                LabelSelector { match_labels: Some(labels(&[("-x", "v")])), ..Default::default() },
                "matchLabels[-x]",
                "invalid label key",
            ),
            (
                LabelSelector { match_labels: Some(labels(&[("x", "v v")])), ..Default::default() },
                "matchLabels[x]",
                "invalid label value",
            ),
        ];
        for (ls, input, message) in bad {
            let e = Selector::from_label_selector(Some(&ls)).expect_err(message);
            assert_eq!(e.input, input);
            assert!(e.message.contains(message), "{e}");
        }
    }

    #[test]
    fn error_display_names_input_and_position() {
        let e = parse_err("a=b,=");
        assert_eq!(
            e.to_string(),
            "invalid label selector \"a=b,=\" at position 4: found '=', expected: identifier after ','"
        );
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        let long_key = "a".repeat(100_000);
        let many_values = format!("x in ({})", "a,".repeat(20_000));
        let many_reqs = "a,".repeat(20_000);
        let inputs: Vec<String> = vec![
            "(((((".into(),
            ")))))".into(),
            "x in (".into(),
            "x in (((".into(),
            "x in (a,(b))".into(),
            "!!!!".into(),
            "====".into(),
            "!=".into(),
            "x!=!=".into(),
            "x<>1".into(),
            "x<=1".into(),
            "\0".into(),
            "a\0b".into(),
            "ü=ü".into(),
            "🦀 in (🦀)".into(),
            "k=\u{feff}".into(),
            "x\u{a0}=y".into(),
            long_key.clone(),
            format!("{long_key}=a"),
            format!("a={long_key}"),
            many_values,
            many_reqs.clone(),
            many_reqs.trim_end_matches(',').to_string(),
        ];
        for input in &inputs {
            if let Ok(sel) = Selector::parse(input) {
                assert_round_trip(&sel);
                let _ = sel.matches(&labels(&[("a", "1")]));
            }
        }
        assert_eq!(parse_ok(many_reqs.trim_end_matches(',')).requirements().len(), 20_000);
    }

    /// A deterministic pseudo-random walk over the token alphabet: nothing panics, and whatever
    /// parses round-trips through its canonical string.
    #[test]
    fn random_inputs_round_trip_or_fail_cleanly() {
        const PIECES: &[&str] = &[
            "a", "b", "k8s.io/x", "in", "notin", "=", "==", "!=", "!", "(", ")", ",", " ", "\t", ">", "<", "1", "-",
            "_", ".", "/", "ü", "", "v1", "0",
        ];
        let set = labels(&[("a", "1"), ("b", ""), ("k8s.io/x", "v1")]);
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut parsed = 0;
        for _ in 0..20_000 {
            let len = next() % 12;
            let input: String = (0..len).map(|_| PIECES[(next() % PIECES.len() as u64) as usize]).collect();
            match Selector::parse(&input) {
                Ok(sel) => {
                    parsed += 1;
                    assert_round_trip(&sel);
                    let _ = sel.matches(&set);
                }
                Err(e) => assert!(e.position <= input.len(), "{input:?}: {e}"),
            }
        }
        assert!(parsed > 100, "the walk should hit valid selectors, got {parsed}");
    }
}
