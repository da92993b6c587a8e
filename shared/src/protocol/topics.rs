//! The MQTT topic tree: one subtree per tenant and resource, so a broker ACL (where the broker has
//! them) can confine a device to `corbi/v1/{tenant}/res/{resource}/#` plus its own device topics.
//!
//! ```text
//! corbi/v1/{tenant}/res/{resource}/schedule        hub → devices  retained ScheduleSnapshot,
//!                                                                 sealed with the resource key
//! corbi/v1/{tenant}/res/{resource}/up/{device}     device → hub   CheckIn, WalkUpRequest, Heartbeat,
//!                                                                 SnapshotRequest, sealed with the
//!                                                                 device key
//! corbi/v1/{tenant}/res/{resource}/down/{device}   hub → device   CheckInResult, WalkUpResult,
//!                                                                 sealed with the device key
//! ```
//!
//! The hub subscribes to [`ALL_UP_FILTER`]. Every topic is also the AAD of its payload's seal, so a
//! payload copied to another resource's or device's topic fails to open.

use alloc::format;
use alloc::string::String;

use super::ProtocolError;

/// First levels of every topic; the `v1` moves with incompatible changes of the tree.
pub const ROOT: &str = "corbi/v1";

/// Filter matching every device's up topic, for the hub.
pub const ALL_UP_FILTER: &str = "corbi/v1/+/res/+/up/+";

/// The retained schedule topic of a resource.
pub fn schedule(tenant: &str, resource: &str) -> Result<String, ProtocolError> {
    Ok(format!("{}/schedule", resource_base(tenant, resource)?))
}

/// The topic a device publishes its messages on.
pub fn up(tenant: &str, resource: &str, device: &str) -> Result<String, ProtocolError> {
    check_segment(device)?;
    Ok(format!("{}/up/{device}", resource_base(tenant, resource)?))
}

/// The topic the hub answers a device on.
pub fn down(tenant: &str, resource: &str, device: &str) -> Result<String, ProtocolError> {
    check_segment(device)?;
    Ok(format!(
        "{}/down/{device}",
        resource_base(tenant, resource)?
    ))
}

/// Filter covering a resource's whole subtree, for broker ACLs.
pub fn resource_filter(tenant: &str, resource: &str) -> Result<String, ProtocolError> {
    Ok(format!("{}/#", resource_base(tenant, resource)?))
}

/// Which channel of a resource's subtree a topic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel<'a> {
    /// The retained schedule.
    Schedule,
    /// A device's outgoing messages.
    Up {
        /// The publishing device.
        device: &'a str,
    },
    /// The hub's answers to a device.
    Down {
        /// The addressed device.
        device: &'a str,
    },
}

/// A topic taken apart, so the hub can route by tenant, resource and device without string slicing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedTopic<'a> {
    /// The tenant level.
    pub tenant: &'a str,
    /// The resource level.
    pub resource: &'a str,
    /// What the topic carries.
    pub channel: Channel<'a>,
}

/// Parses a topic of the tree; `None` for anything else.
pub fn parse(topic: &str) -> Option<ParsedTopic<'_>> {
    let rest = topic.strip_prefix(ROOT)?.strip_prefix('/')?;
    let mut levels = rest.split('/');
    let tenant = levels.next()?;
    if levels.next()? != "res" {
        return None;
    }
    let resource = levels.next()?;
    let channel = match (levels.next()?, levels.next()) {
        ("schedule", None) => Channel::Schedule,
        ("up", Some(device)) => Channel::Up { device },
        ("down", Some(device)) => Channel::Down { device },
        _ => return None,
    };
    if levels.next().is_some() || [tenant, resource].iter().any(|s| check_segment(s).is_err()) {
        return None;
    }
    Some(ParsedTopic {
        tenant,
        resource,
        channel,
    })
}

fn resource_base(tenant: &str, resource: &str) -> Result<String, ProtocolError> {
    check_segment(tenant)?;
    check_segment(resource)?;
    Ok(format!("{ROOT}/{tenant}/res/{resource}"))
}

fn check_segment(segment: &str) -> Result<(), ProtocolError> {
    let bad = |c: char| matches!(c, '/' | '+' | '#' | '\0');
    if segment.is_empty() || segment.contains(bad) {
        Err(ProtocolError::InvalidTopicSegment)
    } else {
        Ok(())
    }
}
