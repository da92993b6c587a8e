//! The Calendar API methods this emulator serves, with the path template and the scopes the
//! discovery document gives for each; scopes are checked against these lists on every call.

/// Prefix of every Google OAuth scope URL; [`MethodSpec::scopes`] holds the part after it.
pub const SCOPE_PREFIX: &str = "https://www.googleapis.com/auth/";

/// One Calendar API method as the discovery document describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MethodSpec {
    /// Discovery method id (`calendar.events.list`); also the name faults are injected under.
    pub id: &'static str,
    /// HTTP method.
    pub http_method: &'static str,
    /// Path template relative to `/calendar/v3/`, as in the discovery document.
    pub path: &'static str,
    /// Accepted scopes without [`SCOPE_PREFIX`]; a token needs at least one of them.
    pub scopes: &'static [&'static str],
}

impl MethodSpec {
    /// Whether a token with `granted` scope URLs may call this method.
    pub fn allows(&self, granted: &[String]) -> bool {
        granted.iter().any(|g| {
            g.strip_prefix(SCOPE_PREFIX)
                .is_some_and(|short| self.scopes.contains(&short))
        })
    }
}

/// `calendar.calendarList.list`.
pub const CALENDAR_LIST_LIST: MethodSpec = MethodSpec {
    id: "calendar.calendarList.list",
    http_method: "GET",
    path: "users/me/calendarList",
    scopes: &[
        "calendar",
        "calendar.calendarlist",
        "calendar.calendarlist.readonly",
        "calendar.readonly",
    ],
};

/// `calendar.calendars.get`.
pub const CALENDARS_GET: MethodSpec = MethodSpec {
    id: "calendar.calendars.get",
    http_method: "GET",
    path: "calendars/{calendarId}",
    scopes: &[
        "calendar",
        "calendar.app.created",
        "calendar.calendars",
        "calendar.calendars.readonly",
        "calendar.readonly",
    ],
};

/// `calendar.calendars.insert`.
pub const CALENDARS_INSERT: MethodSpec = MethodSpec {
    id: "calendar.calendars.insert",
    http_method: "POST",
    path: "calendars",
    scopes: &["calendar", "calendar.app.created", "calendar.calendars"],
};

/// `calendar.calendars.delete`.
pub const CALENDARS_DELETE: MethodSpec = MethodSpec {
    id: "calendar.calendars.delete",
    http_method: "DELETE",
    path: "calendars/{calendarId}",
    scopes: &["calendar", "calendar.app.created", "calendar.calendars"],
};

/// `calendar.events.insert`.
pub const EVENTS_INSERT: MethodSpec = MethodSpec {
    id: "calendar.events.insert",
    http_method: "POST",
    path: "calendars/{calendarId}/events",
    scopes: &[
        "calendar",
        "calendar.app.created",
        "calendar.events",
        "calendar.events.owned",
    ],
};

/// `calendar.events.get`.
pub const EVENTS_GET: MethodSpec = MethodSpec {
    id: "calendar.events.get",
    http_method: "GET",
    path: "calendars/{calendarId}/events/{eventId}",
    scopes: &[
        "calendar",
        "calendar.app.created",
        "calendar.events",
        "calendar.events.freebusy",
        "calendar.events.owned",
        "calendar.events.owned.readonly",
        "calendar.events.public.readonly",
        "calendar.events.readonly",
        "calendar.readonly",
    ],
};

/// `calendar.events.list`.
pub const EVENTS_LIST: MethodSpec = MethodSpec {
    id: "calendar.events.list",
    http_method: "GET",
    path: "calendars/{calendarId}/events",
    scopes: &[
        "calendar",
        "calendar.app.created",
        "calendar.events",
        "calendar.events.freebusy",
        "calendar.events.owned",
        "calendar.events.owned.readonly",
        "calendar.events.public.readonly",
        "calendar.events.readonly",
        "calendar.readonly",
    ],
};

/// `calendar.events.patch`.
pub const EVENTS_PATCH: MethodSpec = MethodSpec {
    id: "calendar.events.patch",
    http_method: "PATCH",
    path: "calendars/{calendarId}/events/{eventId}",
    scopes: &[
        "calendar",
        "calendar.app.created",
        "calendar.events",
        "calendar.events.owned",
    ],
};

/// `calendar.events.update`.
pub const EVENTS_UPDATE: MethodSpec = MethodSpec {
    id: "calendar.events.update",
    http_method: "PUT",
    path: "calendars/{calendarId}/events/{eventId}",
    scopes: &[
        "calendar",
        "calendar.app.created",
        "calendar.events",
        "calendar.events.owned",
    ],
};

/// `calendar.events.delete`.
pub const EVENTS_DELETE: MethodSpec = MethodSpec {
    id: "calendar.events.delete",
    http_method: "DELETE",
    path: "calendars/{calendarId}/events/{eventId}",
    scopes: &[
        "calendar",
        "calendar.app.created",
        "calendar.events",
        "calendar.events.owned",
    ],
};

/// `calendar.events.move`.
pub const EVENTS_MOVE: MethodSpec = MethodSpec {
    id: "calendar.events.move",
    http_method: "POST",
    path: "calendars/{calendarId}/events/{eventId}/move",
    scopes: &["calendar", "calendar.events", "calendar.events.owned"],
};

/// `calendar.events.instances`.
pub const EVENTS_INSTANCES: MethodSpec = MethodSpec {
    id: "calendar.events.instances",
    http_method: "GET",
    path: "calendars/{calendarId}/events/{eventId}/instances",
    scopes: &[
        "calendar",
        "calendar.app.created",
        "calendar.events",
        "calendar.events.freebusy",
        "calendar.events.owned",
        "calendar.events.owned.readonly",
        "calendar.events.public.readonly",
        "calendar.events.readonly",
        "calendar.readonly",
    ],
};

/// `calendar.events.watch`.
pub const EVENTS_WATCH: MethodSpec = MethodSpec {
    id: "calendar.events.watch",
    http_method: "POST",
    path: "calendars/{calendarId}/events/watch",
    scopes: &[
        "calendar",
        "calendar.app.created",
        "calendar.events",
        "calendar.events.freebusy",
        "calendar.events.owned",
        "calendar.events.owned.readonly",
        "calendar.events.public.readonly",
        "calendar.events.readonly",
        "calendar.readonly",
    ],
};

/// `calendar.channels.stop`.
pub const CHANNELS_STOP: MethodSpec = MethodSpec {
    id: "calendar.channels.stop",
    http_method: "POST",
    path: "channels/stop",
    scopes: &[
        "calendar",
        "calendar.acls",
        "calendar.acls.readonly",
        "calendar.app.created",
        "calendar.calendarlist",
        "calendar.calendarlist.readonly",
        "calendar.events",
        "calendar.events.freebusy",
        "calendar.events.owned",
        "calendar.events.owned.readonly",
        "calendar.events.public.readonly",
        "calendar.events.readonly",
        "calendar.readonly",
        "calendar.settings.readonly",
    ],
};

/// `calendar.freebusy.query`.
pub const FREEBUSY_QUERY: MethodSpec = MethodSpec {
    id: "calendar.freebusy.query",
    http_method: "POST",
    path: "freeBusy",
    scopes: &[
        "calendar",
        "calendar.events.freebusy",
        "calendar.freebusy",
        "calendar.readonly",
    ],
};

/// Every Calendar method the emulator serves, for conformance checks against the discovery document.
pub fn served_methods() -> &'static [MethodSpec] {
    &[
        CALENDAR_LIST_LIST,
        CALENDARS_GET,
        CALENDARS_INSERT,
        CALENDARS_DELETE,
        EVENTS_INSERT,
        EVENTS_GET,
        EVENTS_LIST,
        EVENTS_PATCH,
        EVENTS_UPDATE,
        EVENTS_DELETE,
        EVENTS_MOVE,
        EVENTS_INSTANCES,
        EVENTS_WATCH,
        CHANNELS_STOP,
        FREEBUSY_QUERY,
    ]
}
