//! The query parameters of the insights routes and their checks. They are read from the raw
//! query because `resource_id` may repeat; every problem names its parameter.

use chrono::NaiveDate;
use serde::Deserialize;
use shared::ResourceKind;

use crate::error::FieldError;

/// The longest range a question may span, in days (a leap year).
pub const MAX_DAYS: i64 = 366;

/// Parameters of `GET /api/v1/insights/occupancy`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OccupancyParams {
    /// First day, `YYYY-MM-DD` in the tenant's zone.
    pub from: Option<String>,
    /// Last day (inclusive), at most 366 days after the first.
    pub to: Option<String>,
    /// Only these resources (repeat the parameter); all of the tenant's when absent.
    pub resource_id: Vec<String>,
    /// Only rooms (`ROOM`) or devices (`DEVICE`).
    pub kind: Option<String>,
    /// Parameters this route does not know.
    #[serde(skip)]
    #[param(ignore)]
    pub unknown: Vec<String>,
}

/// A checked occupancy question.
#[derive(Debug, Clone, PartialEq)]
pub struct Asked {
    /// First day.
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
    /// The resources asked for (empty: all).
    pub resource_ids: Vec<String>,
    /// Only this kind.
    pub kind: Option<ResourceKind>,
}

impl OccupancyParams {
    /// Reads a query string.
    pub fn parse(query: &str) -> OccupancyParams {
        let mut params = OccupancyParams::default();
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let value = value.into_owned();
            match name.as_ref() {
                "from" => params.from = Some(value),
                "to" => params.to = Some(value),
                "resource_id" => params.resource_id.push(value),
                "kind" => params.kind = Some(value),
                other => params.unknown.push(other.to_string()),
            }
        }
        params
    }

    /// The question, or every problem by parameter.
    pub fn check(self) -> Result<Asked, Vec<FieldError>> {
        let mut problems = unknown(&self.unknown);
        let days = span(self.from.as_deref(), self.to.as_deref(), &mut problems);
        let kind = match self.kind.as_deref() {
            None => None,
            Some(text) => {
                let kind = ResourceKind::parse(text);
                if kind.is_none() {
                    problems.push(FieldError::new("kind", "use ROOM or DEVICE"));
                }
                kind
            }
        };
        if self.resource_id.iter().any(|id| id.trim().is_empty()) {
            problems.push(FieldError::new("resource_id", "give a resource id"));
        }
        match days {
            Some((from, to)) if problems.is_empty() => Ok(Asked {
                from,
                to,
                resource_ids: self.resource_id,
                kind,
            }),
            _ => Err(problems),
        }
    }
}

/// Parameters of `GET /api/v1/admin/daily-stats`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DailyParams {
    /// First UTC day, `YYYY-MM-DD`.
    pub from: Option<String>,
    /// Last UTC day (inclusive), at most 366 days after the first.
    pub to: Option<String>,
    /// Parameters this route does not know.
    #[serde(skip)]
    #[param(ignore)]
    pub unknown: Vec<String>,
}

impl DailyParams {
    /// Reads a query string.
    pub fn parse(query: &str) -> DailyParams {
        let mut params = DailyParams::default();
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match name.as_ref() {
                "from" => params.from = Some(value.into_owned()),
                "to" => params.to = Some(value.into_owned()),
                other => params.unknown.push(other.to_string()),
            }
        }
        params
    }

    /// The days, or every problem by parameter.
    pub fn check(self) -> Result<(NaiveDate, NaiveDate), Vec<FieldError>> {
        let mut problems = unknown(&self.unknown);
        let days = span(self.from.as_deref(), self.to.as_deref(), &mut problems);
        match days {
            Some(days) if problems.is_empty() => Ok(days),
            _ => Err(problems),
        }
    }
}

fn unknown(names: &[String]) -> Vec<FieldError> {
    names
        .iter()
        .map(|name| FieldError::new(name.clone(), "this parameter is not known here"))
        .collect()
}

/// `from` and `to` as days: both given, real dates, in order, at most [`MAX_DAYS`] long.
fn span(
    from: Option<&str>,
    to: Option<&str>,
    problems: &mut Vec<FieldError>,
) -> Option<(NaiveDate, NaiveDate)> {
    let from = day(from, "from", problems);
    let to = day(to, "to", problems);
    let (from, to) = (from?, to?);
    if to < from {
        problems.push(FieldError::new("to", "must be on or after from"));
        return None;
    }
    if (to - from).num_days() + 1 > MAX_DAYS {
        problems.push(FieldError::new(
            "to",
            format!("a range may span at most {MAX_DAYS} days"),
        ));
        return None;
    }
    Some((from, to))
}

fn day(text: Option<&str>, field: &str, problems: &mut Vec<FieldError>) -> Option<NaiveDate> {
    let parsed = text.and_then(|t| NaiveDate::parse_from_str(t.trim(), "%Y-%m-%d").ok());
    if parsed.is_none() {
        problems.push(FieldError::new(field, "give a date as YYYY-MM-DD"));
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(query: &str) -> Vec<String> {
        match OccupancyParams::parse(query).check() {
            Ok(_) => Vec::new(),
            Err(problems) => problems.into_iter().map(|p| p.field).collect(),
        }
    }

    #[test]
    fn ranges_are_checked_by_field() {
        assert!(fields("from=2030-01-01&to=2030-12-31").is_empty());
        assert!(fields("from=2032-01-01&to=2032-12-31").is_empty());
        assert_eq!(fields("from=2030-01-01&to=2031-01-02"), ["to"]);
        assert_eq!(fields("from=2030-02-01&to=2030-01-31"), ["to"]);
        assert_eq!(fields("from=2030-02-30&to=2030-03-01"), ["from"]);
        assert_eq!(fields("to=2030-03-01"), ["from"]);
        assert_eq!(fields("from=2030-01-01&to=2030-01-02&kind=TABLE"), ["kind"]);
        assert_eq!(fields("from=2030-01-01&to=2030-01-02&room=1"), ["room"]);
    }

    #[test]
    fn resource_ids_repeat() {
        let asked =
            OccupancyParams::parse("from=2030-01-01&to=2030-01-02&resource_id=a&resource_id=b")
                .check()
                .expect("valid");
        assert_eq!(asked.resource_ids, ["a", "b"]);
    }
}
