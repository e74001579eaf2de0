//! Progress bars for `send` and `receive`: file names as the user knows
//! them (shortened to fit the terminal, keeping the extension), plaintext
//! bytes, and sizes in the decimal units the web pages use ("1.5 MB",
//! "730 kB": `formatBytes` in web/js/shared/i18n.js).

use std::io::{self, IsTerminal};

use indicatif::{ProgressBar, ProgressState, ProgressStyle};

/// Columns the bar needs besides the name: sizes, speed, ETA and a
/// bar of at least 10.
const FIXED_COLUMNS: usize = 50;
/// Fewest characters a shortened name keeps.
const MIN_NAME: usize = 12;

/// A size in decimal units as the web pages print it: B, kB, MB, GB, TB,
/// one decimal below 100 ("1.5 MB", "730 kB", "12 B", "1 MB").
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    let text = if unit == 0 || value >= 100.0 { format!("{value:.0}") } else { format!("{value:.1}") };
    let text = text.strip_suffix(".0").unwrap_or(&text);
    format!("{text} {}", UNITS[unit])
}

/// `name` in at most `width` characters: whole if it fits, else the start
/// of its stem, "…" and its extension ("quarterly-rep….pdf").
pub fn fit_name(name: &str, width: usize) -> String {
    let chars: Vec<char> = name.chars().collect();
    if chars.len() <= width {
        return name.to_string();
    }
    let ext: Vec<char> = match name.rfind('.') {
        Some(dot) if dot > 0 && name[dot..].chars().count() <= width / 2 => name[dot..].chars().collect(),
        _ => Vec::new(),
    };
    let keep = width.saturating_sub(ext.len() + 1).max(1);
    chars[..keep].iter().chain(['…'].iter()).chain(ext.iter()).collect()
}

/// The width of the terminal on stderr, if it is one.
fn terminal_width() -> Option<usize> {
    terminal_size::terminal_size_of(io::stderr()).map(|(w, _)| usize::from(w.0))
}

/// A bar over `total` plaintext bytes for files named `names`, on stderr
/// when it is a terminal (hidden otherwise). Names are set with
/// [`Bar::file`].
pub struct Bar {
    pub bar: ProgressBar,
    name_width: usize,
}

impl Bar {
    pub fn new<'a>(total: u64, names: impl IntoIterator<Item = &'a str>) -> Bar {
        if !io::stderr().is_terminal() {
            return Bar { bar: ProgressBar::hidden(), name_width: 0 };
        }
        let longest = names.into_iter().map(|n| n.chars().count()).max().unwrap_or(0);
        let room = terminal_width().unwrap_or(80).saturating_sub(FIXED_COLUMNS).max(MIN_NAME);
        let bar = ProgressBar::new(total);
        let style = ProgressStyle::with_template("{msg} {wide_bar} {done}/{total} {rate} ETA {eta}")
            .expect("valid template")
            .with_key("done", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&format_bytes(s.pos()));
            })
            .with_key("total", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&format_bytes(s.len().unwrap_or(0)));
            })
            .with_key("rate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{}/s", format_bytes(s.per_sec() as u64));
            });
        bar.set_style(style);
        Bar { bar, name_width: longest.min(room) }
    }

    /// Shows `name` as the file being worked on.
    pub fn file(&self, name: &str) {
        let fitted = fit_name(name, self.name_width);
        self.bar.set_message(format!("{fitted:<width$}", width = self.name_width));
    }
}

#[cfg(test)]
mod tests {
    use super::{fit_name, format_bytes};

    #[test]
    fn sizes_as_the_web_prints_them() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(999), "999 B");
        assert_eq!(format_bytes(1000), "1 kB");
        assert_eq!(format_bytes(730_000), "730 kB");
        assert_eq!(format_bytes(1_500_000), "1.5 MB");
        assert_eq!(format_bytes(12_340_000), "12.3 MB");
        assert_eq!(format_bytes(123_400_000), "123 MB");
        assert_eq!(format_bytes(2_000_000_000_000_000), "2000 TB");
    }

    #[test]
    fn long_names_keep_their_extension() {
        assert_eq!(fit_name("report.pdf", 20), "report.pdf");
        assert_eq!(fit_name("quarterly-report-2026-final.pdf", 20), "quarterly-repor….pdf");
        assert_eq!(fit_name("quarterly-report-2026-final.pdf", 20).chars().count(), 20);
        assert_eq!(fit_name("no-extension-but-very-long", 12), "no-extensio…");
        // An "extension" longer than half the room is part of the name.
        assert_eq!(fit_name("a.very-long-extension-here", 12), "a.very-long…");
    }
}
