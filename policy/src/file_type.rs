//! File types for the policy's `blocked_file_types`: the name's extension,
//! and what the first bytes show, so a program renamed `report.pdf` is
//! still an `exe`. Clients sniff (they have the plaintext); the server only
//! sees the types they declare.

/// How many first bytes [`sniff`] looks at.
pub const HEAD: usize = 16;

/// Magic numbers and the type each shows, as the policy names it.
const MAGIC: &[(&[u8], &str)] = &[
    (b"MZ", "exe"),                 // Windows programs and libraries (PE)
    (b"\x7fELF", "elf"),            // Linux and Unix programs
    (b"\xfe\xed\xfa\xce", "macho"), // macOS programs, 32-bit
    (b"\xfe\xed\xfa\xcf", "macho"), // 64-bit
    (b"\xce\xfa\xed\xfe", "macho"), // 32-bit, little-endian
    (b"\xcf\xfa\xed\xfe", "macho"), // 64-bit, little-endian
    (b"#!", "script"),              // a script with an interpreter line
    (b"PK\x03\x04", "zip"),         // zip, and what is built on it (docx, jar, apk)
    (b"Rar!\x1a\x07", "rar"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole"), // older Office files, which may carry macros
    (b"%PDF-", "pdf"),
];

/// `exe` from `EXE`, `.exe` or ` .Exe `.
pub fn normalize(file_type: &str) -> String {
    file_type.trim().trim_start_matches('.').to_lowercase()
}

/// The type the first bytes of a file show, if they show one of [`MAGIC`]'s.
pub fn sniff(head: &[u8]) -> Option<&'static str> {
    MAGIC.iter().find(|(magic, _)| head.starts_with(magic)).map(|(_, name)| *name)
}

/// The types of a file named `name` whose first bytes are `head`: its
/// extension (if it has one) and the sniffed type (if another).
pub fn of(name: &str, head: &[u8]) -> Vec<String> {
    let mut types = Vec::new();
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    if let Some((stem, ext)) = base.rsplit_once('.')
        && !stem.is_empty()
        && !ext.is_empty()
    {
        types.push(normalize(ext));
    }
    if let Some(sniffed) = sniff(head)
        && !types.iter().any(|t| t == sniffed)
    {
        types.push(sniffed.to_owned());
    }
    types
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_and_content_both_count() {
        assert_eq!(of("Rapport.PDF", b"%PDF-1.7"), ["pdf"]);
        assert_eq!(of("rapport.pdf", b"MZ\x90\x00"), ["pdf", "exe"]);
        assert_eq!(of("C:\\map\\setup", b"\x7fELF\x02"), ["elf"]);
        assert_eq!(of(".bashrc", b"export"), Vec::<String>::new());
        assert_eq!(of("a.tar.gz", b""), ["gz"]);
        assert_eq!(normalize(" .Exe "), "exe");
    }
}
