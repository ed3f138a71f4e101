//! `Date` and `DateTime` values: ISO 8601 text normalised so that text order is time order
//! (what indexes, filters and `orderBy` compare).

use crate::error::shown;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, UtcOffset};

/// Normalises a date to `YYYY-MM-DD` (years 0000–9999), or says what is wrong.
pub fn normalize_date(text: &str) -> Result<String, String> {
    let date = Date::parse(text.trim(), format_description!("[year]-[month]-[day]"))
        .map_err(|_| format!("{:?} is not an ISO 8601 date (YYYY-MM-DD)", shown(text)))?;
    if !(0..=9999).contains(&date.year()) {
        return Err(format!("{:?} is outside the years 0000–9999", shown(text)));
    }
    Ok(format!("{:04}-{:02}-{:02}", date.year(), u8::from(date.month()), date.day()))
}

/// Normalises an instant to UTC text with microseconds, `YYYY-MM-DDTHH:MM:SS.ffffffZ`. The
/// input needs a date, a time and an offset (`Z` or `±HH:MM`), as RFC 3339 says; digits past
/// the microsecond must be zero (they would be lost).
pub fn normalize_datetime(text: &str) -> Result<String, String> {
    let t = OffsetDateTime::parse(text.trim(), &Rfc3339).map_err(|_| {
        format!("{:?} is not an ISO 8601 date-time with an offset (e.g. 2024-05-01T12:30:00Z)", shown(text))
    })?;
    if t.nanosecond() % 1_000 != 0 {
        return Err(format!("{:?} has digits past the microsecond, which a DateTime does not keep", shown(text)));
    }
    let t = t.to_offset(UtcOffset::UTC);
    if !(0..=9999).contains(&t.year()) {
        return Err(format!("{:?} is outside the years 0000–9999", shown(text)));
    }
    Ok(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_instants_normalise_to_sortable_text() {
        assert_eq!(normalize_date("2024-02-29").unwrap(), "2024-02-29");
        assert!(normalize_date("2023-02-29").is_err());
        assert!(normalize_date("2024-2-1").is_err());
        assert!(normalize_date("yesterday").unwrap_err().contains("YYYY-MM-DD"));
        assert_eq!(normalize_datetime("2024-05-01T12:30:00Z").unwrap(), "2024-05-01T12:30:00.000000Z");
        assert_eq!(normalize_datetime("2024-05-01T14:30:00.5+02:00").unwrap(), "2024-05-01T12:30:00.500000Z");
        assert_eq!(normalize_datetime("2024-05-01T00:30:00.123456-01:00").unwrap(), "2024-05-01T01:30:00.123456Z");
        assert!(normalize_datetime("2024-05-01T12:30:00").is_err(), "an offset is required");
        assert!(normalize_datetime("2024-05-01T12:30:00.123456789Z").unwrap_err().contains("microsecond"));
        // Text order is time order across offsets and fractions.
        let a = normalize_datetime("2024-05-01T12:00:00.9Z").unwrap();
        let b = normalize_datetime("2024-05-01T13:00:00+01:00").unwrap();
        let c = normalize_datetime("2024-05-01T12:00:01Z").unwrap();
        assert!(b < a && a < c, "{a} {b} {c}");
    }
}
