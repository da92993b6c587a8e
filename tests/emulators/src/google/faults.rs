//! Fault injection: queued error answers and latency for API calls, misbehaving push deliveries,
//! and spoiled ID tokens. Faults are consumed in order; each rule answers its next `count` matching
//! calls.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::error::ApiError;

/// A fault for Calendar or OAuth calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Fault {
    /// 403 `usageLimits/rateLimitExceeded`.
    RateLimitExceeded,
    /// 403 `usageLimits/userRateLimitExceeded`.
    UserRateLimitExceeded,
    /// 429 `rateLimitExceeded` with `Retry-After`.
    TooManyRequests {
        /// Seconds sent in `Retry-After`.
        #[serde(rename = "retryAfterSecs", default = "one")]
        retry_after_secs: u64,
    },
    /// 500 `backendError`.
    BackendError,
    /// 503 `backendError`.
    ServiceUnavailable,
    /// The call is answered normally, after this delay.
    Latency {
        /// Added delay in milliseconds.
        millis: u64,
    },
}

fn one() -> u64 {
    1
}

impl Fault {
    /// The error this fault answers with; `None` for latency.
    pub fn error(&self) -> Option<ApiError> {
        match self {
            Fault::RateLimitExceeded => Some(ApiError::rate_limit()),
            Fault::UserRateLimitExceeded => Some(ApiError::user_rate_limit()),
            Fault::TooManyRequests { retry_after_secs } => {
                Some(ApiError::too_many_requests(*retry_after_secs))
            }
            Fault::BackendError => Some(ApiError::backend(500)),
            Fault::ServiceUnavailable => Some(ApiError::backend(503)),
            Fault::Latency { .. } => None,
        }
    }
}

/// A misbehaviour of push delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum PushFault {
    /// The notification is delivered twice.
    Duplicate,
    /// The notification is delivered after this delay (later ones overtake it).
    Delay {
        /// Delay in milliseconds.
        millis: u64,
    },
    /// The notification is held back and delivered after the next one.
    Reorder,
    /// The notification is never delivered.
    Drop,
    /// A stopped channel still receives this notification.
    DeliverAfterStop,
}

/// A defect of the next ID token(s) the token endpoint issues, for relying parties' negative tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum IdTokenFault {
    /// Signed with another RSA key under the published key's `kid`.
    BadSignature,
    /// `aud` names another client.
    WrongAudience,
    /// `iss` is not the emulator's issuer.
    WrongIssuer,
    /// `exp` (and `iat`) lie in the past.
    Expired,
    /// `nonce` differs from the one sent to the authorization endpoint.
    WrongNonce,
}

/// A queued API fault with the calls it still applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRule {
    /// Method id it applies to (`calendar.events.list`, `oauth.token`, ...); `None` means any call.
    pub op: Option<String>,
    /// What happens.
    pub fault: Fault,
    /// How many more calls it answers.
    pub count: u32,
}

/// Queued faults.
#[derive(Debug, Default)]
pub struct FaultQueue {
    api: VecDeque<FaultRule>,
    push: VecDeque<(PushFault, u32)>,
    id_token: VecDeque<(IdTokenFault, u32)>,
}

impl FaultQueue {
    /// Queues an API fault.
    pub fn push_api(&mut self, rule: FaultRule) {
        if rule.count > 0 {
            self.api.push_back(rule);
        }
    }

    /// Queues a push fault for the next `count` notifications.
    pub fn push_push(&mut self, fault: PushFault, count: u32) {
        if count > 0 {
            self.push.push_back((fault, count));
        }
    }

    /// Queues an ID token fault for the next `count` ID tokens.
    pub fn push_id_token(&mut self, fault: IdTokenFault, count: u32) {
        if count > 0 {
            self.id_token.push_back((fault, count));
        }
    }

    /// Removes every queued fault.
    pub fn clear(&mut self) {
        self.api.clear();
        self.push.clear();
        self.id_token.clear();
    }

    /// Takes the fault for the ID token about to be issued, if any.
    pub fn take_id_token(&mut self) -> Option<IdTokenFault> {
        take_one(&mut self.id_token, 0, |r| &mut r.1).map(|r| r.0)
    }

    /// Takes the next fault that applies to `op`.
    pub fn take_api(&mut self, op: &str) -> Option<Fault> {
        let index = self
            .api
            .iter()
            .position(|r| r.op.as_deref().is_none_or(|o| o == op))?;
        take_one(&mut self.api, index, |r| &mut r.count).map(|r| r.fault)
    }

    /// Takes the next push fault, if any.
    pub fn take_push(&mut self) -> Option<PushFault> {
        take_one(&mut self.push, 0, |r| &mut r.1).map(|r| r.0)
    }

    /// Takes a `DeliverAfterStop` fault if one is queued.
    pub fn take_deliver_after_stop(&mut self) -> bool {
        let Some(index) = self
            .push
            .iter()
            .position(|r| r.0 == PushFault::DeliverAfterStop)
        else {
            return false;
        };
        take_one(&mut self.push, index, |r| &mut r.1).is_some()
    }
}

fn take_one<T: Clone>(
    queue: &mut VecDeque<T>,
    index: usize,
    count: impl Fn(&mut T) -> &mut u32,
) -> Option<T> {
    let rule = queue.get_mut(index)?;
    let left = count(rule);
    *left = left.saturating_sub(1);
    let exhausted = *left == 0;
    let taken = rule.clone();
    if exhausted {
        queue.remove(index);
    }
    Some(taken)
}

/// A command of the admin endpoint `POST /_emulator/faults`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum AdminCommand {
    /// Queue an API fault: `{"action":"inject","op":"calendar.events.list","count":2,"fault":{"kind":"backendError"}}`.
    Inject {
        /// Method id, or absent for any call.
        #[serde(default)]
        op: Option<String>,
        /// Number of calls (default 1).
        #[serde(default = "one_u32")]
        count: u32,
        /// The fault.
        fault: Fault,
    },
    /// Queue a push fault: `{"action":"push","count":1,"fault":{"kind":"drop"}}`.
    Push {
        /// Number of notifications (default 1).
        #[serde(default = "one_u32")]
        count: u32,
        /// The fault.
        fault: PushFault,
    },
    /// Spoil the next ID tokens: `{"action":"idToken","count":1,"fault":{"kind":"badSignature"}}`.
    IdToken {
        /// Number of ID tokens (default 1).
        #[serde(default = "one_u32")]
        count: u32,
        /// The defect.
        fault: IdTokenFault,
    },
    /// Expire every access token of an account now.
    ExpireAccessTokens {
        /// Account email.
        email: String,
    },
    /// Revoke every refresh token (grant) of an account.
    RevokeRefreshTokens {
        /// Account email.
        email: String,
    },
    /// Make every sync token of a calendar answer 410.
    InvalidateSyncTokens {
        /// Calendar id.
        #[serde(rename = "calendarId")]
        calendar_id: String,
    },
    /// Drop every queued fault.
    Clear,
}

fn one_u32() -> u32 {
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_apply_to_their_op_and_run_out() {
        let mut q = FaultQueue::default();
        q.push_api(FaultRule {
            op: Some("calendar.events.list".into()),
            fault: Fault::BackendError,
            count: 2,
        });
        assert_eq!(q.take_api("calendar.events.get"), None);
        assert_eq!(
            q.take_api("calendar.events.list"),
            Some(Fault::BackendError)
        );
        assert_eq!(
            q.take_api("calendar.events.list"),
            Some(Fault::BackendError)
        );
        assert_eq!(q.take_api("calendar.events.list"), None);
    }

    #[test]
    fn id_token_faults_run_out_and_parse() {
        let mut q = FaultQueue::default();
        q.push_id_token(IdTokenFault::Expired, 1);
        assert_eq!(q.take_id_token(), Some(IdTokenFault::Expired));
        assert_eq!(q.take_id_token(), None);
        let cmd: AdminCommand =
            serde_json::from_str(r#"{"action":"idToken","count":2,"fault":{"kind":"wrongNonce"}}"#)
                .expect("parse");
        assert_eq!(
            cmd,
            AdminCommand::IdToken {
                count: 2,
                fault: IdTokenFault::WrongNonce
            }
        );
    }

    #[test]
    fn admin_command_json() {
        let cmd: AdminCommand = serde_json::from_str(
            r#"{"action":"inject","fault":{"kind":"tooManyRequests","retryAfterSecs":3}}"#,
        )
        .expect("parse");
        assert_eq!(
            cmd,
            AdminCommand::Inject {
                op: None,
                count: 1,
                fault: Fault::TooManyRequests {
                    retry_after_secs: 3
                }
            }
        );
    }
}
