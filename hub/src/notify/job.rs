//! The `notify.meeting` job: one outbox event of a meeting in, the notices of each channel that
//! announces its change type out — each recipient at most once (see the module docs).

use async_trait::async_trait;
use chrono::Utc;
use shared::{ActorType, ChangeType, Source};

use super::{
    Channel, Notifier, NotifyError,
    content::Notice,
    credentials::{self, Credentials},
    log::{self, Batch, Planned, Settled},
    sendgrid, twilio,
};
use crate::{
    db::{Db, new_id},
    jobs::{ClaimedJob, JobContext, JobError, JobHandler, outbox},
    meetings::{
        MeetingError,
        events::MeetingChanged,
        model::{Meeting, Participant},
        store,
        validate::MAX_PARTICIPANTS,
    },
    ops_stats::{self, Counter},
    resources,
    settings::{self, ChannelPreferences},
};

/// The change types a channel may announce.
const ANNOUNCED: [ChangeType; 4] = [
    ChangeType::Created,
    ChangeType::Updated,
    ChangeType::Rescheduled,
    ChangeType::Cancelled,
];

/// The handler of [`super::MEETING_KIND`].
pub struct NotifyMeeting {
    /// Vendors, keys, links, metrics.
    pub notifier: Notifier,
}

#[async_trait]
impl JobHandler for NotifyMeeting {
    async fn run(&self, ctx: &JobContext, job: &ClaimedJob) -> Result<(), JobError> {
        let outbox::Received {
            tenant_id,
            event:
                MeetingChanged {
                    meeting_id,
                    change_id,
                    change_type,
                    actor,
                    ..
                },
            ..
        } = outbox::receive::<MeetingChanged>(&job.payload)?;
        if !ANNOUNCED.contains(&change_type) || change_id.is_empty() {
            return Ok(());
        }
        let change_type = change_type.as_str().to_string();
        let db = ctx.db();
        let settings = settings::load(db, &tenant_id).await?;
        let prefs = &settings.notifications;
        let channels: Vec<(Channel, &ChannelPreferences)> = [
            (Channel::Email, &prefs.email),
            (Channel::WhatsApp, &prefs.whatsapp),
        ]
        .into_iter()
        .filter(|(_, p)| p.enabled && p.on.contains(&change_type))
        .collect();
        if channels.is_empty() {
            return Ok(());
        }
        let Some(meeting) = store::get_any(db, &tenant_id, &meeting_id)
            .await
            .map_err(retry)?
        else {
            tracing::info!(%meeting_id, "meeting gone; nothing to announce");
            return Ok(());
        };
        if let Some(why) = silenced(&meeting, actor.actor_type, prefs.external_changes) {
            tracing::info!(%meeting_id, why, "change not announced");
            return Ok(());
        }
        let participants = meeting.participants.len();
        if participants > MAX_PARTICIPANTS {
            tracing::info!(%meeting_id, participants, announced = MAX_PARTICIPANTS,
                "notices truncated to the first participants");
        }
        let notice = Notice {
            resource_name: resource_name(db, &meeting).await?,
            change_type: change_type.clone(),
            public_url: self.notifier.public_url().to_string(),
            meeting,
        };
        let credentials = usable_credentials(db, &self.notifier, &tenant_id).await?;
        let mut later = None;
        for (channel, channel_prefs) in channels {
            let batch = Batch {
                tenant_id: tenant_id.clone(),
                meeting_id: meeting_id.clone(),
                change_id: change_id.clone(),
                change_type: change_type.clone(),
                channel,
            };
            let sent = match channel {
                Channel::Email => {
                    self.email(db, &batch, &notice, channel_prefs, credentials.as_ref())
                        .await
                }
                Channel::WhatsApp => {
                    self.whatsapp(db, &batch, &notice, channel_prefs, credentials.as_ref())
                        .await
                }
            };
            if let Err(err) = sent {
                later = Some(err);
            }
        }
        later.map_or(Ok(()), Err)
    }
}

/// The tenant's credentials, or — when they cannot be opened (no key, another key, tampered)
/// — the sentence admins will read on the failed rows. Storage errors retry the job.
async fn usable_credentials(
    db: &Db,
    notifier: &Notifier,
    tenant_id: &str,
) -> Result<Result<Credentials, String>, JobError> {
    match credentials::load(db, notifier.sealer(), tenant_id).await {
        Ok(found) => Ok(Ok(found)),
        Err(NotifyError::Db(err)) => Err(err.into()),
        Err(other) => Ok(Err(format!(
            "The tenant's notification credentials cannot be read: {other}."
        ))),
    }
}

fn retry(err: MeetingError) -> JobError {
    JobError::Retry(err.to_string())
}

async fn resource_name(db: &Db, meeting: &Meeting) -> Result<Option<String>, JobError> {
    let Some(resource_id) = &meeting.resource_id else {
        return Ok(None);
    };
    match resources::get(db, &meeting.tenant_id, resource_id).await {
        Ok(resource) => Ok(Some(resource.name)),
        Err(resources::ResourceError::NotFound) => Ok(None),
        Err(other) => Err(JobError::Retry(other.to_string())),
    }
}

/// Why a change is not announced at all: the meeting is entirely over (sync storing history,
/// or a late edit), or it was made in Google and changed there while the tenant does not
/// announce such changes (`notifications.external_changes`).
fn silenced(meeting: &Meeting, actor: ActorType, external_changes: bool) -> Option<&'static str> {
    let last_end = match &meeting.recurrence {
        Some(_) => meeting.series_end,
        None => Some(meeting.end),
    };
    if last_end.is_some_and(|end| end <= Utc::now()) {
        return Some("the meeting is over");
    }
    if meeting.source == Source::External && actor == ActorType::External && !external_changes {
        return Some("made in Google, and the tenant does not announce those");
    }
    None
}

/// The first participants of the notice (at most CORBI's own limit, however many an imported
/// event carries) as a channel's recipients (or why they are skipped).
fn recipients(notice: &Notice, plan: impl Fn(&Participant) -> Planned) -> Vec<Planned> {
    notice
        .meeting
        .participants
        .iter()
        .take(MAX_PARTICIPANTS)
        .map(plan)
        .collect()
}

/// The SendGrid account of a tenant, or why email cannot be sent.
fn email_account<'a>(
    prefs: &'a ChannelPreferences,
    credentials: Result<&'a Credentials, &String>,
) -> Result<sendgrid::Account<'a>, String> {
    let credentials = credentials.map_err(Clone::clone)?;
    let api_key = credentials
        .sendgrid_api_key
        .as_deref()
        .ok_or("No SendGrid API key is set for this tenant.")?;
    let template_id = prefs
        .template_id
        .as_deref()
        .filter(|t| !t.is_empty())
        .ok_or("No email template id is set in the notification settings.")?;
    let from = prefs
        .sender
        .as_deref()
        .filter(|s| s.contains('@'))
        .ok_or("No email sender address is set in the notification settings.")?;
    Ok(sendgrid::Account {
        api_key,
        template_id,
        from,
    })
}

/// The Twilio account of a tenant, or why WhatsApp cannot be sent. The sender of the
/// settings wins over the one stored with the credentials.
fn whatsapp_account<'a>(
    prefs: &'a ChannelPreferences,
    credentials: Result<&'a Credentials, &String>,
) -> Result<twilio::Account<'a>, String> {
    let credentials = credentials.map_err(Clone::clone)?;
    let (Some(account_sid), Some(auth_token)) = (
        credentials.twilio_account_sid.as_deref(),
        credentials.twilio_auth_token.as_deref(),
    ) else {
        return Err("No Twilio account SID and auth token are set for this tenant.".into());
    };
    let from = prefs
        .sender
        .as_deref()
        .map(|s| s.strip_prefix("whatsapp:").unwrap_or(s))
        .or(credentials.twilio_whatsapp_from.as_deref())
        .filter(|s| crate::text::is_e164(s))
        .ok_or("No WhatsApp sender number (E.164) is set for this tenant.")?;
    Ok(twilio::Account {
        account_sid,
        auth_token,
        from,
    })
}

impl NotifyMeeting {
    /// Records the batch's recipients, expires abandoned attempts and, when the channel cannot
    /// be used (`account` says why), fails what is pending. Answers the account to send with,
    /// or None when sending may not go on.
    async fn prepare<A>(
        &self,
        db: &Db,
        batch: &Batch,
        planned: &[Planned],
        account: Result<A, String>,
    ) -> Result<Option<A>, JobError> {
        let new_skips = log::record(db, batch, planned).await?;
        for skipped in &new_skips {
            tracing::info!(
                meeting_id = %batch.meeting_id,
                channel = batch.channel.as_str(),
                reason = skipped.skipped.as_deref().unwrap_or_default(),
                "recipient skipped"
            );
        }
        self.notifier
            .count(batch.channel, "skipped", new_skips.len() as u64);
        let stale_before = Utc::now()
            - chrono::Duration::from_std(self.notifier.stale_after()).unwrap_or_default();
        let abandoned = log::expire_stale(db, batch, stale_before).await?;
        if abandoned > 0 {
            tracing::warn!(meeting_id = %batch.meeting_id, channel = batch.channel.as_str(), abandoned,
                "an interrupted attempt may have reached the vendor; not resending");
        }
        self.notifier.count(batch.channel, "unknown", abandoned);
        if let Err(problem) = &account {
            let problem = problem.as_str();
            let failed = log::fail_pending(db, batch, problem).await?;
            if failed > 0 {
                tracing::warn!(meeting_id = %batch.meeting_id, channel = batch.channel.as_str(), problem,
                    "notifications cannot be sent");
            }
            self.notifier.count(batch.channel, "failed", failed);
            ops_stats::record(db, &batch.tenant_id, Counter::NotificationsFailed, failed).await;
        }
        Ok(account.ok())
    }

    /// After this job's attempts: rows another attempt is still sending are waited for (the
    /// job comes back later, when they are settled or stale).
    async fn finish(&self, db: &Db, batch: &Batch, later: Option<String>) -> Result<(), JobError> {
        if let Some(reason) = later {
            return Err(JobError::Retry(reason));
        }
        if log::in_flight(db, batch).await? > 0 {
            return Err(JobError::Retry(
                "another attempt is sending these notices; checking again later".into(),
            ));
        }
        Ok(())
    }

    async fn account_settled(
        &self,
        db: &Db,
        batch: &Batch,
        rows: u64,
        settled: &Settled,
    ) -> Option<String> {
        let channel = batch.channel.as_str();
        match settled {
            Settled::Sent { vendor_id } => {
                tracing::info!(meeting_id = %batch.meeting_id, channel, rows, vendor_id = ?vendor_id, "notice sent");
                self.notifier.count(batch.channel, "sent", rows);
                ops_stats::record(db, &batch.tenant_id, Counter::NotificationsSent, rows).await;
                None
            }
            Settled::Failed(error) => {
                tracing::warn!(meeting_id = %batch.meeting_id, channel, rows, error = %error, "notice refused by the vendor");
                self.notifier.count(batch.channel, "failed", rows);
                ops_stats::record(db, &batch.tenant_id, Counter::NotificationsFailed, rows).await;
                None
            }
            Settled::Unknown(error) => {
                tracing::warn!(meeting_id = %batch.meeting_id, channel, rows, error = %error, "notice outcome unknown; not resending");
                self.notifier.count(batch.channel, "unknown", rows);
                None
            }
            Settled::Retry(error) => {
                tracing::info!(meeting_id = %batch.meeting_id, channel, rows, error = %error, "vendor unavailable; retrying later");
                self.notifier.count(batch.channel, "retry", rows);
                Some(error.clone())
            }
        }
    }

    async fn email(
        &self,
        db: &Db,
        batch: &Batch,
        notice: &Notice,
        prefs: &ChannelPreferences,
        credentials: Result<&Credentials, &String>,
    ) -> Result<(), JobError> {
        let planned = recipients(notice, |p| Planned {
            recipient: p.email.clone(),
            skipped: None,
        });
        let account = email_account(prefs, credentials);
        let Some(account) = self.prepare(db, batch, &planned, account).await? else {
            return Ok(());
        };
        let claim = new_id();
        let claimed = log::claim(db, batch, &claim, None).await?;
        if claimed.is_empty() {
            return self.finish(db, batch, None).await;
        }
        let recipients: Vec<sendgrid::Recipient> = claimed
            .iter()
            .map(|row| {
                let name = notice
                    .meeting
                    .participants
                    .iter()
                    .find(|p| p.email == row.recipient)
                    .and_then(|p| p.name.clone());
                (row.recipient.clone(), name)
            })
            .collect();
        let body = sendgrid::body(notice, &account, &recipients);
        let settled = sendgrid::send(
            &self.notifier.inner.http,
            &self.notifier.inner.config.sendgrid_base_url,
            &account,
            &body,
        )
        .await;
        let ids: Vec<String> = claimed.iter().map(|row| row.id.clone()).collect();
        log::settle(db, &claim, &ids, &settled).await?;
        let later = self
            .account_settled(db, batch, ids.len() as u64, &settled)
            .await;
        self.finish(db, batch, later).await
    }

    async fn whatsapp(
        &self,
        db: &Db,
        batch: &Batch,
        notice: &Notice,
        prefs: &ChannelPreferences,
        credentials: Result<&Credentials, &String>,
    ) -> Result<(), JobError> {
        let planned = recipients(notice, |p| match &p.phone {
            Some(phone) => Planned {
                recipient: phone.clone(),
                skipped: None,
            },
            None => Planned {
                recipient: p.email.clone(),
                skipped: Some("The participant has no phone number.".into()),
            },
        });
        let account = whatsapp_account(prefs, credentials);
        let Some(account) = self.prepare(db, batch, &planned, account).await? else {
            return Ok(());
        };
        let text = notice.whatsapp_body();
        let mut later = None;
        for plan in planned.iter().filter(|p| p.skipped.is_none()) {
            let claim = new_id();
            let Some(row) = log::claim(db, batch, &claim, Some(&plan.recipient))
                .await?
                .pop()
            else {
                continue;
            };
            let callback = self.notifier.status_callback_url(&row.id);
            let message = twilio::Message {
                to: &row.recipient,
                body: &text,
                status_callback: &callback,
            };
            let settled = twilio::send(
                &self.notifier.inner.http,
                &self.notifier.inner.config.twilio_base_url,
                &account,
                &message,
            )
            .await;
            log::settle(db, &claim, std::slice::from_ref(&row.id), &settled).await?;
            later = self.account_settled(db, batch, 1, &settled).await.or(later);
        }
        self.finish(db, batch, later).await
    }
}
