//! Code written for the seed README's Rust API: projected AQL results, migration step counts,
//! awaited worker calls and plain field maps.

use aurora_db::parser::executor::ExecutionResult;
use aurora_db::workers::{Job, JobPriority, JobStatus, WorkerConfig, WorkerSystem};
use aurora_db::{Aurora, ExecuteOptions, Value};
use serde_json::{json, Value as Json};
use std::collections::HashMap;
use std::time::Duration;

async fn users_db(dir: &std::path::Path) -> Aurora {
    let db = Aurora::open(dir.join("db")).await.unwrap();
    db.execute(
        "schema { define collection users { username: String! @unique  email: String  age: Int @indexed  \
         role: String  active: Boolean  address: Object } }",
    )
    .await
    .unwrap();
    let people = [
        ("ann", 31, "admin", true),
        ("bob", 25, "member", true),
        ("cid", 40, "member", false),
        ("dee", 52, "admin", true),
        ("eve", 19, "member", true),
        ("fay", 33, "guest", false),
    ];
    for (name, age, role, active) in people {
        db.execute((
            "mutation($u: String!, $a: Int, $r: String, $on: Boolean) { insertInto(collection: \"users\", \
             data: { username: $u, email: \"x@y.z\", age: $a, role: $r, active: $on, \
             address: { city: \"Oslo\", zip: \"0150\" } }) { username } }",
            json!({ "u": name, "a": age, "r": role, "on": active }),
        ))
        .await
        .unwrap();
    }
    db
}

fn query(r: &ExecutionResult) -> &aurora_db::aql::QueryResult {
    match r {
        ExecutionResult::Query(q) => q,
        other => panic!("expected a query result, got {other:?}"),
    }
}

/// A document's fields as the JSON object they stand for, keys in order.
fn data_json(d: &aurora_db::Document) -> Json {
    Json::Object(d.data.iter().map(|(k, v)| (k.to_string(), v.to_json())).collect())
}

/// `documents` holds exactly the JSON's list, document for document, key order included.
fn assert_documents_are_the_json(r: &ExecutionResult) {
    let q = query(r);
    let json = r.to_json();
    let list = json[&q.key].as_array().expect("a list result");
    assert_eq!(q.documents.len(), list.len());
    for (d, j) in q.documents.iter().zip(list) {
        assert_eq!(&data_json(d), j);
        let keys: Vec<&str> = d.data.keys().map(|k| k.as_str()).collect();
        let json_keys: Vec<&str> = j.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, json_keys);
    }
}

#[tokio::test]
async fn query_documents_hold_the_selected_fields_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = users_db(dir.path()).await;
    let r =
        db.execute("query { users(where: { age: { gt: 30 } }, orderBy: { age: ASC }) { username email age } }").await;
    let r = r.unwrap();
    let q = query(&r);
    assert_eq!(q.documents.len(), 4);
    let d = &q.documents[0];
    assert_eq!(d.data.get("username"), Some(&Value::String("ann".into())));
    assert_eq!(d.data.get("age"), Some(&Value::Int(31)));
    assert!(d.data.get("role").is_none() && d.data.get("active").is_none() && d.data.get("_sid").is_none());
    assert!(!d._sid.is_empty(), "the system id stays on the document");
    assert_documents_are_the_json(&r);

    // Selected but absent: present as Null, as in the JSON.
    let r = db.execute("query { users(limit: 2) { id username } }").await.unwrap();
    assert_eq!(query(&r).documents[0].data.get("id"), Some(&Value::Null));
    assert_documents_are_the_json(&r);

    // Aliases, nested selections, fragments, `_sid` on request.
    let text = "fragment Who on users { username role } \
                query { people: users(where: { role: { eq: \"admin\" } }) { ...Who where: address { city } key: _sid } }";
    let r = db.execute(text).await.unwrap();
    let q = query(&r);
    assert_eq!(q.key, "people");
    let first = &q.documents[0];
    let keys: Vec<&str> = first.data.keys().map(|k| k.as_str()).collect();
    assert_eq!(keys, ["username", "role", "where", "key"]);
    let mut city = indexmap::IndexMap::new();
    city.insert("city".to_string(), Value::String("Oslo".into()));
    assert_eq!(first.data.get("where"), Some(&Value::Object(city)));
    assert_eq!(first.data.get("key"), Some(&Value::String(first._sid.clone())));
    assert_documents_are_the_json(&r);

    // debug_audit adds `_sid` to every document, after the selection.
    let r = db
        .execute((
            "query { users(limit: 1) { username } }",
            Json::Null,
            ExecuteOptions { debug_audit: true, ..Default::default() },
        ))
        .await
        .unwrap();
    let d = &query(&r).documents[0];
    assert_eq!(d.data.get("_sid"), Some(&Value::String(d._sid.clone())));
    assert_documents_are_the_json(&r);

    // No selection set: the whole document, without `_sid`.
    let r = db.execute("query { users(limit: 1) }").await.unwrap();
    assert_documents_are_the_json(&r);
    let d = &query(&r).documents[0];
    assert!(d.data.get("role").is_some() && d.data.get("_sid").is_none());
}

#[tokio::test]
async fn aggregates_groups_and_connections_fill_documents_as_the_original_did() {
    let dir = tempfile::tempdir().unwrap();
    let db = users_db(dir.path()).await;

    let r = db.execute("query { users { total: aggregate { count  oldest: max(field: \"age\") } } }").await.unwrap();
    let q = query(&r);
    assert_eq!(q.documents.len(), 1);
    let total = q.documents[0].data.get("total").expect("the aggregate under its response key");
    assert_eq!(total.get_path("count"), Some(&Value::Int(6)));
    assert_eq!(total.get_path("oldest"), Some(&Value::Int(52)));

    let r = db.execute("query { users { groupBy(field: \"role\") { key count nodes { username } } } }").await.unwrap();
    let q = query(&r);
    let groups: Vec<(Value, Value)> =
        q.documents.iter().map(|d| (d.data["key"].clone(), d.data["count"].clone())).collect();
    assert_eq!(
        groups,
        vec![
            (Value::String("admin".into()), Value::Int(2)),
            (Value::String("guest".into()), Value::Int(1)),
            (Value::String("member".into()), Value::Int(3)),
        ]
    );
    let json = r.to_json();
    for (d, g) in q.documents.iter().zip(json["users"]["groupBy"].as_array().unwrap()) {
        assert_eq!(&data_json(d), g);
    }

    let r = db
        .execute(
            "query { users(first: 2, orderBy: { age: ASC }) { edges { cursor node { username } } \
             pageInfo { hasNextPage endCursor } } }",
        )
        .await
        .unwrap();
    let q = query(&r);
    assert_eq!(q.documents.len(), 1, "one document for the connection");
    assert_eq!(data_json(&q.documents[0]), r.to_json()["users"]);
    let edges = q.documents[0].data.get("edges").unwrap();
    assert_eq!(edges.get_path("0.node.username"), None, "arrays are not addressed by dotted paths");
    let Value::Array(edges) = edges else { panic!("edges is a list") };
    assert_eq!(edges.len(), 2);
    assert_eq!(q.documents[0].data["pageInfo"].get_path("hasNextPage"), Some(&Value::Bool(true)));
}

#[tokio::test]
async fn steps_applied_counts_the_versions_applied_by_this_run() {
    let dir = tempfile::tempdir().unwrap();
    let db = users_db(dir.path()).await;
    let versions = "\"v1.1.0\": { alter collection users { add verified: Boolean  rename role to kind } \
                      migrate data in users { set verified = false where { age: { gt: 30 } } } } \
        \"v1.2.0\": { alter collection users { add nick: String  drop active } } \
        \"v1.3.0\": { migrate data in users { set nick = username } }";
    let text = format!("migrate {{ {versions} }}");
    let text = text.as_str();
    let migration = |r: ExecutionResult| match r {
        ExecutionResult::Migration(m) => m,
        other => panic!("expected a migration result, got {other:?}"),
    };
    let m = migration(db.execute(text).await.unwrap());
    assert_eq!((m.version.as_str(), m.steps_applied, m.status.as_str()), ("v1.3.0", 3, "applied"));
    let again = db.execute(text).await.unwrap();
    assert_eq!(again.to_json(), json!({"migrate": {"version": "v1.3.0", "stepsApplied": 0, "status": "skipped"}}));
    let m = migration(again);
    assert_eq!((m.steps_applied, m.status.as_str()), (0, "skipped"));
    // One new version next to the applied ones counts one.
    let more = format!("migrate {{ {versions} \"v1.4.0\": {{ alter collection users {{ add score: Int }} }} }}");
    let m = migration(db.execute(more.as_str()).await.unwrap());
    assert_eq!((m.version.as_str(), m.steps_applied, m.status.as_str()), ("v1.4.0", 1, "applied"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_calls_in_the_seed_shape_compile_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let db = Aurora::open(dir.path().join("db")).await.unwrap();
    let workers = WorkerSystem::new(&db, WorkerConfig::default()).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    workers
        .register_handler("send_email", move |job: Job| {
            let tx = tx.clone();
            async move {
                let to = job.payload.get("to").and_then(|v| v.as_str()).ok_or("missing to")?;
                tx.send(to.to_string()).map_err(|e| e.to_string())?;
                Ok(())
            }
        })
        .await;
    workers.start().await.unwrap();
    let id = workers
        .enqueue(Job::new("send_email").add_field("to", "alice@example.com").with_priority(JobPriority::High))
        .await
        .unwrap();
    let to = tokio::time::timeout(Duration::from_secs(20), rx.recv()).await.unwrap();
    assert_eq!(to.as_deref(), Some("alice@example.com"));
    for _ in 0..2000 {
        if workers.get_status(&id) == Some(JobStatus::Completed) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(workers.get_status(&id), Some(JobStatus::Completed));
    workers.stop().await.unwrap();
    // Outside the runtime's async code, `start_on` starts them without awaiting.
    workers.start_on(&tokio::runtime::Handle::current()).unwrap();
    assert!(workers.is_running());
    workers.stop().await.unwrap();
}

#[tokio::test]
async fn a_document_converts_to_a_plain_map_in_one_call() {
    let dir = tempfile::tempdir().unwrap();
    let db = users_db(dir.path()).await;
    let one = db.query("users").filter(|f| f.eq("username", "ann")).first_one().await.unwrap().unwrap();
    let map: HashMap<String, Value> = one.to_map();
    assert_eq!(map.len(), one.data.len());
    assert_eq!(map.get("age"), Some(&Value::Int(31)));
    assert_eq!(map.get("username"), Some(&Value::String("ann".into())));
}
