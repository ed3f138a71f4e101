//! The README's fluent API and every filter operator, with their edge cases.

mod common;
use aurora_db::types::FieldDefinition;
use aurora_db::{Aurora, AuroraConfig, AuroraError, FieldType, Value};
use common::*;

#[tokio::test]
async fn readme_fluent_examples_run_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("myapp.db");
    let db = Aurora::with_config(AuroraConfig {
        db_path: path.clone(),
        hot_cache_size_mb: 256,
        workers_enabled: true,
        worker_threads: 8,
        enable_wal: true,
        ..Default::default()
    })
    .await
    .unwrap();
    db.new_collection(
        "users",
        vec![
            (
                "email",
                FieldDefinition { field_type: FieldType::SCALAR_STRING, unique: true, indexed: true, nullable: false },
            ),
            (
                "age",
                FieldDefinition { field_type: FieldType::SCALAR_INT, unique: false, indexed: true, nullable: true },
            ),
        ],
    )
    .await
    .unwrap();
    let id = db
        .insert_into("users", vec![("email", Value::String("a@x.io".into())), ("age", Value::Int(30))])
        .await
        .unwrap();
    assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 7);
    db.insert_into("users", vec![("email", s("b@x.io")), ("age", Value::Int(20))]).await.unwrap();
    let users = db
        .query("users")
        .filter(|f| f.gt("age", Value::Int(25)))
        .order_by("age", false)
        .limit(10)
        .collect()
        .await
        .unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].data.get("age"), Some(&Value::Int(30)));
    assert_eq!(users[0]._sid, id);
    let one = db.query("users").filter(|f| f.eq("email", Value::String("a@x.io".into()))).first_one().await.unwrap();
    assert_eq!(one.unwrap()._sid, id);
    let n = db.query("users").count().await.unwrap();
    assert_eq!(n, 2);
    let gone = db.query("users").filter(|f| f.eq("active", Value::Bool(false))).delete().await.unwrap();
    assert_eq!(gone, 0);
    assert_eq!(db.query("users").count().await.unwrap(), 2);
}

async fn people() -> (tempfile::TempDir, Aurora) {
    let dir = tempfile::tempdir().unwrap();
    let db = Aurora::open(dir.path().join("db")).await.unwrap();
    users(&db).await;
    let rows: Vec<(&str, Value, Value, &str)> = vec![
        ("ann@x.io", Value::Int(31), Value::Bool(true), "Oslo"),
        ("bob@x.io", Value::Int(45), Value::Bool(false), "Bergen"),
        ("cat@y.org", Value::Null, Value::Bool(true), "Oslo"),
        ("dan@y.org", Value::Int(60), Value::Null, "Tromsø"),
        ("eve@x.io", Value::Int(18), Value::Bool(true), "Bergen"),
    ];
    for (email, age, active, city) in rows {
        let mut fields = vec![
            ("email", s(email)),
            ("age", age),
            ("city_obj", Value::from_json(&serde_json::json!({"address": {"city": city}}))),
        ];
        if !active.is_null() {
            fields.push(("active", active));
        }
        fields.push(("tags", Value::Array(vec![s("t"), s(&email[..3])])));
        db.insert_into("users", fields).await.unwrap();
    }
    (dir, db)
}

async fn emails(db: &Aurora, f: impl FnOnce(&aurora_db::FilterBuilder) -> aurora_db::Filter) -> Vec<String> {
    let mut v: Vec<String> = db
        .query("users")
        .filter(f)
        .collect()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.data["email"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn every_filter_operator() {
    let (_d, db) = people().await;
    assert_eq!(emails(&db, |f| f.eq("age", 45)).await, ["bob@x.io"]);
    assert_eq!(emails(&db, |f| f.eq("age", 45.0)).await, ["bob@x.io"], "Int field matches an equal Float");
    assert_eq!(emails(&db, |f| f.eq("age", Value::Null)).await, ["cat@y.org"]);
    assert_eq!(emails(&db, |f| f.ne("age", 45)).await, ["ann@x.io", "cat@y.org", "dan@y.org", "eve@x.io"]);
    assert_eq!(emails(&db, |f| f.gt("age", 50.0)).await, ["dan@y.org"], "Float bound on Int field");
    assert_eq!(emails(&db, |f| f.gte("age", 45)).await, ["bob@x.io", "dan@y.org"]);
    assert_eq!(emails(&db, |f| f.lt("age", 31)).await, ["eve@x.io"], "null never compares");
    assert_eq!(emails(&db, |f| f.lte("age", 31)).await, ["ann@x.io", "eve@x.io"]);
    assert_eq!(emails(&db, |f| f.between("age", 30, 45)).await, ["ann@x.io", "bob@x.io"]);
    assert_eq!(emails(&db, |f| f.between("age", 45, 30)).await, Vec::<String>::new());
    assert_eq!(emails(&db, |f| f.in_values("age", [18, 60])).await, ["dan@y.org", "eve@x.io"]);
    assert_eq!(
        emails(&db, |f| f.in_values("age", Vec::<Value>::new())).await,
        Vec::<String>::new(),
        "empty in matches nothing"
    );
    assert_eq!(emails(&db, |f| f.contains("email", "@y.")).await, ["cat@y.org", "dan@y.org"]);
    assert_eq!(emails(&db, |f| f.contains("tags", "bob")).await, ["bob@x.io"], "array contains element");
    assert_eq!(emails(&db, |f| f.starts_with("email", "da")).await, ["dan@y.org"]);
    assert_eq!(emails(&db, |f| f.ends_with("email", ".org")).await, ["cat@y.org", "dan@y.org"]);
    assert_eq!(emails(&db, |f| f.eq("active", false)).await, ["bob@x.io"]);
    assert_eq!(emails(&db, |f| f.is_null("active")).await, ["dan@y.org"], "missing field is null");
    assert_eq!(emails(&db, |f| f.is_not_null("age")).await.len(), 4);
    assert_eq!(emails(&db, |f| f.eq("city_obj.address.city", "Oslo")).await, ["ann@x.io", "cat@y.org"], "dotted path");
    assert_eq!(emails(&db, |f| f.eq("active", true) & f.gt("age", 20)).await, ["ann@x.io"]);
    assert_eq!(emails(&db, |f| f.eq("age", 18) | f.eq("email", "bob@x.io")).await, ["bob@x.io", "eve@x.io"]);
    assert_eq!(
        emails(&db, |f| (f.eq("active", true) & f.lt("age", 40)) | (f.gt("age", 55) & f.is_null("active"))).await,
        ["ann@x.io", "dan@y.org", "eve@x.io"]
    );
    assert_eq!(emails(&db, |f| f.gt("missing_field", 1)).await, Vec::<String>::new());
}

#[tokio::test]
async fn order_limit_offset_and_counts() {
    let (_d, db) = people().await;
    let ages: Vec<Value> = db
        .query("users")
        .order_by("age", true)
        .collect()
        .await
        .unwrap()
        .iter()
        .map(|d| d.data["age"].clone())
        .collect();
    assert_eq!(ages, vec![Value::Null, Value::Int(18), Value::Int(31), Value::Int(45), Value::Int(60)]);
    let page: Vec<Value> = db
        .query("users")
        .filter(|f| f.is_not_null("age"))
        .order_by("age", false)
        .offset(1)
        .limit(2)
        .collect()
        .await
        .unwrap()
        .iter()
        .map(|d| d.data["age"].clone())
        .collect();
    assert_eq!(page, vec![Value::Int(45), Value::Int(31)]);
    assert_eq!(db.query("users").filter(|f| f.eq("active", true)).count().await.unwrap(), 3);
    assert_eq!(db.query("users").filter(|f| f.gt("age", 20)).count().await.unwrap(), 3);
    assert_eq!(db.query("users").limit(0).collect().await.unwrap().len(), 0);
    let by_city: Vec<String> = db
        .query("users")
        .order_by("city_obj.address.city", true)
        .order_by("email", false)
        .collect()
        .await
        .unwrap()
        .iter()
        .map(|d| d.data["email"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(by_city, ["eve@x.io", "bob@x.io", "cat@y.org", "ann@x.io", "dan@y.org"]);
}

#[tokio::test]
async fn errors_are_specific() {
    let (_d, db) = people().await;
    match db.insert_into("users", vec![("email", s("ann@x.io"))]).await {
        Err(AuroraError::UniqueViolation { collection, field, .. }) => {
            assert_eq!((collection.as_str(), field.as_str()), ("users", "email"))
        }
        other => panic!("expected unique violation, got {other:?}"),
    }
    match db.insert_into("users", vec![("email", s("new@x.io")), ("age", s("old"))]).await {
        Err(AuroraError::TypeMismatch { collection, field, expected, actual, .. }) => {
            assert_eq!(
                (collection.as_str(), field.as_str(), expected.as_str(), actual.as_str()),
                ("users", "age", "Int", "String")
            )
        }
        other => panic!("expected type mismatch, got {other:?}"),
    }
    match db.insert_into("users", vec![("age", Value::Int(3))]).await {
        Err(e @ AuroraError::Validation { .. }) => assert!(e.to_string().contains("email")),
        other => panic!("expected missing required field, got {other:?}"),
    }
    match db.query("userz").collect().await {
        Err(AuroraError::CollectionNotFound { name, hint, .. }) => {
            assert_eq!(name, "userz");
            assert!(hint.contains("users"), "{hint}");
        }
        other => panic!("expected unknown collection, got {other:?}"),
    }
    assert!(matches!(db.insert_into("nope", vec![("a", 1)]).await, Err(AuroraError::CollectionNotFound { .. })));
    // A redefinition that differs is a conflict; the same definition is fine.
    users(&db).await;
    let err = db.new_collection("users", vec![("email", FieldDefinition::new(FieldType::Int))]).await.unwrap_err();
    assert!(matches!(err, AuroraError::SchemaConflict(_)));
    assert_eq!(db.query("users").count().await.unwrap(), 5, "failed writes changed nothing");
    // Updating into a taken unique value fails and changes nothing.
    let bob = db.query("users").filter(|f| f.eq("email", "bob@x.io")).first_one().await.unwrap().unwrap();
    assert!(matches!(
        db.update_document("users", &bob._sid, vec![("email", s("ann@x.io"))]).await,
        Err(AuroraError::UniqueViolation { .. })
    ));
    db.update_document("users", &bob._sid, vec![("email", s("bobby@x.io"))]).await.unwrap();
    assert_eq!(emails(&db, |f| f.starts_with("email", "bob")).await, ["bobby@x.io"]);
    // Closed handles refuse work.
    db.close().await.unwrap();
    assert!(matches!(db.query("users").count().await, Err(AuroraError::Closed)));
    assert!(matches!(db.insert_into("users", vec![("email", s("z@x.io"))]).await, Err(AuroraError::Closed)));
}

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
struct User {
    email: String,
    age: Option<i64>,
    tags: Vec<String>,
}

#[tokio::test]
async fn serde_types_batches_updates_and_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let db = Aurora::open(dir.path().join("db")).await.unwrap();
    users(&db).await;
    let u = User { email: "s@x.io".into(), age: Some(40), tags: vec!["a".into()] };
    let sid = db.insert_struct("users", &u).await.unwrap();
    assert_eq!(db.get_as::<User>("users", &sid).await.unwrap(), Some(u));
    let batch: Vec<User> = (0..10).map(|i| User { email: format!("u{i}@x.io"), age: Some(i), tags: vec![] }).collect();
    assert_eq!(db.batch_insert_structs("users", &batch).await.unwrap().len(), 10);
    // A batch with one bad document inserts nothing.
    let bad = vec![
        User { email: "fresh@x.io".into(), age: None, tags: vec![] },
        User { email: "u1@x.io".into(), age: None, tags: vec![] },
    ];
    assert!(matches!(db.batch_insert_structs("users", &bad).await, Err(AuroraError::UniqueViolation { .. })));
    assert_eq!(db.query("users").count().await.unwrap(), 11);
    // Duplicates inside one batch are caught too.
    let dup = vec![
        User { email: "d@x.io".into(), age: None, tags: vec![] },
        User { email: "d@x.io".into(), age: None, tags: vec![] },
    ];
    assert!(db.batch_insert_structs("users", &dup).await.is_err());
    let young: Vec<User> =
        db.query("users").filter(|f| f.lt("age", 3)).order_by("age", true).collect_as().await.unwrap();
    assert_eq!(young.iter().map(|u| u.age).collect::<Vec<_>>(), vec![Some(0), Some(1), Some(2)]);
    assert_eq!(db.query("users").filter(|f| f.lt("age", 5)).update(vec![("age", Value::Int(100))]).await.unwrap(), 5);
    assert_eq!(db.query("users").filter(|f| f.eq("age", 100)).count().await.unwrap(), 5);

    // Transactions: swap two unique values atomically; a failing one applies nothing.
    let a = db.query("users").filter(|f| f.eq("email", "u8@x.io")).first_one().await.unwrap().unwrap();
    let b = db.query("users").filter(|f| f.eq("email", "u9@x.io")).first_one().await.unwrap().unwrap();
    let mut tx = db.transaction();
    tx.update("users", &a._sid, vec![("email", s("tmp@x.io"))]).unwrap();
    tx.update("users", &b._sid, vec![("email", s("u8@x.io"))]).unwrap();
    tx.update("users", &a._sid, vec![("email", s("u9@x.io"))]).unwrap();
    tx.insert("users", vec![("email", s("tx@x.io"))]);
    assert_eq!(tx.commit().await.unwrap().len(), 1);
    assert_eq!(db.get_document("users", &a._sid).await.unwrap().unwrap().data["email"], s("u9@x.io"));
    assert_eq!(db.get_document("users", &b._sid).await.unwrap().unwrap().data["email"], s("u8@x.io"));
    let mut tx = db.transaction();
    tx.insert("users", vec![("email", s("never@x.io"))]);
    tx.delete("users", &a._sid).unwrap();
    tx.insert("users", vec![("email", s("u8@x.io"))]);
    assert!(tx.commit().await.is_err());
    assert!(db.get_document("users", &a._sid).await.unwrap().is_some());
    assert_eq!(db.query("users").filter(|f| f.eq("email", "never@x.io")).count().await.unwrap(), 0);
    db.verify().await.unwrap();
}

#[tokio::test]
async fn reopen_restores_data_schema_and_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let db = Aurora::open(&path).await.unwrap();
        users(&db).await;
        for i in 0..200 {
            db.insert_into("users", vec![("email", s(&format!("{i}@x.io"))), ("age", Value::Int(i % 50))])
                .await
                .unwrap();
        }
        db.query("users").filter(|f| f.lt("age", 10)).delete().await.unwrap();
        db.query("users").filter(|f| f.eq("age", 49)).update(vec![("age", Value::Int(1000))]).await.unwrap();
    }
    let db = Aurora::open(&path).await.unwrap();
    assert_eq!(db.query("users").count().await.unwrap(), 160);
    assert_eq!(db.query("users").filter(|f| f.eq("age", 1000)).count().await.unwrap(), 4);
    assert_eq!(db.query("users").filter(|f| f.lt("age", 10)).count().await.unwrap(), 0);
    assert!(matches!(
        db.insert_into("users", vec![("email", s("15@x.io"))]).await,
        Err(AuroraError::UniqueViolation { .. })
    ));
    assert!(db.insert_into("users", vec![("email", s("5@x.io"))]).await.is_ok(), "deleted unique value is free again");
    assert_eq!(db.schema("users").unwrap().fields.len(), 2);
    db.verify().await.unwrap();
}
