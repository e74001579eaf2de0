//! Build glue, in one place: `cargo xtask <task>`.
//!
//! - `run`   — build the web assets and start `kluis-server` on its embedded defaults
//! - `install` — build the web assets, and `kluis` and `kluis-server` in release,
//!   installed with `cargo install --path` into cargo's bin directory (or `--root DIR`)
//! - `wasm`  — compile `wasm-client` for the browser and put the bindings in `web/pkg/`
//! - `test`  — run every test stage: formatting, lints (clippy, ESLint), Rust, wasm in
//!   Node and Chromium, browser tests with Playwright, and a bounded fuzzing run;
//!   `test STAGE...` runs only those stages, `test --help` lists them
//! - `bench` — print the benchmark figures (native vs Go age, wasm in Chromium,
//!   the content check natively, as wasm and as ES2016, transfers with the CLI
//!   and with the web pages)
//! - `image` — the server as a container image (static musl binary and the web
//!   pages, `FROM scratch`), an OCI archive in `target/image/`, tried before it is kept
//! - `fuzz`  — fuzz the decryptor, armor reader, link, manifest, Range and tus metadata parsers for a bounded time
//!
//! The web build (`run`, `install`, `wasm`, and the stages that build the
//! pages) installs what it misses, saying so: the wasm32 target (rustup),
//! wasm-bindgen-cli at the pinned version (cargo install) and the npm
//! packages with wasm-opt and wasm2js (npm ci). Without rustup or npm it stops
//! and says what to install.

mod image;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// Must equal the `wasm-bindgen` crate version pinned in `wasm-client/Cargo.toml`.
const WASM_BINDGEN_VERSION: &str = "0.2.130";
/// The Rust target of the browser build.
const WASM_TARGET: &str = "wasm32-unknown-unknown";
const FUZZ_TARGETS: &[&str] =
    &["decrypt", "armor", "link", "manifest", "range", "tus_metadata", "policy_scan", "policy_check"];

type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let task = args.first().map(String::as_str).unwrap_or("help");
    let rest = &args[args.len().min(1)..];
    let result = match task {
        "run" => run_product(rest),
        "install" => install(rest),
        "wasm" => build_wasm(),
        "test" => test_stages(rest),
        "bench" => bench(rest),
        "image" => image::image(rest),
        "fuzz" => fuzz(fuzz_seconds(rest)),
        _ => {
            eprintln!(
                "usage: cargo xtask <run [SERVER ARGS] | install [--root DIR] | wasm | test [STAGE...] [--no-fuzz] | \
                 bench [--size-mib N] | image | fuzz [SECONDS]>\n\
                 (cargo xtask test --help lists the stages)"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

fn step(name: &str) {
    eprintln!("\n==> {name}");
}

fn run(cmd: &mut Command) -> Result {
    cmd.current_dir(cmd.get_current_dir().map(Path::to_path_buf).unwrap_or_else(root));
    let shown = format!("{cmd:?}");
    let status = cmd.status().map_err(|e| format!("cannot start {shown}: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("{shown} failed ({status})")) }
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// Builds the release wasm and runs wasm-bindgen into `web/pkg/`, then
/// wasm-opt; then the content check as ES2016. What the build needs and
/// misses is installed first (see [`web_build_tools`]).
fn build_wasm() -> Result {
    let wasm_bindgen = web_build_tools()?;
    step("build wasm-client (release, wasm32, simd128)");
    run(cargo().args(["build", "--release", "--package", "kluis-wasm", "--target", WASM_TARGET]))?;
    let wasm = target_dir().join("wasm32-unknown-unknown/release/kluis_wasm.wasm");
    let out = root().join("web/pkg");
    run(Command::new(&wasm_bindgen).args(["--target", "web", "--no-typescript", "--out-dir"]).arg(&out).arg(&wasm))?;
    // binaryen from npm (Debian's 108 produces broken modules, docs/architecture.md §8).
    let bg = out.join("kluis_wasm_bg.wasm");
    run(Command::new(npm_bin("wasm-opt")?)
        .args([
            "-O3",
            "--enable-simd",
            "--enable-bulk-memory",
            "--enable-nontrapping-float-to-int",
            "--enable-sign-ext",
            "--enable-mutable-globals",
            "-o",
        ])
        .arg(&bg)
        .arg(&bg))?;
    eprintln!("wasm bindings written to {}", out.display());
    build_policy_js()
}

/// Where cargo builds: `CARGO_TARGET_DIR` when set (a worktree building
/// beside the main checkout), else the workspace's `target/`.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"))
}

/// Makes sure the web build has what it needs, installing what is missing
/// with a line saying what: the wasm32 target (`rustup target add`),
/// wasm-bindgen-cli at [`WASM_BINDGEN_VERSION`] (`cargo install`), and the
/// npm packages (`npm ci`: binaryen's wasm-opt and wasm2js). Returns the
/// wasm-bindgen to run.
fn web_build_tools() -> Result<PathBuf> {
    ensure_wasm_target()?;
    let wasm_bindgen = ensure_wasm_bindgen()?;
    npm_install()?;
    Ok(wasm_bindgen)
}

/// Adds the wasm32 target to the toolchain cargo runs with, if it lacks it.
fn ensure_wasm_target() -> Result {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| format!("cannot run {rustc} --print sysroot: {e}"))?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    if sysroot.join("lib/rustlib").join(WASM_TARGET).is_dir() {
        return Ok(());
    }
    step(&format!(
        "installing the Rust target {WASM_TARGET}, which the web pages are built for: rustup target add {WASM_TARGET}"
    ));
    match Command::new("rustup").args(["target", "add", WASM_TARGET]).status() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("rustup target add {WASM_TARGET} failed ({status})")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
            "the Rust target {WASM_TARGET} is not installed (no {}), and there is no rustup to add it: \
             install Rust with rustup (https://rustup.rs), or add the {WASM_TARGET} standard library \
             to this toolchain another way",
            sysroot.join("lib/rustlib").join(WASM_TARGET).display()
        )),
        Err(e) => Err(format!("cannot run rustup: {e}")),
    }
}

/// Where `cargo install` puts programs: `$CARGO_INSTALL_ROOT/bin`, `$CARGO_HOME/bin` or `~/.cargo/bin`.
fn cargo_bin_dir() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    var("CARGO_INSTALL_ROOT")
        .or_else(|| var("CARGO_HOME"))
        .or_else(|| var("HOME").map(|home| home.join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"))
        .join("bin")
}

/// The wasm-bindgen CLI at [`WASM_BINDGEN_VERSION`]: the one on PATH or in
/// cargo's bin directory, else installed there with `cargo install`.
fn ensure_wasm_bindgen() -> Result<PathBuf> {
    let version_of = |program: &Path| {
        let out = Command::new(program).arg("--version").output().ok().filter(|o| o.status.success())?;
        Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let pinned = |version: &str| version.split_whitespace().any(|w| w == WASM_BINDGEN_VERSION);
    let installed = cargo_bin_dir().join("wasm-bindgen");
    let mut other = None;
    for program in [PathBuf::from("wasm-bindgen"), installed.clone()] {
        match version_of(&program) {
            Some(version) if pinned(&version) => return Ok(program),
            Some(version) => other = other.or(Some(version)),
            None => {}
        }
    }
    let why = match other {
        Some(version) => format!("{version} is installed, wasm-client is built with {WASM_BINDGEN_VERSION}"),
        None => "it is not installed".to_string(),
    };
    let command = format!("cargo install wasm-bindgen-cli --version {WASM_BINDGEN_VERSION}");
    step(&format!("installing wasm-bindgen-cli {WASM_BINDGEN_VERSION} ({why}): {command} (a few minutes)"));
    run(cargo().args(["install", "wasm-bindgen-cli", "--version", WASM_BINDGEN_VERSION]))
        .map_err(|e| format!("{e}\nthe web build needs wasm-bindgen-cli {WASM_BINDGEN_VERSION}: {command}"))?;
    match version_of(&installed) {
        Some(version) if pinned(&version) => Ok(installed),
        found => {
            Err(format!("after {command}, {} is {}", installed.display(), found.unwrap_or_else(|| "missing".into())))
        }
    }
}

/// A program the npm packages install (`node_modules/.bin/NAME`).
fn npm_bin(name: &str) -> Result<PathBuf> {
    let path = root().join("node_modules/.bin").join(name);
    if path.exists() {
        Ok(path)
    } else {
        Err(format!("{} is missing after npm ci: is it still in package.json?", path.display()))
    }
}

/// Builds the content check (`policy/`) as one ES2016 script,
/// `web/pkg/kluis-policy.es2016.js`, for runtimes without WebAssembly (the
/// event runtime of classic Outlook): `policy/js` compiled to wasm32 with
/// only the MVP features (wasm2js reads no SIMD), turned into JavaScript by
/// wasm2js (npm binaryen) and put inside `policy/js/wrapper.js`. Then the
/// event handler's bundle, `web/pkg/kluis-commands.js`: that script, and
/// `web/addin/commands-handler.js` after it if it exists.
fn build_policy_js() -> Result {
    step("build the content check as ES2016 JavaScript (wasm32 MVP, wasm2js)");
    let root = root();
    // Its own target directory: other flags than the simd128 build, and neither rebuilds the other.
    let target = target_dir().join("es2016");
    run(cargo()
        .args(["build", "--release", "--package", "kluis-policy-js"])
        .args(["--target", "wasm32-unknown-unknown", "--target-dir"])
        .arg(&target)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env("RUSTFLAGS", "-C target-cpu=mvp"))?;
    npm_install()?;
    let wasm = target.join("wasm32-unknown-unknown/release/kluis_policy_js.wasm");
    let generated = target.join("kluis_policy_js.js");
    run(Command::new(npm_bin("wasm2js")?).arg("-O3").arg(&wasm).arg("-o").arg(&generated))?;
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
    // wasm2js writes a module: `export var kluis_… = retasmFunc.kluis_…;` at the end. The wrapper uses `retasmFunc`.
    let code: String =
        read(&generated)?.lines().filter(|l| !l.starts_with("export var ")).flat_map(|l| [l, "\n"]).collect();
    if code.lines().any(|l| l.starts_with("import ") || l.starts_with("export ")) {
        return Err("wasm2js output imports or exports more than policy/js/wrapper.js expects".into());
    }
    let wrapper = read(&root.join("policy/js/wrapper.js"))?;
    let marker = "/* @@WASM2JS@@ */";
    if !wrapper.contains(marker) {
        return Err(format!("policy/js/wrapper.js has no {marker}"));
    }
    let script = wrapper.replace(marker, code.trim()).replace("@@VERSION@@", env!("CARGO_PKG_VERSION"));
    let out = root.join("web/pkg");
    let write = |name: &str, text: &str| std::fs::write(out.join(name), text).map_err(|e| format!("{name}: {e}"));
    write("kluis-policy.es2016.js", &script)?;
    let handler = root.join("web/addin/commands-handler.js");
    let bundle = if handler.exists() { format!("{script}\n{}", read(&handler)?) } else { script };
    write("kluis-commands.js", &bundle)?;
    eprintln!("content check for JavaScript-only runtimes written to {}", out.join("kluis-policy.es2016.js").display());
    Ok(())
}

/// Builds the wasm bindings, then runs the server in the foreground with
/// any extra arguments (e.g. `--listen 0.0.0.0:8080`).
fn run_product(args: &[String]) -> Result {
    build_wasm()?;
    step("start kluis-server (Ctrl-C stops it)");
    run(cargo().args(["run", "--release", "--package", "kluis-server", "--"]).args(args))
}

/// Release builds of `kluis` and `kluis-server`, installed with `cargo
/// install --locked --path` into cargo's bin directory (or `--root DIR`'s
/// `bin`), after building `web/pkg`. The installed server serves the pages
/// of this checkout (`Config::web_dir`: the path it was compiled in)
/// unless `web_dir` / `KLUIS_WEB_DIR` names other ones.
fn install(args: &[String]) -> Result {
    let mut install_root = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--root" => install_root = Some(PathBuf::from(args.next().ok_or("--root needs a directory")?)),
            other => return Err(format!("cargo xtask install takes only --root DIR, not {other:?}")),
        }
    }
    build_wasm()?;
    let root = root();
    for (program, dir) in [("kluis-server", "server"), ("kluis", "cli")] {
        step(&format!("install {program} (release build): cargo install --locked --force --path {dir}"));
        let mut cmd = cargo();
        cmd.args(["install", "--locked", "--force", "--path"]).arg(root.join(dir));
        if let Some(dir) = &install_root {
            cmd.arg("--root").arg(dir);
        }
        run(&mut cmd)?;
    }
    let bin = install_root.map(|r| r.join("bin")).unwrap_or_else(cargo_bin_dir);
    eprintln!("\nkluis and kluis-server are in {}", bin.display());
    eprintln!(
        "kluis-server serves the web pages from {} (this checkout: keep it, and run cargo xtask install again \
         after pulling), unless web_dir or KLUIS_WEB_DIR names another folder",
        root.join("web").display()
    );
    let on_path = std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d == bin));
    if !on_path {
        eprintln!("{} is not on your PATH; add it, e.g.: export PATH=\"{}:$PATH\"", bin.display(), bin.display());
    }
    Ok(())
}

/// Installs the npm packages if `node_modules` is missing or older than the lock file.
fn npm_install() -> Result {
    let root = root();
    let lock = root.join("package-lock.json");
    let marker = root.join("node_modules/.package-lock.json");
    let modified = |p: &Path| p.metadata().and_then(|m| m.modified()).ok();
    if modified(&marker).is_none() || modified(&marker) < modified(&lock) {
        step("installing the npm packages (binaryen's wasm-opt and wasm2js, ESLint, Playwright, Azurite): npm ci");
        match Command::new("npm").arg("--version").output() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err("npm is not installed; the web build needs Node.js and npm for wasm-opt and \
                            wasm2js (package.json): install them (Debian: apt-get install nodejs npm) \
                            and run this again"
                    .into());
            }
            _ => {}
        }
        run(Command::new("npm").args(["ci", "--no-audit", "--no-fund"]))?;
    }
    Ok(())
}

/// One stage of `cargo xtask test`: a name to select it by, what it runs, and the
/// function that runs it. A new stage is one more line in [`STAGES`].
struct Stage {
    name: &'static str,
    about: &'static str,
    run: fn() -> Result,
}

/// The stages of `cargo xtask test`, in the order they run.
const STAGES: &[Stage] = &[
    stage("fmt", "cargo fmt --check", stage_fmt),
    stage("lint", "clippy -D warnings (native and wasm32), ESLint on the JavaScript", stage_lint),
    stage(
        "rust",
        "Rust tests: unit, age testkit, package vectors, CLI, interop with age, the SMTP relay (behind Postfix as root)",
        stage_rust,
    ),
    stage(
        "postgres",
        "the server's API tests again, on PostgreSQL (apt's cluster, started here; or KLUIS_TEST_DATABASE_URL)",
        stage_postgres,
    ),
    stage("api", "Schemathesis fuzzes a running kluis-server against server/openapi.json", stage_api),
    stage("wasm-node", "wasm tests in Node: SIMD ChaCha20-Poly1305, then the bindings", stage_wasm_node),
    stage("wasm-browser", "wasm tests in headless Chromium (wasm-bindgen-test)", stage_wasm_browser),
    stage("browser", "build wasm, server and CLI; Playwright tests in headless Chromium", stage_browser),
    stage("fuzz", "each fuzz target for KLUIS_FUZZ_SECONDS (default 30) s", stage_fuzz),
];

const fn stage(name: &'static str, about: &'static str, run: fn() -> Result) -> Stage {
    Stage { name, about, run }
}

/// The usage of `cargo xtask test` and its list of stages.
fn stages_help() -> String {
    let width = STAGES.iter().map(|s| s.name.len()).max().unwrap_or(0);
    let mut help = String::from(
        "usage: cargo xtask test [STAGE...] [--no-fuzz]\n\n\
         With no STAGE, runs every stage in this order; with some, only those (still in this order).\n\n",
    );
    for stage in STAGES {
        help += &format!("  {:width$}  {}\n", stage.name, stage.about);
    }
    help + "\noptions:\n  --no-fuzz  skip the fuzz stage (also when named)"
}

enum Outcome {
    Passed(Duration),
    Failed(Duration),
    Skipped,
    NotRun,
}

fn test_stages(args: &[String]) -> Result {
    let mut fuzz_enabled = true;
    let mut chosen = Vec::new();
    for arg in args {
        match arg.as_str() {
            "--no-fuzz" => fuzz_enabled = false,
            "-h" | "--help" | "help" => {
                println!("{}", stages_help());
                return Ok(());
            }
            name => match STAGES.iter().position(|s| s.name == name) {
                Some(i) => chosen.push(i),
                None => {
                    eprintln!("{}\n", stages_help());
                    return Err(format!("unknown stage or option: {name}"));
                }
            },
        }
    }
    let selected: Vec<&Stage> =
        STAGES.iter().enumerate().filter(|(i, _)| chosen.is_empty() || chosen.contains(i)).map(|(_, s)| s).collect();

    let started = Instant::now();
    let mut outcomes: Vec<(&str, Outcome)> = selected.iter().map(|s| (s.name, Outcome::NotRun)).collect();
    let mut failure = None;
    for (stage, (_, outcome)) in selected.iter().zip(outcomes.iter_mut()) {
        if stage.name == "fuzz" && !fuzz_enabled {
            eprintln!("\n==> stage fuzz skipped (--no-fuzz)");
            *outcome = Outcome::Skipped;
            continue;
        }
        step(&format!("stage {}: {}", stage.name, stage.about));
        let stage_started = Instant::now();
        let result = (stage.run)();
        let took = stage_started.elapsed();
        match result {
            Ok(()) => {
                eprintln!("\n==> stage {} passed in {}", stage.name, duration(took));
                *outcome = Outcome::Passed(took);
            }
            Err(e) => {
                eprintln!("\n==> stage {} FAILED after {}", stage.name, duration(took));
                *outcome = Outcome::Failed(took);
                failure = Some(format!("stage {}: {e}", stage.name));
                break;
            }
        }
    }

    let width = outcomes.iter().map(|(name, _)| name.len()).max().unwrap_or(0).max("total".len());
    eprintln!("\n==> summary");
    for (name, outcome) in &outcomes {
        let (what, took) = match outcome {
            Outcome::Passed(d) => ("passed", duration(*d)),
            Outcome::Failed(d) => ("FAILED", duration(*d)),
            Outcome::Skipped => ("skipped", String::new()),
            Outcome::NotRun => ("not run", String::new()),
        };
        eprintln!("  {name:width$}  {what:7}  {took:>9}");
    }
    eprintln!("  {:width$}  {:7}  {:>9}", "total", "", duration(started.elapsed()));
    match failure {
        Some(e) => Err(e),
        None => {
            eprintln!("\nall selected stages passed in {}", duration(started.elapsed()));
            Ok(())
        }
    }
}

/// `45.2s`, `2m13s`, `1h02m03s`.
fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0..60 => format!("{:.1}s", d.as_secs_f64()),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m{:02}s", secs / 3600, secs / 60 % 60, secs % 60),
    }
}

fn stage_fmt() -> Result {
    run(cargo().args(["fmt", "--all", "--check"]))
}

fn stage_lint() -> Result {
    step("clippy, native");
    run(cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
    step("clippy, wasm32");
    run(cargo().args([
        "clippy",
        "--package",
        "kluis-crypto",
        "--package",
        "kluis-wasm",
        "--target",
        "wasm32-unknown-unknown",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    npm_install()?;
    step("ESLint");
    run(Command::new(root().join("node_modules/.bin/eslint")).arg("."))
}

fn stage_rust() -> Result {
    // Azurite (npm), the Azure Blob emulator the object-store tests start.
    npm_install()?;
    run(cargo().args(["test", "--workspace"]))?;
    // The relay behind a real Postfix (apt's, installed by .ci/run): its master runs as root.
    if !Path::new("/usr/sbin/postfix").exists() {
        return Err(
            "Postfix is missing (apt-get install postfix; .ci/run does): the relay's Postfix test needs it".into()
        );
    }
    if !running_as_root() {
        eprintln!("xtask: the relay's Postfix test needs root (Postfix's master runs as root): skipped");
        return Ok(());
    }
    run(cargo().args(["test", "-p", "kluis-relay", "--test", "relay", "--", "--ignored", "postfix"]))
}

/// Where the API tests find PostgreSQL: `KLUIS_TEST_DATABASE_URL` when set;
/// else apt's cluster (package postgresql, installed by .ci/run), started
/// here with `pg_ctlcluster`, reached on its Unix socket as a superuser role
/// named after this user.
fn stage_postgres() -> Result {
    let url = match std::env::var("KLUIS_TEST_DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => local_postgres()?,
    };
    let drop_leftovers = || -> Result {
        // Databases of test servers still open when a test binary ended (see tests/api/support/db.rs).
        // IF EXISTS: another test run on the same cluster may drop one first.
        let sql = "SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE);', datname) FROM pg_database \
                   WHERE datname LIKE 'kluis\\_test\\_%' \\gexec";
        let mut child = Command::new("psql")
            .args(["-q", "-X", "-v", "ON_ERROR_STOP=1", &url])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start psql: {e}"))?;
        use std::io::Write;
        child.stdin.take().unwrap().write_all(sql.as_bytes()).map_err(|e| e.to_string())?;
        let status = child.wait().map_err(|e| e.to_string())?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("cannot drop the leftover test databases at {url} ({status}; psql said why above)"))
        }
    };
    drop_leftovers()?;
    npm_install()?; // Azurite, as in the rust stage.
    let result = run(cargo()
        .args(["test", "--package", "kluis-server", "--lib", "--test", "api"])
        .env("KLUIS_TEST_DATABASE_URL", &url));
    drop_leftovers()?;
    result
}

/// Starts apt's PostgreSQL cluster (as root) and makes sure a superuser role
/// `root` exists; returns the connection string of its Unix socket.
fn local_postgres() -> Result<String> {
    let clusters = Command::new("pg_lsclusters").arg("--no-header").output().map_err(|_| {
        "PostgreSQL is missing (apt-get install postgresql; .ci/run does), or set KLUIS_TEST_DATABASE_URL".to_string()
    })?;
    let listing = String::from_utf8_lossy(&clusters.stdout).into_owned();
    let Some(cluster) = listing.lines().map(|l| l.split_whitespace().collect::<Vec<_>>()).find(|f| f.len() >= 4) else {
        return Err("pg_lsclusters lists no PostgreSQL cluster (pg_createcluster 15 main)".into());
    };
    let (version, name, status) = (cluster[0].to_string(), cluster[1].to_string(), cluster[3]);
    if !running_as_root() {
        return Err("starting apt's PostgreSQL cluster needs root: run as root or set KLUIS_TEST_DATABASE_URL".into());
    }
    if status != "online" {
        step(&format!("start PostgreSQL {version}/{name}"));
        run(Command::new("pg_ctlcluster").args([version.as_str(), name.as_str(), "start"]))?;
    }
    let role = "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'root') \
                THEN CREATE ROLE root SUPERUSER LOGIN; END IF; END $$;";
    run(Command::new("runuser").args(["-u", "postgres", "--", "psql", "-q", "-X", "-c", role]))?;
    Ok("host=/var/run/postgresql user=root dbname=postgres".into())
}

fn running_as_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// Examples per API operation and phase in the api stage, and the hard limit
/// on its Schemathesis run (whose version `.ci/run` pins).
const API_MAX_EXAMPLES: &str = "40";
const API_TIMEOUT: Duration = Duration::from_secs(170);

/// Starts kluis-server on a temporary data directory and a free loopback port,
/// makes an API token, and runs Schemathesis against the served OpenAPI
/// document: every answer must have a documented status, a documented media
/// type and a body the schema accepts, and none may be a 5xx.
fn stage_api() -> Result {
    step("build kluis-server (as operators build it: without test-licence-key) and kluis-licence");
    run(cargo().args(["build", "--package", "kluis-server", "--package", "kluis-licence"]))?;
    let target = target_dir();
    let server = target.join("debug/kluis-server");
    let dir = std::env::temp_dir().join(format!("kluis-api-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let result =
        refuses_test_licences(&server, &target.join("debug/kluis-licence"), &dir).and_then(|()| api_run(&server, &dir));
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// A server built without the `test-licence-key` feature refuses a licence
/// signed with the test vendor key, whose private half is in the repository:
/// only test builds can be activated with licences anyone can make.
fn refuses_test_licences(server: &Path, licence_tool: &Path, dir: &Path) -> Result {
    step("a server built without test-licence-key refuses the test key's licences");
    let licence = dir.join("test.licence");
    let out = Command::new(licence_tool)
        .args(["sign", "--key"])
        .arg(root().join("licence/testdata/test-vendor.key"))
        .args(["--licensee", "Anyone", "--domain", "example.org", "--seats", "1000"])
        .args(["--from", "2000-01-01", "--until", "2999-12-31", "--out"])
        .arg(&licence)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", licence_tool.display()))?;
    if !out.status.success() {
        return Err(format!("kluis-licence sign failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let data = dir.join("licence-check");
    let out = Command::new(server)
        .arg("--data")
        .arg(&data)
        .args(["org", "create", "Anyone", "--domain", "example.org", "--init"])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", server.display()))?;
    if !out.status.success() {
        return Err(format!("org create failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let out = Command::new(server)
        .arg("--data")
        .arg(&data)
        .args(["licence", "install"])
        .arg(&licence)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", server.display()))?;
    let said = String::from_utf8_lossy(&out.stderr);
    if out.status.success() || !said.contains("which this server does not know") {
        return Err(format!("a build without test-licence-key took a test licence: {said}"));
    }
    Ok(())
}

fn api_run(server: &Path, dir: &Path) -> Result {
    // Schemathesis sends thousands of requests from one address: lift only the
    // per-minute limit of the routes that need no sign-in. Its one worker stays
    // far below the in-flight cap (max_requests_per_client), which keeps its
    // default, as does every other limit.
    let config = dir.join("kluis.toml");
    std::fs::write(&config, "[limits]\npublic_requests_per_minute = 100000\n").map_err(|e| e.to_string())?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free loopback port: {e}"))?
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let data = dir.join("data");
    let server_cmd = || {
        let mut cmd = Command::new(server);
        cmd.arg("--config").arg(&config).arg("--data").arg(&data);
        cmd
    };

    // An admin of its organisation, so the admin API is exercised too, not only refused.
    step("add an admin and make an API token");
    let out = server_cmd()
        .args(["user", "add", "--init", "alice@example.org", "--admin"])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", server.display()))?;
    if !out.status.success() {
        return Err(format!("user add failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let out = server_cmd()
        .args(["token", "create", "--init", "alice@example.org", "--label", "schemathesis"])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", server.display()))?;
    if !out.status.success() {
        return Err(format!("token create failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();

    step(&format!("start kluis-server on {base}"));
    let log_path = dir.join("server.log");
    let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
    let mut child = server_cmd()
        .args(["--listen", &format!("127.0.0.1:{port}"), "--public-url", &base])
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", server.display()))?;
    let result = wait_healthy(port).and_then(|()| schemathesis(&base, &token, dir));
    let _ = child.kill();
    let _ = child.wait();
    if result.is_err() {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let lines: Vec<&str> = log.lines().filter(|l| !l.contains("request")).collect();
        eprintln!("\nserver log without the request lines (last 40):");
        for line in &lines[lines.len().saturating_sub(40)..] {
            eprintln!("  {line}");
        }
    }
    result
}

/// Waits up to 30 s for `GET /healthz` to answer 200.
fn wait_healthy(port: u16) -> Result {
    use std::io::{Read, Write};
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = std::net::TcpStream::connect(("127.0.0.1", port)).and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            s.write_all(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
            let mut text = String::new();
            s.read_to_string(&mut text)?;
            Ok(text)
        });
        if answer.is_ok_and(|t| t.starts_with("HTTP/1.1 200") || t.starts_with("HTTP/1.0 200")) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err("kluis-server did not answer /healthz within 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Runs Schemathesis against the served document, killed after [`API_TIMEOUT`].
fn schemathesis(base: &str, token: &str, dir: &Path) -> Result {
    // tus PATCH bodies are raw bytes: send them as Schemathesis sends application/octet-stream.
    let hooks = dir.join("kluis_hooks.py");
    let alias = concat!(
        "import schemathesis\n\n",
        "schemathesis.serializer.alias(\"application/offset+octet-stream\", \"application/octet-stream\")\n"
    );
    std::fs::write(&hooks, alias).map_err(|e| e.to_string())?;
    step(&format!("schemathesis run (at most {API_MAX_EXAMPLES} examples per operation, {} s)", API_TIMEOUT.as_secs()));
    // Through the interpreter pip installed it for, whatever is on PATH.
    let mut cmd = Command::new("python3");
    cmd.args(["-m", "schemathesis.cli", "run"])
        .arg(format!("{base}/api/v1/openapi.json"))
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        // Examples, boundary and negative cases, then random ones; the
        // document has no links for the stateful phase.
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", API_MAX_EXAMPLES])
        .args(["--workers", "1", "--request-timeout", "10", "--generation-database", "none", "--no-color"])
        // These two would end the token the run signs in with.
        .args(["--exclude-path", "/api/v1/auth/logout", "--exclude-path", "/api/v1/tokens/{id}"])
        .env("SCHEMATHESIS_HOOKS", &hooks)
        .current_dir(dir);
    let shown = format!("{cmd:?}").replace(token, "<token>");
    let installed = Command::new("python3").args(["-c", "import schemathesis"]).status();
    if !installed.is_ok_and(|s| s.success()) {
        return Err(
            "schemathesis is not installed for python3: python3 -m pip install schemathesis (the version .ci/run pins)"
                .into(),
        );
    }
    let mut child = cmd.spawn().map_err(|e| format!("cannot start {shown}: {e}"))?;
    let deadline = Instant::now() + API_TIMEOUT;
    loop {
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(status) if status.success() => return Ok(()),
            Some(status) => return Err(format!("{shown} failed ({status})")),
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("schemathesis did not finish within {} s", API_TIMEOUT.as_secs()));
            }
            None => std::thread::sleep(Duration::from_millis(250)),
        }
    }
}

fn stage_wasm_node() -> Result {
    run(cargo().args([
        "test",
        "--package",
        "kluis-crypto",
        "--lib",
        "--no-default-features",
        "--target",
        "wasm32-unknown-unknown",
    ]))?;
    run(cargo().args(["test", "--package", "kluis-wasm", "--target", "wasm32-unknown-unknown"]))
}

fn stage_wasm_browser() -> Result {
    run(cargo()
        .args(["test", "--package", "kluis-wasm", "--target", "wasm32-unknown-unknown"])
        .env("WASM_BINDGEN_USE_BROWSER", "1"))
}

fn stage_browser() -> Result {
    build_wasm()?;
    npm_install()?;
    step("build the command line and the licence tool the browser tests drive");
    run(cargo().args(["build", "--package", "kluis-cli", "--package", "kluis-licence"]))?;
    // On its own: built together with other packages, `--features kluis-server/…`
    // gave a binary without the feature here.
    step("build the server, trusting the test licence key (the console's licence test installs one)");
    run(cargo().args(["build", "--package", "kluis-server", "--features", "test-licence-key"]))?;
    step("browser tests (Playwright, headless Chromium)");
    run(Command::new("node").args(["--test", "--test-concurrency=1", "tests/browser/"]))
}

fn stage_fuzz() -> Result {
    fuzz(fuzz_seconds(&[]))
}

fn fuzz_seconds(args: &[String]) -> u64 {
    args.first()
        .and_then(|s| s.parse().ok())
        .or_else(|| std::env::var("KLUIS_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()))
        .unwrap_or(30)
}

/// Runs each fuzz target for `seconds` (cargo-fuzz on the nightly toolchain).
fn fuzz(seconds: u64) -> Result {
    seed_fuzz_corpus()?;
    for target in FUZZ_TARGETS {
        step(&format!("fuzz {target} for {seconds} s"));
        // The working corpus (not in git) and the committed seeds, when there are any.
        let corpus = root().join("fuzz/corpus").join(target);
        std::fs::create_dir_all(&corpus).map_err(|e| e.to_string())?;
        let seeds = root().join("fuzz/seeds").join(target);
        let mut dirs = vec![corpus];
        if seeds.is_dir() {
            dirs.push(seeds);
        }
        let status = Command::new("cargo")
            .args(["+nightly", "fuzz", "run", target])
            .args(&dirs)
            .args(["--", &format!("-max_total_time={seconds}"), "-rss_limit_mb=1024"])
            .current_dir(root())
            .env_remove("CARGO")
            .env_remove("RUSTUP_TOOLCHAIN")
            .status()
            .map_err(|e| format!("cannot run cargo fuzz ({e}); install it with: cargo install cargo-fuzz"))?;
        if !status.success() {
            return Err(format!("fuzz target {target} found a failure (see fuzz/artifacts/{target}/)"));
        }
    }
    Ok(())
}

/// Seeds the corpora with the age testkit vectors (uncompressed ones): each
/// input is one byte that sets the push size, then the age file.
fn seed_fuzz_corpus() -> Result {
    let testkit = root().join("crypto/tests/data/age-testkit");
    let Ok(entries) = std::fs::read_dir(&testkit) else {
        eprintln!("no age testkit at {}; fuzzing from an empty corpus", testkit.display());
        return Ok(());
    };
    for entry in entries.flatten() {
        let bytes = std::fs::read(entry.path()).map_err(|e| e.to_string())?;
        let Some(split) = bytes.windows(2).position(|w| w == b"\n\n") else { continue };
        let (head, body) = (&bytes[..split], &bytes[split + 2..]);
        if !head.starts_with(b"expect:") || head.windows(11).any(|w| w == b"compressed:") {
            continue;
        }
        let armored = head.windows(12).any(|w| w == b"armored: yes") || body.starts_with(b"-----BEGIN");
        for target in FUZZ_TARGETS.iter().filter(|t| **t == "decrypt" || armored) {
            let dir = root().join("fuzz/corpus").join(target);
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            let mut seed = vec![5u8];
            seed.extend_from_slice(body);
            let name = format!("testkit-{}", entry.file_name().to_string_lossy());
            std::fs::write(dir.join(name), seed).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

fn bench(args: &[String]) -> Result {
    let size_mib =
        args.windows(2).find(|w| w[0] == "--size-mib").and_then(|w| w[1].parse::<u64>().ok()).unwrap_or(1024);
    step("build release binaries and wasm");
    run(cargo().args(["build", "--release", "--package", "kluis-cli"]))?;
    build_wasm()?;
    npm_install()?;
    let root = root();
    run(cargo().args(["build", "--release", "--package", "kluis-server"]))?;
    run(Command::new("bash").arg(root.join("tests/bench/native.sh")).arg(size_mib.to_string()))?;
    run(Command::new("node").arg(root.join("tests/bench/wasm.mjs")))?;
    run(cargo().args(["bench", "--package", "kluis-policy"]))?;
    run(Command::new("node").arg(root.join("tests/bench/policy.mjs")))?;
    run(Command::new("bash").arg(root.join("tests/bench/transfer.sh")))?;
    run(Command::new("node").arg("--experimental-websocket").arg(root.join("tests/bench/pages.mjs")))?;
    run(Command::new("node").arg(root.join("tests/bench/xhr-bodies.mjs")))?;
    Ok(())
}
