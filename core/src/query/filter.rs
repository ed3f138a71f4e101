//! Filter predicates: the one tree both the fluent API and AQL compile to.

use crate::types::Document;
use crate::value::Value;
use std::cmp::Ordering;

/// A predicate over a document's fields (dotted paths reach into nested objects).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Filter {
    /// Matches every document.
    #[default]
    All,
    /// Field equals value (a missing field equals `Null`).
    Eq(String, Value),
    /// Negation of `Eq`.
    Ne(String, Value),
    /// Field greater than value (comparable kinds only).
    Gt(String, Value),
    /// Field greater than or equal.
    Gte(String, Value),
    /// Field less than.
    Lt(String, Value),
    /// Field less than or equal.
    Lte(String, Value),
    /// Field equals one of the values (empty list matches nothing).
    In(String, Vec<Value>),
    /// String field contains a substring, or array field contains an element.
    Contains(String, Value),
    /// String field starts with the prefix.
    StartsWith(String, String),
    /// String field ends with the suffix.
    EndsWith(String, String),
    /// String field matches a regular expression (linear-time, size-bounded: see [`Pattern`]).
    Matches(String, Pattern),
    /// Inclusive range.
    Between(String, Value, Value),
    /// Field is missing or null.
    IsNull(String),
    /// Field is present and not null.
    IsNotNull(String),
    /// All sub-filters match.
    And(Vec<Filter>),
    /// Any sub-filter matches.
    Or(Vec<Filter>),
    /// The sub-filter does not match.
    Not(Box<Filter>),
}

/// The regular expression of a `matches` filter. Matching never backtracks (the `regex` crate:
/// time linear in the text), and compiling is bounded: a pattern whose program would pass
/// [`Pattern::SIZE_LIMIT`] bytes, or nests deeper than [`Pattern::NEST_LIMIT`], is refused.
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    re: regex::Regex,
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Pattern {
    /// Most bytes a compiled pattern (and its lazy DFA's cache) may take.
    pub const SIZE_LIMIT: usize = 1 << 20;
    /// Deepest nesting of groups and repetitions a pattern may have.
    pub const NEST_LIMIT: u32 = 64;

    /// Compiles `source`, or says why it cannot be used.
    pub fn new(source: &str) -> crate::error::Result<Pattern> {
        let re = regex::RegexBuilder::new(source)
            .size_limit(Self::SIZE_LIMIT)
            .dfa_size_limit(Self::SIZE_LIMIT)
            .nest_limit(Self::NEST_LIMIT)
            .build()
            .map_err(|e| {
                let why = match e {
                    regex::Error::CompiledTooBig(limit) => {
                        format!("it would compile to more than {limit} bytes; simplify the pattern")
                    }
                    other => other.to_string(),
                };
                crate::error::AuroraError::invalid(format!(
                    "invalid regular expression `{}`: {why}",
                    crate::error::shown(source)
                ))
            })?;
        Ok(Pattern { source: source.to_string(), re })
    }

    /// The pattern's text.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// True when the pattern matches somewhere in `text`.
    pub fn is_match(&self, text: &str) -> bool {
        self.re.is_match(text)
    }
}

impl Filter {
    /// Evaluates the predicate against a document.
    pub fn matches(&self, doc: &Document) -> bool {
        match self {
            Filter::All => true,
            Filter::And(fs) => fs.iter().all(|f| f.matches(doc)),
            Filter::Or(fs) => fs.iter().any(|f| f.matches(doc)),
            Filter::Not(f) => !f.matches(doc),
            leaf => {
                let field = leaf.field().unwrap_or("");
                if field == "_sid" {
                    leaf.test_value(Some(&Value::String(doc._sid.clone())))
                } else {
                    leaf.test_value(doc.get_ref(field))
                }
            }
        }
    }

    /// The field a leaf predicate reads (None for All/And/Or/Not).
    pub fn field(&self) -> Option<&str> {
        match self {
            Filter::Eq(f, _)
            | Filter::Ne(f, _)
            | Filter::Gt(f, _)
            | Filter::Gte(f, _)
            | Filter::Lt(f, _)
            | Filter::Lte(f, _)
            | Filter::In(f, _)
            | Filter::Contains(f, _)
            | Filter::StartsWith(f, _)
            | Filter::EndsWith(f, _)
            | Filter::Matches(f, _)
            | Filter::Between(f, _, _)
            | Filter::IsNull(f)
            | Filter::IsNotNull(f) => Some(f),
            _ => None,
        }
    }

    /// The single value a leaf predicate compares with (`eq`, `gt`...), if it has one.
    pub fn value(&self) -> Option<&Value> {
        match self {
            Filter::Eq(_, v)
            | Filter::Ne(_, v)
            | Filter::Gt(_, v)
            | Filter::Gte(_, v)
            | Filter::Lt(_, v)
            | Filter::Lte(_, v)
            | Filter::Contains(_, v) => Some(v),
            _ => None,
        }
    }

    /// Evaluates a leaf predicate on the field's value (`None` = the field is missing).
    pub fn test_value(&self, x: Option<&Value>) -> bool {
        let cmp = |v: &Value, ok: fn(Ordering) -> bool| -> bool {
            match x {
                Some(x) if x.comparable(v) => ok(x.total_cmp(v)),
                _ => false,
            }
        };
        match self {
            Filter::Eq(_, v) => x.map_or(v.is_null(), |x| x.loose_eq(v)),
            Filter::Ne(_, v) => !x.map_or(v.is_null(), |x| x.loose_eq(v)),
            Filter::Gt(_, v) => cmp(v, |o| o == Ordering::Greater),
            Filter::Gte(_, v) => cmp(v, |o| o != Ordering::Less),
            Filter::Lt(_, v) => cmp(v, |o| o == Ordering::Less),
            Filter::Lte(_, v) => cmp(v, |o| o != Ordering::Greater),
            Filter::In(_, vs) => {
                let x = x.unwrap_or(&Value::Null);
                vs.iter().any(|v| x.loose_eq(v))
            }
            Filter::Contains(_, v) => match (x, v) {
                (Some(Value::String(s)), Value::String(sub)) => s.contains(sub.as_str()),
                (Some(Value::Array(items)), v) => items.iter().any(|i| i.loose_eq(v)),
                _ => false,
            },
            Filter::StartsWith(_, p) => matches!(x, Some(Value::String(s)) if s.starts_with(p.as_str())),
            Filter::EndsWith(_, p) => matches!(x, Some(Value::String(s)) if s.ends_with(p.as_str())),
            Filter::Matches(_, p) => matches!(x, Some(Value::String(s)) if p.is_match(s)),
            Filter::Between(_, lo, hi) => cmp(lo, |o| o != Ordering::Less) && cmp(hi, |o| o != Ordering::Greater),
            Filter::IsNull(_) => x.is_none_or(|x| x.is_null()),
            Filter::IsNotNull(_) => x.is_some_and(|x| !x.is_null()),
            Filter::All => true,
            Filter::And(_) | Filter::Or(_) | Filter::Not(_) => false,
        }
    }

    /// Field paths the filter reads.
    pub fn fields(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_fields(&mut out);
        out
    }

    fn collect_fields<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Filter::All => {}
            Filter::And(fs) | Filter::Or(fs) => fs.iter().for_each(|f| f.collect_fields(out)),
            Filter::Not(f) => f.collect_fields(out),
            leaf => out.extend(leaf.field()),
        }
    }

    /// Combines two filters with And, flattening nested Ands.
    pub fn and(self, other: Filter) -> Filter {
        match (self, other) {
            (Filter::All, f) | (f, Filter::All) => f,
            (Filter::And(mut a), Filter::And(b)) => {
                a.extend(b);
                Filter::And(a)
            }
            (Filter::And(mut a), f) => {
                a.push(f);
                Filter::And(a)
            }
            (f, Filter::And(mut b)) => {
                b.insert(0, f);
                Filter::And(b)
            }
            (a, b) => Filter::And(vec![a, b]),
        }
    }

    /// Combines two filters with Or, flattening nested Ors.
    pub fn or(self, other: Filter) -> Filter {
        match (self, other) {
            (Filter::Or(mut a), Filter::Or(b)) => {
                a.extend(b);
                Filter::Or(a)
            }
            (Filter::Or(mut a), f) => {
                a.push(f);
                Filter::Or(a)
            }
            (a, b) => Filter::Or(vec![a, b]),
        }
    }
}

impl std::ops::BitAnd for Filter {
    type Output = Filter;
    fn bitand(self, rhs: Filter) -> Filter {
        self.and(rhs)
    }
}

impl std::ops::BitOr for Filter {
    type Output = Filter;
    fn bitor(self, rhs: Filter) -> Filter {
        self.or(rhs)
    }
}

impl std::ops::Not for Filter {
    type Output = Filter;
    fn not(self) -> Filter {
        Filter::Not(Box::new(self))
    }
}

/// Builder handed to `.filter(|f| ...)` closures.
#[derive(Debug, Clone, Copy, Default)]
pub struct FilterBuilder;

#[allow(missing_docs)]
impl FilterBuilder {
    pub fn eq(&self, field: &str, v: impl Into<Value>) -> Filter {
        Filter::Eq(field.into(), v.into())
    }
    pub fn ne(&self, field: &str, v: impl Into<Value>) -> Filter {
        Filter::Ne(field.into(), v.into())
    }
    pub fn gt(&self, field: &str, v: impl Into<Value>) -> Filter {
        Filter::Gt(field.into(), v.into())
    }
    pub fn gte(&self, field: &str, v: impl Into<Value>) -> Filter {
        Filter::Gte(field.into(), v.into())
    }
    pub fn lt(&self, field: &str, v: impl Into<Value>) -> Filter {
        Filter::Lt(field.into(), v.into())
    }
    pub fn lte(&self, field: &str, v: impl Into<Value>) -> Filter {
        Filter::Lte(field.into(), v.into())
    }
    pub fn in_values<V: Into<Value>>(&self, field: &str, vs: impl IntoIterator<Item = V>) -> Filter {
        Filter::In(field.into(), vs.into_iter().map(Into::into).collect())
    }
    pub fn contains(&self, field: &str, v: impl Into<Value>) -> Filter {
        Filter::Contains(field.into(), v.into())
    }
    pub fn starts_with(&self, field: &str, prefix: &str) -> Filter {
        Filter::StartsWith(field.into(), prefix.into())
    }
    pub fn ends_with(&self, field: &str, suffix: &str) -> Filter {
        Filter::EndsWith(field.into(), suffix.into())
    }
    /// The string field matches `pattern` (compile it once with [`Pattern::new`]).
    pub fn matches(&self, field: &str, pattern: &Pattern) -> Filter {
        Filter::Matches(field.into(), pattern.clone())
    }
    /// The array field holds at least one of `values`.
    pub fn contains_any(&self, field: &str, values: impl IntoIterator<Item = impl Into<Value>>) -> Filter {
        Filter::Or(values.into_iter().map(|v| Filter::Contains(field.into(), v.into())).collect())
    }
    /// The array field holds every one of `values`.
    pub fn contains_all(&self, field: &str, values: impl IntoIterator<Item = impl Into<Value>>) -> Filter {
        Filter::And(values.into_iter().map(|v| Filter::Contains(field.into(), v.into())).collect())
    }
    pub fn between(&self, field: &str, lo: impl Into<Value>, hi: impl Into<Value>) -> Filter {
        Filter::Between(field.into(), lo.into(), hi.into())
    }
    pub fn is_null(&self, field: &str) -> Filter {
        Filter::IsNull(field.into())
    }
    pub fn is_not_null(&self, field: &str) -> Filter {
        Filter::IsNotNull(field.into())
    }
    pub fn all(&self) -> Filter {
        Filter::All
    }
}
