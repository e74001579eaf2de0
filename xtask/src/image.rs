//! `cargo xtask image`: the server as a container image, built without a
//! container engine. `kluis-server` is built statically (musl), the web
//! pages beside it, and the two go into one layer `FROM scratch`, written as
//! an OCI image archive (`target/image/kluis-server-VERSION.oci.tar`) that
//! `docker load`, `podman load` or `skopeo copy oci-archive:…` take. The
//! same tree is left in `target/image/rootfs/` for
//! `deploy/container/Containerfile`, for those who build with an engine.
//!
//! Then the image is tried: its binary must have no program interpreter
//! (static), and, run from the unpacked layer with the layer's web pages, it
//! must answer `/healthz` and serve the start page.
//!
//! The layer is reproducible: sorted names, fixed owners and times
//! (`SOURCE_DATE_EPOCH`, else 0). Tools: GNU tar, gzip and sha256sum.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Result, build_wasm, cargo, root, run, step};

const MUSL: &str = "x86_64-unknown-linux-musl";
/// The user the server runs as (no name: there is no /etc/passwd to look it up in).
const USER: u32 = 65532;

pub(crate) fn image(args: &[String]) -> Result {
    if let Some(arg) = args.first() {
        return Err(format!("cargo xtask image takes no arguments, not {arg:?}"));
    }
    let root = root();
    build_wasm()?;
    let binary = static_server()?;
    let version = version(&binary)?;
    let out = root.join("target/image");
    let rootfs = out.join("rootfs");
    step("the image's tree (target/image/rootfs)");
    let _ = std::fs::remove_dir_all(&rootfs);
    for dir in ["usr/local/bin", "usr/share/kluis", "etc/ssl/certs", "data", "tmp"] {
        std::fs::create_dir_all(rootfs.join(dir)).map_err(|e| format!("{dir}: {e}"))?;
    }
    copy(&binary, &rootfs.join("usr/local/bin/kluis-server"))?;
    run(Command::new("cp").arg("-R").arg(root.join("web")).arg(rootfs.join("usr/share/kluis/web")))?;
    // TLS to PostgreSQL, SMTP and object stores checks against the web's roots (compiled in, and these).
    copy(Path::new("/etc/ssl/certs/ca-certificates.crt"), &rootfs.join("etc/ssl/certs/ca-certificates.crt"))?;

    step("the layer and the OCI archive");
    let work = out.join("oci");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(work.join("blobs/sha256")).map_err(|e| e.to_string())?;
    let layer = out.join("layer.tar");
    let epoch = std::env::var("SOURCE_DATE_EPOCH").unwrap_or_else(|_| "0".into());
    let tar = |modes: &[&str], flag: &str, paths: &[&str]| {
        run(Command::new("tar")
            .args(["--sort=name", "--numeric-owner", "--format=posix", "--pax-option=delete=atime,delete=ctime"])
            .arg(format!("--mtime=@{epoch}"))
            .args(modes)
            .arg(flag)
            .arg(&layer)
            .arg("-C")
            .arg(&rootfs)
            .args(paths))
    };
    // Everything root's and read-only, but /data (the server's) and /tmp (everyone's, sticky).
    tar(&["--owner=0", "--group=0", "--mode=go-w"], "-cf", &["etc", "usr"])?;
    let (owner, group) = (format!("--owner={USER}"), format!("--group={USER}"));
    tar(&[&owner, &group, "--mode=0700"], "-rf", &["data"])?;
    tar(&["--owner=0", "--group=0", "--mode=1777"], "-rf", &["tmp"])?;
    let diff_id = sha256(&layer)?;
    run(Command::new("gzip").args(["-n", "-f", "-9"]).arg(&layer))?;
    let layer_gz = out.join("layer.tar.gz");
    let (layer_digest, layer_size) = (sha256(&layer_gz)?, size(&layer_gz)?);
    std::fs::rename(&layer_gz, work.join("blobs/sha256").join(&layer_digest)).map_err(|e| e.to_string())?;

    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"User":"{USER}:{USER}","Entrypoint":["/usr/local/bin/kluis-server"],"Cmd":["serve"],"Env":["KLUIS_DATA=/data","KLUIS_LISTEN=0.0.0.0:8080","KLUIS_WEB_DIR=/usr/share/kluis/web","SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"],"ExposedPorts":{{"8080/tcp":{{}}}},"Volumes":{{"/data":{{}}}},"WorkingDir":"/data","Labels":{{"org.opencontainers.image.title":"kluis-server","org.opencontainers.image.version":"{version}"}}}},"rootfs":{{"type":"layers","diff_ids":["sha256:{diff_id}"]}},"history":[{{"created_by":"cargo xtask image"}}]}}"#
    );
    let (config_digest, config_size) = blob(&work, config.as_bytes())?;
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{config_digest}","size":{config_size}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:{layer_digest}","size":{layer_size}}}]}}"#
    );
    let (manifest_digest, manifest_size) = blob(&work, manifest.as_bytes())?;
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{manifest_digest}","size":{manifest_size},"annotations":{{"org.opencontainers.image.ref.name":"{version}","io.containerd.image.name":"kluis-server:{version}"}}}}]}}"#
    );
    write(&work.join("index.json"), index.as_bytes())?;
    write(&work.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let archive = out.join(format!("kluis-server-{version}.oci.tar"));
    run(Command::new("tar")
        .args(["--sort=name", "--owner=0", "--group=0", "--numeric-owner", "--format=posix"])
        .arg(format!("--mtime=@{epoch}"))
        .arg("-cf")
        .arg(&archive)
        .arg("-C")
        .arg(&work)
        .args(["oci-layout", "index.json", "blobs"]))?;

    try_image(&work, &layer_digest)?;
    eprintln!(
        "\n{} ({:.1} MiB; layer {:.1} MiB compressed)\nload it: docker load -i {0}   or: podman load -i {0}\n\
         run it:  docker run -p 8080:8080 -v kluis-data:/data -e KLUIS_PUBLIC_URL=https://… kluis-server:{version}",
        archive.display(),
        size(&archive)? as f64 / (1 << 20) as f64,
        layer_size as f64 / (1 << 20) as f64
    );
    Ok(())
}

/// `kluis-server` linked statically against musl, in release.
fn static_server() -> Result<PathBuf> {
    step(&format!("kluis-server, static (release, {MUSL})"));
    let has_target = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l == MUSL));
    if !has_target {
        run(Command::new("rustup").args(["target", "add", MUSL]))?;
    }
    let mut cmd = cargo();
    cmd.args(["build", "--release", "--locked", "--package", "kluis-server", "--target", MUSL]);
    // SQLite and ring have C in them: musl's compiler wrapper (Debian: musl-tools).
    if Command::new("musl-gcc").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_err() {
        return Err("musl-gcc is missing: apt-get install musl-tools".into());
    }
    cmd.env("CC_x86_64_unknown_linux_musl", "musl-gcc");
    run(&mut cmd)?;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"));
    Ok(target_dir.join(MUSL).join("release/kluis-server"))
}

/// The version `binary --version` prints (`kluis-server 0.1.0`).
fn version(binary: &Path) -> Result<String> {
    let out = Command::new(binary).arg("--version").output().map_err(|e| format!("{}: {e}", binary.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().nth(1).map(str::to_string).ok_or_else(|| format!("no version in {text:?}"))
}

/// Unpacks the layer and runs the server from it: static, and serving.
fn try_image(work: &Path, layer_digest: &str) -> Result {
    step("try the image: unpack its layer, run its server");
    let unpacked = work.parent().unwrap().join("unpacked");
    let _ = std::fs::remove_dir_all(&unpacked);
    std::fs::create_dir_all(&unpacked).map_err(|e| e.to_string())?;
    run(Command::new("tar")
        .args(["--no-same-owner", "-xzf"])
        .arg(work.join("blobs/sha256").join(layer_digest))
        .arg("-C")
        .arg(&unpacked))?;
    let binary = unpacked.join("usr/local/bin/kluis-server");
    if let Some(interpreter) = interpreter(&binary)? {
        return Err(format!("{} is not static: it needs {interpreter}", binary.display()));
    }
    let port =
        std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
    let data = work.parent().unwrap().join("try-data");
    let _ = std::fs::remove_dir_all(&data);
    let mut server = Command::new(&binary)
        .env_clear()
        .env("KLUIS_DATA", &data)
        .env("KLUIS_LISTEN", format!("127.0.0.1:{port}"))
        .env("KLUIS_WEB_DIR", unpacked.join("usr/share/kluis/web"))
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let answers = (|| -> Result {
        let started = Instant::now();
        let health = loop {
            match get(port, "/healthz") {
                Ok(answer) => break answer,
                Err(_) if started.elapsed() < Duration::from_secs(20) => std::thread::sleep(Duration::from_millis(100)),
                Err(e) => return Err(format!("the image's server did not answer: {e}")),
            }
        };
        if !health.starts_with("HTTP/1.1 200") {
            return Err(format!("/healthz: {}", health.lines().next().unwrap_or_default()));
        }
        let page = get(port, "/")?;
        if !(page.starts_with("HTTP/1.1 200") && page.contains("<html")) {
            return Err(format!(
                "the start page from the image's web folder: {}",
                page.lines().next().unwrap_or_default()
            ));
        }
        Ok(())
    })();
    let _ = server.kill();
    let output = server.wait_with_output().map_err(|e| e.to_string())?;
    answers.map_err(|e| format!("{e}\n{}", String::from_utf8_lossy(&output.stderr)))?;
    eprintln!("static ({}), answers /healthz and serves its pages", binary.display());
    Ok(())
}

/// The program interpreter an ELF file asks for (`PT_INTERP`), if any: none means static.
fn interpreter(path: &Path) -> Result<Option<String>> {
    let elf = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let u16_at = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]) as usize;
    let u64_at = |at: usize| u64::from_le_bytes(elf[at..at + 8].try_into().unwrap()) as usize;
    if elf.len() < 64 || &elf[..4] != b"\x7fELF" || elf[4] != 2 || elf[5] != 1 {
        return Err(format!("{} is not a 64-bit little-endian ELF file", path.display()));
    }
    let (phoff, phentsize, phnum) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    for i in 0..phnum {
        let header = phoff + i * phentsize;
        if u32::from_le_bytes(elf[header..header + 4].try_into().unwrap()) == 3 {
            let (offset, size) = (u64_at(header + 8), u64_at(header + 32));
            return Ok(Some(String::from_utf8_lossy(&elf[offset..offset + size]).trim_end_matches('\0').to_string()));
        }
    }
    Ok(None)
}

/// `GET path` over HTTP/1.1 on a loopback port: the whole answer as text.
fn get(port: u16, path: &str) -> Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// Writes `bytes` as a blob of the OCI layout; returns its digest (hex) and size.
fn blob(work: &Path, bytes: &[u8]) -> Result<(String, u64)> {
    let staged = work.join("blob.tmp");
    write(&staged, bytes)?;
    let digest = sha256(&staged)?;
    std::fs::rename(&staged, work.join("blobs/sha256").join(&digest)).map_err(|e| e.to_string())?;
    Ok((digest, bytes.len() as u64))
}

fn sha256(path: &Path) -> Result<String> {
    let out = Command::new("sha256sum").arg(path).output().map_err(|e| format!("sha256sum: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .next()
        .filter(|h| h.len() == 64)
        .map(str::to_string)
        .ok_or_else(|| format!("sha256sum: {text}"))
}

fn size(path: &Path) -> Result<u64> {
    Ok(std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?.len())
}

fn copy(from: &Path, to: &Path) -> Result {
    std::fs::copy(from, to).map(|_| ()).map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))
}

fn write(path: &Path, bytes: &[u8]) -> Result {
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}
