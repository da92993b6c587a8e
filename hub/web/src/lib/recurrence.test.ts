import { describe, expect, it } from 'vitest';
import { occurrences } from './recurrence';

const base = { start: '2026-11-30T09:00:00Z', end: '2026-11-30T09:15:00Z', time_zone: 'Europe/Berlin' };

describe('occurrences', () => {
  it('answers a single meeting when it overlaps', () => {
    expect(occurrences({ ...base, recurrence: [] }, '2026-11-30T00:00:00Z', '2026-12-01T00:00:00Z')).toHaveLength(1);
    expect(occurrences({ ...base, recurrence: [] }, '2026-12-01T00:00:00Z', '2026-12-02T00:00:00Z')).toHaveLength(0);
  });

  it('expands a daily series with a count', () => {
    const o = occurrences({ ...base, recurrence: ['RRULE:FREQ=DAILY;COUNT=3'] }, '2026-11-01T00:00:00Z', '2026-12-31T00:00:00Z');
    expect(o.map((x) => x.start)).toEqual(['2026-11-30T09:00:00Z', '2026-12-01T09:00:00Z', '2026-12-02T09:00:00Z']);
  });

  it('expands weekly on given days inside the range only', () => {
    const o = occurrences(
      { ...base, recurrence: ['RRULE:FREQ=WEEKLY;BYDAY=MO,WE'] },
      '2026-12-07T00:00:00Z',
      '2026-12-14T00:00:00Z',
    );
    expect(o.map((x) => x.start)).toEqual(['2026-12-07T09:00:00Z', '2026-12-09T09:00:00Z']);
  });

  it('keeps the local time across DST and honours UNTIL and EXDATE', () => {
    const o = occurrences(
      {
        start: '2026-03-23T09:00:00Z',
        end: '2026-03-23T09:30:00Z',
        time_zone: 'Europe/Berlin',
        recurrence: ['RRULE:FREQ=WEEKLY;UNTIL=20260414T000000Z', 'EXDATE:20260406T080000Z'],
      },
      '2026-03-01T00:00:00Z',
      '2026-05-01T00:00:00Z',
    );
    // 10:00 in Berlin: 09:00Z before the change, 08:00Z after; the 6 April one is excluded.
    expect(o.map((x) => x.start)).toEqual(['2026-03-23T09:00:00Z', '2026-03-30T08:00:00Z', '2026-04-13T08:00:00Z']);
  });

  it('shows only the first occurrence of rules it cannot read', () => {
    const o = occurrences({ ...base, recurrence: ['RRULE:FREQ=MONTHLY;BYMONTHDAY=30'] }, '2026-11-01T00:00:00Z', '2027-06-01T00:00:00Z');
    expect(o).toHaveLength(1);
  });
});
