// Types of the hub's answers that the console reads, as docs/API.md and the hub's OpenAPI
// document (`npm run gen:api` writes it to schema.d.ts) describe them.

export type Role = 'admin' | 'member';

export interface Person {
  id: string;
  email: string;
  name: string;
  role: Role;
}

/** `GET /api/v1/me`: `user` is null for AI keys and devices; no CSRF token for bearer tokens. */
export interface MeAnswer {
  user: Person | null;
  tenant: { id: string; slug: string; name: string; time_zone: string };
  csrf_token?: string;
}

/** A signed-in person, as the console's pages see them. */
export interface Me extends MeAnswer {
  user: Person;
}

export interface ApiErrorBody {
  error: { code: string; message: string; details: Record<string, unknown>; correlation_id: string };
}

export type MeetingStatus = 'SCHEDULED' | 'ATTENDED' | 'NO_SHOW' | 'CANCELLED';

export interface Participant {
  email: string;
  name?: string | null;
  phone?: string | null;
  response_status?: string;
}

export interface Meeting {
  id: string;
  title: string;
  description: string | null;
  start: string;
  end: string;
  time_zone: string;
  status: MeetingStatus;
  created_by_type: 'AI' | 'HUMAN';
  created_by: string;
  source: 'CORBI' | 'EXTERNAL';
  resource_id: string | null;
  participants: Participant[];
  organizer: { email: string } | null;
  location: string | null;
  meeting_link: string | null;
  recurrence: string[];
  metadata: Record<string, unknown>;
  google: { calendar_id: string; event_id: string; etag: string | null } | null;
  checked_in_at: string | null;
  cancel_reason: string | null;
  created_at: string;
  updated_at: string;
}

export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
}

export interface Change {
  id: string;
  change_type: 'CREATED' | 'UPDATED' | 'RESCHEDULED' | 'CANCELLED' | 'ATTENDED' | 'NO_SHOW';
  actor_type: 'USER' | 'AI' | 'DEVICE' | 'SYSTEM' | 'EXTERNAL';
  actor_id: string | null;
  at: string;
  diff: Record<string, { from: unknown; to: unknown }>;
}

export interface Slot {
  start: string;
  end: string;
}

export interface Resource {
  id: string;
  name: string;
  kind: 'ROOM' | 'DEVICE';
  capacity: number | null;
  description: string | null;
  calendar_id: string;
  calendar_created: boolean;
  enabled: boolean;
  created_at: string;
  updated_at: string;
}

export interface GoogleCalendar {
  id: string;
  summary: string;
  access_role: string;
  time_zone: string | null;
  primary: boolean;
  resource_id: string | null;
}

export interface Device {
  id: string;
  resource_id: string;
  created_at: string;
  last_seen_at: string | null;
  agent_version: string | null;
  cache_version: number | null;
  outbox_len: number | null;
  revoked_at: string | null;
}

export interface EnrollmentCode {
  enrollment_code: string;
  expires_at: string;
}

export interface GoogleConnection {
  connected: boolean;
  status: 'active' | 'needs_reconsent' | null;
  status_reason: string | null;
  account_email: string | null;
  scopes: string[];
  missing_scopes: string[];
  connect_url: string;
}

export interface SyncCalendar {
  calendar_id: string;
  resource_id: string | null;
  status: 'active' | 'paused' | 'disabled';
  reason: string | null;
  failures: number;
  last_synced_at: string | null;
}

export type Channel = 'email' | 'whatsapp';
export type ChangeKind = 'CREATED' | 'UPDATED' | 'RESCHEDULED' | 'CANCELLED';

export interface ChannelSettings {
  enabled: boolean;
  on: ChangeKind[];
  template_id: string | null;
  sender: string | null;
}

export interface TenantSettings {
  time_zone: string;
  working_hours: { days: string[]; start: string; end: string };
  check_in: { opens_minutes_before: number; closes_minutes_after: number };
  auto_release: {
    enabled: boolean;
    after_minutes: number;
    exempt_longer_than_minutes: number;
    exempt_booked_within_minutes: number;
  };
  default_calendar_id: string | null;
  notifications: Record<Channel, ChannelSettings>;
}

export interface CredentialFlags {
  sendgrid_api_key_set: boolean;
  twilio_account_sid_set: boolean;
  twilio_auth_token_set: boolean;
  twilio_whatsapp_from_set: boolean;
}

export interface Job {
  id: string;
  kind: string;
  state: 'queued' | 'running' | 'done' | 'dead';
  attempts: number;
  max_attempts: number;
  last_error: string | null;
  run_at: string;
  created_at: string;
  updated_at: string;
}

export interface NotificationRow {
  id: string;
  meeting_id: string;
  change_id: string;
  change_type: string;
  channel: Channel;
  recipient: string;
  state: string;
  attempts: number;
  delivery_status: string | null;
  error: string | null;
  created_at: string;
  updated_at: string;
}

export interface User {
  id: string;
  email: string;
  name: string;
  role: Role;
  active: boolean;
  created_at: string;
}

export interface BookingRequest {
  title: string;
  start: string;
  end: string;
  time_zone?: string;
  description?: string;
  participants?: { email: string }[];
  resource_id?: string;
  meeting_link?: string;
  recurrence?: string[];
}
