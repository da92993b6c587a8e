import { describe, expect, it } from 'vitest';
import {
  addDays,
  formatRange,
  fromWallClock,
  isValidZone,
  isYmd,
  offsetMinutes,
  startOfWeek,
  toInputValue,
  todayIn,
  toUtcString,
  toWallClock,
  viewRange,
} from './time';

describe('wall clock <-> instant', () => {
  it('shows an instant in a zone', () => {
    expect(toWallClock('2026-12-01T09:00:00Z', 'Europe/Berlin')).toBe('2026-12-01T10:00:00');
    expect(toWallClock('2026-07-01T09:00:00Z', 'Europe/Berlin')).toBe('2026-07-01T11:00:00');
    expect(toWallClock('2026-12-01T09:00:00Z', 'America/New_York')).toBe('2026-12-01T04:00:00');
    expect(toWallClock('2026-12-01T23:30:00Z', 'Asia/Kolkata')).toBe('2026-12-02T05:00:00');
  });

  it('finds the instant of a wall-clock time', () => {
    expect(toUtcString(fromWallClock('2026-12-01T10:00', 'Europe/Berlin'))).toBe('2026-12-01T09:00:00Z');
    expect(toUtcString(fromWallClock('2026-07-01T10:00', 'Europe/Berlin'))).toBe('2026-07-01T08:00:00Z');
    expect(toUtcString(fromWallClock('2026-12-01T10:00:00', 'UTC'))).toBe('2026-12-01T10:00:00Z');
  });

  it('round-trips every hour across a DST change', () => {
    for (let h = 0; h < 72; h++) {
      const instant = new Date(Date.UTC(2026, 2, 28, h));
      const wall = toWallClock(instant, 'Europe/Berlin');
      expect(fromWallClock(wall, 'Europe/Berlin').getTime()).toBe(instant.getTime());
    }
  });

  it('takes the time after a spring-forward gap and the earlier of an overlap', () => {
    // 2026-03-29 02:30 does not exist in Berlin.
    expect(toUtcString(fromWallClock('2026-03-29T02:30', 'Europe/Berlin'))).toBe('2026-03-29T01:30:00Z');
    // 2026-10-25 02:30 happens twice; the first is 00:30Z (CEST).
    expect(toUtcString(fromWallClock('2026-10-25T02:30', 'Europe/Berlin'))).toBe('2026-10-25T00:30:00Z');
  });

  it('knows offsets', () => {
    expect(offsetMinutes(new Date('2026-12-01T00:00:00Z'), 'Europe/Berlin')).toBe(60);
    expect(offsetMinutes(new Date('2026-12-01T00:00:00Z'), 'America/Los_Angeles')).toBe(-480);
    expect(offsetMinutes(new Date('2026-12-01T00:00:00Z'), 'Asia/Kathmandu')).toBe(345);
  });

  it('rejects garbage', () => {
    expect(() => fromWallClock('tomorrow', 'UTC')).toThrow();
    expect(isValidZone('Europe/Berlin')).toBe(true);
    expect(isValidZone('Mars/Olympus')).toBe(false);
    expect(isValidZone('')).toBe(false);
  });
});

describe('days and views', () => {
  it('adds days across months and years', () => {
    expect(addDays('2026-12-31', 1)).toBe('2027-01-01');
    expect(addDays('2026-03-01', -1)).toBe('2026-02-28');
  });

  it('starts weeks on Monday', () => {
    expect(startOfWeek('2026-12-03')).toBe('2026-11-30');
    expect(startOfWeek('2026-11-30')).toBe('2026-11-30');
    expect(startOfWeek('2026-12-06')).toBe('2026-11-30');
  });

  it('checks dates', () => {
    expect(isYmd('2026-12-01')).toBe(true);
    expect(isYmd('2026-02-30')).toBe(false);
    expect(isYmd('12/01/2026')).toBe(false);
    expect(isYmd(null)).toBe(false);
  });

  it('computes the UTC range of a view in the zone', () => {
    expect(viewRange('2026-12-01', 'day', 'Europe/Berlin')).toMatchObject({
      from: '2026-11-30T23:00:00Z',
      to: '2026-12-01T23:00:00Z',
      days: 1,
    });
    const week = viewRange('2026-03-25', 'week', 'Europe/Berlin');
    expect(week.first).toBe('2026-03-23');
    expect(week.from).toBe('2026-03-22T23:00:00Z');
    // The week holds the spring-forward day, so it is an hour shorter.
    expect(week.to).toBe('2026-03-29T22:00:00Z');
  });

  it("knows today's date in a zone", () => {
    const now = new Date('2026-12-01T23:30:00Z');
    expect(todayIn('UTC', now)).toBe('2026-12-01');
    expect(todayIn('Europe/Berlin', now)).toBe('2026-12-02');
  });

  it('fills datetime-local inputs in the zone', () => {
    expect(toInputValue('2026-12-01T09:00:00Z', 'Europe/Berlin')).toBe('2026-12-01T10:00');
  });

  it('formats a range in the zone, with the end date only when it differs', () => {
    const same = formatRange('2026-12-01T09:00:00Z', '2026-12-01T10:00:00Z', 'Europe/Berlin', 'en-GB');
    expect(same).toContain('10:00');
    expect(same).toContain('11:00');
    expect(same.match(/Dec/g)).toHaveLength(1);
    const twoDays = formatRange('2026-12-01T22:00:00Z', '2026-12-02T01:00:00Z', 'Europe/Berlin', 'en-GB');
    expect(twoDays.match(/Dec/g)).toHaveLength(2);
    expect(formatRange('2026-12-01T09:00:00Z', '2026-12-01T10:00:00Z', 'UTC', 'en-US')).toMatch(/9:00\s?AM/);
  });
});
