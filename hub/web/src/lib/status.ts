// How a meeting's status reads to a person.
import type { MeetingStatus } from '../api/types';

export const STATUS_LABEL: Record<MeetingStatus, string> = {
  SCHEDULED: 'booked',
  ATTENDED: 'attended',
  NO_SHOW: 'no-show',
  CANCELLED: 'cancelled',
};

/** "released" when auto-release gave the room back (a system no-show that shortened it). */
export function statusLabel(m: { status: MeetingStatus; metadata?: Record<string, unknown> }): string {
  if (m.status === 'NO_SHOW' && m.metadata && m.metadata.released === true) return 'released';
  return STATUS_LABEL[m.status] ?? m.status.toLowerCase();
}
