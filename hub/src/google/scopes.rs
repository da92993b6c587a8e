//! The OAuth scopes CORBI asks Google for: the narrowest ones that cover the methods it calls,
//! read from each method's scope list in the Calendar v3 discovery document.

/// `events.insert/get/list/patch/delete/move/instances/watch` on calendars the account can
/// write (rooms, devices, organizers' primary calendars). `calendar.events.owned` would not
/// cover resource calendars shared to the account, and `calendar.app.created` not calendars
/// created outside CORBI.
pub const EVENTS: &str = "https://www.googleapis.com/auth/calendar.events";
/// `freebusy.query`: not covered by `calendar.events`.
pub const FREEBUSY: &str = "https://www.googleapis.com/auth/calendar.freebusy";
/// `calendarList.list`: offering an admin the calendars to pick a resource's from.
pub const CALENDAR_LIST: &str = "https://www.googleapis.com/auth/calendar.calendarlist.readonly";
/// `calendars.get`: validating an existing calendar at onboarding, and learning the account's
/// address from its primary calendar.
pub const CALENDARS_READ: &str = "https://www.googleapis.com/auth/calendar.calendars.readonly";
/// `calendars.insert`: creating a dedicated calendar for a new resource.
pub const APP_CREATED: &str = "https://www.googleapis.com/auth/calendar.app.created";

/// What the tenant-wide connection (the account owning resource calendars) needs.
pub const TENANT: &[&str] = &[EVENTS, FREEBUSY, CALENDAR_LIST, CALENDARS_READ, APP_CREATED];
/// What a person's own connection needs (their primary calendar: meetings they organise,
/// free/busy for slot finding).
pub const USER: &[&str] = &[EVENTS, FREEBUSY, CALENDARS_READ];

/// The scopes of `required` missing from `granted`.
pub fn missing<'a>(required: &[&'a str], granted: &[String]) -> Vec<&'a str> {
    required
        .iter()
        .copied()
        .filter(|scope| !granted.iter().any(|g| g == scope))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_scopes_are_listed() {
        let granted = vec![EVENTS.to_string(), FREEBUSY.to_string()];
        assert_eq!(missing(USER, &granted), [CALENDARS_READ]);
        assert!(missing(&[EVENTS], &granted).is_empty());
    }
}
