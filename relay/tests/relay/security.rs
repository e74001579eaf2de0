//! STARTTLS and AUTH: who may relay, and how they prove it.

use lettre::transport::smtp::authentication::Mechanism;
use lettre::{Message, Transport};

use crate::support::{PASSWORD, Relay, Setup};

fn message(marker: &str) -> Message {
    Message::builder()
        .from("Alice <alice@example.org>".parse().unwrap())
        .to("bob@example.net".parse().unwrap())
        .subject("Test")
        .body(format!("Hello Bob, {marker}\r\n"))
        .unwrap()
}

#[test]
fn after_starttls_auth_with_the_right_password_relays_and_a_wrong_one_gets_535() {
    // Nobody may relay without AUTH: not even loopback.
    let relay = Relay::start(Setup { tls_and_auth: true, networks: Some(vec![]), ..Setup::default() });
    for mechanism in [Mechanism::Plain, Mechanism::Login] {
        let sent = relay.lettre_with_auth(PASSWORD, mechanism).send(&message("through TLS"));
        let response = sent.unwrap_or_else(|e| panic!("{mechanism:?}: {e}"));
        assert_eq!(response.code().to_string(), "250");
        let text = response.message().collect::<Vec<_>>().join(" ");
        assert!(text.starts_with("2.0.0 Ok: queued as "), "{text}");

        let refused = relay.lettre_with_auth("wrong", mechanism).send(&message("nope")).unwrap_err();
        assert_eq!(refused.status().map(|c| c.to_string()).as_deref(), Some("535"), "{mechanism:?}: {refused}");
    }
    assert_eq!(relay.spool_files().iter().filter(|f| f.ends_with(".env")).count(), 2);
    assert!(relay.log().contains("user=postfix"), "{}", relay.log());
}

#[test]
fn auth_before_starttls_gets_538_and_mail_without_auth_530() {
    let relay = Relay::start(Setup { tls_and_auth: true, networks: Some(vec![]), ..Setup::default() });
    let mut smtp = relay.connect();
    smtp.command("EHLO mail.test");
    // AHBvc3RmaXgAeA==: "\0postfix\0x"
    assert_eq!(smtp.command("AUTH PLAIN AHBvc3RmaXgAeA==").short(), "538 5.7.11");
    assert_eq!(smtp.command("AUTH LOGIN").short(), "538 5.7.11");
    assert_eq!(smtp.command("MAIL FROM:<alice@example.org>").short(), "530 5.7.0");
    assert_eq!(smtp.command("STARTTLS").short(), "220 2.0.0");
}

#[test]
fn an_allowed_network_relays_without_auth_and_plaintext_when_no_tls_is_configured() {
    let relay = Relay::start(Setup { networks: Some(vec!["127.0.0.1".into()]), ..Setup::default() });
    relay.lettre_plain().send(&message("from an allowed address")).unwrap();
    assert_eq!(relay.spool_files().len(), 2);
    let mut smtp = relay.connect();
    smtp.command("EHLO mail.test");
    assert_eq!(smtp.command("STARTTLS").short(), "454 4.7.0");
    assert_eq!(smtp.command("AUTH PLAIN AHBvc3RmaXgAeA==").short(), "503 5.5.1", "no users: no AUTH");
}

/// RFC 3207 §4.2 (CVE-2011-0411): commands pipelined behind STARTTLS in
/// plaintext must not run after the handshake, as if sent over TLS.
#[test]
fn commands_sent_in_plaintext_behind_starttls_are_dropped() {
    use std::io::{BufReader, Write};
    use std::sync::Arc;

    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};

    let relay = Relay::start(Setup { tls_and_auth: true, ..Setup::default() });
    let mut smtp = relay.connect();
    smtp.command("EHLO mail.test");
    smtp.send(b"STARTTLS\r\nMAIL FROM:<injected@example.org>\r\n");
    assert_eq!(smtp.reply().unwrap().short(), "220 2.0.0");

    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(relay.certificate.as_ref().unwrap()).unwrap()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("localhost").unwrap();
    let connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut tls = BufReader::new(rustls::StreamOwned::new(connection, smtp.into_stream()));
    tls.get_mut().write_all(b"EHLO mail.test\r\n").unwrap();
    let ehlo = crate::support::read_reply(&mut tls).unwrap();
    assert!(ehlo.code == 250 && ehlo.lines[0].starts_with("relay.test"), "the EHLO answer comes first: {ehlo:?}");
    // The injected MAIL did not open a transaction.
    tls.get_mut().write_all(b"RCPT TO:<bob@example.net>\r\n").unwrap();
    assert_eq!(crate::support::read_reply(&mut tls).unwrap().short(), "503 5.5.1");
}
