//! Fragments: definitions checked once per text (unknown names, cycles), spreads inlined per use.

use super::ast::{AqlDocument, Field, Fragment, Pos, Selection};
use crate::error::{hint_for, AuroraError, Result};
use std::collections::HashMap;

/// Fragment definitions by name.
pub(crate) type Fragments<'a> = HashMap<&'a str, &'a Fragment>;

fn err(pos: Pos, msg: impl Into<String>) -> AuroraError {
    AuroraError::invalid_at(msg, pos.line, pos.column)
}

/// Rejects duplicate fragment names, spreads of unknown fragments and fragment cycles.
pub(crate) fn check(doc: &AqlDocument) -> Result<()> {
    let mut frags: Fragments = HashMap::new();
    for f in &doc.fragments {
        if frags.insert(&f.name, f).is_some() {
            return Err(err(f.pos, format!("fragment `{}` is defined twice", f.name)));
        }
    }
    let names: Vec<&str> = frags.keys().copied().collect();
    let spreads_ok = |sels: &[Selection]| -> Result<()> { check_spreads(sels, &frags, &names) };
    for f in &doc.fragments {
        spreads_ok(&f.selections)?;
    }
    for op in &doc.operations {
        if let super::ast::OperationBody::Selections(s) = &op.body {
            spreads_ok(s)?;
        }
    }
    // Cycle detection: depth-first with an explicit path.
    for f in &doc.fragments {
        let mut path = vec![f.name.as_str()];
        walk(f, &frags, &mut path)?;
    }
    Ok(())
}

fn check_spreads(sels: &[Selection], frags: &Fragments, names: &[&str]) -> Result<()> {
    for s in sels {
        match s {
            Selection::FragmentSpread { name, pos } if !frags.contains_key(name.as_str()) => {
                return Err(err(*pos, format!("unknown fragment `{name}`{}", hint_for(name, names.iter().copied()))));
            }
            Selection::FragmentSpread { .. } => {}
            Selection::Field(f) => check_spreads(&f.selections, frags, names)?,
        }
    }
    Ok(())
}

fn walk<'a>(f: &'a Fragment, frags: &Fragments<'a>, path: &mut Vec<&'a str>) -> Result<()> {
    fn spreads<'b>(sels: &'b [Selection], out: &mut Vec<(&'b str, Pos)>) {
        for s in sels {
            match s {
                Selection::FragmentSpread { name, pos } => out.push((name, *pos)),
                Selection::Field(f) => spreads(&f.selections, out),
            }
        }
    }
    let mut found = Vec::new();
    spreads(&f.selections, &mut found);
    for (name, pos) in found {
        if path.contains(&name) {
            path.push(name);
            return Err(err(pos, format!("fragment cycle: {}", path.join(" -> "))));
        }
        if let Some(next) = frags.get(name) {
            path.push(name);
            walk(next, frags, path)?;
            path.pop();
        }
    }
    Ok(())
}

/// Rejects fragments whose type condition names no collection.
pub(crate) fn check_type_conditions(doc: &AqlDocument, collections: &[String]) -> Result<()> {
    for f in &doc.fragments {
        if !collections.iter().any(|c| c == &f.type_condition) {
            return Err(err(
                f.pos,
                format!(
                    "fragment `{}` is on unknown collection `{}`{}",
                    f.name,
                    f.type_condition,
                    hint_for(&f.type_condition, collections.iter().map(String::as_str))
                ),
            ));
        }
    }
    Ok(())
}

/// Inlines fragment spreads for a selection on `collection`; a fragment on another collection is an error.
pub(crate) fn expand(sels: &[Selection], frags: &Fragments, collection: &str) -> Result<Vec<Field>> {
    let mut out = Vec::with_capacity(sels.len());
    for s in sels {
        match s {
            Selection::Field(f) => {
                let mut f = f.clone();
                if has_spread(&f.selections) {
                    f.selections =
                        expand(&f.selections, frags, collection)?.into_iter().map(Selection::Field).collect();
                }
                out.push(f);
            }
            Selection::FragmentSpread { name, pos } => {
                let frag = frags.get(name.as_str()).ok_or_else(|| err(*pos, format!("unknown fragment `{name}`")))?;
                if frag.type_condition != collection {
                    return Err(err(
                        *pos,
                        format!(
                            "fragment `{name}` is on `{}` and cannot be used on `{collection}`",
                            frag.type_condition
                        ),
                    ));
                }
                out.extend(expand(&frag.selections, frags, collection)?);
            }
        }
    }
    Ok(out)
}

fn has_spread(sels: &[Selection]) -> bool {
    sels.iter().any(|s| match s {
        Selection::FragmentSpread { .. } => true,
        Selection::Field(f) => has_spread(&f.selections),
    })
}
