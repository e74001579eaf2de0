//! Build glue, in one place: `cargo xtask <task>`.
//!
//! - `run`   — build the web assets and start `kluis-server` on its embedded defaults
//! - `wasm`  — compile `wasm-client` for the browser and put the bindings in `web/pkg/`
//! - `test`  — run every test: formatting, lints, Rust, wasm in Node and Chromium,
//!   browser tests with Playwright, and a bounded fuzzing run
//! - `bench` — print the benchmark figures (native vs Go age, wasm in Chromium,
//!   transfers with the CLI and with the web pages)
//! - `fuzz`  — fuzz the decryptor and the armor reader for a bounded time

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

/// Must equal the `wasm-bindgen` crate version pinned in `wasm-client/Cargo.toml`.
const WASM_BINDGEN_VERSION: &str = "0.2.130";
const FUZZ_TARGETS: &[&str] = &["decrypt", "armor"];

type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let task = args.first().map(String::as_str).unwrap_or("help");
    let rest = &args[args.len().min(1)..];
    let result = match task {
        "run" => run_product(rest),
        "wasm" => build_wasm(),
        "test" => test_all(rest),
        "bench" => bench(rest),
        "fuzz" => fuzz(fuzz_seconds(rest)),
        _ => {
            eprintln!(
                "usage: cargo xtask <run [SERVER ARGS] | wasm | test [--no-fuzz] | bench [--size-mib N] | fuzz [SECONDS]>"
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

/// Builds the release wasm and runs wasm-bindgen into `web/pkg/`.
fn build_wasm() -> Result {
    step("build wasm-client (release, wasm32, simd128)");
    run(cargo().args(["build", "--release", "--package", "kluis-wasm", "--target", "wasm32-unknown-unknown"]))?;
    let version = Command::new("wasm-bindgen").arg("--version").output().map_err(|_| {
        format!("wasm-bindgen not found: cargo install wasm-bindgen-cli --version {WASM_BINDGEN_VERSION}")
    })?;
    let version = String::from_utf8_lossy(&version.stdout);
    if !version.contains(WASM_BINDGEN_VERSION) {
        return Err(format!(
            "wasm-bindgen CLI is {}, the crate is {WASM_BINDGEN_VERSION}: cargo install wasm-bindgen-cli --version {WASM_BINDGEN_VERSION}",
            version.trim()
        ));
    }
    let root = root();
    let wasm = root.join("target/wasm32-unknown-unknown/release/kluis_wasm.wasm");
    let out = root.join("web/pkg");
    run(Command::new("wasm-bindgen").args(["--target", "web", "--no-typescript", "--out-dir"]).arg(&out).arg(&wasm))?;
    // binaryen from npm (Debian's 108 produces broken modules, see TOOLCHAIN.md).
    let wasm_opt = root.join("node_modules/.bin/wasm-opt");
    if wasm_opt.exists() {
        let bg = out.join("kluis_wasm_bg.wasm");
        run(Command::new(&wasm_opt)
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
    }
    eprintln!("wasm bindings written to {}", out.display());
    Ok(())
}

/// Builds the wasm bindings, then runs the server in the foreground with
/// any extra arguments (e.g. `--listen 0.0.0.0:8080`).
fn run_product(args: &[String]) -> Result {
    build_wasm()?;
    step("start kluis-server (Ctrl-C stops it)");
    run(cargo().args(["run", "--release", "--package", "kluis-server", "--"]).args(args))
}

/// Installs the npm packages if `node_modules` is missing or older than the lock file.
fn npm_install() -> Result {
    let root = root();
    let lock = root.join("package-lock.json");
    let marker = root.join("node_modules/.package-lock.json");
    let modified = |p: &Path| p.metadata().and_then(|m| m.modified()).ok();
    if modified(&marker).is_none() || modified(&marker) < modified(&lock) {
        step("npm ci");
        run(Command::new("npm").args(["ci", "--no-audit", "--no-fund"]))?;
    }
    Ok(())
}

fn test_all(args: &[String]) -> Result {
    let started = Instant::now();
    let fuzz_enabled = !args.iter().any(|a| a == "--no-fuzz");

    step("formatting");
    run(cargo().args(["fmt", "--all", "--check"]))?;
    step("lints");
    run(cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
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
    step("Rust tests: unit, age testkit, package vectors, CLI and interop with age");
    run(cargo().args(["test", "--workspace"]))?;
    step("wasm tests in Node: SIMD ChaCha20-Poly1305 against the crate, then the bindings");
    run(cargo().args([
        "test",
        "--package",
        "kluis-crypto",
        "--lib",
        "--no-default-features",
        "--target",
        "wasm32-unknown-unknown",
    ]))?;
    run(cargo().args(["test", "--package", "kluis-wasm", "--target", "wasm32-unknown-unknown"]))?;
    step("wasm tests in headless Chromium");
    run(cargo()
        .args(["test", "--package", "kluis-wasm", "--target", "wasm32-unknown-unknown"])
        .env("WASM_BINDGEN_USE_BROWSER", "1"))?;
    build_wasm()?;
    npm_install()?;
    step("build the server and command line the browser tests drive");
    run(cargo().args(["build", "--package", "kluis-server", "--package", "kluis-cli"]))?;
    step("browser tests (Playwright, headless Chromium)");
    run(Command::new("node").args(["--test", "--test-concurrency=1", "tests/browser/"]))?;
    if fuzz_enabled {
        fuzz(fuzz_seconds(&[]))?;
    }
    eprintln!("\nall tests passed in {:.0?}", started.elapsed());
    Ok(())
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
        let status = Command::new("cargo")
            .args([
                "+nightly",
                "fuzz",
                "run",
                target,
                "--",
                &format!("-max_total_time={seconds}"),
                "-rss_limit_mb=1024",
            ])
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
    run(Command::new("bash").arg(root.join("tests/bench/transfer.sh")))?;
    run(Command::new("node").arg("--experimental-websocket").arg(root.join("tests/bench/pages.mjs")))?;
    run(Command::new("node").arg(root.join("tests/bench/xhr-bodies.mjs")))?;
    Ok(())
}
