// The booking form: what a person types, the checks made before anything is sent (the hub
// checks again and has the last word), and the request body built from it.
import type { BookingRequest } from '../api/types';
import { fromWallClock, isValidZone, toUtcString } from './time';

export type Repeat = 'none' | 'daily' | 'weekly';

export interface BookingForm {
  title: string;
  /** `YYYY-MM-DDTHH:MM` in `zone` */
  start: string;
  end: string;
  zone: string;
  resourceId: string;
  /** Addresses separated by commas, semicolons, spaces or new lines. */
  participants: string;
  description: string;
  meetingLink: string;
  repeat: Repeat;
  /** Number of occurrences when repeating, counting the first. */
  count: number;
}

export type BookingErrors = Partial<Record<keyof BookingForm, string>>;

const EMAIL = /^[^\s@,;]+@[^\s@,;]+\.[^\s@,;]+$/;
export const MAX_TITLE = 300;
export const MAX_DESCRIPTION = 8000;
export const MAX_PARTICIPANTS = 100;
export const MAX_REPEAT = 52;

export function splitAddresses(text: string): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const raw of text.split(/[\s,;]+/)) {
    const email = raw.trim();
    if (!email) continue;
    const key = email.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(email);
  }
  return out;
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname.length > 0;
  } catch {
    return false;
  }
}

/** Checks the form; an empty object means it may be sent. */
export function validateBooking(form: BookingForm, resources: { id: string; enabled: boolean; name: string }[], now: Date = new Date()): BookingErrors {
  const errors: BookingErrors = {};
  const title = form.title.trim();
  if (!title) errors.title = 'Give the meeting a title.';
  else if (title.length > MAX_TITLE) errors.title = `The title can be at most ${MAX_TITLE} characters.`;

  if (!isValidZone(form.zone)) errors.zone = `${form.zone || 'The zone'} is not a time zone this browser knows.`;
  let start: Date | null = null;
  let end: Date | null = null;
  if (!errors.zone) {
    try {
      start = fromWallClock(form.start, form.zone);
    } catch {
      errors.start = 'Choose when the meeting starts.';
    }
    try {
      end = fromWallClock(form.end, form.zone);
    } catch {
      errors.end = 'Choose when the meeting ends.';
    }
  }
  if (start && end) {
    if (end.getTime() <= start.getTime()) errors.end = 'The end must be after the start.';
    else if (end.getTime() - start.getTime() > 24 * 3600000) errors.end = 'A meeting can last at most 24 hours.';
    if (start.getTime() < now.getTime() - 60000) errors.start = 'The start is in the past; choose a later time.';
  }

  if (form.resourceId) {
    const resource = resources.find((r) => r.id === form.resourceId);
    if (!resource) errors.resourceId = 'That room or device no longer exists; choose another.';
    else if (!resource.enabled) errors.resourceId = `${resource.name} is disabled and cannot be booked.`;
  }

  const addresses = splitAddresses(form.participants);
  const bad = addresses.filter((a) => !EMAIL.test(a));
  if (bad.length > 0) errors.participants = `${bad[0]} is not an email address.`;
  else if (addresses.length > MAX_PARTICIPANTS) errors.participants = `At most ${MAX_PARTICIPANTS} participants can be invited.`;

  if (form.description.length > MAX_DESCRIPTION) errors.description = `The description can be at most ${MAX_DESCRIPTION} characters.`;
  const link = form.meetingLink.trim();
  if (link && !isHttpUrl(link)) errors.meetingLink = 'The meeting link must be an http or https address.';

  if (form.repeat !== 'none' && (!Number.isInteger(form.count) || form.count < 2 || form.count > MAX_REPEAT)) {
    errors.count = `Repeat between 2 and ${MAX_REPEAT} times.`;
  }
  return errors;
}

/** The `POST /api/v1/calendar/events` body for a valid form. */
export function toBookingRequest(form: BookingForm): BookingRequest {
  const body: BookingRequest = {
    title: form.title.trim(),
    start: toUtcString(fromWallClock(form.start, form.zone)),
    end: toUtcString(fromWallClock(form.end, form.zone)),
    time_zone: form.zone,
  };
  const description = form.description.trim();
  if (description) body.description = description;
  const participants = splitAddresses(form.participants);
  if (participants.length) body.participants = participants.map((email) => ({ email }));
  if (form.resourceId) body.resource_id = form.resourceId;
  const link = form.meetingLink.trim();
  if (link) body.meeting_link = link;
  if (form.repeat !== 'none') body.recurrence = [`RRULE:FREQ=${form.repeat === 'daily' ? 'DAILY' : 'WEEKLY'};COUNT=${form.count}`];
  return body;
}

/** A proposed slot from a CONFLICT answer's details, if it has one. */
export function proposedSlot(details: Record<string, unknown>): { start: string; end: string } | null {
  const slot = details.proposed_slot as { start?: unknown; end?: unknown } | null | undefined;
  if (slot && typeof slot.start === 'string' && typeof slot.end === 'string') return { start: slot.start, end: slot.end };
  return null;
}
