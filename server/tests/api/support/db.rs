//! The metadata store as someone holding the database sees it, on either
//! backend: SQLite (`kluis.db` in the data directory) or, when the tests run
//! with `KLUIS_TEST_DATABASE_URL`, a PostgreSQL database made for each
//! [`Server`](super::Server) and dropped after it.
//!
//! Statements are written in the SQL both understand (`TRUE`, `ON CONFLICT`,
//! values written into the text); what differs has a method of its own.

use std::path::Path;

/// The variable that runs the API tests on PostgreSQL: a connection string
/// to a database whose user may create databases (`host=/var/run/postgresql user=root dbname=postgres`).
pub const DATABASE_URL_VAR: &str = "KLUIS_TEST_DATABASE_URL";

/// The PostgreSQL server the tests run on, if any.
pub fn postgres_url() -> Option<String> {
    std::env::var(DATABASE_URL_VAR).ok().filter(|v| !v.trim().is_empty())
}

/// Whether these tests run on PostgreSQL.
pub fn on_postgres() -> bool {
    postgres_url().is_some()
}

/// A database of its own for one test server; dropped with it.
pub struct TestDatabase {
    admin_url: String,
    name: String,
    /// The connection string of the new database.
    pub url: String,
}

impl TestDatabase {
    pub fn create(admin_url: &str) -> TestDatabase {
        let mut id = [0u8; 8];
        getrandom::fill(&mut id).unwrap();
        let name = format!("kluis_test_{}", hex::encode(id));
        let mut admin = connect(admin_url);
        admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let url = format!("{admin_url} dbname={name}");
        TestDatabase { admin_url: admin_url.to_string(), name, url }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(&self.admin_url, postgres::NoTls) {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

/// The database of the data directory `data_dir` (made at the first call): a
/// test that starts several servers, or runs `kluis-server`, on one data
/// directory runs them on one database. Kept until the test binary ends
/// (the test stage drops what is left).
pub fn database_for(data_dir: &Path) -> Option<std::sync::Arc<TestDatabase>> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    static BY_DIR: OnceLock<Mutex<HashMap<std::path::PathBuf, Arc<TestDatabase>>>> = OnceLock::new();
    let admin_url = postgres_url()?;
    let mut map = BY_DIR.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    Some(map.entry(data_dir.to_path_buf()).or_insert_with(|| Arc::new(TestDatabase::create(&admin_url))).clone())
}

fn connect(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"))
}

/// One value of a row read by [`Db::rows`].
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
}

impl Cell {
    pub fn int(&self) -> i64 {
        match self {
            Cell::Int(v) => *v,
            other => panic!("not an integer: {other:?}"),
        }
    }
    pub fn opt_int(&self) -> Option<i64> {
        match self {
            Cell::Null => None,
            other => Some(other.int()),
        }
    }
    pub fn text(&self) -> String {
        match self {
            Cell::Text(v) => v.clone(),
            other => panic!("not text: {other:?}"),
        }
    }
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Cell::Bytes(v) => v.clone(),
            other => panic!("not bytes: {other:?}"),
        }
    }
}

/// A connection to a test server's metadata store.
pub enum Db {
    Sqlite(rusqlite::Connection),
    Postgres(postgres::Client),
}

impl Db {
    /// The database of the server with `data_dir` and, on PostgreSQL, `url`.
    pub fn open(data_dir: &Path, url: Option<&str>) -> Db {
        match url {
            Some(url) => Db::Postgres(connect(url)),
            None => {
                let db = rusqlite::Connection::open(data_dir.join("kluis.db")).unwrap();
                db.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
                Db::Sqlite(db)
            }
        }
    }

    /// Runs one statement; how many rows it changed, or the database's refusal.
    pub fn try_execute(&mut self, sql: &str) -> Result<u64, String> {
        match self {
            Db::Sqlite(c) => c.execute(sql, []).map(|n| n as u64).map_err(|e| e.to_string()),
            Db::Postgres(c) => c.execute(sql, &[]).map_err(|e| e.to_string()),
        }
    }

    /// Runs statements separated by `;`, which must succeed.
    pub fn batch(&mut self, sql: &str) {
        match self {
            Db::Sqlite(c) => c.execute_batch(sql).unwrap_or_else(|e| panic!("{sql}: {e}")),
            Db::Postgres(c) => c.batch_execute(sql).unwrap_or_else(|e| panic!("{sql}: {e}")),
        }
    }

    /// Runs one statement that must succeed; how many rows it changed.
    pub fn execute(&mut self, sql: &str) -> u64 {
        self.try_execute(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The rows a query gives; integers, text, bytes and NULL (flags read as integers).
    pub fn rows(&mut self, sql: &str) -> Vec<Vec<Cell>> {
        match self {
            Db::Sqlite(c) => {
                let mut stmt = c.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
                let n = stmt.column_count();
                stmt.query_map([], |r| {
                    (0..n)
                        .map(|i| {
                            Ok(match r.get_ref(i)? {
                                rusqlite::types::ValueRef::Null => Cell::Null,
                                rusqlite::types::ValueRef::Integer(v) => Cell::Int(v),
                                rusqlite::types::ValueRef::Real(v) => Cell::Int(v as i64),
                                rusqlite::types::ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into()),
                                rusqlite::types::ValueRef::Blob(b) => Cell::Bytes(b.to_vec()),
                            })
                        })
                        .collect()
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
            }
            Db::Postgres(c) => {
                use postgres::types::Type;
                let rows = c.query(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}"));
                rows.iter()
                    .map(|r| {
                        (0..r.len())
                            .map(|i| {
                                let ty = r.columns()[i].type_().clone();
                                let cell = match ty {
                                    Type::INT8 => r.get::<_, Option<i64>>(i).map(Cell::Int),
                                    Type::INT4 => r.get::<_, Option<i32>>(i).map(|v| Cell::Int(v.into())),
                                    Type::BOOL => r.get::<_, Option<bool>>(i).map(|v| Cell::Int(v.into())),
                                    Type::BYTEA => r.get::<_, Option<Vec<u8>>>(i).map(Cell::Bytes),
                                    _ => r.get::<_, Option<String>>(i).map(Cell::Text),
                                };
                                cell.unwrap_or(Cell::Null)
                            })
                            .collect()
                    })
                    .collect()
            }
        }
    }

    /// The one value of a query that gives one row of one column.
    pub fn value(&mut self, sql: &str) -> Cell {
        let rows = self.rows(sql);
        assert_eq!(rows.len(), 1, "{sql}: {} rows", rows.len());
        rows[0][0].clone()
    }

    /// Drops the audit log's append-only triggers, as whoever holds the database could.
    pub fn drop_audit_triggers(&mut self) {
        match self {
            Db::Sqlite(c) => c
                .execute_batch("DROP TRIGGER audit_append_only_update; DROP TRIGGER audit_append_only_delete;")
                .unwrap(),
            Db::Postgres(c) => c
                .batch_execute(
                    "DROP TRIGGER audit_append_only_update ON audit; DROP TRIGGER audit_append_only_delete ON audit;",
                )
                .unwrap(),
        }
    }
}
