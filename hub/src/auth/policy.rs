//! Who may do what (docs/API.md, "Who may do what"), in one place so every capability asks the same
//! rules. Each refusal carries the contract code and a sentence that says why and what the
//! caller may do instead.

use shared::{ActorType, CreatedByType, ErrorCode};

use super::Actor;
use crate::error::ApiError;

/// A refusal by the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The contract code (FORBIDDEN or CANCEL_NOT_ALLOWED).
    pub code: ErrorCode,
    /// A sentence a voice agent can read aloud.
    pub sentence: &'static str,
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        ApiError::new(refusal.code, refusal.sentence)
    }
}

/// What is being done to an existing meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeetingAction {
    /// Change fields or times.
    Update,
    /// Call it off.
    Cancel,
}

/// Who made a meeting: the facts the rules look at.
#[derive(Debug, Clone, Copy)]
pub struct MeetingOrigin<'a> {
    /// AI or HUMAN.
    pub created_by_type: CreatedByType,
    /// The user id or API key id that created it.
    pub created_by: &'a str,
}

/// Things only people do (the people list): no AI key and no device.
pub fn require_person(actor: &Actor) -> Result<(), Refusal> {
    if actor.actor_type == ActorType::User {
        Ok(())
    } else {
        Err(Refusal {
            code: ErrorCode::Forbidden,
            sentence: "Only a person signed in to CORBI can see that.",
        })
    }
}

/// Tenant administration (resources, settings, jobs): admins only.
pub fn require_admin(actor: &Actor) -> Result<(), Refusal> {
    if actor.is_admin() {
        Ok(())
    } else {
        Err(Refusal {
            code: ErrorCode::Forbidden,
            sentence: "Only a tenant administrator can do that. Ask an administrator for help.",
        })
    }
}

/// Booking a resource: a device books only the resource it is bound to (walk-up at the door);
/// everyone else books any resource of the tenant.
pub fn may_book(actor: &Actor, resource_id: Option<&str>) -> Result<(), Refusal> {
    if actor.actor_type != ActorType::Device
        || (resource_id.is_some() && actor.resource_id.as_deref() == resource_id)
    {
        Ok(())
    } else {
        Err(Refusal {
            code: ErrorCode::Forbidden,
            sentence: "This device can only book the room it belongs to.",
        })
    }
}

/// Updating or cancelling a meeting: an AI only what an AI created, a member what they created,
/// an admin anything in the tenant. Devices and others may not.
pub fn may_change_meeting(
    actor: &Actor,
    action: MeetingAction,
    origin: MeetingOrigin<'_>,
) -> Result<(), Refusal> {
    match actor.actor_type {
        ActorType::Ai if origin.created_by_type == CreatedByType::Ai => Ok(()),
        ActorType::Ai => Err(ai_refusal(action)),
        ActorType::User if actor.is_admin() || origin.created_by == actor.id => Ok(()),
        ActorType::User => Err(Refusal {
            code: ErrorCode::Forbidden,
            sentence: "You can only change meetings you created. Ask the organizer or an administrator.",
        }),
        ActorType::Device | ActorType::System | ActorType::External => Err(Refusal {
            code: ErrorCode::Forbidden,
            sentence: "This device cannot change meetings. Use the CORBI app or Google Calendar.",
        }),
    }
}

fn ai_refusal(action: MeetingAction) -> Refusal {
    match action {
        MeetingAction::Cancel => Refusal {
            code: ErrorCode::CancelNotAllowed,
            sentence: "I can only cancel meetings that an AI assistant booked. This one was booked by a person, so please ask them or an administrator to cancel it.",
        },
        MeetingAction::Update => Refusal {
            code: ErrorCode::Forbidden,
            sentence: "I can only change meetings that an AI assistant booked. This one was booked by a person, so please ask them or an administrator to change it.",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    fn actor(actor_type: ActorType, id: &str, role: Option<Role>) -> Actor {
        Actor {
            tenant_id: "t".into(),
            actor_type,
            id: id.into(),
            role,
            resource_id: None,
        }
    }

    const HUMAN_BY_ANA: MeetingOrigin<'static> = MeetingOrigin {
        created_by_type: CreatedByType::Human,
        created_by: "ana",
    };
    const BY_AI: MeetingOrigin<'static> = MeetingOrigin {
        created_by_type: CreatedByType::Ai,
        created_by: "key-1",
    };

    #[test]
    fn an_ai_changes_only_what_an_ai_created() {
        let ai = actor(ActorType::Ai, "key-2", None);
        assert!(may_change_meeting(&ai, MeetingAction::Cancel, BY_AI).is_ok());
        assert!(may_change_meeting(&ai, MeetingAction::Update, BY_AI).is_ok());
        let cancel = may_change_meeting(&ai, MeetingAction::Cancel, HUMAN_BY_ANA);
        assert_eq!(cancel.map_err(|r| r.code), Err(ErrorCode::CancelNotAllowed));
        let update = may_change_meeting(&ai, MeetingAction::Update, HUMAN_BY_ANA);
        assert_eq!(update.map_err(|r| r.code), Err(ErrorCode::Forbidden));
    }

    #[test]
    fn members_change_their_own_and_admins_everything() {
        let ana = actor(ActorType::User, "ana", Some(Role::Member));
        let bob = actor(ActorType::User, "bob", Some(Role::Member));
        let admin = actor(ActorType::User, "root", Some(Role::Admin));
        assert!(may_change_meeting(&ana, MeetingAction::Cancel, HUMAN_BY_ANA).is_ok());
        assert!(may_change_meeting(&bob, MeetingAction::Cancel, HUMAN_BY_ANA).is_err());
        assert!(may_change_meeting(&admin, MeetingAction::Update, HUMAN_BY_ANA).is_ok());
        assert!(may_change_meeting(&admin, MeetingAction::Cancel, BY_AI).is_ok());
        assert!(require_admin(&admin).is_ok());
        assert!(require_admin(&ana).is_err());
    }

    #[test]
    fn devices_do_not_change_meetings() {
        let device = actor(ActorType::Device, "dev", None);
        assert!(may_change_meeting(&device, MeetingAction::Update, HUMAN_BY_ANA).is_err());
    }
}
