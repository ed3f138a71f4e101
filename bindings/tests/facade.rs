//! The facade as a host sees it: JSON in/out, error codes, subscriptions, handlers.

use aurora_bindings::{AsyncForeignHandler, BoxFuture, Database, ErrorCode, ForeignHandler};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn open() -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path().join("db").to_str().unwrap(), &json!({"durabilityMode": "wal"})).unwrap();
    db.execute("schema { define collection users { email: String! @unique  age: Int @indexed } }", json!(null))
        .unwrap();
    (dir, db)
}

#[test]
fn execute_returns_spec_json_and_errors_carry_codes_and_positions() {
    let (_d, db) = open();
    let r = db
        .execute(
            "mutation ($e: String!) { insertInto(collection: \"users\", data: { email: $e, age: 3 }) { email age } }",
            json!({"e": "a@x.io"}),
        )
        .unwrap();
    assert_eq!(r, json!({"insertInto": {"email": "a@x.io", "age": 3}}));
    let e = db.execute("query {\n  users { email ", json!(null)).unwrap_err();
    assert_eq!(e.code, ErrorCode::Syntax);
    assert_eq!(e.line, Some(2));
    let e = db
        .execute("mutation { insertInto(collection: \"users\", data: { email: \"a@x.io\" }) { email } }", json!(null))
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::UniqueViolation);
    let e = db.execute("query { userz { email } }", json!(null)).unwrap_err();
    assert_eq!((e.code, e.message.contains("users")), (ErrorCode::NotFound, true));
    let e = Database::open("/proc/forbidden/db", &json!({})).unwrap_err();
    assert_eq!(e.code, ErrorCode::Io);
    assert_eq!(Database::open("x", &json!({"bogus": 1})).unwrap_err().code, ErrorCode::Validation);
    db.close().unwrap();
    db.close().unwrap();
    assert_eq!(db.execute("query { users { email } }", json!(null)).unwrap_err().code, ErrorCode::Closed);
}

#[test]
fn subscriptions_time_out_deliver_and_close_wakes_a_blocked_reader() {
    let (_d, db) = open();
    let sub = db.stream("subscription { users(where: { age: { gt: 1 } }) { email } }", json!(null)).unwrap();
    assert_eq!(sub.next_blocking(Some(Duration::from_millis(20))).unwrap(), None);
    db.execute(
        "mutation { insertInto(collection: \"users\", data: { email: \"b@x.io\", age: 5 }) { email } }",
        json!(null),
    )
    .unwrap();
    let ev = sub.next_blocking(Some(Duration::from_secs(5))).unwrap().unwrap();
    assert_eq!(ev["operation"], "insert");
    assert_eq!(ev["data"], json!({"email": "b@x.io"}));

    let listen = db.listen("users").unwrap();
    let l2 = listen.clone();
    let t = std::thread::spawn(move || l2.next_blocking(None));
    std::thread::sleep(Duration::from_millis(50));
    listen.close();
    let r = t.join().unwrap();
    assert_eq!(r.unwrap_err().code, ErrorCode::Closed, "close wakes the blocked reader");
    assert_eq!(listen.next_blocking(Some(Duration::from_millis(1))).unwrap_err().code, ErrorCode::Closed);
}

struct Recorder(Arc<Mutex<Vec<String>>>, bool);
impl ForeignHandler for Recorder {
    fn call(&self, job: String) -> Result<(), String> {
        let v: serde_json::Value = serde_json::from_str(&job).unwrap();
        self.0.lock().unwrap().push(v["payload"]["n"].to_string());
        if self.1 {
            Err("boom".into())
        } else {
            Ok(())
        }
    }
}

struct Panicker;
impl ForeignHandler for Panicker {
    fn call(&self, _job: String) -> Result<(), String> {
        panic!("host callback bug")
    }
}

struct AsyncOk(Arc<Mutex<usize>>);
impl AsyncForeignHandler for AsyncOk {
    fn call(&self, _job: String) -> BoxFuture<Result<(), String>> {
        let c = self.0.clone();
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            *c.lock().unwrap() += 1;
            Ok(())
        })
    }
}

fn wait_status(db: &Database, id: &str, status: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if db.job_status(id).unwrap()["status"] == status {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "job {id} never reached {status}: {}",
            db.job_status(id).unwrap()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn foreign_handlers_succeed_fail_retry_and_survive_panics() {
    let (_d, db) = open();
    let seen = Arc::new(Mutex::new(Vec::new()));
    db.register_handler("ok", Arc::new(Recorder(seen.clone(), false))).unwrap();
    db.register_handler("bad", Arc::new(Recorder(seen.clone(), true))).unwrap();
    db.register_handler("panic", Arc::new(Panicker)).unwrap();
    let count = Arc::new(Mutex::new(0));
    db.register_async_handler("async", Arc::new(AsyncOk(count.clone()))).unwrap();
    db.start_workers(Some(2)).unwrap();
    let ok = db.enqueue("ok", json!({"n": 1}), "high", None).unwrap();
    let bad = db.enqueue("bad", json!({"n": 2}), "LOW", Some(1)).unwrap();
    let pan = db.enqueue("panic", json!({}), "normal", Some(0)).unwrap();
    let asy = db.enqueue("async", json!({}), "Critical", None).unwrap();
    assert_eq!(db.enqueue("ok", json!({}), "urgent", None).unwrap_err().code, ErrorCode::Validation);
    wait_status(&db, &ok, "COMPLETED");
    wait_status(&db, &asy, "COMPLETED");
    wait_status(&db, &bad, "DEAD_LETTER");
    wait_status(&db, &pan, "DEAD_LETTER");
    assert_eq!(db.job_status(&bad).unwrap()["attempts"], 2);
    assert_eq!(db.job_status(&bad).unwrap()["lastError"], "boom");
    assert!(db.job_status(&pan).unwrap()["lastError"].as_str().unwrap().contains("panicked"));
    assert_eq!(*count.lock().unwrap(), 1);
    assert_eq!(db.dead_letters().unwrap().as_array().unwrap().len(), 2);
    db.stop_workers().unwrap();
    db.close().unwrap();
}

#[test]
fn async_execute_runs_on_any_executor() {
    let (_d, db) = open();
    let r = futures_lite_block_on(db.execute_async("query { users { email } }".into(), json!(null))).unwrap();
    assert_eq!(r, json!({"users": []}));
}

/// A minimal executor that is not tokio, to prove the future is runtime-agnostic.
fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};
    struct ThreadWaker(std::thread::Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        match f.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return v,
            Poll::Pending => std::thread::park(),
        }
    }
}

#[test]
fn execute_text_is_the_json_of_execute_with_the_same_errors() {
    let (_d, db) = open();
    let insert = "mutation ($e: String!, $a: Int) { insertInto(collection: \"users\", data: { email: $e, age: $a }) { email age } }";
    for (i, age) in [1i64, 9_007_199_254_740_993, -4].into_iter().enumerate() {
        db.execute(insert, json!({"e": format!("u{i}@x.io"), "a": age})).unwrap();
    }
    let q = "query A { users(orderBy: { email: ASC }) { email age } } query B { first: users(limit: 1) { age } }";
    for op in [None, Some("A"), Some("B")] {
        let tree = db.execute_named(q, json!(null), true, op).unwrap();
        let text = db.execute_text(q, json!(null), true, op).unwrap();
        assert_eq!(text, tree.to_string(), "operation {op:?}");
        let text_async =
            futures_lite_block_on(db.execute_text_async(q.into(), json!(null), true, op.map(String::from))).unwrap();
        assert_eq!(text_async, text);
    }
    let all = db.execute_text(q, json!(null), false, None).unwrap();
    assert!(all.contains("9007199254740993"), "{all}");
    let e = db.execute_text("query { users { nope } }", json!(null), false, None).unwrap_err();
    assert_eq!(e.code, db.execute("query { users { nope } }", json!(null)).unwrap_err().code);
    db.close().unwrap();
    assert_eq!(db.execute_text(q, json!(null), false, None).unwrap_err().code, ErrorCode::Closed);
    let e = futures_lite_block_on(db.execute_text_async(q.into(), json!(null), false, None)).unwrap_err();
    assert_eq!(e.code, ErrorCode::Closed);
}
