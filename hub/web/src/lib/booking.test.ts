import { describe, expect, it } from 'vitest';
import { proposedSlot, splitAddresses, toBookingRequest, validateBooking, type BookingForm } from './booking';

const now = new Date('2026-12-01T08:00:00Z');
const rooms = [
  { id: 'r1', name: 'Atlas', enabled: true },
  { id: 'r2', name: 'Boole', enabled: false },
];

function form(over: Partial<BookingForm> = {}): BookingForm {
  return {
    title: 'Planning',
    start: '2026-12-01T10:00',
    end: '2026-12-01T11:00',
    zone: 'Europe/Berlin',
    resourceId: 'r1',
    participants: '',
    description: '',
    meetingLink: '',
    repeat: 'none',
    count: 1,
    ...over,
  };
}

describe('validateBooking', () => {
  it('accepts a plain booking', () => {
    expect(validateBooking(form(), rooms, now)).toEqual({});
  });

  it('needs a title of at most 300 characters', () => {
    expect(validateBooking(form({ title: '   ' }), rooms, now).title).toMatch(/title/);
    expect(validateBooking(form({ title: 'x'.repeat(301) }), rooms, now).title).toMatch(/300/);
    expect(validateBooking(form({ title: 'x'.repeat(300) }), rooms, now).title).toBeUndefined();
  });

  it('needs the end after the start and at most 24 hours later', () => {
    expect(validateBooking(form({ end: '2026-12-01T10:00' }), rooms, now).end).toMatch(/after the start/);
    expect(validateBooking(form({ end: '2026-12-01T09:00' }), rooms, now).end).toMatch(/after the start/);
    expect(validateBooking(form({ end: '2026-12-02T10:01' }), rooms, now).end).toMatch(/24 hours/);
    expect(validateBooking(form({ end: '2026-12-02T10:00' }), rooms, now).end).toBeUndefined();
  });

  it('refuses a start in the past, read in the zone', () => {
    // 08:30 in Berlin is 07:30Z, before "now".
    expect(validateBooking(form({ start: '2026-12-01T08:30' }), rooms, now).start).toMatch(/past/);
    expect(validateBooking(form({ start: '2026-12-01T08:30', zone: 'UTC' }), rooms, now).start).toBeUndefined();
  });

  it('refuses missing times and unknown zones', () => {
    expect(validateBooking(form({ start: '' }), rooms, now).start).toBeDefined();
    expect(validateBooking(form({ zone: 'Nowhere/Town' }), rooms, now).zone).toMatch(/time zone/);
  });

  it('refuses disabled and unknown resources, and allows none', () => {
    expect(validateBooking(form({ resourceId: 'r2' }), rooms, now).resourceId).toBe('Boole is disabled and cannot be booked.');
    expect(validateBooking(form({ resourceId: 'gone' }), rooms, now).resourceId).toMatch(/no longer exists/);
    expect(validateBooking(form({ resourceId: '' }), rooms, now).resourceId).toBeUndefined();
  });

  it('checks participants, the link and the description', () => {
    expect(validateBooking(form({ participants: 'a@example.com, bob' }), rooms, now).participants).toBe('bob is not an email address.');
    expect(validateBooking(form({ participants: 'a@example.com;\nb@example.com' }), rooms, now).participants).toBeUndefined();
    const many = Array.from({ length: 101 }, (_, i) => `p${i}@example.com`).join(',');
    expect(validateBooking(form({ participants: many }), rooms, now).participants).toMatch(/100/);
    expect(validateBooking(form({ meetingLink: 'ftp://x.example' }), rooms, now).meetingLink).toMatch(/http/);
    expect(validateBooking(form({ meetingLink: 'https://meet.example/abc' }), rooms, now).meetingLink).toBeUndefined();
    expect(validateBooking(form({ description: 'x'.repeat(8001) }), rooms, now).description).toMatch(/8000/);
  });

  it('bounds the number of repetitions', () => {
    expect(validateBooking(form({ repeat: 'weekly', count: 1 }), rooms, now).count).toBeDefined();
    expect(validateBooking(form({ repeat: 'weekly', count: 53 }), rooms, now).count).toBeDefined();
    expect(validateBooking(form({ repeat: 'daily', count: 5 }), rooms, now).count).toBeUndefined();
    expect(validateBooking(form({ repeat: 'none', count: 0 }), rooms, now).count).toBeUndefined();
  });
});

describe('toBookingRequest', () => {
  it('sends UTC times, the zone and only what was filled in', () => {
    expect(toBookingRequest(form())).toEqual({
      title: 'Planning',
      start: '2026-12-01T09:00:00Z',
      end: '2026-12-01T10:00:00Z',
      time_zone: 'Europe/Berlin',
      resource_id: 'r1',
    });
  });

  it('merges repeated addresses and writes the recurrence rule', () => {
    const body = toBookingRequest(
      form({ participants: 'A@example.com a@example.com b@example.com', repeat: 'weekly', count: 4, meetingLink: ' https://meet.example/x ' }),
    );
    expect(body.participants).toEqual([{ email: 'A@example.com' }, { email: 'b@example.com' }]);
    expect(body.recurrence).toEqual(['RRULE:FREQ=WEEKLY;COUNT=4']);
    expect(body.meeting_link).toBe('https://meet.example/x');
  });
});

describe('helpers', () => {
  it('splits addresses', () => {
    expect(splitAddresses(' a@x.io ,, b@x.io\n')).toEqual(['a@x.io', 'b@x.io']);
  });

  it('reads the proposed slot of a conflict', () => {
    expect(proposedSlot({ proposed_slot: { start: 's', end: 'e' } })).toEqual({ start: 's', end: 'e' });
    expect(proposedSlot({ proposed_slot: null })).toBeNull();
    expect(proposedSlot({})).toBeNull();
  });
});
