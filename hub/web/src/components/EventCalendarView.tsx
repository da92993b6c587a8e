// A thin React wrapper around EventCalendar (MIT): created once, then fed options as they
// change. Day view puts resources side by side as columns; week view lays them out as rows
// on a timeline so twenty rooms stay readable.
import { useEffect, useRef } from 'react';
import { createCalendar, destroyCalendar, Interaction, ResourceTimeGrid, ResourceTimeline, type Calendar } from '@event-calendar/core';
import '@event-calendar/core/index.css';

export interface CalendarEvent {
  id: string;
  resourceId: string;
  /** Floating wall-clock times of the display zone. */
  start: string;
  end: string;
  title: string;
  organizer: string;
  status: string;
  meetingId: string;
  selectable: boolean;
}

interface Props {
  view: 'day' | 'week';
  date: string;
  /** The display zone's current offset (`+01:00`), so "now" is drawn at the right place. */
  offset: string;
  resources: { id: string; title: string; enabled: boolean }[];
  events: CalendarEvent[];
  onSelect: (range: { start: string; end: string; resourceId: string }) => void;
  onOpen: (meetingId: string) => void;
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function EventCalendarView({ view, date, offset, resources, events, onSelect, onOpen }: Props) {
  const host = useRef<HTMLDivElement>(null);
  const cal = useRef<Calendar | null>(null);
  const handlers = useRef({ onSelect, onOpen, resources });
  useEffect(() => {
    handlers.current = { onSelect, onOpen, resources };
  });

  useEffect(() => {
    if (!host.current) return;
    const calendar = createCalendar(host.current, [ResourceTimeGrid, ResourceTimeline, Interaction], {
      headerToolbar: { start: '', center: '', end: '' },
      selectable: true,
      editable: false,
      unselectAuto: true,
      nowIndicator: true,
      scrollTime: '07:00:00',
      slotDuration: '00:30:00',
      allDaySlot: false,
      eventTimeFormat: { hour: 'numeric', minute: '2-digit' },
      slotLabelFormat: { hour: 'numeric', minute: '2-digit' },
      views: {
        resourceTimeGridDay: { height: '75vh' },
        // Twenty rooms by seven days: rows per room, the hours from 07:00 to 21:00 (stretched
        // when a meeting lies outside them).
        resourceTimelineWeek: {
          height: 'auto',
          slotDuration: '01:00:00',
          slotWidth: 52,
          slotMinTime: '07:00:00',
          slotMaxTime: '21:00:00',
          flexibleSlotTimeLimits: true,
          slotLabelFormat: { hour: 'numeric' },
        },
      },
      selectConstraint: (info) => {
        const r = handlers.current.resources.find((x) => x.id === String(info.resource?.id));
        return !!r && r.enabled;
      },
      select: (info) => {
        handlers.current.onSelect({
          start: info.startStr.slice(0, 16),
          end: info.endStr.slice(0, 16),
          resourceId: String(info.resource?.id ?? ''),
        });
        calendar.unselect();
      },
      eventClick: (info) => {
        const meetingId = info.event.extendedProps.meetingId;
        if (typeof meetingId === 'string') handlers.current.onOpen(meetingId);
      },
      eventContent: (info) => {
        const p = info.event.extendedProps as { organizer?: string; status?: string };
        return {
          html:
            `<div class="ev-time">${escapeHtml(info.timeText)}${p.status ? ` · ${escapeHtml(p.status)}` : ''}</div>` +
            `<div class="ev-title">${escapeHtml(String(info.event.title))}</div>` +
            (p.organizer ? `<div class="ev-org">${escapeHtml(p.organizer)}</div>` : ''),
        };
      },
      eventDidMount: (info) => {
        const p = info.event.extendedProps as { meetingId?: string; status?: string; organizer?: string };
        const el = info.el;
        el.tabIndex = 0;
        el.setAttribute('role', 'link');
        el.title = `${String(info.event.title)} · ${info.timeText} · ${p.status ?? ''}`;
        el.setAttribute('aria-label', `${String(info.event.title)}, ${info.timeText}, ${p.status ?? ''}${p.organizer ? `, organised by ${p.organizer}` : ''}`);
        el.addEventListener('keydown', (e) => {
          if ((e.key === 'Enter' || e.key === ' ') && p.meetingId) {
            e.preventDefault();
            handlers.current.onOpen(p.meetingId);
          }
        });
      },
    } as Calendar.Options);
    cal.current = calendar;
    // EventCalendar's table roles are incomplete (meetings and room labels sit outside any
    // row or cell), which screen readers cannot follow. The grid is left as plain layout and
    // each meeting is a labelled link; booking by keyboard goes through the booking form.
    const strip = () =>
      host.current?.querySelectorAll('[role], [aria-colindex], [aria-rowindex]').forEach((el) => {
        el.removeAttribute('aria-colindex');
        el.removeAttribute('aria-rowindex');
        if (el.classList.contains('ec-event')) el.setAttribute('role', 'link');
        else el.removeAttribute('role');
      });
    const observer = new MutationObserver(strip);
    observer.observe(host.current, { childList: true, subtree: true });
    strip();
    return () => {
      observer.disconnect();
      cal.current = null;
      void destroyCalendar(calendar);
    };
  }, []);

  useEffect(() => {
    const c = cal.current;
    if (!c) return;
    c.setOption('timeZone', offset);
    c.setOption('view', view === 'week' ? 'resourceTimelineWeek' : 'resourceTimeGridDay');
    c.setOption('date', date);
  }, [view, date, offset]);

  useEffect(() => {
    cal.current?.setOption(
      'resources',
      resources.map((r) => ({ id: r.id, title: r.enabled ? r.title : `${r.title} (disabled)` })),
    );
  }, [resources]);

  useEffect(() => {
    cal.current?.setOption(
      'events',
      events.map((e) => ({
        id: e.id,
        resourceIds: [e.resourceId],
        start: e.start,
        end: e.end,
        title: e.title,
        classNames: [`ev`, `ev-${e.status.replace(/[^a-z-]/g, '')}`],
        extendedProps: { meetingId: e.meetingId, organizer: e.organizer, status: e.status },
      })),
    );
  }, [events]);

  return <div ref={host} className="ec-host" />;
}
