//! Defaults, enums, `@validate` rules and dates declared in AQL hold on every write path (the
//! fluent API and batch inserts too) and survive a reopen.

use aurora_db::types::DocData;
use aurora_db::{Aurora, AuroraConfig, Value};
use serde_json::json;

const SCHEMA: &str = "schema { enum Plan { FREE PRO } define collection users { \
    email: String! @unique @validate(format: \"email\")  age: Int = 18 @validate(min: 0)  plan: Plan = FREE  \
    joined: Date } }";

async fn open(dir: &std::path::Path) -> Aurora {
    Aurora::with_config(AuroraConfig { db_path: dir.join("db"), ..Default::default() }).await.unwrap()
}

fn doc(pairs: &[(&str, Value)]) -> DocData {
    pairs.iter().map(|(k, v)| ((*k).into(), v.clone())).collect()
}

#[tokio::test]
async fn rules_hold_on_the_fluent_api_and_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = open(dir.path()).await;
        db.execute(SCHEMA).await.unwrap();
        let sid = db.insert_into("users", vec![("email", Value::String("a@x.io".into()))]).await.unwrap();
        let got = db.get_document("users", &sid).await.unwrap().unwrap();
        assert_eq!(got.data.get("age"), Some(&Value::Int(18)));
        assert_eq!(got.data.get("plan"), Some(&Value::String("FREE".into())));
        let bad = db.insert_into("users", vec![("email", Value::String("nope".into()))]).await.unwrap_err();
        assert!(bad.to_string().contains("@validate(format: \"email\")"), "{bad}");
        // A batch is atomic: one bad document keeps every other out.
        let batch = vec![
            doc(&[("email", Value::String("b@x.io".into())), ("joined", Value::String("2024-02-29".into()))]),
            doc(&[("email", Value::String("c@x.io".into())), ("plan", Value::String("GOLD".into()))]),
        ];
        let e = db.batch_insert("users", batch).await.unwrap_err();
        assert!(e.to_string().contains("enum Plan"), "{e}");
        assert_eq!(db.count("users").await.unwrap(), 1);
        let e = db.update_document("users", &sid, vec![("age", Value::Int(-3))]).await.unwrap_err();
        assert!(e.to_string().contains("min: 0"), "{e}");
        db.close().await.unwrap();
    }
    // The rules are part of the stored schema.
    let db = open(dir.path()).await;
    let e = db.execute("mutation { insertInto(collection: \"users\", data: { email: \"d@x.io\", joined: \"2024-02-30\" }) { age } }").await;
    assert_eq!(e.map_err(|e| e.code()).err(), Some("TYPE_ERROR"));
    let out = db
        .execute_json("mutation { insertInto(collection: \"users\", data: { email: \"d@x.io\", joined: \"2024-02-29\" }) { age plan joined } }")
        .await
        .unwrap();
    assert_eq!(out, json!({"insertInto": {"age": 18, "plan": "FREE", "joined": "2024-02-29"}}));
    let schema = db.schema("users").unwrap();
    assert_eq!(schema.rules["plan"].enum_values, vec!["FREE".to_string(), "PRO".to_string()]);
    assert_eq!(schema.fields["joined"].field_type.to_string(), "Date");
}
