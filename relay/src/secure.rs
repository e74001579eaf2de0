//! A message to be secured as a Kluis package (issue 15, "Secured"): the
//! whole message goes in — its text as the package's message, its HTML
//! body as `message.html`, every attachment as a file with its own bytes —
//! and the relay sends it with `kluis-client` as the command line would,
//! so the server sees ciphertext only. Then each recipient gets a
//! notification ([`notification`]) with the link, in Dutch and English.
//!
//! [`delivery`](crate::delivery) does the sending and the bookkeeping that
//! makes one package per message and one notification per recipient.

use std::io::Cursor;

use kluis_client::{SendFile, SendRequest, Verify};
use kluis_protocol::api::SendPolicy;
use mail_builder::MessageBuilder;
use mail_builder::mime::MimePart;
use mail_parser::{MessageParser, MimeHeaders};

/// Most files in one package made from a message.
pub const MAX_FILES: usize = 100;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecureError {
    #[error("the message cannot be parsed as MIME")]
    Unparsable,
    #[error("the message has {0} attachments; at most {MAX_FILES} go in one package")]
    TooManyFiles(usize),
    #[error(
        "the organisation's policy requires a password for every package, and the relay has no way to give \
         recipients one: send this message with the Outlook add-in or the send page"
    )]
    PasswordRequired,
}

/// The package for `message` (as received) to `recipients`, by the
/// organisation's rules for sending (`send`); recipients confirm their
/// address with a code if `code` (the caller's [`asks_code`]).
pub fn package_of(
    message: &[u8],
    recipients: &[String],
    send: &SendPolicy,
    code: bool,
) -> Result<SendRequest, SecureError> {
    if send.require_password {
        return Err(SecureError::PasswordRequired);
    }
    let parsed = MessageParser::default().parse(message).ok_or(SecureError::Unparsable)?;
    let subject = parsed.subject().unwrap_or_default().to_string();
    let text = (0..parsed.text_body_count()).filter_map(|i| parsed.body_text(i)).collect::<Vec<_>>().join("\n\n");
    let mut files = Vec::new();
    if let Some(html) = parsed.html_part(0).filter(|p| p.is_text_html()).and_then(|p| p.text_contents()) {
        files.push(file("message.html", "text/html", html.as_bytes().to_vec()));
    }
    let attachments: Vec<_> = parsed.attachments().collect();
    if attachments.len() + files.len() > MAX_FILES {
        return Err(SecureError::TooManyFiles(attachments.len()));
    }
    for (i, attachment) in attachments.into_iter().enumerate() {
        let media_type = attachment
            .content_type()
            .map(|t| match t.subtype() {
                Some(sub) => format!("{}/{sub}", t.ctype()),
                None => t.ctype().to_string(),
            })
            .unwrap_or_else(|| "application/octet-stream".into())
            .to_ascii_lowercase();
        let name = match attachment.attachment_name() {
            Some(name) if !name.trim().is_empty() => name.to_string(),
            _ => format!("attachment-{}", i + 1),
        };
        files.push(file(&name, &media_type, attachment.contents().to_vec()));
    }
    Ok(SendRequest {
        recipients: recipients.to_vec(),
        subject,
        message: text,
        files,
        expires_in_days: send.default_expiry_days,
        max_downloads: None,
        verify: if code { Verify::Email } else { Verify::None },
        password: None,
        notify_on_download: false,
    })
}

/// Whether recipients confirm their address with an e-mail code: where the
/// organisation's policy requires it, and otherwise as the relay is set
/// (`secure.verify`, `email` by default).
pub fn asks_code(send: &SendPolicy, verify_email: bool) -> bool {
    send.require_verification || verify_email
}

fn file(name: &str, media_type: &str, bytes: Vec<u8>) -> SendFile {
    SendFile {
        name: name.to_string(),
        media_type: media_type.to_string(),
        size: bytes.len() as u64,
        content: Box::new(Cursor::new(bytes)),
    }
}

/// The mail that tells `recipient` where the secured message is: from the
/// original sender (`from`, the message's own `From:`), with its subject,
/// in Dutch and English, with `link` (the only place the link secret is);
/// `code`: the recipient confirms their address with a code first.
pub fn notification(
    from: &str,
    recipient: &str,
    subject: &str,
    link: &str,
    expires_in_days: u32,
    code: bool,
    now: i64,
) -> Vec<u8> {
    let (nl, en) = if code {
        ("; u bevestigt eerst uw e-mailadres met een code", "; you first confirm your e-mail address with a code")
    } else {
        ("", "")
    };
    let text = format!(
        "U hebt een beveiligd bericht ontvangen: {subject}\r\n\
         Open het hier (de link werkt {expires_in_days} dagen{nl}):\r\n\
         \r\n{link}\r\n\r\n\
         ---\r\n\r\n\
         You have received a secure message: {subject}\r\n\
         Open it here (the link works for {expires_in_days} days{en}):\r\n\
         \r\n{link}\r\n"
    );
    MessageBuilder::new()
        .from(from)
        .to(recipient)
        .subject(format!("[Kluis] {subject}"))
        .date(now)
        .header("Auto-Submitted", mail_builder::headers::raw::Raw::new("auto-generated"))
        .body(MimePart::new("text/plain", text))
        .write_to_vec()
        .expect("writing to a Vec")
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use kluis_protocol::api::SendPolicy;

    use kluis_client::Verify;
    use mail_parser::MessageParser;

    use super::{SecureError, asks_code, notification, package_of};

    fn send_policy() -> SendPolicy {
        serde_json::from_value(serde_json::json!({
            "default_expiry_days": 7, "max_expiry_days": 30, "include_message": true,
            "require_verification": true, "require_password": false
        }))
        .unwrap()
    }

    #[test]
    fn the_whole_message_goes_in_the_package_attachments_byte_for_byte() {
        let pdf: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
        let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &pdf);
        let message = format!(
            "From: alice@example.org\r\nSubject: =?utf-8?q?Dossier_=C3=A9=C3=A9n?=\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=b\r\n\r\n\
             --b\r\nContent-Type: multipart/alternative; boundary=a\r\n\r\n\
             --a\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee the report.\r\n\
             --a\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>See the <b>report</b>.</p>\r\n--a--\r\n\
             --b\r\nContent-Type: application/pdf; name=report.pdf\r\nContent-Disposition: attachment; filename=report.pdf\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--b--\r\n"
        );
        let request = package_of(message.as_bytes(), &["bob@example.net".into()], &send_policy(), true).unwrap();
        assert_eq!(request.subject, "Dossier één");
        assert_eq!(request.message.trim_end(), "See the report.");
        assert_eq!(request.expires_in_days, 7);
        let names: Vec<&str> = request.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["message.html", "report.pdf"]);
        let mut report = request.files.into_iter().nth(1).unwrap();
        assert_eq!((report.media_type.as_str(), report.size), ("application/pdf", 3000));
        let mut bytes = Vec::new();
        report.content.read_to_end(&mut bytes).unwrap();
        assert!(bytes == pdf, "the attachment byte for byte");
    }

    #[test]
    fn the_notification_has_the_link_in_both_languages_and_nothing_of_the_message() {
        let link = "https://kluis.example.org/p/AAAAAAAAAAAAAAAAAAAAAA#secret";
        let mail = notification("alice@example.org", "bob@example.net", "Dossier", link, 7, true, 1_764_328_000);
        let mail = String::from_utf8(mail).unwrap();
        assert!(mail.contains("From: <alice@example.org>") || mail.contains("From: alice@example.org"), "{mail}");
        assert!(mail.contains("[Kluis] Dossier"));
        assert_eq!(mail.matches(link).count(), 2, "{mail}");
        assert!(mail.contains("beveiligd bericht") && mail.contains("secure message"));
        let text = |mail: &[u8]| MessageParser::default().parse(mail).unwrap().body_text(0).unwrap().into_owned();
        let body = text(mail.as_bytes());
        assert!(body.contains("met een code") && body.contains("with a code"), "{body}");
        let open = notification("alice@example.org", "bob@example.net", "Dossier", link, 7, false, 1_764_328_000);
        assert!(!text(&open).contains("code"), "no code where none is asked");
    }

    #[test]
    fn verification_follows_the_policy_and_a_required_password_cannot_be_met() {
        let message = b"From: alice@example.org\r\nSubject: x\r\n\r\nhello\r\n";
        let mut send = send_policy();
        send.require_verification = false;
        assert!(!asks_code(&send, false) && asks_code(&send, true));
        let open = package_of(message, &["bob@example.net".into()], &send, false).unwrap();
        assert_eq!(open.verify, Verify::None);
        send.require_verification = true;
        assert!(asks_code(&send, false), "the policy wins over secure.verify = none");
        send.require_password = true;
        assert_eq!(package_of(message, &[], &send, true).err(), Some(SecureError::PasswordRequired));
    }
}
