//! Bounces: a delivery status notification (RFC 3464) to the sender of a
//! message that could not be delivered, as a `multipart/report` (RFC 6522)
//! built with mail-builder: a text for people, the `message/delivery-status`
//! fields, and the original headers (`text/rfc822-headers`, never the body).

use mail_builder::MessageBuilder;
use mail_builder::headers::content_type::ContentType;
use mail_builder::mime::MimePart;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

use crate::spool::Record;

/// Most octets of the original headers put in the report.
const MAX_HEADERS: usize = 64 * 1024;

/// Why the message was given up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The upstream refused it for good: its reply.
    Refused { reply: String },
    /// It could not be delivered within `delivery.bounce_after`; the last
    /// attempt's error.
    Expired { last_error: String },
}

impl Failure {
    /// The status code of RFC 3463: 5.0.0 for a refusal (the upstream's
    /// own code is in the diagnostic), 4.4.7 "delivery time expired".
    fn status(&self) -> &'static str {
        match self {
            Failure::Refused { .. } => "5.0.0",
            Failure::Expired { .. } => "4.4.7",
        }
    }

    fn diagnostic(&self) -> &str {
        match self {
            Failure::Refused { reply } => reply,
            Failure::Expired { last_error } => last_error,
        }
    }
}

/// The bounce of `record` (whose message is `original`) for its sender.
pub fn bounce(record: &Record, original: &[u8], failure: &Failure, host: &str, now: i64) -> Vec<u8> {
    let date = |t: i64| {
        OffsetDateTime::from_unix_timestamp(t)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
            .format(&Rfc2822)
            .expect("every date has an RFC 2822 form")
    };
    let recipients = record.recipients.join(", ");
    let why = match failure {
        Failure::Refused { reply } => format!("The receiving mail server refused it:\r\n\r\n    {}", one_line(reply)),
        Failure::Expired { last_error } => format!(
            "It could not be delivered in time; the last attempt failed with:\r\n\r\n    {}",
            one_line(last_error)
        ),
    };
    let text = format!(
        "This is the mail relay at {host}.\r\n\r\nYour message of {} to {recipients} could not be delivered.\r\n{why}\r\n",
        date(record.received_at)
    );
    let mut status = format!(
        "Reporting-MTA: dns; {host}\r\nX-Kluis-Queue-ID: {}\r\nArrival-Date: {}\r\n",
        record.id,
        date(record.received_at)
    );
    for recipient in &record.recipients {
        status += &format!(
            "\r\nFinal-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: {}\r\nDiagnostic-Code: smtp; {}\r\n",
            failure.status(),
            one_line(failure.diagnostic())
        );
    }
    let headers = headers_of(original);
    let report = MimePart::new(
        ContentType::new("multipart/report").attribute("report-type", "delivery-status"),
        vec![
            MimePart::new("text/plain", text),
            MimePart::new(ContentType::new("message/delivery-status"), status),
            MimePart::new(ContentType::new("text/rfc822-headers"), String::from_utf8_lossy(headers).into_owned()),
        ],
    );
    MessageBuilder::new()
        .from(("Mail Delivery System".to_string(), format!("MAILER-DAEMON@{host}")))
        .to(record.from.as_str())
        .subject("Undelivered Mail Returned to Sender")
        .date(now)
        .header("Auto-Submitted", mail_builder::headers::raw::Raw::new("auto-replied"))
        .body(report)
        .write_to_vec()
        .expect("writing to a Vec")
}

/// The header section of `message`, at most [`MAX_HEADERS`] octets.
fn headers_of(message: &[u8]) -> &[u8] {
    let section = crate::headers::section(message);
    &section[..section.len().min(MAX_HEADERS)]
}

/// `text` on one line, for a header field.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::{Failure, bounce};
    use crate::spool::Record;

    #[test]
    fn a_bounce_is_a_delivery_report_with_the_headers_but_not_the_body() {
        let record = Record {
            id: "abc".into(),
            from: "alice@example.org".into(),
            recipients: vec!["bob@example.net".into()],
            eight_bit: false,
            smtputf8: false,
            client: "127.0.0.1".parse().unwrap(),
            helo: "mail.test".into(),
            tls: false,
            user: None,
            received_at: 1_764_328_000,
            attempts: 3,
            next_attempt: 0,
            secured: None,
            audited: None,
        };
        let original = b"Subject: Figures\r\nFrom: alice@example.org\r\n\r\nSECRET BODY\r\n";
        let failure = Failure::Refused { reply: "550 5.1.1 <bob@example.net>: no such user".into() };
        let dsn = String::from_utf8(bounce(&record, original, &failure, "relay.test", 1_764_329_000)).unwrap();
        assert!(dsn.contains("Content-Type: multipart/report"), "{dsn}");
        assert!(dsn.contains("report-type=\"delivery-status\"") || dsn.contains("report-type=delivery-status"));
        assert!(dsn.contains("Final-Recipient: rfc822; bob@example.net\r\nAction: failed\r\nStatus: 5.0.0\r\n"));
        assert!(dsn.contains("Diagnostic-Code: smtp; 550 5.1.1 <bob@example.net>: no such user"));
        assert!(dsn.contains("Subject: Figures") && !dsn.contains("SECRET BODY"), "{dsn}");
        assert!(dsn.contains("Auto-Submitted: auto-replied"));
    }
}
