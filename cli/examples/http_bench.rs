//! Load generator: point lookups through `POST /aql` from concurrent loopback clients.
//!
//! ```sh
//! cargo run --release -p aurora-cli --example http_bench -- [--clients 16] [--seconds 10] [--docs 10000] [--workers N]
//! ```
//!
//! It opens a fresh database in a temporary directory, loads `--docs` users (unique, indexed
//! `email`), starts the server on an ephemeral loopback port in the same process, and has
//! `--clients` keep-alive clients each send lookups by email one after another for `--seconds`
//! (after a one-second warm-up). It prints requests per second and latency percentiles.

use aurora_cli::http::{serve, ServerConfig};
use aurora_db::{Aurora, DocData, Value};
use serde_json::{json, Value as Json};
use std::time::{Duration, Instant};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

const LOOKUP: &str = "query Lookup($e: String!) { users(where: { email: { eq: $e } }) { name age } }";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let clients = arg("--clients", 16) as usize;
    let seconds = arg("--seconds", 10);
    let docs = arg("--docs", 10_000) as usize;
    let workers = arg("--workers", 0) as usize;

    let dir = tempfile::tempdir()?;
    let db = Aurora::open(dir.path().join("bench.db")).await?;
    db.execute("schema { define collection users { email: String! @unique  name: String  age: Int } }").await?;
    for chunk in (0..docs).collect::<Vec<_>>().chunks(5_000) {
        let batch: Vec<DocData> = chunk
            .iter()
            .map(|i| {
                [
                    ("email".into(), Value::String(format!("user{i}@example.com"))),
                    ("name".into(), Value::String(format!("User {i}"))),
                    ("age".into(), Value::Int((i % 90) as i64)),
                ]
                .into_iter()
                .collect()
            })
            .collect();
        db.batch_insert("users", batch).await?;
    }
    let config = ServerConfig {
        bind: "127.0.0.1:0".parse()?,
        workers: (workers > 0).then_some(workers),
        ..ServerConfig::default()
    };
    let server = serve(db.clone(), config).await?;
    let url = format!("{}/aql", server.url());
    println!(
        "{docs} documents, {clients} clients, {seconds} s, server on {} ({} cores)",
        server.local_addr(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );

    let warmup = Instant::now() + Duration::from_secs(1);
    let end = warmup + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let url = url.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build()?;
                let mut lat = Vec::with_capacity(1 << 16);
                let mut errors = 0u64;
                let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ (c as u64 + 1);
                loop {
                    let now = Instant::now();
                    if now >= end {
                        break;
                    }
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    let i = (seed >> 33) as usize % docs;
                    let body = json!({"query": LOOKUP, "variables": {"e": format!("user{i}@example.com")}});
                    let r = client.post(&url).json(&body).send().await;
                    let ok = match r {
                        Ok(r) if r.status().is_success() => {
                            let bytes = r.bytes().await.unwrap_or_default();
                            // Check every 64th answer fully; the others by size only.
                            if i & 63 == 0 {
                                let j: Json = serde_json::from_slice(&bytes).unwrap_or(Json::Null);
                                j["users"][0]["name"] == format!("User {i}")
                            } else {
                                bytes.len() > 20
                            }
                        }
                        _ => false,
                    };
                    if now >= warmup {
                        if ok {
                            lat.push(now.elapsed().as_micros() as u32);
                        } else {
                            errors += 1;
                        }
                    }
                }
                Ok::<_, reqwest::Error>((lat, errors))
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (lat, e) = t.await??;
        all.extend(lat);
        errors += e;
    }
    server.stop().await;
    db.close().await?;
    all.sort_unstable();
    let pct =
        |p: f64| all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1))).copied().unwrap_or(0);
    println!(
        "{} requests in {seconds} s: {:.0} req/s, {errors} errors; latency p50 {} µs, p99 {} µs, max {} µs",
        all.len(),
        all.len() as f64 / seconds as f64,
        pct(0.50),
        pct(0.99),
        all.last().copied().unwrap_or(0)
    );
    Ok(())
}
