//! The event a resource emits when it starts or stops taking bookings, so the capabilities
//! that follow resources (sync watches their calendars) react without being called.

use serde::{Deserialize, Serialize};

use crate::{
    db::{DbError, Tx},
    jobs::{Queue, outbox},
};

/// The version this release writes.
pub const RESOURCE_CHANGED_VERSION: u32 = 1;

/// The outbox prefix of every resource event.
pub const RESOURCE_EVENTS: &str = "resource.";

/// What happened to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResourceChange {
    /// Onboarded with its calendar.
    Onboarded,
    /// Enabled again: takes bookings.
    Enabled,
    /// Disabled: keeps its history, refuses bookings.
    Disabled,
}

/// A resource was onboarded, enabled or disabled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceChanged {
    /// Payload version.
    pub version: u32,
    /// The resource.
    pub resource_id: String,
    /// What happened.
    pub change: ResourceChange,
}

impl outbox::OutboxEvent for ResourceChanged {
    fn event_type(&self) -> String {
        let change = match self.change {
            ResourceChange::Onboarded => "onboarded",
            ResourceChange::Enabled => "enabled",
            ResourceChange::Disabled => "disabled",
        };
        format!("{RESOURCE_EVENTS}{change}")
    }

    fn subject_id(&self) -> &str {
        &self.resource_id
    }
}

/// Records the change in the caller's transaction (call [`Queue::notify_workers`] after the
/// commit).
pub async fn emit(
    queue: &Queue,
    tx: &mut Tx,
    tenant_id: &str,
    resource_id: &str,
    change: ResourceChange,
) -> Result<(), DbError> {
    let event = ResourceChanged {
        version: RESOURCE_CHANGED_VERSION,
        resource_id: resource_id.to_string(),
        change,
    };
    outbox::emit_typed(queue, tx, tenant_id, &event).await?;
    Ok(())
}
