//! Parser unit tests: every construct of SPEC §4, error positions and wording, limits.

use super::*;

fn ok(text: &str) -> AqlDocument {
    match parse(text) {
        Ok(d) => d,
        Err(e) => panic!("parse failed: {e}\n---\n{text}"),
    }
}

fn err(text: &str) -> ParseError {
    match parse(text) {
        Ok(d) => panic!("expected an error, got {d:?}\n---\n{text}"),
        Err(e) => e,
    }
}

fn root_fields(doc: &AqlDocument, op: usize) -> &[Selection] {
    match &doc.operations[op].body {
        OperationBody::Selections(s) => s,
        other => panic!("not a selection body: {other:?}"),
    }
}

fn field(sel: &Selection) -> &Field {
    match sel {
        Selection::Field(f) => f,
        other => panic!("not a field: {other:?}"),
    }
}

fn names(sels: &[Selection]) -> Vec<&str> {
    sels.iter()
        .map(|s| match s {
            Selection::Field(f) => f.response_key(),
            Selection::FragmentSpread { name, .. } => name.as_str(),
        })
        .collect()
}

fn obj<'a>(v: &'a AstValue, key: &str) -> &'a AstValue {
    match v {
        AstValue::Object(entries) => {
            entries.iter().find(|(k, _)| k == key).map(|(_, v)| v).unwrap_or_else(|| panic!("no key {key} in {v:?}"))
        }
        other => panic!("not an object: {other:?}"),
    }
}

#[test]
fn schema_define() {
    let doc = ok(r#"
            schema {
              define collection users {
                id: Uuid! @unique
                email: String! @unique @indexed
                age: Int @indexed
                tags: [String]
                profile: Object
                score: Float
                active: Boolean
                meta: Any @default(value: 1)
              }
              define collection logs @strict { msg: String, at: [Int!]! }
            }"#);
    let op = &doc.operations[0];
    assert_eq!(op.kind, OperationKind::Schema);
    let OperationBody::Schema(colls) = &op.body else { panic!("not schema") };
    assert_eq!(colls.len(), 2);
    let users = &colls[0];
    assert_eq!(users.name, "users");
    assert_eq!(users.fields.len(), 8);
    assert_eq!(users.fields[0].name, "id");
    assert_eq!(users.fields[0].ty, TypeRef::NonNull(Box::new(TypeRef::Named("Uuid".into()))));
    assert_eq!(users.fields[0].directives[0].name, "unique");
    let email: Vec<_> = users.fields[1].directives.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(email, ["unique", "indexed"]);
    assert_eq!(users.fields[3].ty, TypeRef::List(Box::new(TypeRef::Named("String".into()))));
    assert_eq!(users.fields[7].directives[0].args[0].value, AstValue::Int(1));
    assert_eq!(users.pos, Pos { line: 3, column: 15 });
    let logs = &colls[1];
    assert_eq!(logs.directives[0].name, "strict");
    assert_eq!(
        logs.fields[1].ty,
        TypeRef::NonNull(Box::new(TypeRef::List(Box::new(TypeRef::NonNull(Box::new(TypeRef::Named("Int".into())))))))
    );
}

#[test]
fn mutations() {
    let doc = ok(r#"
            mutation AddStuff {
              insertInto(collection: "users", data: { name: "Ann", age: 31, tags: ["a", "b"],
                         address: { city: "Oslo" }, score: 1.5e3, ratio: -0.25 }) { id name }
              update(collection: "users", data: { active: false }, where: { age: { lt: 18 } }) { id }
              deleteFrom(collection: "users", where: { name: { eq: "Bob" } }) { id }
              enqueueJob(jobType: "email", payload: { to: "a@b.c" }, priority: HIGH, maxRetries: 3) { id }
            }"#);
    let op = &doc.operations[0];
    assert_eq!(op.kind, OperationKind::Mutation);
    assert_eq!(op.name.as_deref(), Some("AddStuff"));
    let roots = root_fields(&doc, 0);
    assert_eq!(names(roots), ["insertInto", "update", "deleteFrom", "enqueueJob"]);
    let ins = field(&roots[0]);
    assert_eq!(ins.arg("collection"), Some(&AstValue::String("users".into())));
    let data = ins.arg("data").expect("data");
    assert_eq!(obj(data, "age"), &AstValue::Int(31));
    assert_eq!(obj(data, "score"), &AstValue::Float(1500.0));
    assert_eq!(obj(data, "ratio"), &AstValue::Float(-0.25));
    assert_eq!(obj(obj(data, "address"), "city"), &AstValue::String("Oslo".into()));
    assert_eq!(names(&ins.selections), ["id", "name"]);
    let job = field(&roots[3]);
    assert_eq!(job.arg("priority"), Some(&AstValue::Enum("HIGH".into())));
    assert_eq!(job.arg("maxRetries"), Some(&AstValue::Int(3)));
}

#[test]
fn filters_order_limit() {
    let doc = ok(r#"query {
  users(where: { or: [ { and: [ { age: { gte: 18 } }, { age: { lte: 65 } } ] },
                       { role: { in: ["admin", "owner"] } } ],
                 address.city: { eq: "Oslo" }, "profile.bio": { contains: "rust" },
                 email: { endsWith: ".no" }, name: { startsWith: "A" },
                 deletedAt: { isNull: true }, nick: { isNotNull: true }, x: { ne: null } },
        orderBy: { age: DESC }, limit: 10, offset: 20) { name email age }
}"#);
    let users = field(&root_fields(&doc, 0)[0]);
    let w = users.arg("where").expect("where");
    let AstValue::Object(entries) = w else { panic!() };
    let keys: Vec<_> = entries.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["or", "address.city", "profile.bio", "email", "name", "deletedAt", "nick", "x"]);
    assert_eq!(obj(obj(w, "x"), "ne"), &AstValue::Null);
    assert_eq!(users.arg("orderBy"), Some(&AstValue::Object(vec![("age".into(), AstValue::Enum("DESC".into()))])));
    assert_eq!(users.arg("limit"), Some(&AstValue::Int(10)));
    assert_eq!(users.arg("offset"), Some(&AstValue::Int(20)));
    assert_eq!(users.pos, Pos { line: 2, column: 3 });
    assert_eq!(users.args[1].pos, Pos { line: 7, column: 9 });
}

#[test]
fn pagination_aggregate_groupby() {
    let doc = ok(r#"
            query Page($c: String) {
              users(first: 2, after: $c, orderBy: {age: ASC}) {
                edges { cursor node { name } }
                pageInfo { hasNextPage endCursor }
              }
              orders(where: { status: { eq: "paid" } }) {
                aggregate { count sum(field: "amount") total: avg(field: "amount")
                            min(field: "amount") max(field: "amount") }
              }
              byRole: users { groupBy(field: "role") { key count aggregate { count } nodes { name } } }
            }"#);
    let roots = root_fields(&doc, 0);
    let users = field(&roots[0]);
    assert_eq!(users.arg("after"), Some(&AstValue::Variable("c".into())));
    assert_eq!(names(&users.selections), ["edges", "pageInfo"]);
    let edges = field(&users.selections[0]);
    assert_eq!(names(&edges.selections), ["cursor", "node"]);
    let agg = field(&field(&roots[1]).selections[0]);
    assert_eq!(names(&agg.selections), ["count", "sum", "total", "min", "max"]);
    let total = field(&agg.selections[2]);
    assert_eq!(total.alias.as_deref(), Some("total"));
    assert_eq!(total.name, "avg");
    let by_role = field(&roots[2]);
    assert_eq!(by_role.response_key(), "byRole");
    assert_eq!(by_role.name, "users");
    let gb = field(&by_role.selections[0]);
    assert_eq!(gb.name, "groupBy");
    assert_eq!(names(&gb.selections), ["key", "count", "aggregate", "nodes"]);
}

#[test]
fn variables_aliases_fragments() {
    let doc = ok(r#"
            # leading comment
            query Adults($min: Int! = 18, $names: [String!], $o: Object = { a: 1 }) {
              grownups: users(where: { age: { gte: $min } }) { ...UserBits, id }
            }
            fragment UserBits on users { name email }
        "#);
    let op = &doc.operations[0];
    assert_eq!(op.variables.len(), 3);
    assert_eq!(op.variables[0].name, "min");
    assert_eq!(op.variables[0].ty, TypeRef::NonNull(Box::new(TypeRef::Named("Int".into()))));
    assert_eq!(op.variables[0].default, Some(AstValue::Int(18)));
    assert_eq!(op.variables[0].pos, Pos { line: 3, column: 26 });
    assert_eq!(
        op.variables[1].ty,
        TypeRef::List(Box::new(TypeRef::NonNull(Box::new(TypeRef::Named("String".into())))))
    );
    assert_eq!(op.variables[1].default, None);
    let users = field(&root_fields(&doc, 0)[0]);
    assert_eq!(users.alias.as_deref(), Some("grownups"));
    assert_eq!(
        users.selections[0],
        Selection::FragmentSpread { name: "UserBits".into(), pos: Pos { line: 4, column: 64 } }
    );
    let frag = &doc.fragments[0];
    assert_eq!(frag.name, "UserBits");
    assert_eq!(frag.type_condition, "users");
    assert_eq!(names(&frag.selections), ["name", "email"]);
}

#[test]
fn migrations() {
    let doc = ok(r#"
            migrate {
              "v1.1.0": {
                alter collection users {
                  add email_verified: Boolean
                  drop legacy
                  rename name to full_name
                  modify age: Float @indexed
                }
                migrate data in users {
                  set email_verified = false
                  set tier = "gold" where { age: { gt: 30 } }
                  set copy = other_field
                  set n = -3
                  set address.zip = profile.zip where: { x: { isNull: true } }
                }
              }
              "v1.2.0": { alter collection data { drop query } }
            }"#);
    let op = &doc.operations[0];
    assert_eq!(op.kind, OperationKind::Migrate);
    let OperationBody::Migrate(versions) = &op.body else { panic!() };
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0].version, "v1.1.0");
    assert_eq!(versions[0].steps.len(), 2);
    let MigrationStep::Alter { collection, actions, .. } = &versions[0].steps[0] else { panic!() };
    assert_eq!(collection, "users");
    assert!(matches!(&actions[0], AlterAction::Add(f) if f.name == "email_verified"
            && f.ty == TypeRef::Named("Boolean".into())));
    assert!(matches!(&actions[1], AlterAction::Drop { field, pos }
            if field == "legacy" && *pos == Pos { line: 6, column: 19 }));
    assert!(matches!(&actions[2], AlterAction::Rename { from, to, .. } if from == "name" && to == "full_name"));
    assert!(matches!(&actions[3], AlterAction::Modify(f) if f.name == "age"
            && f.directives[0].name == "indexed"));
    let MigrationStep::MigrateData { collection, sets, .. } = &versions[0].steps[1] else { panic!() };
    assert_eq!(collection, "users");
    assert_eq!(sets.len(), 5);
    assert_eq!(sets[0].expr, AstValue::Bool(false));
    assert_eq!(sets[0].where_clause, None);
    assert_eq!(sets[1].expr, AstValue::String("gold".into()));
    assert!(sets[1].where_clause.is_some());
    assert_eq!(sets[2].expr, AstValue::Enum("other_field".into()));
    assert_eq!(sets[3].expr, AstValue::Int(-3));
    assert_eq!(sets[4].field, "address.zip");
    assert_eq!(sets[4].expr, AstValue::Enum("profile.zip".into()));
    assert!(sets[4].where_clause.is_some());
    let MigrationStep::Alter { collection, actions, .. } = &versions[1].steps[0] else { panic!() };
    assert_eq!(collection, "data");
    assert!(matches!(&actions[0], AlterAction::Drop { field, .. } if field == "query"));
}

#[test]
fn subscription_and_several_operations() {
    let doc = ok(r#"
            subscription Watch { orders(where: { total: { gt: 100 } }) { id total } }
            query { data { query mutation } }
            { fragment schema }
        "#);
    assert_eq!(doc.operations.len(), 3);
    assert_eq!(doc.operations[0].kind, OperationKind::Subscription);
    assert_eq!(doc.operations[0].name.as_deref(), Some("Watch"));
    assert_eq!(doc.operations[0].pos, Pos { line: 2, column: 13 });
    let data = field(&root_fields(&doc, 1)[0]);
    assert_eq!(data.name, "data");
    assert_eq!(names(&data.selections), ["query", "mutation"]);
    assert_eq!(doc.operations[2].kind, OperationKind::Query);
    assert_eq!(names(root_fields(&doc, 2)), ["fragment", "schema"]);
}

#[test]
fn scalar_values_and_strings() {
    let doc = ok(r#"{ f(a: "q\"\\\/\b\f\n\r\t\u00e9\u{1F600}\uD83D\uDE00", b: -9223372036854775808,
                           c: 9223372036854775807, d: 1e3, e: 2.5E-2, g: [], h: {}, i: [[1], [2, [3]]],
                           j: """
                               hello
                                 world \""" x
                           """, k: "ünï", l: true, m: False) }"#);
    let f = field(&root_fields(&doc, 0)[0]);
    assert_eq!(f.arg("a"), Some(&AstValue::String("q\"\\/\u{8}\u{c}\n\r\t\u{e9}\u{1F600}\u{1F600}".into())));
    assert_eq!(f.arg("b"), Some(&AstValue::Int(i64::MIN)));
    assert_eq!(f.arg("c"), Some(&AstValue::Int(i64::MAX)));
    assert_eq!(f.arg("d"), Some(&AstValue::Float(1000.0)));
    assert_eq!(f.arg("e"), Some(&AstValue::Float(0.025)));
    assert_eq!(f.arg("g"), Some(&AstValue::List(vec![])));
    assert_eq!(f.arg("h"), Some(&AstValue::Object(vec![])));
    assert_eq!(f.arg("j"), Some(&AstValue::String("hello\n  world \"\"\" x".into())));
    assert_eq!(f.arg("k"), Some(&AstValue::String("ünï".into())));
    assert_eq!(f.arg("l"), Some(&AstValue::Bool(true)));
    assert_eq!(f.arg("m"), Some(&AstValue::Enum("False".into())));
}

#[test]
fn error_positions_and_words() {
    let e = err("query {\n  users(limit: 10 {\n    name\n  }\n}");
    assert_eq!((e.line, e.column), (2, 19));
    assert!(e.expected.contains(&"`)`".to_string()), "{e}");
    assert!(e.to_string().starts_with("line 2, column 19: expected"), "{e}");
    assert!(e.message.contains("found `{`"), "{e}");

    let e = err("query {\n  users { name ) }\n}");
    assert_eq!((e.line, e.column), (2, 16));
    assert!(e.expected.contains(&"`}`".to_string()), "{e}");
    assert!(e.expected.contains(&"field name".to_string()), "{e}");
    assert!(e.message.ends_with("found `)`"), "{e}");

    let e = err("query { users(where: { age: { gt: } }) { id } }");
    assert_eq!((e.line, e.column), (1, 35));
    assert_eq!(e.expected, ["value"]);

    let e = err("schema { define collection users { age Int } }");
    assert_eq!((e.line, e.column), (1, 40));
    assert!(e.expected.contains(&"`:`".to_string()), "{e}");

    let e = err("query($x Int) { a }");
    assert_eq!((e.line, e.column), (1, 10));

    let e = err("quer { a }");
    assert_eq!((e.line, e.column), (1, 1));
    assert!(e.expected.contains(&"`query`".to_string()), "{e}");
    assert!(e.message.contains("found `quer`"), "{e}");

    let e = err("query { a }\n}");
    assert_eq!((e.line, e.column), (2, 1));
}

#[test]
fn string_errors() {
    let e = err("query { a(s: \"abc\n) }");
    assert_eq!((e.line, e.column), (1, 14));
    assert!(e.message.contains("unterminated string"), "{e}");
    let e = err("query { a(s: \"ab\\qc\") }");
    assert_eq!((e.line, e.column), (1, 17));
    assert!(e.message.contains("invalid escape"), "{e}");
    let e = err("query { a(s: \"\\uD800x\") }");
    assert_eq!((e.line, e.column), (1, 15));
    let e = err("query { a(s: \"\"\"never closed) }");
    assert!(e.message.contains("unterminated block string"), "{e}");
}

#[test]
fn number_errors() {
    let e = err("query { a(n: 9223372036854775808) }");
    assert_eq!((e.line, e.column), (1, 14));
    assert!(e.message.contains("64-bit"), "{e}");
    let e = err("query {\n a(n: -99999999999999999999) }");
    assert_eq!((e.line, e.column), (2, 7));
    let e = err("query { a(n: 1e999) }");
    assert!(e.message.contains("out of range"), "{e}");
    assert!(parse("query { a(n: 12abc) }").is_err());
}

#[test]
fn lexical_details() {
    // BOM, CRLF, commas, comments containing brackets and quotes.
    let doc = ok("\u{FEFF}query {\r\n  a(x: 1,,, y: \"#\") # } ] ) \"\r\n  b,\n} # end");
    let f = root_fields(&doc, 0);
    assert_eq!(names(f), ["a", "b"]);
    assert_eq!(field(&f[1]).pos, Pos { line: 3, column: 3 });
    let e = err("query {\r\n  a(\r\n}");
    assert_eq!((e.line, e.column), (3, 1));
    let e = err("query { a(x: { a..b: 1 }) }");
    assert!(e.message.contains("empty segment"), "{e}");
    assert_eq!((e.line, e.column), (1, 16));
    let e = err("query { a(x: 12abc) }");
    assert_eq!(e.message, "invalid number `12abc`");
    let e = err("query { a(x: -) }");
    assert!(e.message.contains("invalid number"), "{e}");
    // Keywords stay usable as names wherever a name is expected.
    let doc = ok("query query { query(data: data) { mutation on } } \
                      fragment on on on { on }");
    assert_eq!(doc.operations[0].name.as_deref(), Some("query"));
    assert_eq!(doc.fragments[0].name, "on");
    assert_eq!(doc.fragments[0].type_condition, "on");
    let q = field(&root_fields(&doc, 0)[0]);
    assert_eq!(q.arg("data"), Some(&AstValue::Enum("data".into())));
    // `queryX` is a name, not the keyword.
    let e = err("queryX { a }");
    assert_eq!((e.line, e.column), (1, 1));
    assert!(e.message.ends_with("found `queryX`"), "{e}");
}

#[test]
fn empty_documents() {
    for text in ["", "   \n\t,", "# only a comment\n# and another"] {
        let e = err(text);
        assert!(e.message.starts_with("empty document"), "{e}");
    }
}

#[test]
fn deep_nesting_is_rejected_without_overflow() {
    for open in ["{", "[", "("] {
        let text = format!("query {{ a(x: {}", open.repeat(100_000));
        let e = err(&text);
        assert!(e.message.contains("nesting deeper than 64"), "{e}");
        assert_eq!(e.line, 1);
    }
    let e = err(&format!("query {}", "{ a ".repeat(100_000)));
    assert!(e.message.contains("nesting"), "{e}");
    // Exactly at the limit still parses (on a small stack, too).
    let depth = MAX_NESTING_DEPTH - 3; // query{ f( x: ... ) }
    let text = format!("query {{ f(x: {}1{}) }}", "[".repeat(depth), "]".repeat(depth));
    let handle =
        std::thread::Builder::new().stack_size(512 * 1024).spawn(move || parse(&text).map(|_| ())).expect("spawn");
    assert_eq!(handle.join().expect("no panic"), Ok(()));
    // Brackets inside strings and comments do not count.
    let text = format!("query {{ a(s: \"{}\") # {}\n }}", "{".repeat(1000), "[".repeat(1000));
    ok(&text);
}

#[test]
fn mutated_inputs_never_panic() {
    let seeds = [
            "query Q($a: [Int!]! = [1, 2]) { u: users(where: { and: [ { a.b: { eq: \"x\\n\" } } ] }, first: 2) { edges { node { ...F } } } } fragment F on users { id }",
            "schema { define collection users @strict { id: Uuid! @unique tags: [String] @default(value: \"\"\"x\"\"\") } }",
            "migrate { \"v1\": { alter collection c { add f: Int drop g rename a to b modify h: [Float] } migrate data in c { set f = 1 where { x: { gt: 1.5e3 } } } } }",
            "mutation { enqueueJob(jobType: \"e\", payload: {}, priority: HIGH, maxRetries: 3) { id } }",
        ];
    let alphabet: Vec<char> = "{}[]()\":,.$@!#=\\ \n\tqa1-eu\"\"\"é…".chars().collect();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..4000 {
        let seed = seeds[round % seeds.len()];
        let mut chars: Vec<char> = seed.chars().collect();
        for _ in 0..(1 + next() % 6) {
            let at = (next() as usize) % (chars.len() + 1);
            match next() % 3 {
                0 if at < chars.len() => {
                    chars.remove(at);
                }
                1 if at < chars.len() => {
                    chars[at] = alphabet[(next() as usize) % alphabet.len()];
                }
                _ => chars.insert(at, alphabet[(next() as usize) % alphabet.len()]),
            }
        }
        let text: String = chars.into_iter().collect();
        if let Err(e) = parse(&text) {
            assert!(e.line >= 1 && e.column >= 1, "{e} for {text:?}");
            assert!(!e.message.is_empty());
        }
        // Every prefix, too (truncated input).
        if round % 50 == 0 {
            for (i, _) in text.char_indices() {
                let _ = parse(&text[..i]);
            }
        }
    }
}
