// Occurrences of a recurring meeting inside a range, for drawing it on the calendar. The hub
// answers a series once (its first occurrence and its RRULE lines); the common rules are
// expanded here in the meeting's own zone, so a weekly 10:00 stays at 10:00 across DST.
// Rules it cannot read (FREQ other than DAILY/WEEKLY, BYSETPOS, …) show the first occurrence.
import { addDays, fromWallClock, toWallClock } from './time';

export interface Occurrence {
  start: string;
  end: string;
}

const DAYS = ['MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU'];
const MAX = 1000;

function parseRule(line: string): Record<string, string> | null {
  const m = /^RRULE:(.*)$/i.exec(line.trim());
  if (!m || !m[1]) return null;
  const out: Record<string, string> = {};
  for (const part of m[1].split(';')) {
    const [k, v] = part.split('=');
    if (k && v) out[k.toUpperCase()] = v.toUpperCase();
  }
  return out;
}

function parseIcsTime(value: string): number | null {
  const m = /^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(Z?))?$/.exec(value.trim());
  if (!m) return null;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4] ?? 23), Number(m[5] ?? 59), Number(m[6] ?? 59));
}

/** The occurrences of a meeting overlapping `[from, to)`. */
export function occurrences(
  meeting: { start: string; end: string; time_zone: string; recurrence: string[] },
  from: string,
  to: string,
): Occurrence[] {
  const first = { start: meeting.start, end: meeting.end };
  const overlaps = (o: Occurrence) => o.end > from && o.start < to;
  const ruleLine = meeting.recurrence.find((l) => /^RRULE:/i.test(l));
  const rule = ruleLine ? parseRule(ruleLine) : null;
  if (!rule || (rule.FREQ !== 'DAILY' && rule.FREQ !== 'WEEKLY') || rule.BYSETPOS || rule.BYMONTHDAY) {
    return overlaps(first) ? [first] : [];
  }
  const zone = meeting.time_zone;
  const length = new Date(meeting.end).getTime() - new Date(meeting.start).getTime();
  const wall = toWallClock(meeting.start, zone);
  const firstDay = wall.slice(0, 10);
  const time = wall.slice(11, 19);
  const interval = Math.max(1, Number(rule.INTERVAL ?? 1) || 1);
  const count = rule.COUNT ? Number(rule.COUNT) : Infinity;
  const until = rule.UNTIL ? parseIcsTime(rule.UNTIL) : null;
  const exdates = new Set<number>();
  for (const line of meeting.recurrence) {
    const m = /^EXDATE(?:;[^:]*)?:(.*)$/i.exec(line.trim());
    if (!m || !m[1]) continue;
    for (const v of m[1].split(',')) {
      const t = /Z$/i.test(v) ? parseIcsTime(v) : null;
      if (t !== null) exdates.add(t);
      else if (/^\d{8}T\d{6}$/.test(v)) {
        exdates.add(fromWallClock(`${v.slice(0, 4)}-${v.slice(4, 6)}-${v.slice(6, 8)}T${v.slice(9, 11)}:${v.slice(11, 13)}`, zone).getTime());
      }
    }
  }
  const firstDow = (new Date(`${firstDay}T00:00:00Z`).getUTCDay() + 6) % 7;
  const byDay =
    rule.FREQ === 'WEEKLY' && rule.BYDAY
      ? rule.BYDAY.split(',').map((d) => DAYS.indexOf(d.slice(-2))).filter((d) => d >= 0)
      : [rule.FREQ === 'WEEKLY' ? firstDow : -1];
  const toTime = new Date(to).getTime();
  const out: Occurrence[] = [];
  let n = 0;
  for (let step = 0; step < MAX * 7; step++) {
    let candidates: string[];
    if (rule.FREQ === 'DAILY') {
      candidates = [addDays(firstDay, step * interval)];
    } else {
      const weekStart = addDays(firstDay, -firstDow + step * 7 * interval);
      candidates = [...byDay].sort((a, b) => a - b).map((d) => addDays(weekStart, d));
    }
    let stop = false;
    for (const day of candidates) {
      if (day < firstDay) continue;
      const start = fromWallClock(`${day}T${time}`, zone).getTime();
      if (n >= count || (until !== null && start > until) || start >= toTime) {
        stop = true;
        break;
      }
      n++;
      if (exdates.has(start)) continue;
      const o = { start: new Date(start).toISOString().replace('.000Z', 'Z'), end: new Date(start + length).toISOString().replace('.000Z', 'Z') };
      if (overlaps(o)) out.push(o);
    }
    if (stop || out.length >= MAX) break;
  }
  return out;
}
