//! Shared pieces of the reliability suites: the workload schema and the invariant checks.

use aurora_db::types::FieldDefinition;
use aurora_db::{Aurora, FieldType, Value};

/// Sequence numbers of transaction documents start here (inside a round's range).
pub const TX_OFFSET: i64 = 500_000;

/// Creates the `items` collection used by the crash workload.
pub async fn create_schema(db: &Aurora) -> aurora_db::Result<()> {
    let field = |t: FieldType, unique: bool, indexed: bool, nullable: bool| FieldDefinition {
        field_type: t,
        unique,
        indexed,
        nullable,
    };
    db.new_collection(
        "items",
        vec![
            ("seq", field(FieldType::Int, true, true, false)),
            ("email", field(FieldType::String, true, true, false)),
            ("grp", field(FieldType::Int, false, true, true)),
            ("age", field(FieldType::Int, false, true, true)),
        ],
    )
    .await
}

/// Number of documents whose `seq` equals `seq`.
pub async fn count_seq(db: &Aurora, seq: i64) -> aurora_db::Result<usize> {
    db.query("items").filter(|f| f.eq("seq", Value::Int(seq))).count().await
}
