// The calendar: one or more resources side by side for a day or a week, in the tenant's zone,
// refreshed every second; selecting a free range opens the booking form.
import { useMemo, useState } from 'react';
import { useNavigate, useSearchParams } from 'react-router';
import { useEvents, useResources } from '../api/queries';
import { BookDialog } from '../components/BookDialog';
import { EventCalendarView, type CalendarEvent } from '../components/EventCalendarView';
import { Empty, Loading, Problem } from '../components/States';
import type { BookingForm } from '../lib/booking';
import { occurrences } from '../lib/recurrence';
import { statusLabel } from '../lib/status';
import { addDays, formatDay, isYmd, offsetMinutes, todayIn, toWallClock, viewRange, zoneLabel, type View } from '../lib/time';
import { useSession } from '../session';

function offsetString(minutes: number): string {
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

export function CalendarPage() {
  const me = useSession();
  const zone = me.tenant.time_zone || 'UTC';
  const navigate = useNavigate();
  const [params, setParams] = useSearchParams();
  const view: View = params.get('view') === 'week' ? 'week' : 'day';
  const dateParam = params.get('date');
  const date = isYmd(dateParam) ? dateParam : todayIn(zone);
  const chosen = params.getAll('resource').flatMap((v) => v.split(',')).filter(Boolean);
  const range = viewRange(date, view, zone);
  const resources = useResources();
  const events = useEvents(range.from, range.to);
  const [booking, setBooking] = useState<(Partial<BookingForm> & { zone: string }) | null>(null);

  const shown = useMemo(() => {
    const all = resources.data ?? [];
    const picked = chosen.length ? all.filter((r) => chosen.includes(r.id)) : all;
    return picked.map((r) => ({ id: r.id, title: r.capacity ? `${r.name} · ${r.capacity}` : r.name, enabled: r.enabled }));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [resources.data, chosen.join(',')]);

  const calendarEvents = useMemo<CalendarEvent[]>(() => {
    const ids = new Set(shown.map((r) => r.id));
    const out: CalendarEvent[] = [];
    for (const m of events.data ?? []) {
      if (!m.resource_id || !ids.has(m.resource_id)) continue;
      for (const o of occurrences(m, range.from, range.to)) {
        out.push({
          id: `${m.id}|${o.start}`,
          meetingId: m.id,
          resourceId: m.resource_id,
          start: toWallClock(o.start, zone),
          end: toWallClock(o.end, zone),
          title: m.title,
          organizer: m.organizer?.email ?? '',
          status: statusLabel(m),
          selectable: false,
        });
      }
    }
    return out;
  }, [events.data, shown, range.from, range.to, zone]);

  const update = (changes: Record<string, string | string[] | null>) => {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) {
      next.delete(k);
      if (Array.isArray(v)) v.forEach((x) => next.append(k, x));
      else if (v) next.set(k, v);
    }
    setParams(next);
  };
  const step = view === 'week' ? 7 : 1;
  const toggle = (id: string) => {
    const all = (resources.data ?? []).map((r) => r.id);
    const current = chosen.length ? chosen : all;
    const next = current.includes(id) ? current.filter((x) => x !== id) : [...current, id];
    update({ resource: next.length === all.length ? null : next });
  };

  const offset = offsetString(offsetMinutes(new Date(), zone));
  const title = view === 'week' ? `Week of ${formatDay(range.first)}` : formatDay(date);
  const now = new Date();
  const nextHour = new Date(Math.ceil(now.getTime() / 1800000) * 1800000);

  return (
    <section className="page wide">
      <div className="toolbar">
        <h1>{title}</h1>
        <p className="muted zone">Times in {zoneLabel(zone)}</p>
      </div>
      <div className="toolbar controls">
        <div className="group" role="group" aria-label="Dates">
          <button type="button" className="secondary" onClick={() => update({ date: addDays(date, -step) })} aria-label={view === 'week' ? 'Previous week' : 'Previous day'}>
            ‹
          </button>
          <button type="button" className="secondary" onClick={() => update({ date: null })}>
            Today
          </button>
          <button type="button" className="secondary" onClick={() => update({ date: addDays(date, step) })} aria-label={view === 'week' ? 'Next week' : 'Next day'}>
            ›
          </button>
          <label className="inline">
            <span className="sr-only">Date</span>
            <input type="date" value={date} onChange={(e) => isYmd(e.target.value) && update({ date: e.target.value })} />
          </label>
        </div>
        <div className="group" role="group" aria-label="View">
          <button type="button" className={view === 'day' ? '' : 'secondary'} aria-pressed={view === 'day'} onClick={() => update({ view: 'day' })}>
            Day
          </button>
          <button type="button" className={view === 'week' ? '' : 'secondary'} aria-pressed={view === 'week'} onClick={() => update({ view: 'week' })}>
            Week
          </button>
        </div>
        <details className="picker">
          <summary>
            Rooms shown ({shown.length}/{resources.data?.length ?? 0})
          </summary>
          <fieldset>
            <legend className="sr-only">Rooms and devices to show</legend>
            {(resources.data ?? []).map((r) => (
              <label key={r.id} className="check">
                <input type="checkbox" checked={shown.some((s) => s.id === r.id)} onChange={() => toggle(r.id)} />
                {r.name}
                {r.enabled ? '' : ' (disabled)'}
              </label>
            ))}
          </fieldset>
        </details>
        <button
          type="button"
          onClick={() =>
            setBooking({
              zone,
              start: toWallClock(nextHour, zone).slice(0, 16),
              end: toWallClock(new Date(nextHour.getTime() + 1800000), zone).slice(0, 16),
              resourceId: shown.find((r) => r.enabled)?.id ?? '',
            })
          }
        >
          Book a meeting
        </button>
      </div>
      <p className="muted hint">Drag across free time in a room's column to book it, or use “Book a meeting”. Select a booking to open it.</p>
      {resources.isPending && <Loading what="rooms" />}
      {resources.error && <Problem error={resources.error} retry={() => void resources.refetch()} />}
      {events.error && <Problem error={events.error} retry={() => void events.refetch()} />}
      {resources.data && resources.data.length === 0 && (
        <Empty>
          <p>No rooms or devices yet.</p>
          <p>{me.user.role === 'admin' ? 'Add one under Rooms & devices.' : 'Ask an admin to add the rooms.'}</p>
        </Empty>
      )}
      {resources.data && resources.data.length > 0 && (
        <div className="ec-frame" tabIndex={0} role="region" aria-label="Calendar" aria-busy={events.isPending} data-testid="calendar" data-events={events.data ? calendarEvents.length : -1}>
          <EventCalendarView
            view={view}
            date={date}
            offset={offset}
            resources={shown}
            events={calendarEvents}
            onSelect={(sel) => setBooking({ zone, start: sel.start, end: sel.end, resourceId: sel.resourceId })}
            onOpen={(id) => navigate(`/meetings/${id}`)}
          />
        </div>
      )}
      {booking && resources.data && (
        <BookDialog initial={booking} resources={resources.data} onClose={() => setBooking(null)} />
      )}
    </section>
  );
}
