//! Fragments: definitions checked once per text (unknown names, cycles), spreads inlined per use.

use super::ast::{AqlDocument, Field, Fragment, Pos, Selection};
use crate::config::Limits;
use crate::error::{hint_for, shown, AuroraError, Result};
use std::collections::HashMap;

/// Fragment definitions by name.
pub(crate) type Fragments<'a> = HashMap<&'a str, &'a Fragment>;

fn err(pos: Pos, msg: impl Into<String>) -> AuroraError {
    AuroraError::invalid_at(msg, pos.line, pos.column)
}

/// Rejects duplicate fragment names, spreads of unknown fragments, fragment cycles, and
/// documents past the limits on fragments, expanded selection size and nesting depth.
///
/// Sizes and depths are computed per fragment once, in post-order over the spread graph (an
/// explicit stack, no recursion over fragments), so a fragment spread twice at every level
/// costs as little to measure as one spread once: the selection is never expanded to be
/// counted. Recursion happens only over the selections of one definition, which the parser's
/// bracket limit bounds.
pub(crate) fn check(doc: &AqlDocument, limits: &Limits) -> Result<()> {
    if let Some(f) = doc.fragments.get(limits.max_fragments) {
        return Err(limit_at(
            f.pos,
            "max_fragments",
            limits.max_fragments,
            format!("the text defines {} fragments", doc.fragments.len()),
        ));
    }
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(doc.fragments.len());
    for (i, f) in doc.fragments.iter().enumerate() {
        if index.insert(&f.name, i).is_some() {
            return Err(err(f.pos, format!("fragment `{}` is defined twice", f.name)));
        }
    }
    let shapes = doc.fragments.iter().map(|f| Shape::of(&f.selections, &index)).collect::<Result<Vec<Shape>>>()?;
    let operations = doc
        .operations
        .iter()
        .filter_map(|op| match &op.body {
            super::ast::OperationBody::Selections(sels) => Some((op, sels)),
            _ => None,
        })
        .map(|(op, sels)| Ok((op, sels, Shape::of(sels, &index)?)))
        .collect::<Result<Vec<_>>>()?;
    let measured = measure(doc, &shapes)?;
    let check_size = |m: Measure, pos: Pos, what: &str| -> Result<()> {
        if m.fields > limits.max_selection_fields as u64 {
            return Err(limit_at(
                pos,
                "max_selection_fields",
                limits.max_selection_fields,
                format!("{what} expands to {} fields", fmt_count(m.fields)),
            ));
        }
        if m.depth > limits.max_depth as u64 {
            return Err(limit_at(
                pos,
                "max_depth",
                limits.max_depth,
                format!("{what} nests selections and fragment spreads {} levels deep", fmt_count(m.depth)),
            ));
        }
        Ok(())
    };
    for (f, m) in doc.fragments.iter().zip(&measured) {
        check_size(*m, f.pos, &format!("fragment `{}`", f.name))?;
    }
    for (op, sels, shape) in operations {
        let roots = sels.iter().filter(|s| matches!(s, Selection::Field(_))).count();
        if roots > limits.max_root_fields {
            return Err(limit_at(
                op.pos,
                "max_root_fields",
                limits.max_root_fields,
                format!("the operation has {roots} root fields"),
            ));
        }
        check_size(shape.measure(&measured), op.pos, "the operation's selection")?;
    }
    Ok(())
}

/// Size of an expanded selection: its fields, and its depth in selections and spreads.
#[derive(Debug, Clone, Copy, Default)]
struct Measure {
    fields: u64,
    depth: u64,
}

/// A selection list as the fragments it spreads see it: own fields and depth, and each spread
/// with the nesting level it occurs at.
struct Shape {
    fields: u64,
    depth: u64,
    /// (fragment index, levels above the spread, position)
    spreads: Vec<(usize, u64, Pos)>,
}

impl Shape {
    /// The shape of `sels`; unknown fragment names are an error.
    fn of(sels: &[Selection], index: &HashMap<&str, usize>) -> Result<Shape> {
        let mut shape = Shape { fields: 0, depth: 0, spreads: Vec::new() };
        shape.add(sels, 0, index)?;
        Ok(shape)
    }

    fn add(&mut self, sels: &[Selection], level: u64, index: &HashMap<&str, usize>) -> Result<()> {
        for s in sels {
            match s {
                Selection::Field(f) => {
                    self.fields += 1;
                    self.depth = self.depth.max(level + 1);
                    self.add(&f.selections, level + 1, index)?;
                }
                Selection::FragmentSpread { name, pos } => match index.get(name.as_str()) {
                    Some(&i) => self.spreads.push((i, level, *pos)),
                    None => {
                        let names = index.keys().copied();
                        return Err(err(*pos, format!("unknown fragment `{}`{}", shown(name), hint_for(name, names))));
                    }
                },
            }
        }
        Ok(())
    }

    /// The expanded measure, given the measure of every fragment it spreads.
    fn measure(&self, fragments: &[Measure]) -> Measure {
        let mut m = Measure { fields: self.fields, depth: self.depth };
        for &(i, level, _) in &self.spreads {
            let f = fragments.get(i).copied().unwrap_or_default();
            m.fields = m.fields.saturating_add(f.fields);
            // A spread is a level of its own: expansion recurses once per spread.
            m.depth = m.depth.max(level.saturating_add(1).saturating_add(f.depth));
        }
        m
    }
}

/// Measures every fragment in post-order of the spread graph, rejecting cycles on the way.
fn measure(doc: &AqlDocument, shapes: &[Shape]) -> Result<Vec<Measure>> {
    const NEW: u8 = 0;
    const OPEN: u8 = 1;
    const DONE: u8 = 2;
    let mut state = vec![NEW; shapes.len()];
    let mut out = vec![Measure::default(); shapes.len()];
    for root in 0..shapes.len() {
        if state[root] != NEW {
            continue;
        }
        // (fragment, next spread to visit)
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        state[root] = OPEN;
        while let Some(&mut (f, ref mut next)) = stack.last_mut() {
            match shapes[f].spreads.get(*next) {
                Some(&(g, _, pos)) => {
                    *next += 1;
                    match state[g] {
                        NEW => {
                            state[g] = OPEN;
                            stack.push((g, 0));
                        }
                        OPEN => {
                            let mut path: Vec<&str> =
                                stack.iter().map(|&(i, _)| doc.fragments[i].name.as_str()).collect();
                            path.push(&doc.fragments[g].name);
                            return Err(err(pos, format!("fragment cycle: {}", path.join(" -> "))));
                        }
                        _ => {}
                    }
                }
                None => {
                    out[f] = shapes[f].measure(&out);
                    state[f] = DONE;
                    stack.pop();
                }
            }
        }
    }
    Ok(out)
}

/// A count for a message: exact, or "more than 10^18" once saturated.
fn fmt_count(n: u64) -> String {
    if n >= u64::MAX / 2 {
        "more than 10^18".into()
    } else {
        n.to_string()
    }
}

fn limit_at(pos: Pos, limit: &'static str, value: usize, message: String) -> AuroraError {
    AuroraError::limit(limit, value, message).at_position(pos.line, pos.column)
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
