//! The `Received:` line the relay puts on top of every message it accepts
//! (RFC 5321 §4.4, grammar `Stamp` in §4.4; the protocol names of RFC 3848
//! and RFC 6531 §3.7.3).

use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

use crate::session::Envelope;

/// `Received: from HELO (IP) by HOST (kluis-relay) with ESMTPSA id ID
/// [for <rcpt>]; DATE`, folded and ending in CRLF. The recipient is named
/// only when there is one (RFC 5321 §7.2: a list would disclose Bcc).
pub fn received(envelope: &Envelope, host: &str, id: &str, now: i64) -> String {
    let protocol = if envelope.smtputf8 {
        "UTF8SMTP"
    } else if envelope.esmtp || envelope.tls || envelope.user.is_some() {
        "ESMTP"
    } else {
        "SMTP"
    };
    let tls = if envelope.tls { "S" } else { "" };
    let auth = if envelope.user.is_some() { "A" } else { "" };
    let date = OffsetDateTime::from_unix_timestamp(now)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .format(&Rfc2822)
        .expect("every date has an RFC 2822 form");
    let helo = visible(&envelope.helo);
    let client = envelope.client;
    let host = visible(host);
    let mut line =
        format!("Received: from {helo} ({client})\r\n\tby {host} (kluis-relay) with {protocol}{tls}{auth} id {id}");
    if let [recipient] = envelope.recipients.as_slice() {
        line += &format!("\r\n\tfor <{}>", visible(recipient));
    }
    line + &format!(";\r\n\t{date}\r\n")
}

/// `text` with anything but visible ASCII (and the comment's parentheses)
/// replaced: a HELO name must not add header lines.
fn visible(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_graphic() && c != '(' && c != ')' { c } else { '?' }).collect()
}

#[cfg(test)]
mod tests {
    use super::received;
    use crate::session::Envelope;

    #[test]
    fn the_trace_line_says_who_how_and_when() {
        let mut envelope = Envelope {
            from: "alice@example.org".into(),
            recipients: vec!["bob@example.net".into()],
            eight_bit: false,
            smtputf8: false,
            client: "192.0.2.7".parse().unwrap(),
            helo: "mail.example.org".into(),
            esmtp: true,
            tls: true,
            user: Some("postfix".into()),
        };
        assert_eq!(
            received(&envelope, "relay.example.org", "abc", 1_764_328_000),
            "Received: from mail.example.org (192.0.2.7)\r\n\tby relay.example.org (kluis-relay) with ESMTPSA id abc\r\n\
             \tfor <bob@example.net>;\r\n\tFri, 28 Nov 2025 11:06:40 +0000\r\n"
        );
        envelope.recipients.push("carol@example.net".into());
        envelope.helo = "evil\r\nX-Injected: 1".into();
        (envelope.esmtp, envelope.tls, envelope.user) = (false, false, None);
        let line = received(&envelope, "relay", "abc", 0);
        assert!(!line.contains("for <") && !line.contains("\r\nX-Injected") && line.contains("with SMTP id"), "{line}");
    }
}
