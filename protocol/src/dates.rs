//! Dates as people read them in Kluis's mails and messages: "27 November
//! 2026", "27 november 2026". Written once for the server's mails and the
//! command line.

/// A language Kluis writes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// English.
    En,
    /// Dutch.
    Nl,
}

const MONTHS_EN: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

const MONTHS_NL: [&str; 12] = [
    "januari",
    "februari",
    "maart",
    "april",
    "mei",
    "juni",
    "juli",
    "augustus",
    "september",
    "oktober",
    "november",
    "december",
];

/// "27 November 2026" (`month` 1 to 12); `None` for a month or day that does not exist.
pub fn long_date(year: i32, month: u8, day: u8, language: Language) -> Option<String> {
    let months = match language {
        Language::En => &MONTHS_EN,
        Language::Nl => &MONTHS_NL,
    };
    let name = months.get(usize::from(month).checked_sub(1)?)?;
    (1..=31).contains(&day).then(|| format!("{day} {name} {year}"))
}

/// The date of an RFC 3339 time as written there ("2026-11-27T…" → "27 November 2026").
pub fn long_date_of(rfc3339: &str, language: Language) -> Option<String> {
    let mut parts = rfc3339.get(..10)?.split('-');
    let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
    if year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    long_date(year.parse().ok()?, month.parse().ok()?, day.parse().ok()?, language)
}

#[cfg(test)]
mod tests {
    use super::{Language, long_date, long_date_of};

    #[test]
    fn dates_read_as_people_write_them() {
        assert_eq!(long_date(2026, 11, 27, Language::En).as_deref(), Some("27 November 2026"));
        assert_eq!(long_date(2026, 3, 1, Language::Nl).as_deref(), Some("1 maart 2026"));
        assert_eq!(long_date(2026, 13, 1, Language::En), None);
        assert_eq!(long_date(2026, 0, 1, Language::En), None);
        assert_eq!(long_date(2026, 1, 0, Language::En), None);
        assert_eq!(long_date_of("2026-11-27T09:15:00Z", Language::En).as_deref(), Some("27 November 2026"));
        assert_eq!(long_date_of("2026-11", Language::En), None);
        assert_eq!(long_date_of("26-11-27T09:15:00Z", Language::En), None);
        assert_eq!(long_date_of("2026-12-31T23:59:59+00:00", Language::En).as_deref(), Some("31 December 2026"));
        for bad in [
            "",
            "2026-13-01T00:00:00Z",
            "2026-00-01T00:00:00Z",
            "2026-01-32T00:00:00Z",
            "20x6-01-01T00",
            "2026-xx-27T0",
        ] {
            assert_eq!(long_date_of(bad, Language::En), None, "{bad}");
        }
    }
}
