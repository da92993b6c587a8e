//! The tool catalogue: fixed names, descriptions written for a model, argument schemas from
//! the REST API's own parameter and body types, output schemas from its answer types, and
//! hints. [`call`] checks the arguments against the schema, then calls exactly what the REST
//! handler of the same question calls.

use std::sync::{Arc, OnceLock};

use chrono_tz::Tz;
use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::{Value, json};

use super::{
    McpState,
    schema::{self, Args},
    sentences,
};
use crate::{
    auth::Actor,
    error::{ApiError, FieldError, parse_json},
    meetings::{
        model::Meeting,
        queries::{self, Interval, ListParams, RoomParams, SlotList, SlotParams},
        routes::CancelBody,
        service, store,
        validate::{MeetingPatch, NewMeeting},
        view::{MeetingList, MeetingView},
    },
    resources::{self, Resource, ResourceList},
};

/// The meeting a tool acts on (the `{id}` of the REST paths).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct MeetingRef {
    /// The meeting's id, as `book_meeting`, `list_meetings` or `find` answers gave it.
    pub meeting_id: String,
}

/// What makes a booking safe to repeat (the REST `Idempotency-Key` header).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct BookingKey {
    /// Any text up to 255 characters, unique per booking attempt: repeating the call with the
    /// same key answers the first booking instead of booking twice.
    #[schema(max_length = 255)]
    pub idempotency_key: Option<String>,
}

/// What a tool answered: the structured result and the sentence to say.
pub struct Answer {
    /// The result, as the REST API answers it.
    pub structured: Value,
    /// A short sentence for the agent to say.
    pub summary: String,
}

/// The names of the tools, in the order they are listed.
pub const NAMES: [&str; 8] = [
    "find_free_slots",
    "find_available_rooms",
    "book_meeting",
    "reschedule_meeting",
    "cancel_meeting",
    "list_meetings",
    "get_meeting",
    "list_resources",
];

/// How a tool touches the calendar.
#[derive(Clone, Copy)]
enum Effect {
    /// Only reads.
    Reads,
    /// Adds a booking.
    Adds,
    /// Changes or removes a booking; the same call twice ends in the same state.
    Changes,
}

fn tool(
    name: &'static str,
    title: &str,
    description: &'static str,
    effect: Effect,
    input: JsonObject,
    output: JsonObject,
) -> Tool {
    let (read_only, destructive, idempotent) = match effect {
        Effect::Reads => (true, false, true),
        Effect::Adds => (false, false, false),
        Effect::Changes => (false, true, true),
    };
    let hints = ToolAnnotations::from_raw(
        Some(title.to_string()),
        Some(read_only),
        Some(destructive),
        Some(idempotent),
        Some(false),
    );
    Tool::new(name, description, Arc::new(input))
        .with_title(title)
        .with_raw_output_schema(Arc::new(output))
        .with_annotations(hints)
}

/// Every tool, built once.
pub fn catalogue() -> &'static [Tool] {
    static TOOLS: OnceLock<Vec<Tool>> = OnceLock::new();
    TOOLS.get_or_init(build_catalogue)
}

fn build_catalogue() -> Vec<Tool> {
    vec![
        tool(
            "find_free_slots",
            "Find free slots",
            "Finds the earliest free time slots of a given length, inside the organisation's working \
             hours, when the room (resource_id) and the participants who use CORBI are all free. \
             Call it before book_meeting when the caller has not fixed an exact time. Times are \
             RFC 3339 with an offset; answers are in UTC, and the summary says them in time_zone.",
            Effect::Reads,
            Args::from::<SlotParams>()
                .only(&[
                    "duration_minutes",
                    "from",
                    "to",
                    "time_zone",
                    "resource_id",
                    "participants",
                ])
                .require(&["duration_minutes", "from", "to", "time_zone"])
                .build(),
            schema::of::<SlotList>(),
        ),
        tool(
            "find_available_rooms",
            "Find available rooms",
            "Lists the rooms that are free for the whole range from..to, with at least \
             min_capacity seats. Use it when the caller wants a room but has not named one; then \
             book one of them with book_meeting and its id as resource_id.",
            Effect::Reads,
            Args::from::<RoomParams>()
                .require(&["from", "to", "time_zone"])
                .build(),
            schema::of::<ResourceList>(),
        ),
        tool(
            "book_meeting",
            "Book a meeting",
            "Books a meeting, in a room or device when resource_id is given, and writes it to \
             Google Calendar (participants are invited). start and end are RFC 3339 with an \
             offset. If the slot is taken the result is an error whose text names the clash and \
             proposes the next free slot: offer that to the caller. Send an idempotency_key so \
             that a retried call does not book twice.",
            Effect::Adds,
            Args::from::<NewMeeting>()
                .only(&[
                    "title",
                    "start",
                    "end",
                    "time_zone",
                    "resource_id",
                    "participants",
                    "description",
                    "meeting_link",
                ])
                .and::<BookingKey>()
                .require(&["title", "start", "end", "time_zone"])
                .build(),
            schema::of::<MeetingView>(),
        ),
        tool(
            "reschedule_meeting",
            "Reschedule a meeting",
            "Moves a meeting to a new start and end (RFC 3339 with an offset), and to another \
             room when resource_id is given. Conflicts are checked as for a booking. An AI agent \
             may only move meetings an AI booked.",
            Effect::Changes,
            Args::from::<MeetingRef>()
                .and::<MeetingPatch>()
                .only(&["meeting_id", "start", "end", "time_zone", "resource_id"])
                .require(&["start", "end"])
                .build(),
            schema::of::<MeetingView>(),
        ),
        tool(
            "cancel_meeting",
            "Cancel a meeting",
            "Cancels a meeting; Google tells the participants, with the reason if one is given. \
             Cancelling an already cancelled meeting answers it again. An AI agent may only \
             cancel meetings an AI booked; for a person's meeting, tell the caller to ask that \
             person or an administrator.",
            Effect::Changes,
            Args::from::<MeetingRef>().and::<CancelBody>().build(),
            schema::of::<MeetingView>(),
        ),
        tool(
            "list_meetings",
            "List meetings",
            "Lists meetings overlapping from..to (RFC 3339), by start time, optionally only in \
             one room (resource_id), in one state (status: SCHEDULED, ATTENDED, NO_SHOW, \
             CANCELLED) or with one participant's address. Use it to find the meeting_id of a \
             meeting the caller talks about.",
            Effect::Reads,
            Args::from::<ListParams>()
                .only(&["from", "to", "resource_id", "status", "participant"])
                .build(),
            schema::of::<MeetingList>(),
        ),
        tool(
            "get_meeting",
            "Get a meeting",
            "Reads one meeting by its id: title, times, room, participants and status.",
            Effect::Reads,
            Args::from::<MeetingRef>().build(),
            schema::of::<MeetingView>(),
        ),
        tool(
            "list_resources",
            "List rooms and devices",
            "Lists the organisation's rooms (with seats) and bookable devices, with the ids to \
             use as resource_id.",
            Effect::Reads,
            Args::none().build(),
            schema::of::<ResourceList>(),
        ),
    ]
}

/// The tool of that name, if there is one.
pub fn find(name: &str) -> Option<&'static Tool> {
    catalogue().iter().find(|t| t.name == name)
}

/// Refuses arguments the tool does not take, and missing required ones, naming each.
fn check_arguments(tool: &Tool, args: &JsonObject) -> Result<(), ApiError> {
    let (known, required) = schema::property_names(&tool.input_schema);
    let mut problems: Vec<FieldError> = args
        .keys()
        .filter(|k| !known.contains(k))
        .map(|k| FieldError::new(k.clone(), "this tool has no such argument"))
        .collect();
    problems.extend(
        required
            .iter()
            .filter(|r| args.get(*r).is_none_or(Value::is_null))
            .map(|r| FieldError::new(r.clone(), "required")),
    );
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(problems))
    }
}

/// Reads arguments into a REST type, with the REST API's field errors.
fn parse<T: DeserializeOwned>(args: JsonObject) -> Result<T, ApiError> {
    let bytes = serde_json::to_vec(&Value::Object(args)).map_err(ApiError::internal)?;
    parse_json(&bytes)
}

/// Takes the `meeting_id` argument out of the rest.
fn meeting_id(args: &mut JsonObject) -> Result<String, ApiError> {
    match args.remove("meeting_id") {
        Some(Value::String(id)) if !id.trim().is_empty() => Ok(id.trim().to_string()),
        _ => Err(ApiError::validation(vec![FieldError::new(
            "meeting_id",
            "give the meeting's id",
        )])),
    }
}

fn zone_or_utc(name: Option<&str>) -> Tz {
    name.and_then(|n| n.parse().ok()).unwrap_or(chrono_tz::UTC)
}

fn answer<T: serde::Serialize>(structured: &T, summary: String) -> Answer {
    Answer {
        structured: json!(structured),
        summary,
    }
}

async fn room_of(state: &McpState, actor: &Actor, meeting: &Meeting) -> Option<Resource> {
    let id = meeting.resource_id.as_deref()?;
    resources::get(&state.meetings.db, &actor.tenant_id, id)
        .await
        .ok()
}

/// Runs a tool for the actor. The name is one of [`NAMES`] (the server checked it).
pub async fn call(
    state: &McpState,
    actor: &Actor,
    tool: &Tool,
    mut args: JsonObject,
) -> Result<Answer, ApiError> {
    check_arguments(tool, &args)?;
    let meetings = &state.meetings;
    match tool.name.as_ref() {
        "find_free_slots" => {
            let params: SlotParams = parse(args)?;
            let found = queries::free_slots(meetings, actor, &params).await?;
            let zone = zone_or_utc(params.time_zone.as_deref());
            let list = SlotList {
                slots: found.iter().map(Interval::from).collect(),
            };
            Ok(answer(&list, sentences::slots(&found, zone)))
        }
        "find_available_rooms" => {
            let params: RoomParams = parse(args)?;
            let items = queries::available_rooms(meetings, actor, &params).await?;
            let (from, to) = queries::range(
                params.from.as_deref(),
                params.to.as_deref(),
                chrono::Duration::hours(1),
            )?;
            let zone = zone_or_utc(params.time_zone.as_deref());
            let summary = sentences::free_rooms(&items, from, to, zone);
            Ok(answer(&ResourceList { items }, summary))
        }
        "book_meeting" => {
            let key = match args.remove("idempotency_key") {
                None | Some(Value::Null) => None,
                Some(Value::String(k)) if k.len() <= 255 => Some(k),
                Some(_) => {
                    return Err(ApiError::validation(vec![FieldError::new(
                        "idempotency_key",
                        "text of at most 255 characters",
                    )]));
                }
            };
            let body: NewMeeting = parse(args)?;
            let (meeting, created) = service::create(meetings, actor, body, key.as_deref()).await?;
            let room = room_of(state, actor, &meeting).await;
            let summary = sentences::booked(&meeting, room.as_ref(), created);
            Ok(answer(&MeetingView::for_actor(&meeting, actor), summary))
        }
        "reschedule_meeting" => {
            let id = meeting_id(&mut args)?;
            let patch: MeetingPatch = parse(args)?;
            let meeting = service::update(meetings, actor, &id, patch, None).await?;
            let room = room_of(state, actor, &meeting).await;
            let summary = sentences::rescheduled(&meeting, room.as_ref());
            Ok(answer(&MeetingView::for_actor(&meeting, actor), summary))
        }
        "cancel_meeting" => {
            let id = meeting_id(&mut args)?;
            let body: CancelBody = parse(args)?;
            let meeting = service::cancel(meetings, actor, &id, body.reason).await?;
            Ok(answer(
                &MeetingView::for_actor(&meeting, actor),
                sentences::cancelled(&meeting),
            ))
        }
        "list_meetings" => {
            let params: ListParams = parse(args)?;
            let page = queries::list(meetings, actor, &params).await?;
            let summary = sentences::meetings(&page.items, page.next_cursor.is_some());
            Ok(answer(&page.view_for(actor), summary))
        }
        "get_meeting" => {
            let id = meeting_id(&mut args)?;
            let meeting = store::get(&meetings.db, &actor.tenant_id, &id).await?;
            let room = room_of(state, actor, &meeting).await;
            let summary = sentences::meeting(&meeting, room.as_ref());
            Ok(answer(&MeetingView::for_actor(&meeting, actor), summary))
        }
        "list_resources" => {
            let items = resources::list(&meetings.db, &actor.tenant_id).await?;
            let summary = sentences::resources(&items);
            Ok(answer(&ResourceList { items }, summary))
        }
        _ => Err(ApiError::not_found("tool")),
    }
}
