//! The Outlook add-in's manifest (`addin-manifest/manifest.xml`, embedded
//! at build time so it is there whatever the web folder), filled in with
//! this server's public URL and add-in id. Served at `/addin/manifest.xml`
//! and printed by `kluis-server addin manifest`.

use actix_web::{HttpResponse, web};

use crate::State;
use crate::config::Config;

const TEMPLATE: &str = include_str!("../../addin-manifest/manifest.xml");

/// The manifest for `config`: `{{PUBLIC_URL}}`, `{{PUBLIC_ORIGIN}}` and
/// `{{ADDIN_ID}}` replaced, XML-escaped.
pub fn manifest(config: &Config) -> String {
    let url = config.public_url.trim_end_matches('/');
    TEMPLATE
        .replace("{{PUBLIC_URL}}", &xml_escape(url))
        .replace("{{PUBLIC_ORIGIN}}", &xml_escape(origin(url)))
        .replace("{{ADDIN_ID}}", &xml_escape(&config.addin.id))
}

/// `scheme://host[:port]` of `url`.
fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find(['/', '?', '#']) {
        Some(end) => &url[..after_scheme + end],
        None => url,
    }
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

async fn get_manifest(state: State) -> HttpResponse {
    HttpResponse::Ok().content_type("application/xml; charset=utf-8").body(manifest(&state.config))
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/addin/manifest.xml", web::get().to(get_manifest));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_in_url_origin_and_id_escaped() {
        let config = Config { public_url: "https://example.org:8443/k&l/".into(), ..Config::default() };
        let xml = manifest(&config);
        assert!(!xml.contains("{{"), "every placeholder is filled in");
        assert!(xml.contains("https://example.org:8443/k&amp;l/addin/taskpane.html"));
        assert!(xml.contains("<AppDomain>https://example.org:8443</AppDomain>"));
        assert!(xml.contains(&format!("<Id>{}</Id>", crate::config::DEFAULT_ADDIN_ID)));
        assert!(!xml.contains("l//addin"), "no double slash from a trailing one");
    }

    #[test]
    fn origins() {
        assert_eq!(origin("https://a.example:1/x/y"), "https://a.example:1");
        assert_eq!(origin("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
    }
}
