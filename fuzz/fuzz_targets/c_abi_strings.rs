//! The C ABI (`ffi/include/aurora.h`) with arbitrary bytes as its C strings: database paths,
//! config JSON, AQL, variables JSON, operation names, collections, job types, payloads,
//! priorities and job ids, each sometimes NULL, plus unknown handles and NULL out-pointers.
//!
//! Input: byte 0 selects the calls, byte 1 is a NULL mask, byte 2 a small number (also gating
//! `aurora_open`), the rest are
//! NUL-separated fields (a C string cannot hold a NUL, so every field is a valid C string).
//!
//! Invariants: no panic (libFuzzer aborts on any, even one the boundary catches); every status is
//! a known one and never `INTERNAL`; a failed call fills `out_error` with the same code, its
//! name and a UTF-8 message, a successful one leaves it NULL and fills its out-pointer with
//! valid JSON where it returns JSON; NULL or non-UTF-8 required strings are
//! `INVALID_ARGUMENT`, malformed JSON is `VALIDATION`, unknown handles `INVALID_HANDLE`.
//!
//! Paths are confined to a temporary directory (the fuzzed bytes are appended to it with `..`
//! defused), and config keys that name files or start threads (`auditLogPath`, `worker*`) are
//! dropped, so a run cannot write outside it or fork-bomb the machine.

#![no_main]

use aurora_ffi::c_api::*;
use libfuzzer_sys::fuzz_target;
use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr;
use std::sync::Mutex;

const RESEED: u32 = 512;
const SCHEMA: &CStr = c"schema { define collection users { email: String! @unique  name: String  age: Int @indexed } }";
const DATA: &CStr =
    c"mutation { insertInto(collection: \"users\", data: [{ email: \"a@x.io\", name: \"Ann\", age: 30 }, { email: \"b@x.io\", age: 20 }]) { email } }";

struct State {
    dir: tempfile::TempDir,
    db: AuroraDb,
    runs: u32,
    opened: u64,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

/// A call's outcome: the status, and the error's message when it failed.
struct Outcome {
    status: AuroraStatus,
    message: String,
}

/// Checks a status against its `out_error` and releases the error.
fn outcome(status: AuroraStatus, err: *mut AuroraErrorInfo) -> Outcome {
    let code = status as i32;
    assert!((0..=12).contains(&code), "unknown status {code}");
    assert_ne!(status, AuroraStatus::Internal, "INTERNAL: {}", message_of(err));
    if status == AuroraStatus::Ok {
        assert!(err.is_null(), "success with an error set");
        return Outcome { status, message: String::new() };
    }
    assert!(!err.is_null(), "failure {status:?} without an error");
    // SAFETY: a non-NULL error from the library, released once below.
    let info = unsafe { &*err };
    assert_eq!(info.code, status, "error code differs from the status");
    // SAFETY: static NUL-terminated names.
    let name = unsafe { CStr::from_ptr(info.code_name) };
    // SAFETY: as above.
    assert_eq!(name, unsafe { CStr::from_ptr(aurora_status_name(code)) });
    let message = message_of(err);
    assert!(!message.is_empty(), "empty error message for {status:?}");
    // SAFETY: released once.
    unsafe { aurora_error_free(err) };
    Outcome { status, message }
}

fn message_of(err: *mut AuroraErrorInfo) -> String {
    if err.is_null() {
        return String::new();
    }
    // SAFETY: a live error from the library; `message` is NULL or NUL-terminated.
    let m = unsafe { (*err).message };
    assert!(!m.is_null(), "error without a message");
    // SAFETY: as above.
    let m = unsafe { CStr::from_ptr(m) };
    m.to_str().expect("error messages are UTF-8").to_string()
}

/// Takes a returned string: valid UTF-8 JSON; released here.
fn take_json(s: *mut c_char) -> serde_json::Value {
    assert!(!s.is_null(), "success without a result");
    // SAFETY: a string from the library, released once below.
    let text = unsafe { CStr::from_ptr(s) }.to_str().expect("results are UTF-8").to_string();
    // SAFETY: released once.
    unsafe { aurora_string_free(s) };
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("result is not JSON ({e}): {text}"))
}

/// What a JSON argument must give before the engine sees it, if anything.
fn json_arg_status(arg: Option<&[u8]>) -> Option<AuroraStatus> {
    let b = arg?;
    // As the library: invalid UTF-8 first, then blank (Unicode trim) is null, else JSON.
    let Ok(s) = std::str::from_utf8(b) else {
        return Some(AuroraStatus::InvalidArgument);
    };
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    serde_json::from_str::<serde_json::Value>(t).err().map(|_| AuroraStatus::Validation)
}

fn utf8_status(arg: Option<&[u8]>, required: bool) -> Option<AuroraStatus> {
    match arg {
        None if required => Some(AuroraStatus::InvalidArgument),
        None => None,
        Some(b) => std::str::from_utf8(b).err().map(|_| AuroraStatus::InvalidArgument),
    }
}

/// The first argument error in call order, as the library checks them.
fn first(checks: &[Option<AuroraStatus>]) -> Option<AuroraStatus> {
    checks.iter().flatten().next().copied()
}

fn expect_status(what: &str, got: &Outcome, want: Option<AuroraStatus>) {
    if let Some(w) = want {
        assert_eq!(got.status, w, "{what}: expected {w:?}, got {:?} ({})", got.status, got.message);
    }
}

fn cstr(b: Option<&[u8]>) -> Option<CString> {
    b.map(|b| CString::new(b.to_vec()).unwrap_or_default())
}

fn ptr_of(c: &Option<CString>) -> *const c_char {
    c.as_ref().map_or(ptr::null(), |c| c.as_ptr())
}

unsafe extern "C" fn ok_handler(_: *mut c_void, _: *const c_char, _: *mut c_char, _: usize) -> i32 {
    0
}

fn open_shared(dir: &std::path::Path, n: u64) -> AuroraDb {
    let path = CString::new(dir.join(format!("shared-{n}")).to_string_lossy().into_owned()).unwrap_or_default();
    let mut db = 0;
    let mut err = ptr::null_mut();
    // SAFETY: valid strings and out-pointers.
    let st = unsafe { aurora_open(path.as_ptr(), c"{\"durabilityMode\": \"none\"}".as_ptr(), &mut db, &mut err) };
    assert_eq!(outcome(st, err).status, AuroraStatus::Ok, "open the shared database");
    for aql in [SCHEMA, DATA] {
        let mut out = ptr::null_mut();
        // SAFETY: as above.
        let st = unsafe { aurora_execute(db, aql.as_ptr(), ptr::null(), &mut out, &mut err) };
        assert_eq!(outcome(st, err).status, AuroraStatus::Ok, "seed the shared database");
        take_json(out);
    }
    db
}

/// The fuzzed path, confined to `base` (`..` sequences defused); bytes may be non-UTF-8.
fn confined_path(base: &std::path::Path, fuzzed: &[u8]) -> Vec<u8> {
    let mut tail = fuzzed.to_vec();
    while let Some(i) = tail.windows(2).position(|w| w == b"..") {
        tail[i] = b'_';
    }
    let mut p = base.to_string_lossy().into_owned().into_bytes();
    p.push(b'/');
    p.extend_from_slice(&tail);
    p
}

/// Drops config keys that name files or start threads; other text goes through unchanged.
fn confined_config(fuzzed: &[u8]) -> Vec<u8> {
    let Ok(serde_json::Value::Object(mut map)) = serde_json::from_slice::<serde_json::Value>(fuzzed) else {
        return fuzzed.to_vec();
    };
    let risky = |k: &str| {
        let k = k.to_ascii_lowercase().replace('_', "");
        k.contains("audit") || k.contains("worker")
    };
    if !map.keys().any(|k| risky(k)) {
        return fuzzed.to_vec();
    }
    map.retain(|k, _| !risky(k));
    serde_json::to_vec(&serde_json::Value::Object(map)).unwrap_or_default()
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let (sel, nulls, small) = (data[0], data[1], data[2]);
    let mut fields = data[3..].split(|b| *b == 0);
    let mut next = |bit: u32| -> Option<&[u8]> {
        let f = fields.next().unwrap_or(b"");
        if bit < 8 && nulls & (1 << bit) != 0 {
            None
        } else {
            Some(f)
        }
    };
    let path = next(0);
    let config = next(1);
    let aql = next(2);
    let vars = next(3);
    let op_name = next(4);
    let collection = next(5);
    let job_type = next(6);
    let payload = next(7);
    let priority = next(8);
    let job_id = next(9);

    let mut guard = STATE.lock().unwrap_or_else(|p| p.into_inner());
    let state = guard.get_or_insert_with(|| {
        let dir = tempfile::tempdir().expect("temp dir for the fuzz databases");
        let db = open_shared(dir.path(), 0);
        State { dir, db, runs: 0, opened: 0 }
    });
    state.runs += 1;
    if state.runs.is_multiple_of(RESEED) {
        let mut err = ptr::null_mut();
        // SAFETY: valid out-pointer.
        let st = unsafe { aurora_close(state.db, &mut err) };
        assert_eq!(outcome(st, err).status, AuroraStatus::Ok, "close the shared database");
        let _ = std::fs::remove_dir_all(state.dir.path().join(format!("shared-{}", state.runs - RESEED)));
        state.db = open_shared(state.dir.path(), u64::from(state.runs));
    }
    let db = state.db;
    let with_error = sel & 0x80 == 0;
    let mut err: *mut AuroraErrorInfo = ptr::null_mut();
    let errp = if with_error { &mut err as *mut _ } else { ptr::null_mut() };
    let call = |st: AuroraStatus, err: *mut AuroraErrorInfo| {
        if with_error {
            outcome(st, err)
        } else {
            assert_ne!(st, AuroraStatus::Internal, "INTERNAL");
            Outcome { status: st, message: String::new() }
        }
    };

    // 1. open: a confined path and a config, then one execute on it and close. Opening a
    //    database costs tens of milliseconds, so only one input in eight does.
    if sel & 1 != 0 && small & 0x0c == 0 {
        state.opened += 1;
        let base = state.dir.path().join(format!("open-{}", state.opened));
        let p = path.map(|p| confined_path(&base, p));
        let c = config.map(confined_config);
        let (pc, cc) = (cstr(p.as_deref()), cstr(c.as_deref()));
        let mut handle: AuroraDb = 0;
        // SAFETY: strings are NULL or NUL-terminated; out-pointers valid or NULL.
        let st = unsafe { aurora_open(ptr_of(&pc), ptr_of(&cc), &mut handle, errp) };
        let got = call(st, err);
        let want = first(&[utf8_status(p.as_deref(), true), utf8_status(c.as_deref(), false)])
            .or_else(|| json_arg_status(c.as_deref()));
        expect_status("aurora_open", &got, want);
        if got.status == AuroraStatus::Ok {
            assert_ne!(handle, 0, "open succeeded without a handle");
            let ac = cstr(aql);
            let mut out = ptr::null_mut();
            // SAFETY: as above.
            let st = unsafe { aurora_execute(handle, ptr_of(&ac), ptr::null(), &mut out, errp) };
            if call(st, err).status == AuroraStatus::Ok {
                take_json(out);
            }
            // SAFETY: valid handle, out-pointer NULL or valid.
            let st = unsafe { aurora_close(handle, errp) };
            assert_eq!(call(st, err).status, AuroraStatus::Ok, "close");
            // SAFETY: as above.
            let st = unsafe { aurora_close(handle, errp) };
            assert_eq!(call(st, err).status, AuroraStatus::InvalidHandle, "second close");
        } else {
            assert_eq!(handle, 0, "a failed open set a handle");
        }
        let _ = std::fs::remove_dir_all(&base);
    }

    // 2. execute with options on the shared database.
    let (ac, vc, oc) = (cstr(aql), cstr(vars), cstr(op_name));
    let null_out = sel & 2 != 0;
    let mut out: *mut c_char = ptr::null_mut();
    let outp = if null_out { ptr::null_mut() } else { &mut out as *mut _ };
    // SAFETY: strings NULL or NUL-terminated, out-pointers NULL or valid.
    let st =
        unsafe { aurora_execute_with_options(db, ptr_of(&ac), ptr_of(&vc), sel & 4 != 0, ptr_of(&oc), outp, errp) };
    let got = call(st, err);
    let want = if null_out {
        Some(AuroraStatus::InvalidArgument)
    } else {
        first(&[utf8_status(aql, true), utf8_status(vars, false)])
            .or_else(|| json_arg_status(vars))
            .or_else(|| utf8_status(op_name, false))
    };
    expect_status("aurora_execute_with_options", &got, want);
    if got.status == AuroraStatus::Ok {
        assert!(take_json(out).is_object(), "an execute result is a JSON object");
    }

    // 3. stream on the same text, listen on a collection: poll once, close twice.
    let mut subs = Vec::new();
    if sel & 8 != 0 {
        let mut sub: AuroraSubscription = 0;
        // SAFETY: as above.
        let st = unsafe { aurora_stream(db, ptr_of(&ac), ptr_of(&vc), &mut sub, errp) };
        let got = call(st, err);
        let want = first(&[utf8_status(aql, true), utf8_status(vars, false)]).or_else(|| json_arg_status(vars));
        expect_status("aurora_stream", &got, want);
        if got.status == AuroraStatus::Ok {
            subs.push(sub);
        }
    }
    if sel & 16 != 0 {
        let cc = cstr(collection);
        let mut sub: AuroraSubscription = 0;
        // SAFETY: as above.
        let st = unsafe { aurora_listen(db, ptr_of(&cc), &mut sub, errp) };
        let got = call(st, err);
        expect_status("aurora_listen", &got, utf8_status(collection, true));
        if got.status == AuroraStatus::Ok {
            subs.push(sub);
        }
    }
    for sub in subs {
        assert_ne!(sub, 0, "a subscription handle is never 0");
        let mut ev = ptr::null_mut();
        // SAFETY: as above.
        let st = unsafe { aurora_subscription_next(sub, 0, &mut ev, errp) };
        if call(st, err).status == AuroraStatus::Ok && !ev.is_null() {
            take_json(ev);
        }
        // SAFETY: as above.
        let st = unsafe { aurora_subscription_close(sub, errp) };
        assert_eq!(call(st, err).status, AuroraStatus::Ok, "subscription close");
        // SAFETY: as above.
        let st = unsafe { aurora_subscription_next(sub, 0, &mut ev, errp) };
        assert_eq!(call(st, err).status, AuroraStatus::InvalidHandle, "next after close");
        // SAFETY: as above.
        let st = unsafe { aurora_subscription_close(sub, errp) };
        assert_eq!(call(st, err).status, AuroraStatus::InvalidHandle, "second subscription close");
    }

    // 4. jobs: register a handler, enqueue, read its status back; status of a fuzzed id.
    if sel & 32 != 0 {
        let (tc, pc, prc) = (cstr(job_type), cstr(payload), cstr(priority));
        // SAFETY: a valid handler function, NULL user data and release function.
        let st = unsafe { aurora_register_handler(db, ptr_of(&tc), Some(ok_handler), ptr::null_mut(), None, errp) };
        expect_status("aurora_register_handler", &call(st, err), utf8_status(job_type, true));
        let mut id = ptr::null_mut();
        let retries = i32::from(small as i8);
        // SAFETY: as above.
        let st = unsafe { aurora_enqueue(db, ptr_of(&tc), ptr_of(&pc), ptr_of(&prc), retries, &mut id, errp) };
        let got = call(st, err);
        let want = first(&[utf8_status(job_type, true), utf8_status(payload, false)])
            .or_else(|| json_arg_status(payload))
            .or_else(|| utf8_status(priority, false));
        expect_status("aurora_enqueue", &got, want);
        if got.status == AuroraStatus::Ok {
            assert!(!id.is_null(), "enqueue succeeded without an id");
            let mut job = ptr::null_mut();
            // SAFETY: `id` is a live string from the library.
            let st = unsafe { aurora_job_status(db, id, &mut job, errp) };
            assert_eq!(call(st, err).status, AuroraStatus::Ok, "status of an enqueued job");
            let job = take_json(job);
            // SAFETY: as above.
            let id_text = unsafe { CStr::from_ptr(id) }.to_str().expect("job ids are UTF-8").to_string();
            assert_eq!(job["id"].as_str(), Some(id_text.as_str()), "job status of another job");
            // SAFETY: released once.
            unsafe { aurora_string_free(id) };
        }
    }
    if sel & 64 != 0 {
        let jc = cstr(job_id);
        let mut job = ptr::null_mut();
        // SAFETY: as above.
        let st = unsafe { aurora_job_status(db, ptr_of(&jc), &mut job, errp) };
        let got = call(st, err);
        expect_status("aurora_job_status", &got, utf8_status(job_id, true));
        if got.status == AuroraStatus::Ok && !job.is_null() {
            take_json(job);
        }
    }

    // 5. unknown handles and status names.
    let bogus = u64::MAX - u64::from(small);
    let mut out = ptr::null_mut();
    // SAFETY: as above.
    let st = unsafe { aurora_execute(bogus, ptr_of(&ac), ptr::null(), &mut out, errp) };
    let want = utf8_status(aql, true).unwrap_or(AuroraStatus::InvalidHandle);
    expect_status("aurora_execute on an unknown handle", &call(st, err), Some(want));
    let mut sub_out = ptr::null_mut();
    // SAFETY: as above.
    let st = unsafe { aurora_subscription_next(bogus, 0, &mut sub_out, errp) };
    expect_status("next on an unknown handle", &call(st, err), Some(AuroraStatus::InvalidHandle));
    let code = i32::from_le_bytes([small, sel, nulls, data.len() as u8]);
    // SAFETY: static string.
    let name = unsafe { CStr::from_ptr(aurora_status_name(code)) };
    assert!(!name.to_bytes().is_empty());
});
