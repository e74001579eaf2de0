//! Importing a single-machine install's SQLite database into PostgreSQL
//! (`kluis-server migrate`, issue 16). Every table of PostgreSQL's schema is
//! copied row for row, ids included, in one transaction: a run cut short
//! leaves nothing behind, and the next run starts that step again (the
//! blobs, the long part, are what resumes piece by piece: `crate::migrate`).
//!
//! What proves the copy: each table's rows are read from both databases in
//! the order of its primary key (byte order for text, as both store it) and
//! hashed the same way; the digests must be equal. The source's digests are
//! kept in `kluis_migration`, so a later run knows whether the copy there is
//! of the same data, and refuses to go on if the SQLite database changed.
//!
//! The tables, their columns and the order foreign keys impose come from
//! PostgreSQL's catalog, so a table added by a later migration is copied
//! without a change here; SQLite must have the same columns.

use std::collections::{BTreeMap, BTreeSet};
use std::error::Error;

use anyhow::{Context, bail};
use bytes::BytesMut;
use futures_util::{TryStreamExt, pin_mut};
use sha2::{Digest, Sha256};
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use super::PostgresStore;

/// Tables that are not data: the schema's version, and this importer's record.
const NOT_COPIED: [&str; 2] = ["kluis_schema", "kluis_migration"];
/// Parameters per `INSERT` at most (PostgreSQL's limit is 65 535).
const PARAMETERS_PER_INSERT: usize = 30_000;

/// How a column's values travel: what PostgreSQL's type takes, SQLite holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Bool,
    Text,
    Bytes,
}

impl Kind {
    /// The cast on a parameter or a selected column (`citext` travels as text).
    fn cast(self) -> &'static str {
        match self {
            Kind::Int => "BIGINT",
            Kind::Bool => "BOOLEAN",
            Kind::Text => "TEXT",
            Kind::Bytes => "BYTEA",
        }
    }
}

#[derive(Debug)]
struct Column {
    name: String,
    kind: Kind,
    identity: bool,
}

/// A table as PostgreSQL's catalog describes it.
#[derive(Debug)]
struct Table {
    name: String,
    columns: Vec<Column>,
    /// The columns rows are ordered by: the primary key, else all of them.
    order: Vec<usize>,
}

/// One value of a row.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Null,
    Int(i64),
    Bool(bool),
    Text(String),
    Bytes(Vec<u8>),
}

impl ToSql for Cell {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match self {
            Cell::Null => Ok(IsNull::Yes),
            Cell::Int(v) => v.to_sql(ty, out),
            Cell::Bool(v) => v.to_sql(ty, out),
            Cell::Text(v) => v.to_sql(ty, out),
            Cell::Bytes(v) => v.to_sql(ty, out),
        }
    }

    // Every parameter is cast to its column's kind (`Kind::cast`), so the type always fits.
    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A table's rows hashed in order: each value tagged and length-prefixed,
/// so that no two different row sequences hash alike.
#[derive(Default)]
struct RowDigest {
    hash: Sha256,
    rows: u64,
}

impl RowDigest {
    fn add(&mut self, row: &[Cell]) {
        for cell in row {
            match cell {
                Cell::Null => self.hash.update([0]),
                Cell::Int(v) => {
                    self.hash.update([1]);
                    self.hash.update(v.to_be_bytes());
                }
                Cell::Bool(v) => self.hash.update([2, u8::from(*v)]),
                Cell::Text(v) => self.bytes(3, v.as_bytes()),
                Cell::Bytes(v) => self.bytes(4, v),
            }
        }
        self.rows += 1;
    }

    fn bytes(&mut self, tag: u8, v: &[u8]) {
        self.hash.update([tag]);
        self.hash.update((v.len() as u64).to_be_bytes());
        self.hash.update(v);
    }

    fn finish(self) -> (u64, [u8; 32]) {
        (self.rows, self.hash.finalize().into())
    }
}

/// One table of the import: its rows in SQLite and in PostgreSQL.
#[derive(Debug, Clone)]
pub(crate) struct TableCheck {
    pub(crate) name: String,
    pub(crate) source_rows: u64,
    pub(crate) target_rows: u64,
    /// Whether the rows are the same, value for value, in the same order.
    pub(crate) identical: bool,
}

/// What [`import`] did and found.
#[derive(Debug, Clone)]
pub(crate) struct Imported {
    /// Whether this run copied the rows (else an earlier run had, from the same data).
    pub(crate) copied_now: bool,
    pub(crate) tables: Vec<TableCheck>,
}

impl Imported {
    pub(crate) fn identical(&self) -> bool {
        self.tables.iter().all(|t| t.identical)
    }
}

/// Copies every row of `sqlite` into the database of `store` (whose schema
/// is current, and which holds nothing else yet), or finds it copied by an
/// earlier run from the same data; then compares both, table by table.
/// The caller keeps `sqlite` from changing meanwhile (a write transaction).
pub(crate) async fn import(store: &PostgresStore, sqlite: &rusqlite::Connection) -> anyhow::Result<Imported> {
    let mut client = store.pool.get().await.context("cannot connect to PostgreSQL")?;
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS kluis_migration (
                 table_name  TEXT PRIMARY KEY,
                 source_rows BIGINT NOT NULL,
                 digest      BYTEA NOT NULL,
                 copied_at   BIGINT NOT NULL
             )",
        )
        .await?;
    let tables = catalog(&client).await?;
    let recorded: BTreeMap<String, (i64, Vec<u8>)> = client
        .query("SELECT table_name, source_rows, digest FROM kluis_migration", &[])
        .await?
        .into_iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect();

    let mut sources = Vec::new();
    let copied_now = recorded.is_empty();
    if copied_now {
        for table in &tables {
            let rows: i64 =
                client.query_one(&format!("SELECT COUNT(*) FROM {}", ident(&table.name)), &[]).await?.get(0);
            if rows > 0 {
                bail!(
                    "the PostgreSQL database is not empty (table {} has {rows} rows): migrate into a new, empty database",
                    table.name
                );
            }
        }
        let tx = client.transaction().await?;
        for table in &tables {
            let (rows, digest) = copy_table(&tx, sqlite, table).await?;
            tx.execute(
                "INSERT INTO kluis_migration (table_name, source_rows, digest, copied_at) VALUES ($1, $2, $3, $4)",
                &[&table.name, &(rows as i64), &digest.as_slice(), &crate::domain::now()],
            )
            .await?;
            sources.push((rows, digest));
        }
        for table in &tables {
            for column in table.columns.iter().filter(|c| c.identity) {
                // The next id the sequence hands out follows the copied ones.
                tx.execute(
                    &format!(
                        "SELECT setval(pg_get_serial_sequence($1, $2), COALESCE(MAX({c}), 0) + 1, false) FROM {t}",
                        t = ident(&table.name),
                        c = ident(&column.name)
                    ),
                    &[&ident(&table.name), &column.name],
                )
                .await?;
            }
        }
        tx.commit().await.context("cannot commit the copied rows")?;
    } else {
        for table in &tables {
            let source = digest_sqlite(sqlite, table)?;
            let Some((rows, digest)) = recorded.get(&table.name) else {
                bail!("kluis_migration has no record of table {}: migrate into a new, empty database", table.name);
            };
            if (source.0 as i64, source.1.as_slice()) != (*rows, digest.as_slice()) {
                bail!(
                    "the SQLite database changed since an earlier run copied it (table {} differs): \
                     drop the PostgreSQL database, make a new empty one, and migrate again with every server stopped",
                    table.name
                );
            }
            sources.push(source);
        }
    }

    let tx = client.build_transaction().isolation_level(tokio_postgres::IsolationLevel::RepeatableRead).read_only(true);
    let tx = tx.start().await?;
    let mut checks = Vec::new();
    for (table, (source_rows, source_digest)) in tables.iter().zip(sources) {
        let (target_rows, target_digest) = digest_postgres(&tx, table).await?;
        checks.push(TableCheck {
            name: table.name.clone(),
            source_rows,
            target_rows,
            identical: (source_rows, source_digest) == (target_rows, target_digest),
        });
    }
    tx.commit().await?;
    Ok(Imported { copied_now, tables: checks })
}

/// The tables to copy, parents before the tables whose foreign keys point at them.
async fn catalog(client: &tokio_postgres::Client) -> anyhow::Result<Vec<Table>> {
    let rows = client
        .query(
            "SELECT c.table_name::text, c.column_name::text, c.data_type::text, c.udt_name::text, c.is_identity::text
             FROM information_schema.columns c
             JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
             WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
             ORDER BY c.table_name, c.ordinal_position",
            &[],
        )
        .await?;
    let mut columns: BTreeMap<String, Vec<Column>> = BTreeMap::new();
    for r in rows {
        let (table, name, data_type, udt): (String, String, String, String) = (r.get(0), r.get(1), r.get(2), r.get(3));
        if NOT_COPIED.contains(&table.as_str()) {
            continue;
        }
        let kind = match (data_type.as_str(), udt.as_str()) {
            ("bigint" | "integer" | "smallint", _) => Kind::Int,
            ("boolean", _) => Kind::Bool,
            ("text" | "character varying", _) | ("USER-DEFINED", "citext") => Kind::Text,
            ("bytea", _) => Kind::Bytes,
            _ => bail!("column {table}.{name} has type {data_type} ({udt}), which the migration does not copy"),
        };
        let identity = r.get::<_, String>(4) == "YES";
        columns.entry(table).or_default().push(Column { name, kind, identity });
    }
    let keys = client
        .query(
            "SELECT tc.table_name::text, k.column_name::text
             FROM information_schema.table_constraints tc
             JOIN information_schema.key_column_usage k
               ON k.constraint_schema = tc.constraint_schema AND k.constraint_name = tc.constraint_name
             WHERE tc.table_schema = current_schema() AND tc.constraint_type = 'PRIMARY KEY'
             ORDER BY tc.table_name, k.ordinal_position",
            &[],
        )
        .await?;
    let mut primary: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in keys {
        primary.entry(r.get(0)).or_default().push(r.get(1));
    }
    let references = client
        .query(
            "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint
             WHERE contype = 'f' AND connamespace = current_schema()::regnamespace",
            &[],
        )
        .await?;
    let mut parents: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in references {
        let (child, parent): (String, String) = (r.get(0), r.get(1));
        if child != parent {
            parents.entry(child).or_default().insert(parent);
        }
    }

    let mut names = Vec::new();
    let mut placed = BTreeSet::new();
    while names.len() < columns.len() {
        let ready: Vec<&String> = columns
            .keys()
            .filter(|t| !placed.contains(*t))
            .filter(|t| {
                parents.get(*t).is_none_or(|ps| ps.iter().all(|p| placed.contains(p) || !columns.contains_key(p)))
            })
            .collect();
        if ready.is_empty() {
            bail!("the tables' foreign keys form a cycle: the migration cannot order them");
        }
        for name in ready {
            placed.insert(name.clone());
            names.push(name.clone());
        }
    }
    names
        .into_iter()
        .map(|name| {
            let columns = columns.remove(&name).unwrap_or_default();
            let order = match primary.get(&name) {
                Some(key) => key
                    .iter()
                    .map(|k| columns.iter().position(|c| &c.name == k))
                    .collect::<Option<Vec<_>>>()
                    .with_context(|| format!("the primary key of {name} names a column it does not have"))?,
                None => (0..columns.len()).collect(),
            };
            Ok(Table { name, columns, order })
        })
        .collect()
}

/// `name` quoted, as both databases take an identifier (`offset` is a keyword in PostgreSQL).
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The statement reading `table` from SQLite in the order rows are compared in.
fn sqlite_rows<'c>(sqlite: &'c rusqlite::Connection, table: &Table) -> anyhow::Result<rusqlite::Statement<'c>> {
    let columns: Vec<String> = table.columns.iter().map(|c| ident(&c.name)).collect();
    // BINARY: byte order, as PostgreSQL's "C" collation, whatever a column declares.
    let order: Vec<String> =
        table.order.iter().map(|&i| format!("{} COLLATE BINARY", ident(&table.columns[i].name))).collect();
    let sql = format!("SELECT {} FROM {} ORDER BY {}", columns.join(", "), ident(&table.name), order.join(", "));
    sqlite
        .prepare(&sql)
        .with_context(|| format!("SQLite's table {} does not have PostgreSQL's columns ({sql})", table.name))
}

/// A row read by [`sqlite_rows`], as PostgreSQL's columns take it.
fn sqlite_row(table: &Table, row: &rusqlite::Row) -> anyhow::Result<Vec<Cell>> {
    (0..table.columns.len()).map(|i| cell(table, i, row.get::<_, rusqlite::types::Value>(i)?)).collect()
}

/// A SQLite value as the PostgreSQL column takes it.
fn cell(table: &Table, column: usize, value: rusqlite::types::Value) -> anyhow::Result<Cell> {
    use rusqlite::types::Value;
    let c = &table.columns[column];
    Ok(match (c.kind, value) {
        (_, Value::Null) => Cell::Null,
        (Kind::Int, Value::Integer(v)) => Cell::Int(v),
        (Kind::Bool, Value::Integer(v @ (0 | 1))) => Cell::Bool(v == 1),
        (Kind::Text, Value::Text(v)) => Cell::Text(v),
        (Kind::Bytes, Value::Blob(v)) => Cell::Bytes(v),
        (kind, value) => bail!(
            "{}.{} holds {value:?} in SQLite, which is not a {kind:?} value as PostgreSQL's column needs",
            table.name,
            c.name
        ),
    })
}

/// The digest of `table`'s rows in SQLite.
fn digest_sqlite(sqlite: &rusqlite::Connection, table: &Table) -> anyhow::Result<(u64, [u8; 32])> {
    let mut stmt = sqlite_rows(sqlite, table)?;
    let mut rows = stmt.query([])?;
    let mut digest = RowDigest::default();
    while let Some(row) = rows.next()? {
        digest.add(&sqlite_row(table, row)?);
    }
    Ok(digest.finish())
}

/// Copies `table` from SQLite in batches of multi-row `INSERT`s; returns the source's digest.
async fn copy_table(
    tx: &tokio_postgres::Transaction<'_>,
    sqlite: &rusqlite::Connection,
    table: &Table,
) -> anyhow::Result<(u64, [u8; 32])> {
    let per_insert = (PARAMETERS_PER_INSERT / table.columns.len()).max(1);
    let names: Vec<String> = table.columns.iter().map(|c| ident(&c.name)).collect();
    let insert = |rows: usize| {
        let values: Vec<String> = (0..rows)
            .map(|r| {
                let row: Vec<String> = table
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| format!("${}::{}", r * table.columns.len() + i + 1, c.kind.cast()))
                    .collect();
                format!("({})", row.join(", "))
            })
            .collect();
        format!("INSERT INTO {} ({}) VALUES {}", ident(&table.name), names.join(", "), values.join(", "))
    };
    let full = tx.prepare(&insert(per_insert)).await?;
    let mut digest = RowDigest::default();
    let mut batch: Vec<Cell> = Vec::with_capacity(per_insert * table.columns.len());
    // SQLite is read synchronously, a batch at a time, between the inserts.
    let mut stmt = sqlite_rows(sqlite, table)?;
    let mut rows = stmt.query([])?;
    loop {
        let mut ended = false;
        while batch.len() < per_insert * table.columns.len() {
            let Some(row) = rows.next()? else {
                ended = true;
                break;
            };
            let cells = sqlite_row(table, row)?;
            digest.add(&cells);
            batch.extend(cells);
        }
        if !batch.is_empty() {
            let params: Vec<&(dyn ToSql + Sync)> = batch.iter().map(|c| c as &(dyn ToSql + Sync)).collect();
            let n = batch.len() / table.columns.len();
            let result = if n == per_insert {
                tx.execute(&full, &params).await
            } else {
                tx.execute(insert(n).as_str(), &params).await
            };
            result.with_context(|| format!("cannot copy rows of table {}", table.name))?;
            batch.clear();
        }
        if ended {
            return Ok(digest.finish());
        }
    }
}

/// The digest of `table`'s rows in PostgreSQL, read as a stream.
async fn digest_postgres(tx: &tokio_postgres::Transaction<'_>, table: &Table) -> anyhow::Result<(u64, [u8; 32])> {
    let columns: Vec<String> = table.columns.iter().map(|c| format!("{}::{}", ident(&c.name), c.kind.cast())).collect();
    let order: Vec<String> = table
        .order
        .iter()
        .map(|&i| {
            let c = &table.columns[i];
            // citext compares case-insensitively even under "C": order by its bytes, as SQLite does.
            if c.kind == Kind::Text { format!("{}::TEXT COLLATE \"C\"", ident(&c.name)) } else { ident(&c.name) }
        })
        .collect();
    let sql = format!("SELECT {} FROM {} ORDER BY {}", columns.join(", "), ident(&table.name), order.join(", "));
    let rows = tx.query_raw(sql.as_str(), std::iter::empty::<&(dyn ToSql + Sync)>()).await?;
    pin_mut!(rows);
    let mut digest = RowDigest::default();
    while let Some(row) = rows.try_next().await? {
        let cells: Vec<Cell> = table
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| match c.kind {
                Kind::Int => row.get::<_, Option<i64>>(i).map_or(Cell::Null, Cell::Int),
                Kind::Bool => row.get::<_, Option<bool>>(i).map_or(Cell::Null, Cell::Bool),
                Kind::Text => row.get::<_, Option<String>>(i).map_or(Cell::Null, Cell::Text),
                Kind::Bytes => row.get::<_, Option<Vec<u8>>>(i).map_or(Cell::Null, Cell::Bytes),
            })
            .collect();
        digest.add(&cells);
    }
    Ok(digest.finish())
}
