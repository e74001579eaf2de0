//! What every test of the API binary shares: a real server in-process
//! ([`Server`]: `kluis_server::serve` on a free loopback port, in its own
//! thread and actix system, with its mail worker and all connection guards),
//! a small HTTP/1.1 client over `std::net::TcpStream` ([`http`]), the outbox
//! ([`mail`]) and the sender's and recipient's steps ([`flow`]).

#![allow(dead_code)]

pub mod db;
pub mod flow;
pub mod http;
pub mod mail;
pub mod oidc;

use std::future::Future;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::{Duration, Instant};

use actix_web::rt::System;
use kluis_server::State;
use kluis_server::config::{Config, Limits};
use tempfile::TempDir;

pub use self::http::{Request, Response};

/// The header test clients use to appear as another network address
/// (`limits.client_ip_header` is set to it in every test configuration).
pub const FORWARDED: &str = "X-Forwarded-For";

/// Limits for tests: short body timeout, no per-minute limit in the way
/// unless a test asks for one, clients told apart by [`FORWARDED`].
pub fn test_limits() -> Limits {
    Limits {
        body_timeout_seconds: 2,
        public_requests_per_minute: 100_000,
        client_ip_header: Some(FORWARDED.into()),
        ..Limits::default()
    }
}

type Job = Box<dyn FnOnce(State) -> Pin<Box<dyn Future<Output = ()>>> + Send>;

/// A running server on 127.0.0.1; stopped (and its data deleted) when dropped.
pub struct Server {
    pub addr: SocketAddr,
    pub url: String,
    pub data_dir: PathBuf,
    /// The PostgreSQL database (with `KLUIS_TEST_DATABASE_URL`); `None`: SQLite in the data directory.
    pub database_url: Option<String>,
    jobs: tokio::sync::mpsc::UnboundedSender<Job>,
    system: System,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: TempDir,
    /// Dropped after the server has stopped (fields drop after `Drop::drop`).
    _database: Option<db::TestDatabase>,
}

/// A free port on the loopback interface (the OS picks it; bound again by the server).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Server {
    /// A server with the memory blob store and [`test_limits`], changed by `configure`.
    pub fn start(configure: impl FnOnce(&mut Config)) -> Server {
        let mut config = Config { blob_store: "memory".into(), limits: test_limits(), ..Config::default() };
        configure(&mut config);
        // On PostgreSQL a server in a data directory of its own gets a database
        // of its own, dropped with it; servers on a data directory the test
        // chose share that directory's database (nodes of one installation).
        let mut database = None;
        if config.database_url.is_none()
            && let Some(admin_url) = db::postgres_url()
        {
            let url = if config.data_dir.is_absolute() {
                db::database_for(&config.data_dir).unwrap().url.clone()
            } else {
                let created = db::TestDatabase::create(&admin_url);
                let url = created.url.clone();
                database = Some(created);
                url
            };
            config.database_url = Some(kluis_server::config::DatabaseUrl(url));
        }
        Server::start_as(config, database)
    }

    /// A server on SQLite whatever the backend of the tests (a single-machine
    /// install, as `kluis-server migrate` takes), changed by `configure`.
    pub fn start_on_sqlite(configure: impl FnOnce(&mut Config)) -> Server {
        let mut config = Config { blob_store: "memory".into(), limits: test_limits(), ..Config::default() };
        configure(&mut config);
        config.database_url = None;
        Server::start_as(config, None)
    }

    fn start_as(config: Config, database: Option<db::TestDatabase>) -> Server {
        // The port is picked, released and bound again by the server: another
        // socket may take it in between, so a failed start is retried.
        let mut last_error = String::new();
        for _ in 0..5 {
            match Server::try_start(config.clone()) {
                Ok(mut server) => {
                    server._database = database;
                    return server;
                }
                Err(e) => last_error = e,
            }
        }
        panic!("the test server did not start: {last_error}");
    }

    fn try_start(mut config: Config) -> Result<Server, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        // A relative data directory (the default `kluis-data`) lives in the test's temporary directory.
        config.data_dir = dir.path().join(&config.data_dir);
        config.listen = addr;
        // With `[tls]` the server answers HTTPS only (tests/api/addin.rs).
        let tls = config.tls.enabled();
        config.public_url = format!("{}://{addr}", if tls { "https" } else { "http" });
        let url = config.public_url.clone();
        let data_dir = config.data_dir.clone();
        let database_url = config.database_url.as_ref().map(|u| u.as_str().to_string());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (ended_tx, ended_rx) = std::sync::mpsc::channel::<String>();
        let thread = std::thread::spawn(move || {
            let runner = System::new();
            let started = runner.block_on(async move {
                let state = kluis_server::open(config).await.map_err(|e| format!("{e:#}"))?;
                let (jobs, mut queue) = tokio::sync::mpsc::unbounded_channel::<Job>();
                let for_jobs = state.clone();
                actix_web::rt::spawn(async move {
                    while let Some(job) = queue.recv().await {
                        job(for_jobs.clone()).await;
                    }
                });
                actix_web::rt::spawn(async move {
                    let outcome = kluis_server::serve(state).await;
                    let _ = ended_tx.send(format!("serve ended: {outcome:?}"));
                });
                Ok::<_, String>((jobs, System::current()))
            });
            let ok = started.is_ok();
            let _ = ready_tx.send(started);
            if ok {
                let _ = runner.run();
            }
        });
        let (jobs, system) = ready_rx.recv().map_err(|e| e.to_string())??;
        let server = Server {
            addr,
            url,
            data_dir,
            database_url,
            jobs,
            system,
            thread: Some(thread),
            _dir: dir,
            _database: None,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(message) = ended_rx.try_recv() {
                return Err(message);
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
                && (tls || server.get("/healthz").try_send().is_ok_and(|r| r.status == 200))
            {
                return Ok(server);
            }
            if Instant::now() > deadline {
                return Err("no answer from /healthz".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `job` with the server's state on the server's own runtime and returns its result.
    pub fn run<T, F, Fut>(&self, job: F) -> T
    where
        T: Send + 'static,
        F: FnOnce(State) -> Fut + Send + 'static,
        Fut: Future<Output = T> + 'static,
    {
        let (tx, rx) = std::sync::mpsc::channel();
        let job: Job = Box::new(move |state| {
            Box::pin(async move {
                let _ = tx.send(job(state).await);
            })
        });
        self.jobs.send(job).map_err(|_| "the server is gone").unwrap();
        rx.recv_timeout(Duration::from_secs(30)).expect("the server ran the job")
    }

    /// A new API token for `email` (the user is created if needed).
    pub fn token(&self, email: &str) -> String {
        let email = email.to_string();
        self.run(move |state| async move { kluis_server::admin::create_token(&state, &email, "test").await.unwrap() })
    }

    /// An API token for a new admin `email` of the organisation of its mail domain (or the only one).
    pub fn admin_token(&self, email: &str) -> String {
        let email = email.to_string();
        self.run(move |state| async move {
            let spec = kluis_server::admin::UserSpec { admin: Some(true), ..Default::default() };
            kluis_server::admin::add_user_as(&state, &email, &spec).await.unwrap();
            kluis_server::admin::create_token(&state, &email, "test").await.unwrap()
        })
    }

    /// A new organisation with these mail domains; returns its id.
    pub fn organisation(&self, name: &str, domains: &[&str]) -> i64 {
        let (name, domains) = (name.to_string(), domains.iter().map(|d| d.to_string()).collect::<Vec<_>>());
        self.run(move |state| async move {
            kluis_server::admin::create_organisation(&state, &name, &domains).await.unwrap().id
        })
    }

    /// Adds a user who may sign in (no token).
    pub fn add_user(&self, email: &str) {
        let email = email.to_string();
        self.run(move |state| async move { kluis_server::admin::add_user(&state, &email).await.unwrap() });
    }

    pub fn request(&self, method: &str, path: &str) -> Request {
        Request::new(self.addr, method, path)
    }
    pub fn get(&self, path: &str) -> Request {
        self.request("GET", path)
    }
    pub fn post(&self, path: &str) -> Request {
        self.request("POST", path)
    }
    pub fn delete(&self, path: &str) -> Request {
        self.request("DELETE", path)
    }

    /// A raw connection to the server.
    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
    }

    /// The server's metadata store, opened as its holder could (SQLite or PostgreSQL).
    pub fn db(&self) -> db::Db {
        db::Db::open(&self.data_dir, self.database_url.as_deref())
    }

    pub fn outbox_dir(&self) -> PathBuf {
        self.data_dir.join("outbox")
    }

    pub fn data_path(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.data_dir.join(relative)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.system.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Polls `check` every 20 ms until it gives a value or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
