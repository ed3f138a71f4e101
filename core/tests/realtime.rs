//! Change events, live queries and AQL subscriptions.

mod common;
use aurora_db::reactive::QueryUpdate;
use aurora_db::{Aurora, AuroraConfig, AuroraError, ChangeType, StreamOp, Value};
use common::*;
use std::time::Duration;

async fn db() -> (tempfile::TempDir, Aurora) {
    let dir = tempfile::tempdir().unwrap();
    let db = Aurora::open(dir.path().join("db")).await.unwrap();
    users(&db).await;
    (dir, db)
}

async fn next<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(5), f).await.expect("timed out waiting for an event")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_arrive_in_commit_order_under_concurrent_writers() {
    let (_d, db) = db().await;
    let mut all = db.listen_all();
    let mut tasks = Vec::new();
    for w in 0..8 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..100 {
                db.insert_into("users", vec![("email", s(&format!("{w}-{i}@x.io"))), ("age", Value::Int(w))])
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut last_lsn = 0;
    let mut per_writer = [-1i64; 8];
    for _ in 0..800 {
        let ev = next(all.recv()).await.unwrap();
        assert!(ev.lsn > last_lsn, "events out of commit order");
        last_lsn = ev.lsn;
        assert_eq!(ev.change_type, ChangeType::Insert);
        let doc = ev.document.unwrap();
        let w = doc.data["age"].as_i64().unwrap() as usize;
        let i: i64 = doc.data["email"].as_str().unwrap().split(['-', '@']).nth(1).unwrap().parse().unwrap();
        assert!(i > per_writer[w], "writer {w}'s events reordered");
        per_writer[w] = i;
    }
    assert!(all.try_recv().unwrap().is_none(), "no extra events");
}

#[tokio::test]
async fn update_and_delete_events_carry_before_and_after() {
    let (_d, db) = db().await;
    let mut l = db.listen("users");
    let mut other = db.listen("orders");
    let sid = db.insert_into("users", vec![("email", s("a@x.io")), ("age", Value::Int(1))]).await.unwrap();
    db.update_document("users", &sid, vec![("age", Value::Int(2))]).await.unwrap();
    db.delete_document("users", &sid).await.unwrap();
    let ins = next(l.recv()).await.unwrap();
    assert_eq!(
        (ins.change_type, ins._sid.as_str(), ins.collection.as_str()),
        (ChangeType::Insert, sid.as_str(), "users")
    );
    let upd = next(l.recv()).await.unwrap();
    assert_eq!(upd.change_type, ChangeType::Update);
    assert_eq!(upd.before.unwrap().data["age"], Value::Int(1));
    assert_eq!(upd.document.unwrap().data["age"], Value::Int(2));
    let del = next(l.recv()).await.unwrap();
    assert_eq!(del.change_type, ChangeType::Delete);
    assert!(del.document.is_none());
    assert_eq!(del.before.unwrap().data["age"], Value::Int(2));
    assert!(other.try_recv().unwrap().is_none(), "a listener of another collection hears nothing");
}

#[tokio::test]
async fn a_lagging_listener_is_told_what_it_missed_and_writers_are_not_slowed() {
    let (_d, db) = db().await;
    let mut slow = db.listen("users");
    let n = aurora_db::realtime::pubsub::LISTENER_BUFFER + 100;
    for i in 0..n {
        db.insert_into("users", vec![("email", s(&format!("{i}@x.io")))]).await.unwrap();
    }
    match slow.recv().await {
        Err(AuroraError::Lagged(missed)) => assert_eq!(missed, 100),
        other => panic!("expected a lag notice, got {other:?}"),
    }
    let ev = slow.recv().await.unwrap();
    assert_eq!(ev.document.unwrap().data["email"], s("100@x.io"), "continues with the oldest kept event");
}

#[tokio::test]
async fn watcher_reports_insert_update_in_update_out_and_delete() {
    let (_d, db) = db().await;
    let keep = db.insert_into("users", vec![("email", s("keep@x.io")), ("age", Value::Int(40))]).await.unwrap();
    db.insert_into("users", vec![("email", s("young@x.io")), ("age", Value::Int(10))]).await.unwrap();
    let mut w = db.query("users").filter(|f| f.gt("age", 30)).watch().await.unwrap();
    assert_eq!(w.initial().len(), 1);
    assert_eq!(w.initial()[0]._sid, keep);
    let a = db.insert_into("users", vec![("email", s("a@x.io")), ("age", Value::Int(50))]).await.unwrap();
    match next(w.next()).await.unwrap() {
        QueryUpdate::Added(d) => assert_eq!(d._sid, a),
        other => panic!("expected Added, got {other:?}"),
    }
    let young = db.query("users").filter(|f| f.eq("email", "young@x.io")).first_one().await.unwrap().unwrap();
    db.update_document("users", &young._sid, vec![("age", Value::Int(31))]).await.unwrap();
    assert!(
        matches!(next(w.next()).await.unwrap(), QueryUpdate::Added(d) if d._sid == young._sid),
        "update into the filter is Added"
    );
    db.update_document("users", &keep, vec![("age", Value::Int(41))]).await.unwrap();
    match next(w.next()).await.unwrap() {
        QueryUpdate::Modified { old, new } => {
            assert_eq!(old.data["age"], Value::Int(40));
            assert_eq!(new.data["age"], Value::Int(41));
        }
        other => panic!("expected Modified, got {other:?}"),
    }
    db.update_document("users", &keep, vec![("age", Value::Int(5))]).await.unwrap();
    assert!(
        matches!(next(w.next()).await.unwrap(), QueryUpdate::Removed(d) if d._sid == keep),
        "update out of the filter is Removed"
    );
    db.delete_document("users", &a).await.unwrap();
    assert!(matches!(next(w.next()).await.unwrap(), QueryUpdate::Removed(d) if d._sid == a));
    let mut current: Vec<String> = w.current().into_iter().map(|d| d._sid).collect();
    current.sort();
    assert_eq!(current, vec![young._sid.clone()]);
    assert_eq!(db.watcher_count(), 1);
    drop(w);
    assert_eq!(db.watcher_count(), 0, "dropping a watcher unregisters it");
    db.insert_into("users", vec![("email", s("after@x.io"))]).await.unwrap();
}

#[tokio::test]
async fn equality_watchers_only_see_their_value_and_debounce_coalesces() {
    let (_d, db) = db().await;
    let mut w7 =
        db.query("users").filter(|f| f.eq("age", 7)).debounce(Duration::from_millis(100)).watch().await.unwrap();
    let _w8 = db.query("users").filter(|f| f.eq("age", 8)).watch().await.unwrap();
    let sid = db.insert_into("users", vec![("email", s("x@x.io")), ("age", Value::Int(7))]).await.unwrap();
    for i in 0..5 {
        db.update_document("users", &sid, vec![("name", s(&format!("n{i}")))]).await.unwrap();
    }
    db.insert_into("users", vec![("email", s("other@x.io")), ("age", Value::Int(8))]).await.unwrap();
    // Insert + 5 updates inside one debounce window arrive as one Added with the last version.
    match next(w7.next()).await.unwrap() {
        QueryUpdate::Added(d) => assert_eq!(d.data["name"], s("n4")),
        other => panic!("expected one coalesced Added, got {other:?}"),
    }
    assert!(tokio::time::timeout(Duration::from_millis(300), w7.next()).await.is_err(), "nothing else for age 7");
}

#[tokio::test]
async fn watcher_keeps_order_and_limit_of_the_live_set() {
    let (_d, db) = db().await;
    for (e, a) in [("a", 10), ("b", 20), ("c", 30)] {
        db.insert_into("users", vec![("email", s(e)), ("age", Value::Int(a))]).await.unwrap();
    }
    let mut top2 = db.query("users").order_by("age", false).limit(2).watch().await.unwrap();
    let ages = |docs: &[aurora_db::Document]| docs.iter().map(|d| d.data["age"].clone()).collect::<Vec<_>>();
    assert_eq!(ages(top2.initial()), vec![Value::Int(30), Value::Int(20)]);
    db.insert_into("users", vec![("email", s("d")), ("age", Value::Int(25))]).await.unwrap();
    let mut got = vec![next(top2.next()).await.unwrap(), next(top2.next()).await.unwrap()];
    got.sort_by_key(|u| matches!(u, QueryUpdate::Added(_)));
    assert!(matches!(&got[0], QueryUpdate::Removed(d) if d.data["age"] == Value::Int(20)), "{got:?}");
    assert!(matches!(&got[1], QueryUpdate::Added(d) if d.data["age"] == Value::Int(25)), "{got:?}");
    db.insert_into("users", vec![("email", s("e")), ("age", Value::Int(1))]).await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(200), top2.next()).await.is_err(),
        "a change below the top-k is invisible"
    );
    assert_eq!(ages(&top2.current()), vec![Value::Int(30), Value::Int(25)]);
}

#[tokio::test]
async fn aql_subscription_streams_projected_changes_including_leaving_the_filter() {
    let (_d, db) = db().await;
    let mut stream = db.stream("subscription { users(where: { age: { gte: 18 } }) { email age } }").await.unwrap();
    let sid = db.insert_into("users", vec![("email", s("kid@x.io")), ("age", Value::Int(10))]).await.unwrap();
    db.insert_into("users", vec![("email", s("adult@x.io")), ("age", Value::Int(30))]).await.unwrap();
    let ev = next(stream.recv()).await.unwrap();
    assert_eq!(ev.op, StreamOp::Insert);
    assert_eq!(ev.data, serde_json::json!({"email": "adult@x.io", "age": 30}));
    db.update_document("users", &sid, vec![("age", Value::Int(18))]).await.unwrap();
    let ev = next(stream.recv()).await.unwrap();
    assert_eq!((ev.op, ev.sid.as_str()), (StreamOp::Insert, sid.as_str()), "entering the filter");
    db.update_document("users", &sid, vec![("age", Value::Int(19))]).await.unwrap();
    assert_eq!(next(stream.recv()).await.unwrap().op, StreamOp::Update);
    db.update_document("users", &sid, vec![("age", Value::Int(3))]).await.unwrap();
    let ev = next(stream.recv()).await.unwrap();
    assert_eq!(ev.op, StreamOp::Leave);
    assert_eq!(ev.to_json()["operation"], "delete");
    assert_eq!(ev.to_json()["leftFilter"], true);
    db.query("users").filter(|f| f.eq("email", "adult@x.io")).delete().await.unwrap();
    let ev = next(stream.recv()).await.unwrap();
    assert_eq!((ev.op, ev.data["email"].as_str()), (StreamOp::Delete, Some("adult@x.io")));
    assert!(db.stream("query { users { email } }").await.is_err(), "a query is not a subscription");
    assert!(matches!(db.stream("subscription { nope { a } }").await, Err(AuroraError::CollectionNotFound { .. })));
}

#[tokio::test]
async fn strict_mode_publishes_after_fsync_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let db =
        Aurora::with_config(AuroraConfig { durability_mode: aurora_db::DurabilityMode::Strict, ..config(dir.path()) })
            .await
            .unwrap();
    users(&db).await;
    let mut l = db.listen("users");
    for i in 0..20 {
        db.insert_into("users", vec![("email", s(&format!("{i}")))]).await.unwrap();
    }
    for i in 0..20 {
        let ev = next(l.recv()).await.unwrap();
        assert_eq!(ev.document.unwrap().data["email"], s(&format!("{i}")));
    }
}

#[tokio::test]
async fn audit_log_records_every_mutation_as_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let db =
        Aurora::with_config(AuroraConfig { audit_log_path: Some(log.clone()), ..config(dir.path()) }).await.unwrap();
    users(&db).await;
    let sid = db.insert_into("users", vec![("email", s("a@x.io"))]).await.unwrap();
    db.execute(
        "mutation { update(collection: \"users\", data: { age: 3 }, where: { email: { eq: \"a@x.io\" } }) { age } }",
    )
    .await
    .unwrap();
    db.delete_document("users", &sid).await.unwrap();
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&log).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["operation"], "insert");
    assert_eq!(lines[0]["source"], "insert_into");
    assert_eq!(lines[1]["operation"], "update");
    assert!(lines[1]["source"].as_str().unwrap().contains("mutation"), "AQL text recorded");
    assert_eq!(lines[2]["operation"], "delete");
    assert!(lines
        .iter()
        .all(|l| l["_sid"] == sid.as_str() && l["collection"] == "users" && l["time_ms"].as_u64().unwrap() > 0));
}

#[tokio::test]
async fn an_update_with_operators_is_one_modified_event_per_document() {
    let (_dir, db) = db().await;
    db.execute("schema { define collection items { sku: String! @unique  stock: Int  tags: [String] } }")
        .await
        .unwrap();
    db.execute("mutation { insertInto(collection: \"items\", data: { sku: \"a\", stock: 1, tags: [] }) { sku } }")
        .await
        .unwrap();
    let mut l = db.listen("items");
    db.execute(
        "mutation { update(collection: \"items\", where: { sku: { eq: \"a\" } }, \
         data: { stock: { increment: 2 }, tags: { push: \"x\" } }) { stock } }",
    )
    .await
    .unwrap();
    let ev = next(l.recv()).await.unwrap();
    assert_eq!(ev.change_type, ChangeType::Update);
    assert_eq!(ev.document.as_ref().map(|d| d.to_json()["stock"].clone()), Some(serde_json::json!(3)));
    assert!(l.try_recv().unwrap().is_none(), "one event for the whole update");
}
