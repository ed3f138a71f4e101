//! Shared helpers for the core integration tests.
#![allow(dead_code)]

use aurora_db::types::FieldDefinition;
use aurora_db::{Aurora, AuroraConfig, FieldType, Value};

/// A users collection as in the README: email unique+indexed, age indexed.
pub async fn users(db: &Aurora) {
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
}

pub fn config(dir: &std::path::Path) -> AuroraConfig {
    AuroraConfig { db_path: dir.join("db"), ..Default::default() }
}

pub fn s(v: &str) -> Value {
    Value::String(v.into())
}

/// Copies a database directory (a crash image when the database is still open).
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}
