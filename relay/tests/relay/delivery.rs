//! Delivery to the upstream: for now every message passes through
//! unchanged. The upstream in these tests is another kluis-relay (its
//! spool, decrypted with age, shows exactly what arrived).

use lettre::{Message, Transport};

use crate::support::{Relay, Setup, eventually, free_port, mail_from_alice};

fn message() -> Message {
    Message::builder()
        .from("alice@example.org".parse().unwrap())
        .to("bob@example.net".parse().unwrap())
        .subject("Pass-through")
        .body("Line one\r\n.dot line\r\n\r\nLast line\r\n".to_string())
        .unwrap()
}

#[test]
fn a_message_passes_through_to_the_upstream_byte_for_byte_and_leaves_the_spool() {
    let upstream = Relay::start(Setup::default());
    let relay = Relay::start(Setup { upstream: Some(upstream.port), ..Setup::default() });
    let message = message();
    relay.lettre_plain().send(&message).unwrap();
    eventually("the delivery", || upstream.spooled().len() == 1);
    eventually("the relay's spool to empty", || relay.spooled().is_empty());

    let arrived = String::from_utf8(upstream.decrypt_with_age(&upstream.spooled()[0])).unwrap();
    // The upstream's Received line, the relay's, then what the client sent
    // (lettre adds an empty line before the final dot; see spool.rs).
    let (upstream_trace, rest) = arrived.split_once(";\r\n\t").unwrap();
    assert!(upstream_trace.starts_with("Received: from relay.test (127.0.0.1)"), "{arrived}");
    let rest = rest.split_once("\r\n").unwrap().1;
    assert!(rest.starts_with("Received: from mail.test (127.0.0.1)"), "{arrived}");
    let original = rest.split_once(";\r\n\t").unwrap().1.split_once("\r\n").unwrap().1;
    assert_eq!(original, String::from_utf8(message.formatted()).unwrap() + "\r\n");
    assert!(relay.log().contains("delivered"), "{}", relay.log());
}

#[test]
fn nothing_goes_to_an_upstream_without_starttls_unless_the_configuration_says_so() {
    let upstream = Relay::start(Setup::default()); // offers no STARTTLS
    let relay = Relay::start(Setup {
        upstream: Some(upstream.port),
        require_upstream_tls: true,
        delivery: "retry = [\"1s\"]".into(),
        ..Setup::default()
    });
    relay.lettre_plain().send(&message()).unwrap();
    eventually("a failed attempt", || relay.log().contains("deferred"));
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(upstream.spooled().is_empty(), "nothing was sent in the clear");
    assert_eq!(relay.spooled().len(), 1, "kept, to be tried again");
}

#[test]
fn an_upstream_that_is_down_gets_the_message_when_it_is_back_once_even_after_kill_9() {
    let port = free_port();
    let mut relay =
        Relay::start(Setup { upstream: Some(port), delivery: "retry = [\"1s\"]".into(), ..Setup::default() });
    relay.lettre_plain().send(&message()).unwrap();
    eventually("a failed attempt", || relay.log().contains("deferred"));
    assert_eq!(relay.spooled().len(), 1, "kept while the upstream is down");
    // Answered 250, not yet delivered: SIGKILL loses nothing.
    relay.kill_and_restart();
    let upstream = Relay::start(Setup { port: Some(port), ..Setup::default() });
    eventually("the delivery", || upstream.spooled().len() == 1);
    eventually("the relay's spool to empty", || relay.spooled().is_empty());
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(upstream.spooled().len(), 1, "delivered once");
}

#[test]
fn a_refusal_bounces_to_the_sender_and_a_bounce_never_bounces() {
    // The upstream lets nobody relay: 530 5.7.0 to MAIL FROM.
    let upstream = Relay::start(Setup { networks: Some(vec![]), ..Setup::default() });
    let relay = Relay::start(Setup { upstream: Some(upstream.port), ..Setup::default() });
    relay.lettre_plain().send(&message()).unwrap();
    eventually("the bounce", || relay.log().contains("bounced to the sender"));
    // The bounce (from <>) is refused too, and dropped instead of bounced.
    eventually("the bounce to be dropped", || relay.log().contains("undeliverable bounce dropped"));
    eventually("the relay's spool to empty", || relay.spooled().is_empty());
    assert!(relay.log().contains("530"), "the upstream's reply is logged: {}", relay.log());
}

#[test]
fn a_message_that_cannot_be_delivered_in_time_bounces_to_its_sender() {
    let upstream = Relay::start(Setup::default());
    let down = free_port();
    // The relay's upstream is down; the bounce goes there too, so this
    // relay is given the real upstream after it gave up on the message.
    let delivery = "retry = [\"1s\"]\nbounce_after = \"2s\"";
    let mut relay = Relay::start(Setup { upstream: Some(down), delivery: delivery.into(), ..Setup::default() });
    relay.lettre_plain().send(&message()).unwrap();
    eventually("the bounce", || relay.log().contains("bounced to the sender"));
    let relay_dir = relay.dir.path().to_path_buf();
    let config = std::fs::read_to_string(relay_dir.join("relay.toml")).unwrap();
    std::fs::write(relay_dir.join("relay.toml"), config.replace(&down.to_string(), &upstream.port.to_string()))
        .unwrap();
    relay.kill_and_restart();
    eventually("the bounce's delivery", || upstream.spooled().len() == 1);
    let bounce = String::from_utf8(upstream.decrypt_with_age(&upstream.spooled()[0])).unwrap();
    assert!(bounce.contains("Status: 4.4.7"), "delivery time expired: {bounce}");
    assert!(bounce.contains("Final-Recipient: rfc822; bob@example.net"));
    assert!(bounce.contains("Subject: Pass-through") && !bounce.contains("Line one"), "headers only: {bounce}");
    assert!(bounce.contains("for <alice@example.org>"), "to the sender: {bounce}");
}

#[test]
fn a_message_the_policy_asks_to_secure_is_held_not_passed_through() {
    let upstream = Relay::start(Setup::default());
    let relay = Relay::start(Setup { upstream: Some(upstream.port), ..Setup::default() });
    let secure = Message::builder()
        .from("alice@example.org".parse().unwrap())
        .to("bob@example.net".parse().unwrap())
        .subject("[beveiligd] Medical file")
        .body("Confidential\r\n".to_string())
        .unwrap();
    relay.lettre_plain().send(&secure).unwrap();
    relay.lettre_plain().send(&message()).unwrap();
    // The harmless one passes; the other stays in the relay's spool.
    eventually("the harmless message's delivery", || upstream.spooled().len() == 1);
    eventually("the hold", || relay.log().contains("held"));
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(upstream.spooled().len(), 1);
    let passed = String::from_utf8(upstream.decrypt_with_age(&upstream.spooled()[0])).unwrap();
    assert!(passed.contains("Subject: Pass-through"), "{passed}");
    assert_eq!(relay.spooled().len(), 1, "held in the spool");
    assert!(relay.log().contains("SubjectKeyword(\"[beveiligd]\")"), "{}", relay.log());
}

#[test]
fn split_mode_marks_what_it_sends_and_a_marked_message_coming_back_is_a_loop() {
    const GUARD: &str = "k7Qf2mZx9LwB4nTr8VyC";
    let sink = crate::support::sink::Sink::start();
    let relay = Relay::start(Setup {
        upstream: Some(sink.port),
        top: format!("mode = \"split\"\nloop_guard = \"{GUARD}\"\n"),
        ..Setup::default()
    });
    relay.lettre_plain().send(&message()).unwrap();
    eventually("the delivery", || sink.messages().len() == 1);
    let arrived = String::from_utf8(sink.messages()[0].clone()).unwrap();
    assert!(arrived.starts_with(&format!("X-Kluis-Relay: {GUARD}\r\nReceived: from mail.test")), "{arrived}");

    // Routed back by a mail server whose rule does not except it: refused, never relayed again.
    let mut smtp = relay.connect();
    smtp.command("EHLO mail.test");
    smtp.command("MAIL FROM:<alice@example.org>");
    smtp.command("RCPT TO:<bob@example.net>");
    smtp.command("DATA");
    smtp.send(arrived.as_bytes());
    smtp.send(b".\r\n");
    assert_eq!(smtp.reply().unwrap().short(), "554 5.4.6");
}

#[test]
fn each_recipient_has_its_own_result_only_the_refused_bounce_and_the_deferred_are_retried() {
    let sink = crate::support::sink::Sink::start();
    let relay =
        Relay::start(Setup { upstream: Some(sink.port), delivery: "retry = [\"1s\"]".into(), ..Setup::default() });
    let to = ["bob@example.net", "refused@example.net", "later@example.net"];
    let message = mail_from_alice(&to, "Three recipients", "Hello all\r\n");
    relay.lettre_plain().send(&message).unwrap();
    // bob gets it at once; the bounce names only the refused recipient and goes to alice.
    eventually("bob's copy and the bounce", || sink.messages().len() == 2);
    let recipients = sink.recipients();
    assert_eq!(recipients[0], ["bob@example.net"], "{recipients:?}");
    assert_eq!(recipients[1], ["alice@example.org"], "the bounce to the sender: {recipients:?}");
    let bounce = String::from_utf8(sink.messages()[1].clone()).unwrap();
    assert!(bounce.contains("Final-Recipient: rfc822; refused@example.net") && bounce.contains("(550)"), "{bounce}");
    assert!(!bounce.contains("Final-Recipient: rfc822; bob@example.net"), "{bounce}");
    assert!(!bounce.contains("Final-Recipient: rfc822; later@example.net"), "{bounce}");
    // The deferred recipient alone stays in the envelope and is tried again, bob never twice.
    eventually("a retry", || relay.log().matches("deferred").count() >= 2);
    assert_eq!(sink.messages().len(), 2, "nobody got it twice");
    let envelope =
        std::fs::read_to_string(relay.state().join("spool").join(format!("{}.env", relay.spooled()[0]))).unwrap();
    assert!(envelope.contains("later@example.net") && !envelope.contains("bob@example.net"), "{envelope}");
}

#[test]
fn a_refused_recipient_beside_a_delivered_one_is_the_only_one_bounced() {
    let sink = crate::support::sink::Sink::start();
    let relay = Relay::start(Setup { upstream: Some(sink.port), ..Setup::default() });
    let message = mail_from_alice(&["bob@example.net", "refused@example.net"], "Two recipients", "Hello\r\n");
    relay.lettre_plain().send(&message).unwrap();
    eventually("bob's copy and the bounce", || sink.messages().len() == 2);
    eventually("the relay's spool to empty", || relay.spooled().is_empty());
    let bounce = String::from_utf8(sink.messages()[1].clone()).unwrap();
    assert!(bounce.contains("Final-Recipient: rfc822; refused@example.net"), "{bounce}");
    assert!(!bounce.contains("Final-Recipient: rfc822; bob@example.net"), "bob got it: {bounce}");
}
