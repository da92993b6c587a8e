// A meeting's page (the corbi_url of every notice): its details, its change log as a
// timeline, and the actions the signed-in person may take.
import { useState, type FormEvent } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from '../api/client';
import { keys, useChanges, useMeeting, useResources, useSettings } from '../api/queries';
import type { Change, Meeting, Resource, Slot } from '../api/types';
import { Loading, Problem } from '../components/States';
import { useToast } from '../components/Toast';
import { splitAddresses } from '../lib/booking';
import { statusLabel } from '../lib/status';
import { formatDateTime, formatRange, fromWallClock, toInputValue, toUtcString, zoneLabel } from '../lib/time';
import { useSession } from '../session';

type Panel = 'reschedule' | 'move' | 'edit' | 'cancel' | null;

export function MeetingPage({ reschedule = false }: { reschedule?: boolean }) {
  const { id = '' } = useParams();
  const me = useSession();
  const zone = me.tenant.time_zone || 'UTC';
  const meeting = useMeeting(id);
  const changes = useChanges(id);
  const resources = useResources();
  const settings = useSettings();
  const [panel, setPanel] = useState<Panel>(reschedule ? 'reschedule' : null);
  const queryClient = useQueryClient();
  const toast = useToast();

  const done = (m: Meeting, text: string) => {
    queryClient.setQueryData(keys.meeting(m.id), m);
    void queryClient.invalidateQueries({ queryKey: keys.changes(m.id) });
    void queryClient.invalidateQueries({ queryKey: ['events'] });
    toast.show(text, 'success');
    setPanel(null);
  };
  const checkIn = useMutation({
    mutationFn: () => api.post<Meeting>(`/api/v1/calendar/events/${id}/show`),
    onSuccess: (m) => done(m, 'Checked in.'),
    onError: (e) => toast.error(e),
  });

  if (meeting.isPending) return <Loading what="the meeting" />;
  if (meeting.error) return <Problem error={meeting.error} retry={() => void meeting.refetch()} />;
  const m = meeting.data;
  const resource = resources.data?.find((r) => r.id === m.resource_id);
  const mayChange = m.status !== 'CANCELLED' && (me.user.role === 'admin' || m.created_by === me.user.id);
  const checkWindow = settings.data?.check_in;
  // The meeting is polled every 2 s, so its fetch time is a fresh enough "now".
  const now = meeting.dataUpdatedAt;
  const start = new Date(m.start).getTime();
  const checkInOpen =
    m.status === 'SCHEDULED' &&
    m.recurrence.length === 0 &&
    !!checkWindow &&
    now >= start - checkWindow.opens_minutes_before * 60000 &&
    now <= start + checkWindow.closes_minutes_after * 60000;

  return (
    <section className="page">
      <p>
        <Link to={`/calendar?date=${toInputValue(m.start, zone).slice(0, 10)}${m.resource_id ? `&resource=${m.resource_id}` : ''}`}>← Calendar</Link>
      </p>
      <h1>{m.title}</h1>
      <p className={`badge badge-${m.status.toLowerCase()}`}>{statusLabel(m)}</p>
      <dl className="facts">
        <dt>When</dt>
        <dd>
          {formatRange(m.start, m.end, zone)} <span className="muted">({zoneLabel(zone, new Date(m.start))})</span>
          {m.recurrence.length > 0 && <div className="muted">Repeats: {m.recurrence.join('; ')}</div>}
        </dd>
        <dt>Where</dt>
        <dd>{resource ? resource.name : m.resource_id ? 'A room that no longer exists' : 'No room'}{m.location ? ` · ${m.location}` : ''}</dd>
        <dt>Organizer</dt>
        <dd>{m.organizer?.email ?? '—'}</dd>
        <dt>Participants</dt>
        <dd>
          {m.participants.length === 0 ? (
            'None'
          ) : (
            <ul className="plain">
              {m.participants.map((p) => (
                <li key={p.email}>
                  {p.name ? `${p.name} <${p.email}>` : p.email}
                  {p.response_status && p.response_status !== 'needsAction' && <span className="muted"> · {p.response_status}</span>}
                </li>
              ))}
            </ul>
          )}
        </dd>
        {m.meeting_link && (
          <>
            <dt>Meeting link</dt>
            <dd>
              <a href={m.meeting_link} rel="noreferrer noopener" target="_blank">
                {m.meeting_link}
              </a>
            </dd>
          </>
        )}
        {m.description && (
          <>
            <dt>Description</dt>
            <dd className="prewrap">{m.description}</dd>
          </>
        )}
        {m.checked_in_at && (
          <>
            <dt>Checked in</dt>
            <dd>{formatDateTime(m.checked_in_at, zone)}</dd>
          </>
        )}
        {m.cancel_reason && (
          <>
            <dt>Cancelled because</dt>
            <dd>{m.cancel_reason}</dd>
          </>
        )}
        <dt>Booked</dt>
        <dd>
          {m.source === 'EXTERNAL' ? 'in Google Calendar' : m.created_by_type === 'AI' ? 'by an AI agent' : 'in CORBI'}
        </dd>
      </dl>

      <div className="actions left" role="group" aria-label="Actions">
        {checkInOpen && (
          <button type="button" onClick={() => checkIn.mutate()} disabled={checkIn.isPending}>
            Check in
          </button>
        )}
        {mayChange && (
          <>
            <button type="button" className={panel === 'reschedule' ? '' : 'secondary'} aria-expanded={panel === 'reschedule'} onClick={() => setPanel(panel === 'reschedule' ? null : 'reschedule')}>
              Reschedule
            </button>
            <button type="button" className={panel === 'move' ? '' : 'secondary'} aria-expanded={panel === 'move'} onClick={() => setPanel(panel === 'move' ? null : 'move')}>
              Move to another room
            </button>
            <button type="button" className={panel === 'edit' ? '' : 'secondary'} aria-expanded={panel === 'edit'} onClick={() => setPanel(panel === 'edit' ? null : 'edit')}>
              Edit
            </button>
            <button type="button" className={panel === 'cancel' ? 'danger' : 'secondary'} aria-expanded={panel === 'cancel'} onClick={() => setPanel(panel === 'cancel' ? null : 'cancel')}>
              Cancel meeting
            </button>
          </>
        )}
        {!mayChange && m.status !== 'CANCELLED' && <p className="muted">Only the person who booked this meeting or an admin can change it.</p>}
      </div>

      {mayChange && panel === 'reschedule' && <Reschedule meeting={m} zone={zone} onDone={done} />}
      {mayChange && panel === 'move' && <Move meeting={m} resources={resources.data ?? []} onDone={done} />}
      {mayChange && panel === 'edit' && <Edit meeting={m} onDone={done} />}
      {mayChange && panel === 'cancel' && <Cancel meeting={m} onDone={done} />}

      <h2>History</h2>
      {changes.isPending && <Loading what="the history" />}
      {changes.error && <Problem error={changes.error} />}
      {changes.data && <Timeline changes={changes.data} zone={zone} />}
    </section>
  );
}

function useChange(meeting: Meeting, onDone: (m: Meeting, text: string) => void, text: string) {
  const toast = useToast();
  return useMutation({
    mutationFn: (body: Record<string, unknown>) => api.patch<Meeting>(`/api/v1/calendar/events/${meeting.id}`, body),
    onSuccess: (m) => onDone(m, text),
    onError: (e) => toast.error(e),
  });
}

function Reschedule({ meeting, zone, onDone }: { meeting: Meeting; zone: string; onDone: (m: Meeting, t: string) => void }) {
  const [start, setStart] = useState(toInputValue(meeting.start, zone));
  const [end, setEnd] = useState(toInputValue(meeting.end, zone));
  const change = useChange(meeting, onDone, 'Rescheduled.');
  const minutes = Math.round((new Date(meeting.end).getTime() - new Date(meeting.start).getTime()) / 60000);
  const suggestions = useQuery({
    queryKey: ['free-slots', meeting.id, minutes],
    queryFn: () =>
      api.get<{ slots: Slot[] }>('/api/v1/calendar/free-slots', {
        duration_minutes: Math.min(Math.max(minutes, 5), 1440),
        resource_id: meeting.resource_id,
        limit: 6,
      }),
  });
  const send = (s: string, e: string) => change.mutate({ start: s, end: e });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    send(toUtcString(fromWallClock(start, zone)), toUtcString(fromWallClock(end, zone)));
  };
  return (
    <form className="panel" onSubmit={submit} aria-labelledby="reschedule-heading">
      <h2 id="reschedule-heading">Reschedule</h2>
      <div className="row">
        <div>
          <label htmlFor="rs-start">Starts</label>
          <input id="rs-start" type="datetime-local" value={start} onChange={(e) => setStart(e.target.value)} required />
        </div>
        <div>
          <label htmlFor="rs-end">Ends</label>
          <input id="rs-end" type="datetime-local" value={end} onChange={(e) => setEnd(e.target.value)} required />
        </div>
      </div>
      <div className="actions left">
        <button type="submit" disabled={change.isPending}>
          Move to this time
        </button>
      </div>
      <h3>Free times{meeting.resource_id ? ' in this room' : ''}</h3>
      {suggestions.isPending && <Loading what="free times" />}
      {suggestions.error && <Problem error={suggestions.error} />}
      {suggestions.data && suggestions.data.slots.length === 0 && <p>No free time found in the coming week; type a time above.</p>}
      <ul className="plain slots">
        {suggestions.data?.slots.map((s) => (
          <li key={s.start}>
            <button type="button" className="secondary" onClick={() => send(s.start, s.end)} disabled={change.isPending}>
              {formatRange(s.start, s.end, zone)}
            </button>
          </li>
        ))}
      </ul>
    </form>
  );
}

function Move({ meeting, resources, onDone }: { meeting: Meeting; resources: Resource[]; onDone: (m: Meeting, t: string) => void }) {
  const [target, setTarget] = useState(meeting.resource_id ?? '');
  const change = useChange(meeting, onDone, 'Moved.');
  const submit = (e: FormEvent) => {
    e.preventDefault();
    change.mutate({ resource_id: target || null });
  };
  return (
    <form className="panel" onSubmit={submit}>
      <h2>Move to another room</h2>
      <label htmlFor="mv-room">Room or device</label>
      <select id="mv-room" value={target} onChange={(e) => setTarget(e.target.value)}>
        <option value="">No room</option>
        {resources.map((r) => (
          <option key={r.id} value={r.id} disabled={!r.enabled}>
            {r.name}
            {r.capacity ? ` (${r.capacity} seats)` : ''}
            {r.enabled ? '' : ' — disabled'}
          </option>
        ))}
      </select>
      <div className="actions left">
        <button type="submit" disabled={change.isPending || target === (meeting.resource_id ?? '')}>
          Move
        </button>
      </div>
    </form>
  );
}

function Edit({ meeting, onDone }: { meeting: Meeting; onDone: (m: Meeting, t: string) => void }) {
  const [title, setTitle] = useState(meeting.title);
  const [description, setDescription] = useState(meeting.description ?? '');
  const [link, setLink] = useState(meeting.meeting_link ?? '');
  const [people, setPeople] = useState(meeting.participants.map((p) => p.email).join(', '));
  const change = useChange(meeting, onDone, 'Saved.');
  const submit = (e: FormEvent) => {
    e.preventDefault();
    change.mutate({
      title: title.trim(),
      description: description.trim() || null,
      meeting_link: link.trim() || null,
      participants: splitAddresses(people).map((email) => ({ email })),
    });
  };
  return (
    <form className="panel" onSubmit={submit}>
      <h2>Edit</h2>
      <label htmlFor="ed-title">Title</label>
      <input id="ed-title" value={title} onChange={(e) => setTitle(e.target.value)} required maxLength={300} />
      <label htmlFor="ed-people">Participants (email addresses)</label>
      <textarea id="ed-people" rows={2} value={people} onChange={(e) => setPeople(e.target.value)} />
      <label htmlFor="ed-desc">Description</label>
      <textarea id="ed-desc" rows={3} value={description} onChange={(e) => setDescription(e.target.value)} />
      <label htmlFor="ed-link">Meeting link</label>
      <input id="ed-link" type="url" value={link} onChange={(e) => setLink(e.target.value)} />
      <div className="actions left">
        <button type="submit" disabled={change.isPending}>
          Save
        </button>
      </div>
    </form>
  );
}

function Cancel({ meeting, onDone }: { meeting: Meeting; onDone: (m: Meeting, t: string) => void }) {
  const [reason, setReason] = useState('');
  const toast = useToast();
  const navigate = useNavigate();
  const cancel = useMutation({
    mutationFn: () => api.post<Meeting>(`/api/v1/calendar/events/${meeting.id}/cancel`, reason.trim() ? { reason: reason.trim() } : {}),
    onSuccess: (m) => {
      onDone(m, 'Cancelled; the participants are told.');
      navigate(`/meetings/${m.id}`, { replace: true });
    },
    onError: (e) => toast.error(e),
  });
  return (
    <form
      className="panel"
      onSubmit={(e) => {
        e.preventDefault();
        cancel.mutate();
      }}
    >
      <h2>Cancel the meeting</h2>
      <label htmlFor="cx-reason">Reason (told to the participants)</label>
      <textarea id="cx-reason" rows={2} value={reason} onChange={(e) => setReason(e.target.value)} maxLength={1000} />
      <div className="actions left">
        <button type="submit" className="danger" disabled={cancel.isPending}>
          Cancel meeting
        </button>
      </div>
    </form>
  );
}

const CHANGE_TEXT: Record<Change['change_type'], string> = {
  CREATED: 'Booked',
  UPDATED: 'Changed',
  RESCHEDULED: 'Rescheduled',
  CANCELLED: 'Cancelled',
  ATTENDED: 'Checked in',
  NO_SHOW: 'Marked as no-show',
};
const ACTOR_TEXT: Record<Change['actor_type'], string> = {
  USER: 'a person',
  AI: 'an AI agent',
  DEVICE: 'a room device',
  SYSTEM: 'CORBI',
  EXTERNAL: 'someone in Google Calendar',
};

function show(value: unknown, zone: string): string {
  if (value === null || value === undefined || value === '') return '—';
  if (typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(value)) return formatDateTime(value, zone);
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

function Timeline({ changes, zone }: { changes: Change[]; zone: string }) {
  const me = useSession();
  if (changes.length === 0) return <p>No changes recorded yet.</p>;
  return (
    <ol className="timeline">
      {changes.map((c) => (
        <li key={c.id}>
          <div>
            <strong>{CHANGE_TEXT[c.change_type] ?? c.change_type}</strong> by{' '}
            {c.actor_type === 'USER' && c.actor_id === me.user.id ? 'you' : ACTOR_TEXT[c.actor_type] ?? c.actor_type}
            <span className="muted"> · {formatDateTime(c.at, zone)}</span>
          </div>
          {c.diff && Object.keys(c.diff).length > 0 && c.change_type !== 'CREATED' && (
            <ul className="plain diff">
              {Object.entries(c.diff).map(([field, d]) => (
                <li key={field}>
                  {field.replace(/_/g, ' ')}: {show(d?.from, zone)} → {show(d?.to, zone)}
                </li>
              ))}
            </ul>
          )}
        </li>
      ))}
    </ol>
  );
}
