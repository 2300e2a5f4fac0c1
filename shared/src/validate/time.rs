use super::invalid;
use crate::error::ApiError;
use serde::Serialize;

/// A calendar month `YYYY-MM`, passed to SQL as the date of its first day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct Month {
    year: u16,
    month: u8,
}

impl Month {
    pub fn parse(value: &str) -> Result<Month, ApiError> {
        let bad = || invalid("month", "must be YYYY-MM");
        let bytes = value.as_bytes();
        if bytes.len() != 7 || bytes[4] != b'-' {
            return Err(bad());
        }
        let digits = |s: &str| -> Option<u16> {
            s.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| s.parse().ok())
                .flatten()
        };
        let year = digits(&value[..4]).ok_or_else(bad)?;
        let month = digits(&value[5..]).ok_or_else(bad)?;
        if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) {
            return Err(bad());
        }
        Ok(Month {
            year,
            month: month as u8,
        })
    }

    /// `YYYY-MM-01`, the SQL `date` of the month's first day.
    pub fn first_day(&self) -> String {
        format!("{:04}-{:02}-01", self.year, self.month)
    }

    pub fn year(&self) -> u16 {
        self.year
    }

    pub fn month(&self) -> u8 {
        self.month
    }
}

impl From<Month> for String {
    fn from(month: Month) -> String {
        month.first_day()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_becomes_its_first_day() {
        let month = Month::parse("2025-03").unwrap();
        assert_eq!(month.first_day(), "2025-03-01");
        assert_eq!(serde_json::to_value(month).unwrap(), "2025-03-01");
    }

    #[test]
    fn every_month_number_from_1_to_12_is_accepted_and_others_refused() {
        for m in 0..=99 {
            let parsed = Month::parse(&format!("2024-{m:02}"));
            assert_eq!(parsed.is_ok(), (1..=12).contains(&m), "{m}");
        }
    }

    #[test]
    fn malformed_months_are_refused_naming_the_field() {
        for bad in [
            "",
            "2025",
            "2025-3",
            "2025-003",
            "2025/03",
            "25-03-01",
            "2025-03-01",
            "+025-03",
            "２０２５-03",
            "1969-12",
        ] {
            assert_eq!(
                Month::parse(bad).unwrap_err().message,
                "month must be YYYY-MM",
                "{bad}"
            );
        }
    }
}
