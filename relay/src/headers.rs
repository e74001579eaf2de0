//! The header section of a message as received (RFC 5322 §2.1: header
//! fields, then an empty line, then the body). Messages reach here with CRLF
//! line ends only (the session refuses bare CR and LF), so the first
//! CRLF CRLF ends the header section; a message without one is all header.

/// The header section of `message`, its last CRLF included.
pub fn section(message: &[u8]) -> &[u8] {
    if message.starts_with(b"\r\n") {
        return &[]; // no header fields at all
    }
    let end = message.windows(4).position(|w| w == b"\r\n\r\n").map_or(message.len(), |p| p + 2);
    &message[..end]
}

/// The values of the header fields named `name` (any case), trimmed; a
/// folded field's continuation lines are not followed (the fields read here
/// are one token long).
pub fn values<'m>(message: &'m [u8], name: &str) -> Vec<&'m [u8]> {
    section(message)
        .split(|&b| b == b'\n')
        .filter_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            line[..colon].eq_ignore_ascii_case(name.as_bytes()).then(|| line[colon + 1..].trim_ascii())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{section, values};

    #[test]
    fn fields_are_read_from_the_header_section_only() {
        let message = b"Subject: a\r\nx-kluis-relay:  one \r\nX-Kluis-Relay: two\r\n\r\nX-Kluis-Relay: body\r\n";
        assert_eq!(values(message, "X-Kluis-Relay"), [&b"one"[..], b"two"]);
        assert_eq!(section(message), b"Subject: a\r\nx-kluis-relay:  one \r\nX-Kluis-Relay: two\r\n");
        assert_eq!(section(b"Subject: only headers\r\n"), b"Subject: only headers\r\n");
        assert!(values(b"\r\nX-Kluis-Relay: body\r\n", "X-Kluis-Relay").is_empty());
    }
}
