//! The SMTP conversation: extensions, reply codes for what is malformed,
//! out of order, too big or too many, pipelining, timeouts.

use crate::support::{Relay, Setup};

#[test]
fn ehlo_lists_the_extensions_and_starttls_but_not_auth_before_tls() {
    let relay = Relay::start(Setup { tls_and_auth: true, ..Setup::default() });
    let mut smtp = relay.connect();
    assert_eq!(smtp.greeting.code, 220);
    assert!(smtp.greeting.lines[0].starts_with("relay.test ESMTP"), "{:?}", smtp.greeting);
    let ehlo = smtp.command("EHLO mail.test");
    assert_eq!(ehlo.code, 250);
    for extension in
        ["PIPELINING", "SIZE 26214400", "8BITMIME", "SMTPUTF8", "CHUNKING", "ENHANCEDSTATUSCODES", "STARTTLS"]
    {
        assert!(ehlo.lines.iter().any(|l| l == extension), "{extension} missing in {:?}", ehlo.lines);
    }
    assert!(!ehlo.lines.iter().any(|l| l.starts_with("AUTH")), "AUTH is offered only over TLS: {:?}", ehlo.lines);
    assert_eq!(smtp.command("QUIT").short(), "221 2.0.0");
    assert!(smtp.reply().is_none(), "the relay closes after QUIT");
}

#[test]
fn malformed_and_out_of_order_commands_get_500_501_503() {
    let relay = Relay::start(Setup::default());
    let mut smtp = relay.connect();
    assert_eq!(smtp.command("MAIL FROM:<alice@example.org>").short(), "503 5.5.1", "EHLO first");
    assert_eq!(smtp.command("FROBNICATE").short(), "500 5.5.1");
    assert_eq!(smtp.command("EHLO").short(), "501 5.5.2", "EHLO needs a domain");
    smtp.command("EHLO mail.test");
    assert_eq!(smtp.command("MAIL FROM:alice@example.org").short(), "501 5.5.2", "no angle brackets");
    assert_eq!(smtp.command("RCPT TO:<bob@example.net>").short(), "503 5.5.1", "MAIL first");
    assert_eq!(smtp.command("MAIL FROM:<alice@example.org> FROB=1").short(), "555 5.5.4");
    assert_eq!(smtp.command("MAIL FROM:<alice@example.org>").short(), "250 2.1.0");
    assert_eq!(smtp.command("MAIL FROM:<alice@example.org>").short(), "503 5.5.1", "nested MAIL");
    assert_eq!(smtp.command("DATA").short(), "554 5.5.1", "no recipients");
    assert_eq!(smtp.command("RCPT TO:<>").short(), "501 5.1.3");
    assert_eq!(smtp.command("VRFY bob").short(), "252 2.5.0");
    assert_eq!(smtp.command("RSET").short(), "250 2.0.0");
    assert_eq!(smtp.command("NOOP").short(), "250 2.0.0");
}

#[test]
fn oversized_messages_get_552_and_the_connection_goes_on() {
    let relay = Relay::start(Setup { limits: "message_size = 65536".into(), ..Setup::default() });
    let mut smtp = relay.connect();
    smtp.command("EHLO mail.test");
    assert_eq!(smtp.command("MAIL FROM:<alice@example.org> SIZE=65537").short(), "552 5.3.4", "announced size");
    smtp.command("MAIL FROM:<alice@example.org>");
    smtp.command("RCPT TO:<bob@example.net>");
    assert_eq!(smtp.command("DATA").code, 354);
    let line = "x".repeat(998) + "\r\n";
    for _ in 0..100 {
        smtp.send(line.as_bytes());
    }
    assert_eq!(smtp.command(".").short(), "552 5.3.4", "the data itself");
    assert_eq!(smtp.command("NOOP").short(), "250 2.0.0");
    // BDAT announces its size: refused before a byte is kept.
    smtp.command("MAIL FROM:<alice@example.org>");
    smtp.command("RCPT TO:<bob@example.net>");
    smtp.send(format!("BDAT 70000 LAST\r\n{}", "y".repeat(70000)).as_bytes());
    assert_eq!(smtp.reply().unwrap().short(), "552 5.3.4");
    assert_eq!(smtp.command("NOOP").short(), "250 2.0.0");
    assert!(relay.spool_files().is_empty());
}

#[test]
fn more_recipients_than_the_limit_get_452() {
    let relay = Relay::start(Setup::default());
    let mut smtp = relay.connect();
    smtp.command("EHLO mail.test");
    smtp.command("MAIL FROM:<alice@example.org>");
    // Pipelined, as RFC 2920 allows: all replies come back in order.
    let rcpts: String = (0..101).map(|i| format!("RCPT TO:<r{i}@example.net>\r\n")).collect();
    smtp.send(rcpts.as_bytes());
    let replies: Vec<String> = (0..101).map(|_| smtp.reply().unwrap().short()).collect();
    assert!(replies[..100].iter().all(|r| r == "250 2.1.5"), "{replies:?}");
    assert_eq!(replies[100], "452 4.5.3");
}

#[test]
fn an_idle_client_gets_421_and_is_disconnected() {
    let relay = Relay::start(Setup { limits: "idle_timeout_seconds = 1".into(), ..Setup::default() });
    let mut smtp = relay.connect();
    smtp.command("EHLO mail.test");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(smtp.reply().unwrap().short(), "421 4.4.2");
    assert!(smtp.reply().is_none());
}
