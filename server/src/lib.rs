//! The Kluis server: holds ciphertext and metadata, never plaintext or keys.
//!
//! Laid out by domain: `api/<area>.rs` for HTTP handlers,
//! `db/models/<entity>.rs` for storage, and `auth`, `config`, `mail`,
//! `storage` (blob store), `janitor` (background clean-up), `web` (pages).

pub mod api;
pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod janitor;
pub mod mail;
pub mod secrets;
pub mod storage;
pub mod web;

use std::sync::Arc;

use actix_web::{App, HttpServer};
use anyhow::{Context, Result};

use crate::config::Config;
use crate::db::Db;
use crate::mail::Mailer;
use crate::secrets::ServerKey;
use crate::storage::BlobStore;
use crate::storage::fs::FsBlobStore;

/// Everything a request handler needs.
pub struct AppState {
    pub config: Config,
    pub db: Db,
    pub store: Arc<dyn BlobStore>,
    pub mailer: Mailer,
    pub key: ServerKey,
    pub org_id: i64,
    /// Uploads a PATCH is writing right now (one writer per upload).
    pub uploads_in_progress: std::sync::Mutex<std::collections::HashSet<String>>,
}

pub type State = actix_web::web::Data<AppState>;

/// Opens (creating on first start) the data directory, database, blob
/// store, server key, mailer and organisation.
pub fn open(config: Config) -> Result<State> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
    let db = Db::open(&config.data_dir.join("kluis.db"))?;
    let key = ServerKey::load_or_create(&config.data_dir.join("secret.key"))?;
    let store = Arc::new(FsBlobStore::open(&config.data_dir)?);
    let mailer = Mailer::new(&config)?;
    let org_id = db::models::organisation::ensure(&*db.conn()?, &config.organisation.name)?;
    Ok(actix_web::web::Data::new(AppState {
        config,
        db,
        store,
        mailer,
        key,
        org_id,
        uploads_in_progress: Default::default(),
    }))
}

/// Serves until SIGINT or SIGTERM, then finishes running requests (graceful shutdown).
pub async fn serve(state: State) -> Result<()> {
    let listen = state.config.listen;
    let janitor = tokio::spawn(janitor::run(state.clone()));
    let app_state = state.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(app_state.clone())
            .wrap(web::security_headers(&app_state.config))
            .wrap(actix_web::middleware::from_fn(web::access_log))
            .configure(api::configure)
            .configure(|cfg| web::configure(cfg, &app_state.config))
    })
    .shutdown_timeout(30)
    .bind(listen)
    .with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!(%listen, public_url = %state.config.public_url, data = %state.config.data_dir.display(), "Kluis server started");
    server.run().await?;
    janitor.abort();
    tracing::info!("Kluis server stopped");
    Ok(())
}
