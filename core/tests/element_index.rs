//! Element indexes of list fields survive a checkpoint and a reopen, and stay in step with
//! the documents through updates and deletes.

use aurora_db::{Aurora, AuroraConfig};
use serde_json::json;

async fn open(dir: &std::path::Path) -> Aurora {
    Aurora::with_config(AuroraConfig { db_path: dir.join("db"), ..Default::default() }).await.unwrap()
}

const ANY: &str = "query ($t: [String]) { p(where: { tags: { containsAny: $t } }, orderBy: { k: ASC }) { k } }";

#[tokio::test]
async fn element_postings_persist_and_follow_writes() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<_> =
        (0..500).map(|k| json!({"k": k, "tags": [format!("m{}", k % 7), format!("m{}", k % 11)]})).collect();
    {
        let db = open(dir.path()).await;
        db.execute("schema { define collection p { k: Int @unique  tags: [String] @indexed } }").await.unwrap();
        db.execute(("mutation ($r: [Any]) { insertMany(collection: \"p\", data: $r) { k } }", json!({"r": rows})))
            .await
            .unwrap();
        db.checkpoint().await.unwrap();
        db.execute("mutation { update(collection: \"p\", where: { k: { lt: 10 } }, data: { tags: [\"new\"] }) { affectedCount } }")
            .await
            .unwrap();
        db.execute("mutation { deleteFrom(collection: \"p\", where: { k: { gte: 490 } }) { affectedCount } }")
            .await
            .unwrap();
        db.close().await.unwrap();
    }
    let db = open(dir.path()).await;
    let expected = |tag: &str| -> Vec<i64> {
        (0..490)
            .filter(
                |k| if *k < 10 { tag == "new" } else { tag == format!("m{}", k % 7) || tag == format!("m{}", k % 11) },
            )
            .collect()
    };
    for tag in ["m3", "m10", "new", "m0"] {
        let out = db.execute_json((ANY, json!({"t": [tag]}))).await.unwrap();
        let got: Vec<i64> = out["p"].as_array().unwrap().iter().map(|r| r["k"].as_i64().unwrap()).collect();
        assert_eq!(got, expected(tag), "{tag}");
    }
    let plan = db.explain((ANY, json!({"t": ["m3"]}))).unwrap();
    assert_eq!(plan["p"]["strategy"], "indexLookup");
    assert_eq!(plan["p"]["examinedRows"], plan["p"]["actualRows"], "the bitmap is exact: {plan}");
}
