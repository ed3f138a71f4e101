//! pest pairs → AST, with incremental line/column tracking and friendly error messages.

use super::lexical::*;
use super::*;
use crate::aql::ast::EnumDef;

/// Walks pest's pairs into the AST, tracking line/column positions incrementally.
pub(super) struct Builder<'a> {
    text: &'a str,
    /// Byte offset, line and column of the last position computed.
    cursor: (usize, usize, usize),
}

impl<'a> Builder<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Builder { text, cursor: (0, 1, 1) }
    }

    /// Line and column of a byte offset; cheap when offsets are visited in order.
    fn pos_at(&mut self, offset: usize) -> Pos {
        let mut offset = offset.min(self.text.len());
        while offset > 0 && !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        if offset < self.cursor.0 {
            self.cursor = (0, 1, 1);
        }
        let (start, mut line, mut column) = self.cursor;
        for c in self.text.get(start..offset).unwrap_or("").chars() {
            if c == '\n' {
                line += 1;
                column = 1;
            } else {
                column += 1;
            }
        }
        self.cursor = (offset, line, column);
        Pos { line, column }
    }

    fn pos(&mut self, pair: &Pair<'_, Rule>) -> Pos {
        self.pos_at(pair.as_span().start())
    }

    pub(super) fn error_at(&mut self, offset: usize, message: String, expected: Vec<String>) -> ParseError {
        let Pos { line, column } = self.pos_at(offset);
        ParseError { message, line, column, expected }
    }

    /// An error for a tree shape the grammar should have ruled out (never expected).
    pub(super) fn internal(&mut self, offset: usize, what: &str) -> ParseError {
        self.error_at(offset, format!("internal parser error: missing {what}"), Vec::new())
    }

    pub(super) fn pest_error(&mut self, e: PestError<Rule>) -> ParseError {
        let offset = match e.location {
            InputLocation::Pos(p) => p,
            InputLocation::Span((s, _)) => s,
        };
        match e.variant {
            ErrorVariant::ParsingError { positives, negatives } => {
                if self.text.get(offset..).is_some_and(|r| r.starts_with('"')) {
                    // `"""abc` without a closing `"""` backtracks to `""` + `"abc`:
                    // report the block string, not the second string.
                    let block_start =
                        offset.checked_sub(2).filter(|&s| self.text.get(s..).is_some_and(|r| r.starts_with("\"\"\"")));
                    for start in block_start.into_iter().chain([offset]) {
                        if let Some(err) = self.diagnose_string(start) {
                            return err;
                        }
                    }
                }
                let mut expected: Vec<String> = Vec::new();
                for rule in positives {
                    for word in friendly(rule) {
                        if !expected.iter().any(|e| e == word) {
                            expected.push((*word).to_string());
                        }
                    }
                }
                expected.sort_by_key(|w| expected_rank(w));
                let found = found_token(self.text, offset);
                let message = if expected.is_empty() && !negatives.is_empty() {
                    format!("unexpected {found}")
                } else {
                    format!("expected {}; found {found}", expected_phrase(&expected))
                };
                self.error_at(offset, message, expected)
            }
            ErrorVariant::CustomError { message } => {
                let message = if message.contains("limit") {
                    format!("document too complex to parse ({message})")
                } else {
                    message
                };
                self.error_at(offset, message, Vec::new())
            }
        }
    }

    /// Explains why the string literal starting at `offset` does not parse, if it doesn't.
    fn diagnose_string(&mut self, offset: usize) -> Option<ParseError> {
        let rest = self.text.get(offset..)?;
        if rest.starts_with("\"\"\"") {
            let mut i = 3;
            while i < rest.len() {
                let tail = rest.get(i..)?;
                if tail.starts_with("\\\"\"\"") {
                    i += 4;
                } else if tail.starts_with("\"\"\"") {
                    return None;
                } else {
                    i += tail.chars().next().map_or(1, char::len_utf8);
                }
            }
            return Some(self.error_at(
                offset,
                "unterminated block string: expected closing `\"\"\"`".to_string(),
                vec!["`\"\"\"`".to_string()],
            ));
        }
        let mut chars = rest.char_indices().skip(1);
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => return None,
                '\n' | '\r' => break,
                '\\' => {
                    let ok = match chars.next().map(|(_, c)| c) {
                        Some('"' | '\\' | '/' | 'b' | 'f' | 'n' | 'r' | 't') => true,
                        Some('u') => read_unicode_escape(rest, i).is_some(),
                        _ => false,
                    };
                    if !ok {
                        return Some(self.error_at(
                            offset + i,
                            format!(
                                "invalid escape sequence {} in string",
                                found_token_escape(rest.get(i..).unwrap_or(""))
                            ),
                            vec!["escape sequence (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)".to_string()],
                        ));
                    }
                }
                _ => {}
            }
        }
        Some(self.error_at(
            offset,
            "unterminated string: expected closing `\"` before the end of the line".to_string(),
            vec!["`\"`".to_string()],
        ))
    }

    // ------------------------------------------------------------ document

    pub(super) fn document(&mut self, pair: Pair<'_, Rule>) -> Result<AqlDocument> {
        let mut operations = Vec::new();
        let mut fragments = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::operation => operations.push(self.operation(p)?),
                Rule::shorthand_query => {
                    let pos = self.pos(&p);
                    let mut selections = Vec::new();
                    for q in p.into_inner() {
                        if q.as_rule() == Rule::selection_set {
                            selections = self.selection_set(q)?;
                        }
                    }
                    operations.push(Operation {
                        kind: OperationKind::Query,
                        name: None,
                        variables: Vec::new(),
                        body: OperationBody::Selections(selections),
                        pos,
                        explain: false,
                    });
                }
                Rule::fragment_def => fragments.push(self.fragment_def(p)?),
                Rule::schema_def => operations.push(self.schema_def(p)?),
                Rule::migrate_def => operations.push(self.migrate_def(p)?),
                _ => {}
            }
        }
        if operations.is_empty() && fragments.is_empty() {
            let expected = ["`query`", "`mutation`", "`subscription`", "`schema`", "`migrate`", "`fragment`", "`{`"];
            return Err(self.error_at(
                self.text.len(),
                "empty document: expected an operation (`query`, `mutation`, `subscription`, \
                 `schema`, `migrate`) or a fragment"
                    .to_string(),
                expected.iter().map(|s| (*s).to_string()).collect(),
            ));
        }
        Ok(AqlDocument { operations, fragments })
    }

    fn operation(&mut self, pair: Pair<'_, Rule>) -> Result<Operation> {
        let pos = self.pos(&pair);
        let mut kind = OperationKind::Query;
        let mut name = None;
        let mut variables = Vec::new();
        let mut selections = Vec::new();
        let mut explain = false;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::directive => {
                    let start = p.as_span().start();
                    let d = self.directive(p)?;
                    if d.name != "explain" || !d.args.is_empty() {
                        return Err(self.error_at(
                            start,
                            format!(
                                "unknown operation directive `@{}`{}; the operation directive is `@explain` (no arguments)",
                                d.name,
                                if d.name == "explain" { " with arguments" } else { "" }
                            ),
                            vec!["`@explain`".to_string(), "`{`".to_string()],
                        ));
                    }
                    explain = true;
                }
                Rule::kw_query => kind = OperationKind::Query,
                // `transaction { … }` names what every mutation block is: one atomic commit.
                Rule::kw_mutation | Rule::kw_transaction => kind = OperationKind::Mutation,
                Rule::kw_subscription => kind = OperationKind::Subscription,
                Rule::operation_name => name = Some(p.as_str().to_string()),
                Rule::variable_defs => {
                    for q in p.into_inner() {
                        if q.as_rule() == Rule::variable_def {
                            variables.push(self.variable_def(q)?);
                        }
                    }
                }
                Rule::selection_set => selections = self.selection_set(p)?,
                _ => {}
            }
        }
        Ok(Operation { kind, name, variables, body: OperationBody::Selections(selections), pos, explain })
    }

    fn variable_def(&mut self, pair: Pair<'_, Rule>) -> Result<VariableDef> {
        let pos = self.pos(&pair);
        let start = pair.as_span().start();
        let mut name = None;
        let mut ty = None;
        let mut default = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::variable => name = Some(variable_name(p.as_str())),
                Rule::type_ref => ty = Some(self.type_ref(p)?),
                Rule::default_value => {
                    for q in p.into_inner() {
                        if q.as_rule() == Rule::value {
                            default = Some(self.value(q)?);
                        }
                    }
                }
                _ => {}
            }
        }
        match (name, ty) {
            (Some(name), Some(ty)) => Ok(VariableDef { name, ty, default, pos }),
            _ => Err(self.internal(start, "variable name or type")),
        }
    }

    fn type_ref(&mut self, pair: Pair<'_, Rule>) -> Result<TypeRef> {
        let start = pair.as_span().start();
        let mut base = None;
        let mut non_null = false;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::type_name => base = Some(TypeRef::Named(p.as_str().to_string())),
                Rule::list_type => {
                    for q in p.into_inner() {
                        if q.as_rule() == Rule::type_ref {
                            base = Some(TypeRef::List(Box::new(self.type_ref(q)?)));
                        }
                    }
                }
                Rule::bang => non_null = true,
                _ => {}
            }
        }
        match base {
            Some(t) if non_null => Ok(TypeRef::NonNull(Box::new(t))),
            Some(t) => Ok(t),
            None => Err(self.internal(start, "type")),
        }
    }

    fn selection_set(&mut self, pair: Pair<'_, Rule>) -> Result<Vec<Selection>> {
        let mut out = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::field => out.push(Selection::Field(self.field(p)?)),
                Rule::fragment_spread => {
                    let pos = self.pos(&p);
                    let start = p.as_span().start();
                    let name =
                        p.into_inner().find(|q| q.as_rule() == Rule::fragment_name).map(|q| q.as_str().to_string());
                    match name {
                        Some(name) => out.push(Selection::FragmentSpread { name, pos }),
                        None => return Err(self.internal(start, "fragment name")),
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }

    fn field(&mut self, pair: Pair<'_, Rule>) -> Result<Field> {
        let pos = self.pos(&pair);
        let start = pair.as_span().start();
        let mut names: Vec<String> = Vec::with_capacity(2);
        let mut args = Vec::new();
        let mut selections = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::field_name => names.push(p.as_str().to_string()),
                Rule::arguments => args = self.arguments(p)?,
                Rule::selection_set => selections = self.selection_set(p)?,
                _ => {}
            }
        }
        let (alias, name) = match names.len() {
            1 => (None, names.pop()),
            2 => {
                let name = names.pop();
                (names.pop(), name)
            }
            _ => (None, None),
        };
        match name {
            Some(name) => Ok(Field { alias, name, args, selections, pos }),
            None => Err(self.internal(start, "field name")),
        }
    }

    fn arguments(&mut self, pair: Pair<'_, Rule>) -> Result<Vec<Argument>> {
        let mut out = Vec::new();
        for p in pair.into_inner() {
            if p.as_rule() != Rule::argument {
                continue;
            }
            let pos = self.pos(&p);
            let start = p.as_span().start();
            let mut name = None;
            let mut value = None;
            for q in p.into_inner() {
                match q.as_rule() {
                    Rule::arg_name => name = Some(q.as_str().to_string()),
                    Rule::value => value = Some(self.value(q)?),
                    _ => {}
                }
            }
            match (name, value) {
                (Some(name), Some(value)) => out.push(Argument { name, value, pos }),
                _ => return Err(self.internal(start, "argument")),
            }
        }
        Ok(out)
    }

    // ------------------------------------------------------------ values

    fn value(&mut self, pair: Pair<'_, Rule>) -> Result<AstValue> {
        let start = pair.as_span().start();
        match pair.into_inner().next() {
            Some(inner) => self.value_inner(inner),
            None => Err(self.internal(start, "value")),
        }
    }

    /// Lists and objects recurse here; scalars go to [`Self::scalar`], kept out
    /// of line so the recursive frames stay small (deep nesting, small stacks).
    fn value_inner(&mut self, p: Pair<'_, Rule>) -> Result<AstValue> {
        match p.as_rule() {
            Rule::list => {
                let mut items = Vec::new();
                for q in p.into_inner() {
                    if q.as_rule() == Rule::value {
                        items.push(self.value(q)?);
                    }
                }
                Ok(AstValue::List(items))
            }
            Rule::object => self.object(p),
            _ => self.scalar(p),
        }
    }

    #[inline(never)]
    fn scalar(&mut self, p: Pair<'_, Rule>) -> Result<AstValue> {
        let start = p.as_span().start();
        let s = p.as_str();
        Ok(match p.as_rule() {
            Rule::variable => AstValue::Variable(variable_name(s)),
            Rule::number if !valid_number(s) => {
                return Err(self.error_at(start, format!("invalid number `{s}`"), vec!["number".to_string()]))
            }
            Rule::number if !s.contains(['.', 'e', 'E']) => match s.parse::<i64>() {
                Ok(i) => AstValue::Int(i),
                Err(_) => {
                    return Err(self.error_at(
                        start,
                        format!("integer literal {} does not fit in a 64-bit signed integer", crate::error::shown(s)),
                        vec!["integer between -9223372036854775808 and 9223372036854775807".to_string()],
                    ))
                }
            },
            Rule::number => match s.parse::<f64>() {
                Ok(f) if f.is_finite() => AstValue::Float(f),
                _ => {
                    return Err(self.error_at(
                        start,
                        format!("float literal {} is out of range", crate::error::shown(s)),
                        vec!["finite number".to_string()],
                    ))
                }
            },
            Rule::string => AstValue::String(self.string(p)?),
            Rule::word => match s {
                "true" => AstValue::Bool(true),
                "false" => AstValue::Bool(false),
                "null" => AstValue::Null,
                _ => AstValue::Enum(self.path(&p)?),
            },
            _ => return Err(self.internal(start, "value")),
        })
    }

    fn object(&mut self, pair: Pair<'_, Rule>) -> Result<AstValue> {
        let mut entries = Vec::new();
        for p in pair.into_inner() {
            if p.as_rule() != Rule::object_field {
                continue;
            }
            let start = p.as_span().start();
            let mut key = None;
            let mut value = None;
            for q in p.into_inner() {
                match q.as_rule() {
                    Rule::object_key_path => key = Some(self.path(&q)?),
                    Rule::string => key = Some(self.string(q)?),
                    Rule::value => value = Some(self.value(q)?),
                    _ => {}
                }
            }
            match (key, value) {
                (Some(k), Some(v)) => entries.push((k, v)),
                _ => return Err(self.internal(start, "object field")),
            }
        }
        Ok(AstValue::Object(entries))
    }

    /// The text of a dotted-path pair, rejecting empty segments (`a..b`, `a.`).
    fn path(&mut self, pair: &Pair<'_, Rule>) -> Result<String> {
        let s = pair.as_str();
        if s.split('.').any(str::is_empty) {
            return Err(self.error_at(
                pair.as_span().start(),
                format!("invalid dotted path `{s}`: empty segment"),
                vec!["name after `.`".to_string()],
            ));
        }
        Ok(s.to_string())
    }

    /// The value of a `string` pair (plain or block), escapes resolved.
    fn string(&mut self, pair: Pair<'_, Rule>) -> Result<String> {
        let start = pair.as_span().start();
        match pair.into_inner().next() {
            Some(inner) if inner.as_rule() == Rule::block_string_inner => Ok(block_string_value(inner.as_str())),
            Some(inner) => {
                let offset = inner.as_span().start();
                unescape(inner.as_str()).map_err(|(at, msg)| self.error_at(offset + at, msg, Vec::new()))
            }
            None => Err(self.internal(start, "string contents")),
        }
    }

    // ------------------------------------------------------------ fragments

    fn fragment_def(&mut self, pair: Pair<'_, Rule>) -> Result<Fragment> {
        let pos = self.pos(&pair);
        let start = pair.as_span().start();
        let mut name = None;
        let mut type_condition = None;
        let mut selections = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::fragment_name => name = Some(p.as_str().to_string()),
                Rule::type_condition => type_condition = Some(p.as_str().to_string()),
                Rule::selection_set => selections = self.selection_set(p)?,
                _ => {}
            }
        }
        match (name, type_condition) {
            (Some(name), Some(type_condition)) => Ok(Fragment { name, type_condition, selections, pos }),
            _ => Err(self.internal(start, "fragment name or type condition")),
        }
    }

    // ------------------------------------------------------------ schema

    fn schema_def(&mut self, pair: Pair<'_, Rule>) -> Result<Operation> {
        let pos = self.pos(&pair);
        let mut collections = Vec::new();
        let mut enums: Vec<EnumDef> = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::collection_def => collections.push(self.collection_def(p)?),
                Rule::enum_def => {
                    let pos = self.pos(&p);
                    let start = p.as_span().start();
                    let mut name = None;
                    let mut values: Vec<String> = Vec::new();
                    for q in p.into_inner() {
                        match q.as_rule() {
                            Rule::type_name => name = Some(q.as_str().to_string()),
                            Rule::enum_value => {
                                let v = q.as_str().trim().to_string();
                                if values.contains(&v) {
                                    let at = q.as_span().start();
                                    return Err(self.error_at(
                                        at,
                                        format!("enum value `{v}` is listed twice"),
                                        Vec::new(),
                                    ));
                                }
                                values.push(v);
                            }
                            _ => {}
                        }
                    }
                    let Some(name) = name else { return Err(self.internal(start, "enum name")) };
                    if values.is_empty() {
                        return Err(self.error_at(start, format!("enum `{name}` has no values"), Vec::new()));
                    }
                    if enums.iter().any(|e| e.name == name) {
                        return Err(self.error_at(start, format!("enum `{name}` is defined twice"), Vec::new()));
                    }
                    enums.push(EnumDef { name, values, pos });
                }
                _ => {}
            }
        }
        for c in &mut collections {
            c.enums = enums.clone();
        }
        Ok(Operation {
            kind: OperationKind::Schema,
            name: None,
            variables: Vec::new(),
            body: OperationBody::Schema(collections),
            pos,
            explain: false,
        })
    }

    fn collection_def(&mut self, pair: Pair<'_, Rule>) -> Result<CollectionDef> {
        let pos = self.pos(&pair);
        let start = pair.as_span().start();
        let mut name = None;
        let mut fields = Vec::new();
        let mut directives = Vec::new();
        let mut if_not_exists = false;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::collection_name => name = Some(p.as_str().to_string()),
                Rule::if_not_exists => if_not_exists = true,
                Rule::directive => directives.push(self.directive(p)?),
                Rule::field_def => fields.push(self.field_def(p)?),
                _ => {}
            }
        }
        match name {
            Some(name) => Ok(CollectionDef { name, fields, directives, pos, if_not_exists, enums: Vec::new() }),
            None => Err(self.internal(start, "collection name")),
        }
    }

    fn field_def(&mut self, pair: Pair<'_, Rule>) -> Result<FieldDef> {
        let pos = self.pos(&pair);
        let start = pair.as_span().start();
        let mut name = None;
        let mut ty = None;
        let mut directives = Vec::new();
        let mut default = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::field_path => name = Some(self.path(&p)?),
                Rule::type_ref => ty = Some(self.type_ref(p)?),
                Rule::directive => directives.push(self.directive(p)?),
                Rule::default_value => {
                    for q in p.into_inner() {
                        if q.as_rule() == Rule::value {
                            default = Some(self.value(q)?);
                        }
                    }
                }
                _ => {}
            }
        }
        match (name, ty) {
            (Some(name), Some(ty)) => Ok(FieldDef { name, ty, directives, pos, default }),
            _ => Err(self.internal(start, "field name or type")),
        }
    }

    fn directive(&mut self, pair: Pair<'_, Rule>) -> Result<Directive> {
        let start = pair.as_span().start();
        let mut name = None;
        let mut args = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::directive_name => name = Some(p.as_str().to_string()),
                Rule::arguments => args = self.arguments(p)?,
                _ => {}
            }
        }
        match name {
            Some(name) => Ok(Directive { name, args }),
            None => Err(self.internal(start, "directive name")),
        }
    }

    // ------------------------------------------------------------ migrations

    fn migrate_def(&mut self, pair: Pair<'_, Rule>) -> Result<Operation> {
        let pos = self.pos(&pair);
        let mut versions = Vec::new();
        for p in pair.into_inner() {
            if p.as_rule() == Rule::migration_version {
                versions.push(self.migration_version(p)?);
            }
        }
        Ok(Operation {
            kind: OperationKind::Migrate,
            name: None,
            variables: Vec::new(),
            body: OperationBody::Migrate(versions),
            pos,
            explain: false,
        })
    }

    fn migration_version(&mut self, pair: Pair<'_, Rule>) -> Result<MigrationVersion> {
        let pos = self.pos(&pair);
        let start = pair.as_span().start();
        let mut version = None;
        let mut steps = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::string => version = Some(self.string(p)?),
                Rule::version_name => version = Some(p.as_str().to_string()),
                Rule::alter_step => steps.push(self.alter_step(p)?),
                Rule::migrate_data_step => steps.push(self.migrate_data_step(p)?),
                _ => {}
            }
        }
        match version {
            Some(version) => Ok(MigrationVersion { version, steps, pos }),
            None => Err(self.internal(start, "version")),
        }
    }

    fn alter_step(&mut self, pair: Pair<'_, Rule>) -> Result<MigrationStep> {
        let pos = self.pos(&pair);
        let start = pair.as_span().start();
        let mut collection = None;
        let mut actions = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::collection_name => collection = Some(p.as_str().to_string()),
                Rule::add_action | Rule::modify_action => {
                    let is_add = p.as_rule() == Rule::add_action;
                    let action_start = p.as_span().start();
                    let def = match p.into_inner().find(|q| q.as_rule() == Rule::field_def) {
                        Some(q) => self.field_def(q)?,
                        None => return Err(self.internal(action_start, "field definition")),
                    };
                    actions.push(if is_add { AlterAction::Add(def) } else { AlterAction::Modify(def) });
                }
                Rule::drop_action => {
                    let action_pos = self.pos(&p);
                    let action_start = p.as_span().start();
                    match p.into_inner().find(|q| q.as_rule() == Rule::field_path) {
                        Some(q) => actions.push(AlterAction::Drop { field: self.path(&q)?, pos: action_pos }),
                        None => return Err(self.internal(action_start, "field name")),
                    }
                }
                Rule::rename_action => {
                    let action_pos = self.pos(&p);
                    let action_start = p.as_span().start();
                    let mut names = Vec::with_capacity(2);
                    for q in p.into_inner() {
                        if q.as_rule() == Rule::field_path {
                            names.push(self.path(&q)?);
                        }
                    }
                    let mut names = names.into_iter();
                    match (names.next(), names.next()) {
                        (Some(from), Some(to)) => actions.push(AlterAction::Rename { from, to, pos: action_pos }),
                        _ => return Err(self.internal(action_start, "field names")),
                    }
                }
                _ => {}
            }
        }
        match collection {
            Some(collection) => Ok(MigrationStep::Alter { collection, actions, pos }),
            None => Err(self.internal(start, "collection name")),
        }
    }

    fn migrate_data_step(&mut self, pair: Pair<'_, Rule>) -> Result<MigrationStep> {
        let pos = self.pos(&pair);
        let start = pair.as_span().start();
        let mut collection = None;
        let mut sets = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::collection_name => collection = Some(p.as_str().to_string()),
                Rule::set_stmt => sets.push(self.set_stmt(p)?),
                _ => {}
            }
        }
        match collection {
            Some(collection) => Ok(MigrationStep::MigrateData { collection, sets, pos }),
            None => Err(self.internal(start, "collection name")),
        }
    }

    fn set_stmt(&mut self, pair: Pair<'_, Rule>) -> Result<SetStmt> {
        let pos = self.pos(&pair);
        let start = pair.as_span().start();
        let mut field = None;
        let mut expr = None;
        let mut where_clause = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::field_path => field = Some(self.path(&p)?),
                Rule::value => expr = Some(self.value(p)?),
                Rule::where_clause => {
                    for q in p.into_inner() {
                        if q.as_rule() == Rule::object {
                            where_clause = Some(self.object(q)?);
                        }
                    }
                }
                _ => {}
            }
        }
        match (field, expr) {
            (Some(field), Some(expr)) => Ok(SetStmt { field, expr, where_clause, pos }),
            _ => Err(self.internal(start, "set statement")),
        }
    }
}
