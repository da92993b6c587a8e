//! The SQLite and the PostgreSQL migrations define the same tables with the same column names,
//! so that one SQL text (sqlx `Any`) means the same on both engines. Both are applied the way
//! the hub applies them, on a fresh database of each engine.

use std::collections::{BTreeMap, BTreeSet};

use crate::support::{Engine, TestDb};

/// Table name to its column names.
type Schema = BTreeMap<String, BTreeSet<String>>;

/// Differences between the engines that are known and accepted, as [`differences`] words them.
/// Empty: the migrations agree. A new difference fails the test, and so does one listed here
/// that went away (then remove it from the list).
const ACCEPTED: &[&str] = &[];

/// Every table of the migrated database (without sqlx's own) with its columns, per engine.
const SQLITE_COLUMNS: &str = "SELECT m.name, p.name \
     FROM sqlite_master m, pragma_table_info(m.name) p \
     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'";
const POSTGRES_COLUMNS: &str = "SELECT table_name::text, column_name::text \
     FROM information_schema.columns \
     WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'";

/// The tables and columns the engine's migrations create.
async fn migrated_schema(engine: Engine) -> Schema {
    let test_db = TestDb::new(engine).await;
    let db = test_db.connect().await;
    let query = match engine {
        Engine::Sqlite => SQLITE_COLUMNS,
        Engine::Postgres => POSTGRES_COLUMNS,
    };
    let rows: Vec<(String, String)> = sqlx::query_as(query)
        .fetch_all(db.pool())
        .await
        .expect("the schema can be read");
    let mut schema = Schema::new();
    for (table, column) in rows {
        schema.entry(table).or_default().insert(column);
    }
    schema
}

/// What one side has and the other lacks: whole tables, then columns of shared tables.
fn differences(sqlite: &Schema, postgres: &Schema) -> Vec<String> {
    let mut found = Vec::new();
    for (name, this, other) in [
        ("SQLite", sqlite, postgres),
        ("PostgreSQL", postgres, sqlite),
    ] {
        for (table, columns) in this {
            match other.get(table) {
                None => found.push(format!("table {table}: only on {name}")),
                Some(theirs) => found.extend(
                    columns
                        .difference(theirs)
                        .map(|column| format!("{table}.{column}: only on {name}")),
                ),
            }
        }
    }
    found.sort();
    found
}

#[tokio::test]
#[cfg_attr(
    not(corbi_postgres),
    ignore = "needs PostgreSQL: set CORBI_TEST_POSTGRES_URL"
)]
async fn sqlite_and_postgres_migrations_define_the_same_tables_and_columns() {
    let sqlite = migrated_schema(Engine::Sqlite).await;
    let postgres = migrated_schema(Engine::Postgres).await;
    assert!(
        sqlite.contains_key("tenants") && postgres.contains_key("tenants"),
        "the schema queries see the migrated tables: {sqlite:?} / {postgres:?}"
    );
    assert_eq!(
        differences(&sqlite, &postgres),
        ACCEPTED,
        "the SQLite and PostgreSQL migrations disagree"
    );
}
