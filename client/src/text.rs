//! Text from a server or a sender, made fit for a terminal and for this
//! library's error style.

/// Text from the sender with terminal control characters (escape
/// sequences, bidirectional overrides) replaced, keeping line breaks and
/// tabs where `multiline`.
pub fn printable(text: &str, multiline: bool) -> String {
    text.chars()
        .map(|c| {
            let bidi = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
            if (multiline && matches!(c, '\n' | '\t')) || !(c.is_control() || bidi) { c } else { '\u{fffd}' }
        })
        .collect()
}

/// A server message in this program's style for errors: starting lower-case
/// and without a final full stop, sentences joined with ";" ("Too many wrong
/// codes. Ask the sender." becomes "too many wrong codes; ask the sender").
pub fn sentence(message: &str) -> String {
    fn lower_first(text: &str) -> String {
        let mut chars = text.chars();
        match (chars.next(), chars.next()) {
            // "API …", "URL …": an abbreviation keeps its capitals.
            (Some(first), Some(second)) if first.is_uppercase() && !second.is_uppercase() => {
                first.to_lowercase().chain(text[first.len_utf8()..].chars()).collect()
            }
            _ => text.to_string(),
        }
    }
    let message = message.trim();
    let message = message.strip_suffix('.').unwrap_or(message);
    let mut parts = message.split(". ");
    let mut out = lower_first(parts.next().unwrap_or_default());
    for part in parts {
        if part.starts_with(char::is_uppercase) {
            out += "; ";
            out += &lower_first(part);
        } else {
            out += ". ";
            out += part;
        }
    }
    out
}

/// An error and its causes on one line, as `{:#}` prints an `anyhow::Error`
/// ("cannot upload a.pdf: connection reset").
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text += &format!(": {cause}");
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::{printable, sentence};

    #[test]
    fn server_messages_read_like_this_programs_errors() {
        assert_eq!(sentence("That code is not right, or it has expired."), "that code is not right, or it has expired");
        assert_eq!(
            sentence("Too many wrong codes: this can no longer be opened. Ask the sender to send it again."),
            "too many wrong codes: this can no longer be opened; ask the sender to send it again"
        );
        assert_eq!(sentence("API tokens are refused."), "API tokens are refused");
        assert_eq!(sentence("e.g. this"), "e.g. this");
    }

    #[test]
    fn control_characters_are_replaced() {
        assert_eq!(printable("a\x1b[31mb\u{202e}c\nd", false), "a\u{fffd}[31mb\u{fffd}c\u{fffd}d");
        assert_eq!(printable("a\nb\tc", true), "a\nb\tc");
    }
}
