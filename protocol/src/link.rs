//! Package links, `https://HOST/p/<package-id>#<L as base64url>`, and upload
//! request links, `https://HOST/r/<request-id>#<age1… or age1pq1… recipient>`
//! (docs/architecture.md §3). What follows `#` lives only in the fragment,
//! which browsers never send to the server.

use std::fmt;

use kluis_crypto::package::{LinkSecret, PackageId};

/// A parsed package link.
#[derive(Debug)]
pub struct Link {
    /// The server's base URL, e.g. `https://kluis.example.org`.
    pub server: String,
    /// The package id (one grammar: [`PackageId`]).
    pub package_id: PackageId,
    /// L: only ever in the link's fragment.
    pub link_secret: LinkSecret,
}

/// Why text is not a package link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkError {
    /// Not an http(s) URL with `/p/<id>` in it.
    NotALink,
    /// The part after `#` is missing, cut short or changed.
    BadSecret,
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkError::NotALink => f.write_str("that is not a Kluis package link (https://…/p/…#…)"),
            LinkError::BadSecret => {
                f.write_str("the link is incomplete: the part after # is missing or damaged (copy the whole link)")
            }
        }
    }
}
impl std::error::Error for LinkError {}

impl Link {
    /// A link to `package_id` on `server` (a trailing `/` is dropped).
    pub fn new(server: &str, package_id: PackageId, link_secret: LinkSecret) -> Link {
        Link { server: server.trim_end_matches('/').to_string(), package_id, link_secret }
    }

    /// Parses a link as a user pasted it (surrounding white space is ignored).
    pub fn parse(text: &str) -> Result<Link, LinkError> {
        let text = text.trim();
        let (server, rest) = split_server(text, "/p/")?;
        let (id, fragment) = rest.split_once('#').unwrap_or((rest, ""));
        let id = PackageId::parse(id.trim_end_matches('/')).map_err(|_| LinkError::NotALink)?;
        let link_secret = LinkSecret::from_base64url(fragment).map_err(|_| LinkError::BadSecret)?;
        Ok(Link::new(server, id, link_secret))
    }

    /// The API base of the server that holds the package.
    pub fn api(&self) -> String {
        format!("{}/api/v1", self.server)
    }
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/p/{}#{}", self.server, self.package_id, self.link_secret.to_base64url().as_str())
    }
}

/// An upload request link: `https://HOST/r/<request-id>#<recipient>`
/// (docs/architecture.md §3, "Accounts and inbound files"). The fragment
/// carries the requester's recipient so the uploader's page can check it
/// against what the server says before encrypting anything to it: `age1…`,
/// or for a post-quantum key `age1pq1…` (about 1950 characters, so the link
/// is about 2000; some mail clients wrap it).
#[derive(Debug)]
pub struct RequestLink {
    /// The server's base URL.
    pub server: String,
    /// The request id (the package id grammar).
    pub request_id: PackageId,
    /// What uploads are encrypted to.
    pub recipient: kluis_crypto::native::Recipient,
}

impl RequestLink {
    /// A link to `request_id` on `server` (a trailing `/` is dropped).
    pub fn new(server: &str, request_id: PackageId, recipient: kluis_crypto::native::Recipient) -> RequestLink {
        RequestLink { server: server.trim_end_matches('/').to_string(), request_id, recipient }
    }

    /// Parses a request link as a user pasted it.
    pub fn parse(text: &str) -> Result<RequestLink, LinkError> {
        let text = text.trim();
        let (server, rest) = split_server(text, "/r/")?;
        let (id, fragment) = rest.split_once('#').unwrap_or((rest, ""));
        let id = PackageId::parse(id.trim_end_matches('/')).map_err(|_| LinkError::NotALink)?;
        let recipient = fragment.parse().map_err(|_| LinkError::BadSecret)?;
        Ok(RequestLink::new(server, id, recipient))
    }
}

impl fmt::Display for RequestLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/r/{}#{}", self.server, self.request_id, self.recipient)
    }
}

/// Splits `https://HOST[/prefix]<marker>rest` into the server and the rest.
fn split_server<'a>(text: &'a str, marker: &str) -> Result<(&'a str, &'a str), LinkError> {
    if !(text.starts_with("https://") || text.starts_with("http://")) {
        return Err(LinkError::NotALink);
    }
    let url = text.split_once('#').map_or(text, |(url, _)| url);
    let at = url.rfind(marker).ok_or(LinkError::NotALink)?;
    // The server must keep a host once trailing slashes are gone (`https:///p/…` has none).
    let server = text[..at].trim_end_matches('/');
    let host = server.split_once("://").map_or("", |(_, rest)| rest);
    if host.is_empty() || host.starts_with('/') {
        return Err(LinkError::NotALink);
    }
    Ok((server, &text[at + marker.len()..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_mistakes() {
        let id = PackageId::parse("AAAAAAAAAAAAAAAAAAAAAA").unwrap();
        let link = Link::new("https://kluis.example.org/", id, LinkSecret::from_bytes([7; 32]));
        let text = link.to_string();
        assert!(text.starts_with("https://kluis.example.org/p/AAAAAAAAAAAAAAAAAAAAAA#"));
        let back = Link::parse(&format!("  {text}\n")).unwrap();
        assert_eq!(back.server, "https://kluis.example.org");
        assert_eq!(back.link_secret.expose(), &[7; 32]);
        assert_eq!(back.api(), "https://kluis.example.org/api/v1");
        // A server under a path prefix.
        assert!(Link::parse(&text.replace(".org/p/", ".org/kluis/p/")).unwrap().server.ends_with("/kluis"));
        assert_eq!(Link::parse(&text[..text.len() - 3]).unwrap_err(), LinkError::BadSecret);
        assert_eq!(Link::parse(text.split('#').next().unwrap()).unwrap_err(), LinkError::BadSecret);
        assert_eq!(Link::parse("ftp://x/p/AAAAAAAAAAAAAAAAAAAAAA#x").unwrap_err(), LinkError::NotALink);
        assert_eq!(Link::parse("https://x.org/p/sh.rt#abc").unwrap_err(), LinkError::NotALink);
        // Found by fuzzing: no host once the trailing slashes are trimmed.
        let secret = LinkSecret::from_bytes([7; 32]).to_base64url();
        for server in ["https://", "https:///", "http:////"] {
            let text = format!("{server}/p/AAAAAAAAAAAAAAAAAAAAAA#{}", secret.as_str());
            assert_eq!(Link::parse(&text).unwrap_err(), LinkError::NotALink, "{text}");
        }
    }

    #[test]
    fn request_links() {
        for post_quantum in [false, true] {
            let identity = kluis_crypto::native::Identity::generate(post_quantum).unwrap();
            let id = PackageId::parse("AAAAAAAAAAAAAAAAAAAAAA").unwrap();
            let link = RequestLink::new("https://kluis.example.org/", id, identity.to_public());
            let text = link.to_string();
            assert_eq!(text, format!("https://kluis.example.org/r/AAAAAAAAAAAAAAAAAAAAAA#{}", identity.to_public()));
            assert_eq!(text.len() > 1950, post_quantum, "{}", text.len());
            let back = RequestLink::parse(&format!(" {text} ")).unwrap();
            assert_eq!(back.server, "https://kluis.example.org");
            assert!(back.recipient == identity.to_public());
            // A changed or missing recipient, and a package link, are refused.
            assert_eq!(RequestLink::parse(&text[..text.len() - 1]).unwrap_err(), LinkError::BadSecret);
            assert_eq!(RequestLink::parse(text.split('#').next().unwrap()).unwrap_err(), LinkError::BadSecret);
            assert_eq!(RequestLink::parse(&text.replace("/r/", "/p/")).unwrap_err(), LinkError::NotALink);
            assert_eq!(
                RequestLink::parse(&text.replace("https://kluis.example.org", "https://")).unwrap_err(),
                LinkError::NotALink
            );
        }
    }
}
