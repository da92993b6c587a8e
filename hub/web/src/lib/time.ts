// Date and time-zone helpers. The hub speaks UTC instants; people read and type wall-clock
// times of the tenant's IANA zone. EventCalendar only knows fixed offsets, so the calendar is
// fed "floating" wall-clock strings of the display zone and selections are turned back into
// instants here.

/** `YYYY-MM-DD` */
export type Ymd = string;

interface WallParts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

const partFormatters = new Map<string, Intl.DateTimeFormat>();

function partsIn(instant: Date, zone: string): WallParts {
  let f = partFormatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    partFormatters.set(zone, f);
  }
  const out: Record<string, number> = {};
  for (const p of f.formatToParts(instant)) {
    if (p.type !== 'literal') out[p.type] = Number(p.value);
  }
  return {
    year: out.year ?? 1970,
    month: out.month ?? 1,
    day: out.day ?? 1,
    hour: (out.hour ?? 0) % 24,
    minute: out.minute ?? 0,
    second: out.second ?? 0,
  };
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** True when the browser knows `zone` as an IANA time zone. */
export function isValidZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return zone.length > 0;
  } catch {
    return false;
  }
}

/** The zone's offset from UTC in minutes at that instant (east positive). */
export function offsetMinutes(instant: Date, zone: string): number {
  const p = partsIn(instant, zone);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  const whole = Math.floor(instant.getTime() / 1000) * 1000;
  return Math.round((asUtc - whole) / 60000);
}

/** The wall-clock time of an instant in a zone, as `YYYY-MM-DDTHH:MM:SS`. */
export function toWallClock(instant: string | Date, zone: string): string {
  const p = partsIn(typeof instant === 'string' ? new Date(instant) : instant, zone);
  return `${pad(p.year, 4)}-${pad(p.month)}-${pad(p.day)}T${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}`;
}

/**
 * The instant at which the zone's clocks show `wall` (`YYYY-MM-DDTHH:MM[:SS]`). In a gap
 * (spring forward) the time after the gap is taken; in an overlap, the earlier instant.
 */
export function fromWallClock(wall: string, zone: string): Date {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/.exec(wall);
  if (!m) throw new Error(`not a wall-clock time: ${wall}`);
  const asUtc = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0));
  // A zone changes its offset at most once within a day either side: try both offsets.
  const offsets = [offsetMinutes(new Date(asUtc - 86400000), zone), offsetMinutes(new Date(asUtc + 86400000), zone)];
  const target = `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6] ?? '00'}`;
  const matching = offsets
    .map((o) => asUtc - o * 60000)
    .filter((t) => toWallClock(new Date(t), zone) === target)
    .sort((a, b) => a - b);
  if (matching[0] !== undefined) return new Date(matching[0]);
  return new Date(asUtc - Math.min(...offsets) * 60000);
}

/** RFC 3339 UTC with whole seconds, as the hub writes meeting times. */
export function toUtcString(instant: Date): string {
  return instant.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Today's date in a zone. */
export function todayIn(zone: string, now: Date = new Date()): Ymd {
  return toWallClock(now, zone).slice(0, 10);
}

export function isYmd(text: string | null | undefined): text is Ymd {
  if (!text || !/^\d{4}-\d{2}-\d{2}$/.test(text)) return false;
  const d = new Date(`${text}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === text;
}

export function addDays(day: Ymd, n: number): Ymd {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

/** The Monday of the ISO week holding `day`. */
export function startOfWeek(day: Ymd): Ymd {
  const d = new Date(`${day}T00:00:00Z`);
  const dow = (d.getUTCDay() + 6) % 7;
  return addDays(day, -dow);
}

export type View = 'day' | 'week';

/** The UTC range a day or week view of `day` covers in `zone`. */
export function viewRange(day: Ymd, view: View, zone: string): { from: string; to: string; first: Ymd; days: number } {
  const first = view === 'week' ? startOfWeek(day) : day;
  const days = view === 'week' ? 7 : 1;
  return {
    from: toUtcString(fromWallClock(`${first}T00:00`, zone)),
    to: toUtcString(fromWallClock(`${addDays(first, days)}T00:00`, zone)),
    first,
    days,
  };
}

/** Does the browser's locale use a 12-hour clock? */
export function prefers12Hour(locale?: string): boolean {
  const opts = new Intl.DateTimeFormat(locale, { hour: 'numeric' }).resolvedOptions();
  return opts.hour12 ?? (opts.hourCycle === 'h11' || opts.hourCycle === 'h12');
}

/** A date and time in the browser's locale, shown in `zone`. */
export function formatDateTime(instant: string | Date, zone: string, locale?: string): string {
  return new Intl.DateTimeFormat(locale, {
    timeZone: zone,
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    hour: 'numeric',
    minute: '2-digit',
  }).format(typeof instant === 'string' ? new Date(instant) : instant);
}

export function formatTime(instant: string | Date, zone: string, locale?: string): string {
  return new Intl.DateTimeFormat(locale, { timeZone: zone, hour: 'numeric', minute: '2-digit' }).format(
    typeof instant === 'string' ? new Date(instant) : instant,
  );
}

/** "Tue, 1 Dec, 10:00 – 11:00" (the end's date only when it differs). */
export function formatRange(start: string, end: string, zone: string, locale?: string): string {
  const sameDay = toWallClock(start, zone).slice(0, 10) === toWallClock(new Date(new Date(end).getTime() - 1), zone).slice(0, 10);
  return `${formatDateTime(start, zone, locale)} – ${sameDay ? formatTime(end, zone, locale) : formatDateTime(end, zone, locale)}`;
}

/** A day in the browser's locale, e.g. "Tuesday, 1 December 2026". */
export function formatDay(day: Ymd, locale?: string): string {
  return new Intl.DateTimeFormat(locale, { timeZone: 'UTC', dateStyle: 'full' }).format(new Date(`${day}T00:00:00Z`));
}

/** The zone's short name at an instant, e.g. "CET" or "GMT+1", beside its IANA name. */
export function zoneLabel(zone: string, at: Date = new Date(), locale?: string): string {
  const part = new Intl.DateTimeFormat(locale, { timeZone: zone, timeZoneName: 'short' })
    .formatToParts(at)
    .find((p) => p.type === 'timeZoneName');
  return part && part.value !== zone ? `${zone} (${part.value})` : zone;
}

/** The value of an `<input type="datetime-local">` for an instant shown in `zone`. */
export function toInputValue(instant: string | Date, zone: string): string {
  return toWallClock(instant, zone).slice(0, 16);
}
