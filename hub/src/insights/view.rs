//! The answers' shapes — JSON (with their OpenAPI schemas) and the CSV of the occupancy, one
//! row per resource and day with the same columns as a day of the JSON.

use std::fmt::Write as _;

use chrono::NaiveDate;
use serde::Serialize;

/// The occupancy of a range.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Occupancy {
    /// The tenant's zone: days, hours and working windows are read in it.
    pub time_zone: String,
    /// First day (inclusive).
    pub from: String,
    /// Last day (inclusive).
    pub to: String,
    /// Each resource asked for.
    pub resources: Vec<ResourceOccupancy>,
    /// All of them together.
    pub totals: Totals,
    /// Booked share per weekday (7 rows, Monday first) × local hour (24 values).
    pub heatmap: Vec<Vec<f64>>,
    /// Participants per capacity band of the rooms booked.
    pub right_sizing: Vec<Band>,
}

/// One resource's figures.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ResourceOccupancy {
    /// The resource.
    pub resource_id: String,
    /// Its name.
    pub name: String,
    /// `ROOM` or `DEVICE`.
    pub kind: String,
    /// Its seats, if known.
    pub capacity: Option<i64>,
    /// One entry per day of the range.
    pub days: Vec<Day>,
    /// The days added up.
    pub totals: Totals,
}

/// One resource's day.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Day {
    /// `YYYY-MM-DD`, in the tenant's zone.
    pub date: String,
    /// Occurrences starting this day that were not cancelled before they started.
    pub bookings: u64,
    /// Working hours of the day.
    pub available_hours: f64,
    /// Working hours covered by bookings (up to the release of a released one).
    pub booked_hours: f64,
    /// Working hours covered by bookings that were checked in (ATTENDED).
    pub used_hours: f64,
    /// Bookings of the day that are NO_SHOW.
    pub no_shows: u64,
    /// Bookings of the day that are ATTENDED.
    pub attended: u64,
    /// Occurrences starting this day that were cancelled before they started.
    pub cancelled: u64,
    /// Working hours from a release to the booked end.
    pub released_hours: f64,
    /// The part of the released hours covered by another booking.
    pub rebooked_hours: f64,
}

/// Figures added up over days (and resources), with the ratios.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Totals {
    /// Sum of the days' bookings.
    pub bookings: u64,
    /// Sum of the days' available hours.
    pub available_hours: f64,
    /// Sum of the days' booked hours.
    pub booked_hours: f64,
    /// Sum of the days' used hours.
    pub used_hours: f64,
    /// Sum of the days' no-shows.
    pub no_shows: u64,
    /// Sum of the days' attended bookings.
    pub attended: u64,
    /// Sum of the days' cancellations.
    pub cancelled: u64,
    /// Sum of the days' released hours.
    pub released_hours: f64,
    /// Sum of the days' rebooked hours.
    pub rebooked_hours: f64,
    /// booked / available (null without available hours).
    pub utilization: Option<f64>,
    /// used / available (null without available hours).
    pub used_utilization: Option<f64>,
    /// NO_SHOW / (ATTENDED + NO_SHOW) among bookings whose check-in window has closed.
    pub no_show_rate: Option<f64>,
    /// Mean of participants ÷ capacity over bookings of rooms with a capacity.
    pub mean_participants_per_capacity: Option<f64>,
    /// Share of bookings with at most one participant.
    pub single_person_share: Option<f64>,
}

/// A capacity band of the right-sizing table.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Band {
    /// Fewest seats of the band.
    pub capacity_from: i64,
    /// Most seats (null: no upper bound).
    pub capacity_to: Option<i64>,
    /// Bookings of rooms in the band.
    pub meetings: u64,
    /// Their mean participants (null without bookings).
    pub mean_participants: Option<f64>,
}

/// The header of the occupancy CSV.
pub const CSV_HEADER: &str = "resource_id,name,date,bookings,available_hours,booked_hours,used_hours,no_shows,attended,cancelled,released_hours,rebooked_hours";

/// The occupancy as CSV: one row per resource and day.
pub fn csv(occupancy: &Occupancy) -> String {
    let mut out = String::with_capacity(64 * (1 + occupancy.resources.len()));
    out.push_str(CSV_HEADER);
    out.push_str("\r\n");
    for resource in &occupancy.resources {
        for day in &resource.days {
            let _ = write!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{},{}\r\n",
                field(&resource.resource_id),
                field(&resource.name),
                day.date,
                day.bookings,
                day.available_hours,
                day.booked_hours,
                day.used_hours,
                day.no_shows,
                day.attended,
                day.cancelled,
                day.released_hours,
                day.rebooked_hours,
            );
        }
    }
    out
}

/// A CSV field, quoted when it holds a separator, a quote or a line break (RFC 4180); a
/// leading `=`, `+`, `-` or `@` is prefixed with `'` so spreadsheets do not run it as a formula.
fn field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if text.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// The daily operations figures of a range.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DailyStats {
    /// One entry per UTC day of the range, every counter present (0 when nothing happened).
    #[schema(value_type = Vec<Object>)]
    pub days: Vec<serde_json::Map<String, serde_json::Value>>,
    /// Each counter over the range.
    #[schema(value_type = Object)]
    pub totals: serde_json::Map<String, serde_json::Value>,
}

/// The days of `from..=to`.
pub fn days(from: NaiveDate, to: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    from.iter_days().take_while(move |d| *d <= to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(field("Room 1"), "Room 1");
        assert_eq!(field("Big, bright"), "\"Big, bright\"");
        assert_eq!(field("The \"Loft\""), "\"The \"\"Loft\"\"\"");
        assert_eq!(field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
    }
}
