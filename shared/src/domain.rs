//! Domain enums of the API contract. Their serialized names are the contract's spelling
//! (`SCHEDULED`, `AI`, `ROOM`, …), and `as_str`/`parse` give the same spelling for storage, so a
//! value written by one component is read back by every other one.

use serde::{Deserialize, Serialize};

/// Declares a contract enum with one spelling used for JSON, storage and logs.
macro_rules! contract_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The contract's spelling, as stored in the database and sent on the wire.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Reads the contract's spelling back; `None` for anything else.
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

contract_enum! {
    /// Where a meeting stands in its life: booked, used, unused or called off.
    MeetingStatus {
        /// Booked and not yet attended.
        Scheduled => "SCHEDULED",
        /// Someone checked in.
        Attended => "ATTENDED",
        /// Nobody checked in within the tenant's window.
        NoShow => "NO_SHOW",
        /// Called off by a person, an AI, or in Google.
        Cancelled => "CANCELLED",
    }
}

contract_enum! {
    /// Who acted: decides what an actor may do and is recorded in the change log.
    ActorType {
        /// A person with a personal token or a web session.
        User => "USER",
        /// An AI voice agent with an API key of kind `ai`.
        Ai => "AI",
        /// A room tablet or bookable device bound to one resource.
        Device => "DEVICE",
        /// CORBI itself (sweeps, recovery, renewals).
        System => "SYSTEM",
        /// A change that arrived from Google Calendar.
        External => "EXTERNAL",
    }
}

contract_enum! {
    /// Whether a meeting was made by an AI or a human; an AI may only cancel what an AI made.
    CreatedByType {
        /// Created through an AI API key.
        Ai => "AI",
        /// Created by a person (directly, in Google, or at a device).
        Human => "HUMAN",
    }
}

contract_enum! {
    /// Where a meeting was first created.
    Source {
        /// Through CORBI's API, console or a device.
        Corbi => "CORBI",
        /// Directly in Google Calendar, imported by sync.
        External => "EXTERNAL",
    }
}

contract_enum! {
    /// What kind of thing a resource is; rooms have a capacity, devices are lent out.
    ResourceKind {
        /// A meeting room.
        Room => "ROOM",
        /// A bookable device.
        Device => "DEVICE",
    }
}

contract_enum! {
    /// What a change-log row records.
    ChangeType {
        /// The meeting was created.
        Created => "CREATED",
        /// Fields other than the times changed.
        Updated => "UPDATED",
        /// Start or end moved.
        Rescheduled => "RESCHEDULED",
        /// The meeting was called off.
        Cancelled => "CANCELLED",
        /// Someone checked in.
        Attended => "ATTENDED",
        /// Nobody checked in in time.
        NoShow => "NO_SHOW",
    }
}

contract_enum! {
    /// The machine-readable code of every error answer; each has one HTTP status.
    ErrorCode {
        /// No or bad credentials.
        Unauthenticated => "UNAUTHENTICATED",
        /// The actor's role does not allow the action.
        Forbidden => "FORBIDDEN",
        /// An AI tried to cancel a meeting it did not create.
        CancelNotAllowed => "CANCEL_NOT_ALLOWED",
        /// Unknown id, or an id of another tenant.
        NotFound => "NOT_FOUND",
        /// A malformed field.
        ValidationFailed => "VALIDATION_FAILED",
        /// Times that cannot be booked.
        InvalidSlot => "INVALID_SLOT",
        /// The resource is disabled.
        ResourceDisabled => "RESOURCE_DISABLED",
        /// The slot clashes with another booking.
        Conflict => "CONFLICT",
        /// The `If-Match` etag is stale.
        PreconditionFailed => "PRECONDITION_FAILED",
        /// No Google connection, or a scope is missing.
        CalendarNotConnected => "CALENDAR_NOT_CONNECTED",
        /// The calendar cannot be read with the tenant's credentials.
        CalendarNotAccessible => "CALENDAR_NOT_ACCESSIBLE",
        /// Google refused the write.
        CalendarPermissionDenied => "CALENDAR_PERMISSION_DENIED",
        /// Google is failing or rate-limiting after retries.
        CalendarUnavailable => "CALENDAR_UNAVAILABLE",
        /// CORBI's own rate limit.
        RateLimited => "RATE_LIMITED",
        /// The request body is larger than the hub accepts.
        PayloadTooLarge => "PAYLOAD_TOO_LARGE",
        /// The path exists but not with this HTTP method.
        MethodNotAllowed => "METHOD_NOT_ALLOWED",
        /// Something broke inside CORBI; the cause is logged, not sent.
        Internal => "INTERNAL",
    }
}

impl ErrorCode {
    /// The HTTP status the contract pairs with this code.
    pub const fn http_status(self) -> u16 {
        match self {
            ErrorCode::Unauthenticated => 401,
            ErrorCode::Forbidden
            | ErrorCode::CancelNotAllowed
            | ErrorCode::CalendarPermissionDenied => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::ValidationFailed
            | ErrorCode::InvalidSlot
            | ErrorCode::ResourceDisabled
            | ErrorCode::CalendarNotAccessible => 422,
            ErrorCode::Conflict | ErrorCode::CalendarNotConnected => 409,
            ErrorCode::PreconditionFailed => 412,
            ErrorCode::CalendarUnavailable => 503,
            ErrorCode::RateLimited => 429,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::Internal => 500,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spelling_round_trips_through_parse_and_json() {
        for status in MeetingStatus::ALL {
            assert_eq!(MeetingStatus::parse(status.as_str()), Some(*status));
            let json = serde_json::to_string(status).expect("serialize");
            assert_eq!(json, alloc::format!("\"{}\"", status.as_str()));
        }
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(*code));
        }
        assert_eq!(MeetingStatus::parse("scheduled"), None);
    }

    #[test]
    fn error_codes_carry_the_contract_status() {
        assert_eq!(ErrorCode::CancelNotAllowed.http_status(), 403);
        assert_eq!(ErrorCode::CalendarNotConnected.http_status(), 409);
        assert_eq!(ErrorCode::PreconditionFailed.http_status(), 412);
        assert_eq!(ErrorCode::RateLimited.http_status(), 429);
    }
}
