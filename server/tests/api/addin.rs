//! The Outlook add-in's side of the server: the manifest (route and
//! `kluis-server addin manifest`), the headers of the add-in's route tree
//! against the rest of the site, and HTTPS with `[tls]`.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use actix_web::rt::System;
use kluis_server::config::{Config, DEFAULT_ADDIN_ID, Tls};

use crate::support::{Response, Server};

const OUTLOOK_WEB: &str = "https://outlook.office.com";

/// Every URL the manifest names (attribute values and `<AppDomain>` text).
fn urls(xml: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("the manifest is not well-formed XML: {e}"));
    let mut urls = Vec::new();
    for node in doc.descendants() {
        for attr in node.attributes() {
            if attr.value().contains("://") {
                urls.push(attr.value().to_string());
            }
        }
        if node.is_text() && node.text().is_some_and(|t| t.contains("://")) {
            urls.push(node.text().unwrap().trim().to_string());
        }
    }
    urls
}

fn manifest_of(server: &Server) -> String {
    let answer = server.get("/addin/manifest.xml").send().expect(200);
    assert!(answer.header("content-type").is_some_and(|t| t.starts_with("application/xml")), "{:?}", answer.headers);
    answer.text()
}

#[test]
fn the_manifest_route_fills_in_the_public_url_and_the_id() {
    let server = Server::start(|_| {});
    let xml = manifest_of(&server);
    assert!(!xml.contains("{{"), "a placeholder was left");
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "OfficeApp");
    let id = root.children().find(|n| n.has_tag_name("Id")).and_then(|n| n.text());
    assert_eq!(id, Some(DEFAULT_ADDIN_ID));
    let urls = urls(&xml);
    let ours: Vec<_> = urls.iter().filter(|u| u.starts_with(&server.url)).collect();
    assert!(ours.len() > 10, "{urls:?}");
    for url in &urls {
        // Namespaces and the schema's own URIs aside, everything points at this server.
        if !url.starts_with("http://schemas.microsoft.com/") && !url.starts_with("http://www.w3.org/") {
            assert!(url.starts_with(&server.url), "{url} is not on {}", server.url);
        }
    }
    for needed in ["/addin/taskpane.html", "/addin/read.html", "/addin/commands.html", "/addin/commands.js"] {
        assert!(urls.contains(&format!("{}{needed}", server.url)), "{needed} missing");
    }
    assert!(
        xml.contains(r#"<LaunchEvent Type="OnMessageSend" FunctionName="onMessageSendHandler" SendMode="SoftBlock"/>"#)
    );
    assert!(xml.contains(&format!("<AppDomain>{}</AppDomain>", server.url)));
}

#[test]
fn the_manifest_escapes_the_url_and_takes_the_configured_id() {
    let id = "0b6f2c1e-6a55-4f0e-9d9a-2f4c8f1e7a10";
    let server = Server::start(|c| c.addin.id = id.into());
    let xml = manifest_of(&server);
    assert!(xml.contains(&format!("<Id>{id}</Id>")));

    let config = Config { public_url: "https://mail.example.org/kluis&co/".into(), ..Config::default() };
    let xml = kluis_server::addin::manifest(&config);
    assert!(roxmltree::Document::parse(&xml).is_ok());
    assert!(xml.contains(r#"DefaultValue="https://mail.example.org/kluis&amp;co/addin/taskpane.html""#));
    assert!(xml.contains("<AppDomain>https://mail.example.org</AppDomain>"));
}

#[track_caller]
fn csp(answer: &Response) -> String {
    answer.header("content-security-policy").expect("a CSP").to_string()
}

#[track_caller]
fn assert_addin_headers(answer: &Response, what: &str) {
    let csp = csp(answer);
    let ancestors = csp.split(';').map(str::trim).find(|d| d.starts_with("frame-ancestors")).unwrap();
    for host in [
        "'self'",
        OUTLOOK_WEB,
        "https://outlook.office365.com",
        "https://outlook.live.com",
        "https://outlook.cloud.microsoft",
    ] {
        assert!(ancestors.split(' ').any(|h| h == host), "{what}: {host} may not frame: {csp}");
    }
    let scripts = csp.split(';').map(str::trim).find(|d| d.starts_with("script-src")).unwrap();
    for source in ["'self'", "'wasm-unsafe-eval'", "https://appsforoffice.microsoft.com"] {
        assert!(scripts.split(' ').any(|s| s == source), "{what}: script-src lacks {source}: {csp}");
    }
    assert!(csp.contains("worker-src 'self'"), "{what}: {csp}");
    assert_eq!(answer.header("x-frame-options"), None, "{what}");
    assert_eq!(answer.header("cross-origin-opener-policy"), Some("unsafe-none"), "{what}");
    assert_eq!(answer.header("cross-origin-resource-policy"), Some("cross-origin"), "{what}");
    assert_eq!(answer.header("x-content-type-options"), Some("nosniff"), "{what}");
}

#[track_caller]
fn assert_site_headers(answer: &Response, what: &str) {
    let csp = csp(answer);
    assert!(csp.ends_with("frame-ancestors 'self'"), "{what}: {csp}");
    assert!(!csp.contains("appsforoffice"), "{what}: {csp}");
    assert_eq!(answer.header("cross-origin-opener-policy"), Some("same-origin"), "{what}");
    assert_eq!(answer.header("cross-origin-resource-policy"), Some("same-origin"), "{what}");
    assert_eq!(answer.header("x-content-type-options"), Some("nosniff"), "{what}");
}

#[test]
fn addin_pages_may_be_framed_by_outlook_and_other_pages_only_by_themselves() {
    let server = Server::start(|c| c.addin.frame_ancestors = vec!["https://outlook.office365.us".into()]);
    for page in ["/addin/taskpane.html", "/addin/read.html", "/addin/commands.html"] {
        let answer = server.get(page).send().expect(200);
        assert!(answer.header("content-type").is_some_and(|t| t.starts_with("text/html")), "{page}");
        assert_addin_headers(&answer, page);
        assert!(csp(&answer).contains("https://outlook.office365.us"), "configured hosts are added");
    }
    assert_addin_headers(&server.get("/addin/manifest.xml").send().expect(200), "the manifest");
    // A missing add-in page is an answer of the add-in's tree too.
    assert_addin_headers(&server.get("/addin/no-such-page.html").send().expect(404), "a 404 under /addin/");

    for page in ["/", "/index.html", "/receive.html", "/p/abc", "/sent", "/healthz"] {
        assert_site_headers(&server.get(page).send(), page);
    }
    assert_site_headers(&server.get("/addinx.html").send(), "a path that only starts like /addin");
    assert_site_headers(&server.get("/api/v1/me").send().expect(401), "an API error");
}

#[test]
fn addin_icons_load_cross_origin_and_are_cacheable() {
    let server = Server::start(|_| {});
    for size in [16, 20, 24, 32, 40, 48, 64, 80, 128] {
        let path = format!("/addin/icons/icon-{size}.png");
        let answer = server.get(&path).header("Origin", OUTLOOK_WEB).send().expect(200);
        assert_eq!(answer.header("content-type"), Some("image/png"), "{path}");
        assert_eq!(&answer.body[..8], b"\x89PNG\r\n\x1a\n", "{path}");
        // The PNG's width and height (IHDR) are the size in the name.
        assert_eq!(answer.body[16..24], [0, 0, 0, size, 0, 0, 0, size], "{path}");
        assert_eq!(answer.header("cross-origin-resource-policy"), Some("cross-origin"), "{path}");
        let cache = answer.header("cache-control").unwrap_or_default();
        assert!(
            cache.contains("max-age") && !cache.contains("no-store") && !cache.contains("no-cache"),
            "{path}: {cache}"
        );
    }
}

fn kluis_server(args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_kluis-server"))
        .args(["--data", dir.path().to_str().unwrap()])
        .args(args)
        .env_remove("KLUIS_CONFIG")
        .env_remove("KLUIS_PUBLIC_URL")
        .output()
        .unwrap()
}

#[test]
fn the_command_prints_or_writes_the_manifest_for_the_admin_centre() {
    let printed = kluis_server(&["--public-url", "https://kluis.example.org/", "addin", "manifest"]);
    assert!(printed.status.success(), "{}", String::from_utf8_lossy(&printed.stderr));
    let xml = String::from_utf8(printed.stdout).unwrap();
    assert_eq!(
        xml,
        kluis_server::addin::manifest(&Config { public_url: "https://kluis.example.org".into(), ..Config::default() })
    );
    assert!(urls(&xml).iter().any(|u| u == "https://kluis.example.org/addin/taskpane.html"));

    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("kluis-manifest.xml");
    let written = kluis_server(&[
        "--public-url",
        "https://kluis.example.org",
        "addin",
        "manifest",
        "--out",
        file.to_str().unwrap(),
    ]);
    assert!(written.status.success(), "{}", String::from_utf8_lossy(&written.stderr));
    assert!(written.stdout.is_empty());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), xml);
}

/// A self-signed certificate for 127.0.0.1 and its key, as PEM files in `dir`.
fn certificate(dir: &std::path::Path, name: &str) -> (PathBuf, PathBuf, Vec<u8>) {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let cert_path = dir.join(format!("{name}.crt"));
    let key_path = dir.join(format!("{name}.key"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, signing_key.serialize_pem()).unwrap();
    (cert_path, key_path, cert.der().to_vec())
}

#[test]
fn with_tls_configured_the_server_answers_https() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, der) = certificate(dir.path(), "server");
    let server = Server::start(|c| c.tls = Tls { certificate: Some(cert), key: Some(key) });
    assert!(server.url.starts_with("https://127.0.0.1:"), "{}", server.url);

    let root = ureq::tls::Certificate::from_der(&der).to_owned();
    let tls = ureq::tls::TlsConfig::builder().root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![root]))).build();
    let agent: ureq::Agent = ureq::Agent::config_builder().tls_config(tls).build().into();
    let mut answer = agent.get(format!("{}/addin/manifest.xml", server.url)).call().unwrap();
    assert_eq!(answer.status(), 200);
    let hsts = answer.headers().get("strict-transport-security").and_then(|v| v.to_str().ok()).map(str::to_string);
    assert!(hsts.is_some_and(|v| v.contains("max-age=")), "HTTPS answers carry HSTS");
    let xml = answer.body_mut().read_to_string().unwrap();
    assert!(xml.contains(&format!("{}/addin/taskpane.html", server.url)));

    // Plain HTTP on the TLS port gets no page.
    assert!(server.get("/healthz").try_send().map_or(true, |r| r.status != 200));
}

/// What `serve` says when it cannot start with `tls`.
fn start_error(tls: Tls) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: dir.path().join("data"),
        blob_store: "memory".into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        public_url: "https://127.0.0.1".into(),
        tls,
        ..Config::default()
    };
    config.finish().unwrap();
    System::new().block_on(async move {
        let state = kluis_server::open(config).await.unwrap();
        format!("{:#}", kluis_server::serve(state).await.expect_err("the server must not start"))
    })
}

#[test]
fn an_unusable_certificate_or_key_stops_the_start_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, _) = certificate(dir.path(), "a");
    let (_, other_key, _) = certificate(dir.path(), "b");

    let mismatched = start_error(Tls { certificate: Some(cert.clone()), key: Some(other_key) });
    assert!(mismatched.contains("does not belong to the certificate"), "{mismatched}");

    let missing = start_error(Tls { certificate: Some(dir.path().join("nope.crt")), key: Some(key.clone()) });
    assert!(missing.contains("cannot read the TLS certificate") && missing.contains("nope.crt"), "{missing}");

    let swapped = start_error(Tls { certificate: Some(cert.clone()), key: Some(cert.clone()) });
    assert!(swapped.contains("no private key") && swapped.contains("a.crt"), "{swapped}");

    let not_a_cert = start_error(Tls { certificate: Some(key.clone()), key: Some(key) });
    assert!(not_a_cert.contains("no certificate"), "{not_a_cert}");
}
