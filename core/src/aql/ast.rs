//! Syntax tree produced by the AQL parser (see `parser::parse`).

/// A 1-based line and column (columns count characters) in the AQL source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
}

/// A whole AQL text: its operations and fragment definitions, in source order.
#[derive(Debug, Clone, PartialEq)]
pub struct AqlDocument {
    /// Operations (`query`, `mutation`, `subscription`, `schema`, `migrate`).
    pub operations: Vec<Operation>,
    /// Fragment definitions (`fragment Name on coll { ... }`).
    pub fragments: Vec<Fragment>,
}

/// The kind of a top-level operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationKind {
    /// `query { ... }` (also the anonymous `{ ... }` shorthand).
    Query,
    /// `mutation { ... }`.
    Mutation,
    /// `subscription { ... }`.
    Subscription,
    /// `schema { define collection ... }`.
    Schema,
    /// `migrate { "version": { ... } }`.
    Migrate,
}

impl OperationKind {
    /// The keyword that starts an operation of this kind.
    pub fn keyword(self) -> &'static str {
        match self {
            OperationKind::Query => "query",
            OperationKind::Mutation => "mutation",
            OperationKind::Subscription => "subscription",
            OperationKind::Schema => "schema",
            OperationKind::Migrate => "migrate",
        }
    }
}

/// One top-level operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    /// What kind of operation this is.
    pub kind: OperationKind,
    /// The optional operation name (`query Name { ... }`).
    pub name: Option<String>,
    /// Declared variables (`($min: Int = 3)`).
    pub variables: Vec<VariableDef>,
    /// The operation's body.
    pub body: OperationBody,
    /// Where the operation starts.
    pub pos: Pos,
    /// `query @explain { … }`: report each root field's plan instead of its rows.
    pub explain: bool,
}

/// The body of an operation, depending on its kind.
#[derive(Debug, Clone, PartialEq)]
pub enum OperationBody {
    /// Root selections of a query, mutation or subscription.
    Selections(Vec<Selection>),
    /// Collection definitions of a `schema` block.
    Schema(Vec<CollectionDef>),
    /// Versions of a `migrate` block, in source order.
    Migrate(Vec<MigrationVersion>),
}

/// A variable declaration: `$name: Type [= default]`.
#[derive(Debug, Clone, PartialEq)]
pub struct VariableDef {
    /// Variable name without the `$`.
    pub name: String,
    /// Declared type.
    pub ty: TypeRef,
    /// Default value, if any.
    pub default: Option<AstValue>,
    /// Where the declaration starts.
    pub pos: Pos,
}

/// A type reference: `Int`, `[String]`, `Uuid!`.
#[derive(Debug, Clone, PartialEq)]
pub enum TypeRef {
    /// A named type such as `Int` or `String`.
    Named(String),
    /// A list of the inner type: `[T]`.
    List(Box<TypeRef>),
    /// A non-null inner type: `T!`.
    NonNull(Box<TypeRef>),
}

/// An entry of a selection set.
#[derive(Debug, Clone, PartialEq)]
pub enum Selection {
    /// A field, possibly with arguments and sub-selections.
    Field(Field),
    /// `...Name`, a fragment spread.
    FragmentSpread {
        /// Name of the spread fragment.
        name: String,
        /// Where the spread (`...`) starts.
        pos: Pos,
    },
}

/// A selected field: `[alias:] name[(args)] [{ selections }]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// Alias under which the result is returned, if any.
    pub alias: Option<String>,
    /// Field (or root operation / collection) name.
    pub name: String,
    /// Arguments, in source order.
    pub args: Vec<Argument>,
    /// Sub-selections (empty for a leaf field).
    pub selections: Vec<Selection>,
    /// Where the field (its alias, if any) starts.
    pub pos: Pos,
}

impl Field {
    /// The key of this field in the result: its alias if present, else its name.
    pub fn response_key(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }

    /// The value of the first argument called `name`, if any.
    pub fn arg(&self, name: &str) -> Option<&AstValue> {
        self.args.iter().find(|a| a.name == name).map(|a| &a.value)
    }
}

/// A `name: value` argument of a field or directive.
#[derive(Debug, Clone, PartialEq)]
pub struct Argument {
    /// Argument name.
    pub name: String,
    /// Argument value.
    pub value: AstValue,
    /// Where the argument starts.
    pub pos: Pos,
}

/// A literal value (or variable reference) in AQL text.
#[derive(Debug, Clone, PartialEq)]
pub enum AstValue {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer literal that fits in an `i64`.
    Int(i64),
    /// A float literal (with a fraction and/or exponent).
    Float(f64),
    /// A string literal, escapes resolved.
    String(String),
    /// A bare identifier, possibly dotted (`ASC`, `HIGH`, `address.city`).
    Enum(String),
    /// A `$variable` reference (name without the `$`).
    Variable(String),
    /// A list `[ ... ]`.
    List(Vec<AstValue>),
    /// An object `{ key: value, ... }`, keys in source order.
    Object(Vec<(String, AstValue)>),
}

/// `fragment Name on collection { selections }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Fragment {
    /// Fragment name.
    pub name: String,
    /// The collection the fragment applies to.
    pub type_condition: String,
    /// The fragment's selections.
    pub selections: Vec<Selection>,
    /// Where the fragment definition starts.
    pub pos: Pos,
}

/// `define collection name @directives { fields }` inside a `schema` block.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectionDef {
    /// Collection name.
    pub name: String,
    /// Declared fields.
    pub fields: Vec<FieldDef>,
    /// Collection directives such as `@strict`.
    pub directives: Vec<Directive>,
    /// Where the definition starts.
    pub pos: Pos,
    /// `define collection name if not exists { … }`: an existing collection is left as it is.
    pub if_not_exists: bool,
    /// The enum types declared in the same `schema` block (field types may name them).
    pub enums: Vec<EnumDef>,
}

/// `enum Name { A B C }` inside a `schema` block.
#[derive(Debug, Clone, PartialEq)]
pub struct EnumDef {
    /// Type name.
    pub name: String,
    /// Allowed values, in declaration order.
    pub values: Vec<String>,
    /// Where the definition starts.
    pub pos: Pos,
}

/// A field declaration: `name: Type @directive ...`.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDef {
    /// Field name (may be a dotted path).
    pub name: String,
    /// Declared type.
    pub ty: TypeRef,
    /// Field directives such as `@unique` or `@indexed`.
    pub directives: Vec<Directive>,
    /// Where the declaration starts.
    pub pos: Pos,
    /// `name: Type = value`: the value an insert that leaves the field out gets.
    pub default: Option<AstValue>,
}

/// A directive: `@name` or `@name(arg: value, ...)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Directive {
    /// Directive name without the `@`.
    pub name: String,
    /// Directive arguments, if any.
    pub args: Vec<Argument>,
}

/// One version entry of a `migrate` block: `"v1.1.0": { steps }`.
#[derive(Debug, Clone, PartialEq)]
pub struct MigrationVersion {
    /// Version label.
    pub version: String,
    /// Steps, in source order.
    pub steps: Vec<MigrationStep>,
    /// Where the version entry starts.
    pub pos: Pos,
}

/// A step of a migration version.
#[derive(Debug, Clone, PartialEq)]
pub enum MigrationStep {
    /// `alter collection c { actions }`.
    Alter {
        /// Collection being altered.
        collection: String,
        /// Schema actions, in source order.
        actions: Vec<AlterAction>,
        /// Where the step starts.
        pos: Pos,
    },
    /// `migrate data in c { set ... }`.
    MigrateData {
        /// Collection whose documents are rewritten.
        collection: String,
        /// Assignments, in source order.
        sets: Vec<SetStmt>,
        /// Where the step starts.
        pos: Pos,
    },
}

/// A schema change inside `alter collection`.
#[derive(Debug, Clone, PartialEq)]
pub enum AlterAction {
    /// `add field: Type @directives`.
    Add(FieldDef),
    /// `drop field`.
    Drop {
        /// Field being dropped.
        field: String,
        /// Where the action starts.
        pos: Pos,
    },
    /// `rename from to to`.
    Rename {
        /// Old field name.
        from: String,
        /// New field name.
        to: String,
        /// Where the action starts.
        pos: Pos,
    },
    /// `modify field: Type @directives`.
    Modify(FieldDef),
}

/// `set field = expr [where { filter }]` inside `migrate data in`.
#[derive(Debug, Clone, PartialEq)]
pub struct SetStmt {
    /// Field being assigned (may be a dotted path).
    pub field: String,
    /// A literal, or `AstValue::Enum(name)` for a reference to another field.
    pub expr: AstValue,
    /// Optional filter object restricting which documents are updated.
    pub where_clause: Option<AstValue>,
    /// Where the statement starts.
    pub pos: Pos,
}
