//! The spool: a message answered 250 is on disk, encrypted, and survives
//! SIGKILL; what is half written is not.

use lettre::{Message, Transport};

use crate::support::{Relay, Setup, found_in_files};

const MARKER: &str = "PLAINTEXT-MARKER-4417";

#[test]
fn a_queued_message_survives_kill_9_encrypted_and_opens_with_age_and_the_spool_key() {
    let mut relay = Relay::start(Setup::default());
    let body = format!("Dear Bob,\r\n\r\nThe BSN is {MARKER}.\r\n.A line that starts with a dot.\r\n");
    let message = Message::builder()
        .from("alice@example.org".parse().unwrap())
        .to("bob@example.net".parse().unwrap())
        .subject(format!("Subject {MARKER}"))
        .body(body.clone())
        .unwrap();
    let response = relay.lettre_plain().send(&message).unwrap();
    let text = response.message().collect::<Vec<_>>().join(" ");
    let id = text.rsplit(' ').next().unwrap().to_string();
    assert_eq!(relay.spool_files(), [format!("{id}.env"), format!("{id}.msg")]);

    relay.kill_and_restart();
    assert_eq!(relay.spool_files(), [format!("{id}.env"), format!("{id}.msg")], "kept across SIGKILL");
    assert!(relay.log().contains("messages=1"), "the restart found it: {}", relay.log());
    assert!(found_in_files(&relay.state(), MARKER.as_bytes()).is_empty(), "no plaintext in the state directory");

    let envelope: serde_json::Value =
        serde_json::from_slice(&std::fs::read(relay.state().join("spool").join(format!("{id}.env"))).unwrap()).unwrap();
    assert_eq!(envelope["from"], "alice@example.org");
    assert_eq!(envelope["recipients"], serde_json::json!(["bob@example.net"]));

    let spooled = String::from_utf8(relay.decrypt_with_age(&id)).unwrap();
    assert!(
        spooled.starts_with("Received: from mail.test (127.0.0.1)\r\n\tby relay.test (kluis-relay) with ESMTP id ")
    );
    assert!(spooled.contains(&format!("id {id}")));
    // lettre ends DATA with CRLF.CRLF after a message that ends in CRLF
    // already: what came over the wire is the message and an empty line.
    let sent = String::from_utf8(message.formatted()).unwrap() + "\r\n";
    let received = spooled.split_once(";\r\n\t").unwrap().1.split_once("\r\n").unwrap().1;
    assert_eq!(received, sent, "the message byte for byte after the Received line");
}

#[test]
fn a_message_cut_off_by_kill_9_before_250_is_not_in_the_spool() {
    let mut relay = Relay::start(Setup::default());
    let mut smtp = relay.connect();
    smtp.command("EHLO mail.test");
    smtp.command("MAIL FROM:<alice@example.org>");
    smtp.command("RCPT TO:<bob@example.net>");
    assert_eq!(smtp.command("DATA").code, 354);
    smtp.send(format!("Subject: half\r\n\r\n{MARKER}\r\n").as_bytes());
    relay.kill_and_restart();
    assert!(relay.spool_files().is_empty());
    assert!(relay.log().contains("messages=0"));
}
