//! SMTP replies: a code (RFC 5321 §4.2), an enhanced status code (RFC 3463,
//! RFC 3463 §3 for the classes and subjects) and a text. Every reply the
//! relay gives is a constant or constructor here, so the codes are in one
//! place.

use std::fmt;

/// One reply line (multi-line replies are only EHLO's, which
/// `smtp_proto::EhloResponse` writes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// The enhanced status code (RFC 2034 §4: on every reply but the
    /// greeting and EHLO's once ENHANCEDSTATUSCODES is offered).
    pub status: Option<[u8; 3]>,
    pub text: String,
}

impl Reply {
    pub fn new(code: u16, status: [u8; 3], text: impl Into<String>) -> Reply {
        Reply { code, status: Some(status), text: text.into() }
    }

    /// Whether the client may go on (2xx, 3xx).
    pub fn is_positive(&self) -> bool {
        self.code < 400
    }

    /// The reply as it goes on the wire, CRLF included.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }

    // RFC 5321 §4.2.2 and §4.2.3, with RFC 3463's codes.

    /// 220: the greeting (RFC 5321 §4.3.1), without an enhanced code.
    pub fn greeting(host: &str) -> Reply {
        Reply { code: 220, status: None, text: format!("{host} ESMTP kluis-relay") }
    }
    pub fn ok() -> Reply {
        Reply::new(250, [2, 0, 0], "Ok")
    }
    pub fn sender_ok() -> Reply {
        Reply::new(250, [2, 1, 0], "Sender ok")
    }
    pub fn recipient_ok() -> Reply {
        Reply::new(250, [2, 1, 5], "Recipient ok")
    }
    pub fn queued(id: &str) -> Reply {
        Reply::new(250, [2, 0, 0], format!("Ok: queued as {id}"))
    }
    /// BDAT chunk received, not the last (RFC 3030 §3).
    pub fn chunk_ok(size: usize) -> Reply {
        Reply::new(250, [2, 0, 0], format!("{size} octets received"))
    }
    pub fn bye() -> Reply {
        Reply::new(221, [2, 0, 0], "Bye")
    }
    /// HELP (RFC 5321 §4.1.1.8).
    pub fn help() -> Reply {
        Reply::new(214, [2, 0, 0], "See https://www.rfc-editor.org/rfc/rfc5321")
    }
    /// VRFY is not answered: 252, "cannot VRFY user, but will accept message"
    /// (RFC 5321 §3.5.3, §7.3).
    pub fn cannot_verify() -> Reply {
        Reply::new(252, [2, 5, 0], "Cannot VRFY user, but will accept message and attempt delivery")
    }
    /// 354: go ahead with DATA.
    pub fn start_data() -> Reply {
        Reply { code: 354, status: None, text: "End data with <CR><LF>.<CR><LF>".into() }
    }
    /// 220 to STARTTLS: the TLS handshake comes next (RFC 3207 §4).
    pub fn ready_for_tls() -> Reply {
        Reply::new(220, [2, 0, 0], "Ready to start TLS")
    }
    /// 334: the next step of a SASL exchange (RFC 4954 §4), base64 challenge.
    pub fn challenge(base64: &str) -> Reply {
        Reply { code: 334, status: None, text: base64.into() }
    }
    pub fn authenticated() -> Reply {
        Reply::new(235, [2, 7, 0], "Authentication successful")
    }

    // Transient failures.

    /// The idle timeout (RFC 5321 §4.5.3.2.7; RFC 3463 X.4.2 "bad connection").
    pub fn timeout() -> Reply {
        Reply::new(421, [4, 4, 2], "Timeout: closing the connection")
    }
    /// Too many commands or errors on one connection.
    pub fn too_many(what: &str) -> Reply {
        Reply::new(421, [4, 7, 0], format!("Too many {what}: closing the connection"))
    }
    /// The relay is stopping or full (RFC 5321 §3.8).
    pub fn unavailable(why: &str) -> Reply {
        Reply::new(421, [4, 3, 2], format!("{why}: closing the connection"))
    }
    /// The message could not be spooled (RFC 3463 X.3.0: mail system).
    pub fn spool_failed() -> Reply {
        Reply::new(451, [4, 3, 0], "Local error: the message could not be queued; try again later")
    }
    /// More recipients than `limits.recipients` (RFC 5321 §4.5.3.1.10: 452;
    /// RFC 3463 X.5.3).
    pub fn too_many_recipients() -> Reply {
        Reply::new(452, [4, 5, 3], "Too many recipients")
    }
    /// STARTTLS without a certificate configured (RFC 3207 §4).
    pub fn tls_unavailable() -> Reply {
        Reply::new(454, [4, 7, 0], "TLS not available")
    }
    /// Authentication could not be checked now (RFC 4954 §6: 454 4.7.0).
    pub fn auth_temporary_failure() -> Reply {
        Reply::new(454, [4, 7, 0], "Temporary authentication failure")
    }

    // Permanent failures.

    pub fn unknown_command() -> Reply {
        Reply::new(500, [5, 5, 1], "Command unrecognized")
    }
    /// A command line longer than the parser's limit (RFC 5321 §4.5.3.1.4).
    pub fn line_too_long() -> Reply {
        Reply::new(500, [5, 5, 2], "Line too long")
    }
    pub fn syntax(what: &str) -> Reply {
        Reply::new(501, [5, 5, 2], format!("Syntax error: {what}"))
    }
    pub fn bad_parameter(what: &str) -> Reply {
        Reply::new(501, [5, 5, 4], format!("Invalid parameter {what}"))
    }
    pub fn bad_sender() -> Reply {
        Reply::new(501, [5, 1, 7], "Bad sender address syntax")
    }
    pub fn bad_recipient() -> Reply {
        Reply::new(501, [5, 1, 3], "Bad recipient address syntax")
    }
    /// A SASL response that is not base64 (RFC 4954 §4).
    pub fn not_base64() -> Reply {
        Reply::new(501, [5, 5, 2], "Cannot Base64-decode client response")
    }
    /// The client gave up the SASL exchange with `*` (RFC 4954 §4).
    pub fn auth_cancelled() -> Reply {
        Reply::new(501, [5, 0, 0], "Authentication cancelled")
    }
    pub fn not_implemented() -> Reply {
        Reply::new(502, [5, 5, 1], "Command not implemented")
    }
    pub fn bad_sequence(what: &str) -> Reply {
        Reply::new(503, [5, 5, 1], format!("Bad sequence of commands: {what}"))
    }
    /// An unknown or unoffered SASL mechanism (RFC 4954 §4).
    pub fn unknown_mechanism() -> Reply {
        Reply::new(504, [5, 5, 4], "Unrecognized authentication mechanism")
    }
    /// Relaying needs AUTH or an allowed client address (RFC 4954 §6).
    /// A message that carries the loop guard of a Kluis relay (RFC 3463: 5.4.6, routing loop).
    pub fn loop_detected() -> Reply {
        Reply::new(554, [5, 4, 6], "Routing loop: this message passed through a Kluis relay already")
    }
    /// A message with a bare CR or LF (RFC 5321 §2.3.8; RFC 3463: 5.6.0, media error).
    pub fn bare_line_break() -> Reply {
        Reply::new(550, [5, 6, 0], "Bare CR or LF in the message: lines must end in CRLF")
    }
    /// A `MAIL FROM` outside the organisation's domains (RFC 3463: 5.7.1, delivery not authorized).
    pub fn sender_not_allowed() -> Reply {
        Reply::new(550, [5, 7, 1], "Sender address not allowed through this relay")
    }
    /// A message not stamped by the organisation's Exchange Online tenant (RFC 3463: 5.7.1).
    pub fn not_from_tenant() -> Reply {
        Reply::new(550, [5, 7, 1], "Message not from this organisation's Microsoft 365 tenant")
    }
    pub fn authentication_required() -> Reply {
        Reply::new(530, [5, 7, 0], "Authentication required")
    }
    /// RFC 4954 §6: 535 5.7.8.
    pub fn bad_credentials() -> Reply {
        Reply::new(535, [5, 7, 8], "Authentication credentials invalid")
    }
    /// AUTH before STARTTLS (RFC 4954 §6: 538 5.7.11).
    pub fn encryption_required() -> Reply {
        Reply::new(538, [5, 7, 11], "Encryption required for requested authentication mechanism")
    }
    /// The message or the announced SIZE is over `limits.message_size`
    /// (RFC 1870 §6.2 and §6.3; RFC 3463 X.3.4).
    pub fn too_big(limit: usize) -> Reply {
        Reply::new(552, [5, 3, 4], format!("Message size exceeds the limit of {limit} octets"))
    }
    /// A text line in DATA over `limits.line_length` (RFC 5321 §4.5.3.1.6).
    pub fn data_line_too_long(limit: usize) -> Reply {
        Reply::new(552, [5, 6, 0], format!("Message has a line longer than {limit} octets"))
    }
    /// DATA or BDAT without an accepted recipient (RFC 5321 §3.3).
    pub fn no_valid_recipients() -> Reply {
        Reply::new(554, [5, 5, 1], "No valid recipients")
    }
    /// A non-ASCII address without SMTPUTF8 (RFC 6531 §3.5).
    pub fn needs_smtputf8() -> Reply {
        Reply::new(553, [5, 6, 7], "Non-ASCII address requires SMTPUTF8")
    }
    /// A MAIL or RCPT parameter this relay does not offer (RFC 5321 §4.1.1.11).
    pub fn unsupported_parameter(name: &str) -> Reply {
        Reply::new(555, [5, 5, 4], format!("Unsupported parameter {name}"))
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some([class, subject, detail]) => {
                write!(f, "{} {class}.{subject}.{detail} {}\r\n", self.code, self.text)
            }
            None => write!(f, "{} {}\r\n", self.code, self.text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Reply;

    #[test]
    fn replies_carry_enhanced_codes_except_where_rfc_2034_says_not() {
        assert_eq!(Reply::bad_credentials().to_string(), "535 5.7.8 Authentication credentials invalid\r\n");
        assert_eq!(Reply::encryption_required().to_string().split(' ').nth(1), Some("5.7.11"));
        assert_eq!(Reply::greeting("relay.example").to_string(), "220 relay.example ESMTP kluis-relay\r\n");
        assert_eq!(Reply::challenge("").to_string(), "334 \r\n");
        assert!(Reply::cannot_verify().is_positive() && !Reply::too_big(1).is_positive());
    }
}
