//! Mosquitto's dynamic security plugin, driven by the hub (`MQTT_DYNSEC`): the broker itself
//! then checks each device's password and confines it to its topics, and nobody regenerates a
//! file by hand (`hub edge-acl` remains for static setups).
//!
//! The hub's login must hold the plugin's `admin` role (the one `mosquitto_ctrl dynsec init`
//! creates). On each connection the hub gives itself a `corbi-hub` role over the CORBI tree;
//! each enrollment creates a client named by the device id (client id bound to it, the device's
//! password) with a role `corbi-device-{id}` that may subscribe to exactly the resource's
//! schedule and the device's down topic and publish only to its up topic; a revocation deletes
//! both, and deleting the client makes Mosquitto end its session at once. Commands are plain
//! JSON published to [`CONTROL_TOPIC`]; the plugin's answers arrive on [`RESPONSE_TOPIC`] and
//! failures are logged (creating the hub's role again on reconnect fails harmlessly).

use serde_json::{Value, json};
use shared::protocol::{ProtocolError, topics};

/// Where commands go.
pub const CONTROL_TOPIC: &str = "$CONTROL/dynamic-security/v1";
/// Where the plugin answers.
pub const RESPONSE_TOPIC: &str = "$CONTROL/dynamic-security/v1/response";
/// The hub's own role.
const HUB_ROLE: &str = "corbi-hub";

fn acl(role: &str, acltype: &str, topic: &str) -> Value {
    json!({"command": "addRoleACL", "rolename": role, "acltype": acltype, "topic": topic,
           "priority": 0, "allow": true})
}

/// The hub's role over the whole CORBI tree, given to its own login.
pub fn hub_role(hub_username: &str) -> Value {
    let tree = format!("{}/#", topics::ROOT);
    json!({"commands": [
        {"command": "createRole", "rolename": HUB_ROLE},
        acl(HUB_ROLE, "publishClientSend", &tree),
        acl(HUB_ROLE, "publishClientReceive", &tree),
        acl(HUB_ROLE, "subscribePattern", &tree),
        {"command": "addClientRole", "username": hub_username, "rolename": HUB_ROLE, "priority": 0},
    ]})
}

fn device_role(device_id: &str) -> String {
    format!("corbi-device-{device_id}")
}

/// A newly enrolled device's client and role: exactly its three topics.
pub fn grant(
    tenant_id: &str,
    resource_id: &str,
    device_id: &str,
    password: &str,
) -> Result<Value, ProtocolError> {
    let role = device_role(device_id);
    let schedule = topics::schedule(tenant_id, resource_id)?;
    let down = topics::down(tenant_id, resource_id, device_id)?;
    let up = topics::up(tenant_id, resource_id, device_id)?;
    Ok(json!({"commands": [
        {"command": "createRole", "rolename": role},
        acl(&role, "subscribeLiteral", &schedule),
        acl(&role, "subscribeLiteral", &down),
        acl(&role, "publishClientReceive", &schedule),
        acl(&role, "publishClientReceive", &down),
        acl(&role, "publishClientSend", &up),
        {"command": "createClient", "username": device_id, "clientid": device_id,
         "password": password},
        {"command": "addClientRole", "username": device_id, "rolename": role, "priority": 0},
    ]}))
}

/// A revoked device's client (its session is ended) and role, deleted.
pub fn withdraw(device_id: &str) -> Value {
    json!({"commands": [
        {"command": "deleteClient", "username": device_id},
        {"command": "deleteRole", "rolename": device_role(device_id)},
    ]})
}

/// The failures in a plugin answer, as `command: error` lines.
pub fn failures(answer: &[u8]) -> Vec<String> {
    let Ok(answer) = serde_json::from_slice::<Value>(answer) else {
        return vec!["unreadable answer".into()];
    };
    answer["responses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let error = r["error"].as_str()?;
            Some(format!("{}: {error}", r["command"].as_str().unwrap_or("?")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_gets_exactly_its_three_topics() {
        let granted = grant("t1", "r1", "d1", "pw").expect("topics");
        let commands = granted["commands"].as_array().expect("commands");
        let acls: Vec<(String, String)> = commands
            .iter()
            .filter(|c| c["command"] == "addRoleACL")
            .map(|c| (c["acltype"].to_string(), c["topic"].to_string()))
            .collect();
        assert_eq!(acls.len(), 5);
        assert!(
            acls.iter()
                .all(|(_, t)| !t.contains('#') && !t.contains('+'))
        );
        assert!(acls.contains(&(
            "\"publishClientSend\"".into(),
            "\"corbi/v1/t1/res/r1/up/d1\"".into()
        )));
        assert!(grant("t1", "r1", "bad/id", "pw").is_err());
        assert_eq!(withdraw("d1")["commands"][0]["command"], "deleteClient");
        let answer = br#"{"responses":[{"command":"createRole","error":"Role already exists"},{"command":"addRoleACL"}]}"#;
        assert_eq!(failures(answer), ["createRole: Role already exists"]);
    }
}
