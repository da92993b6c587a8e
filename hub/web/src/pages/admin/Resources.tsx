// Rooms and devices: onboard (an existing Google calendar or a new one), edit, disable and
// enable; per resource its devices with their last heartbeat, revoke, and enrollment codes
// shown as text and as a QR code.
import { useEffect, useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import QRCode from 'qrcode';
import { api } from '../../api/client';
import { keys, useResources } from '../../api/queries';
import type { Device, EnrollmentCode, GoogleCalendar, Page, Resource } from '../../api/types';
import { Empty, Loading, Problem } from '../../components/States';
import { useToast } from '../../components/Toast';
import { formatDateTime } from '../../lib/time';
import { useSession } from '../../session';

export default function ResourcesAdmin() {
  const resources = useResources();
  const [adding, setAdding] = useState(false);
  return (
    <section className="page">
      <h1>Rooms &amp; devices</h1>
      <div className="actions left">
        <button type="button" aria-expanded={adding} onClick={() => setAdding(!adding)}>
          {adding ? 'Close' : 'Add a room or device'}
        </button>
      </div>
      {adding && <Onboard onDone={() => setAdding(false)} />}
      {resources.isPending && <Loading what="rooms and devices" />}
      {resources.error && <Problem error={resources.error} retry={() => void resources.refetch()} />}
      {resources.data?.length === 0 && (
        <Empty>
          <p>No rooms or devices yet. Use “Add a room or device” to onboard the first one.</p>
        </Empty>
      )}
      <ul className="cards">
        {resources.data?.map((r) => (
          <ResourceCard key={r.id} resource={r} />
        ))}
      </ul>
    </section>
  );
}

function Onboard({ onDone }: { onDone: () => void }) {
  const toast = useToast();
  const queryClient = useQueryClient();
  const calendars = useQuery({
    queryKey: ['google-calendars'],
    queryFn: async () => (await api.get<Page<GoogleCalendar>>('/api/v1/google/calendars')).items,
  });
  const [name, setName] = useState('');
  const [kind, setKind] = useState<'ROOM' | 'DEVICE'>('ROOM');
  const [capacity, setCapacity] = useState('');
  const [description, setDescription] = useState('');
  const [mode, setMode] = useState<'CREATE' | 'EXISTING'>('CREATE');
  const [calendarId, setCalendarId] = useState('');
  const free = calendars.data?.filter((c) => !c.resource_id) ?? [];
  const create = useMutation({
    mutationFn: () =>
      api.post<Resource>('/api/v1/resources', {
        name: name.trim(),
        kind,
        capacity: capacity ? Number(capacity) : undefined,
        description: description.trim() || undefined,
        calendar: mode === 'CREATE' ? { mode } : { mode, calendar_id: calendarId },
      }),
    onSuccess: (r) => {
      void queryClient.invalidateQueries({ queryKey: keys.resources });
      void queryClient.invalidateQueries({ queryKey: ['google-calendars'] });
      toast.show(`${r.name} is ready to book.`, 'success');
      onDone();
    },
    onError: (e) => toast.error(e),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };
  return (
    <form className="panel" onSubmit={submit} aria-labelledby="onboard-heading">
      <h2 id="onboard-heading">Add a room or device</h2>
      <div className="row">
        <div>
          <label htmlFor="ob-name">Name</label>
          <input id="ob-name" value={name} onChange={(e) => setName(e.target.value)} required maxLength={200} />
        </div>
        <div>
          <label htmlFor="ob-kind">Kind</label>
          <select id="ob-kind" value={kind} onChange={(e) => setKind(e.target.value as 'ROOM' | 'DEVICE')}>
            <option value="ROOM">Room</option>
            <option value="DEVICE">Device</option>
          </select>
        </div>
        <div>
          <label htmlFor="ob-capacity">Seats</label>
          <input id="ob-capacity" type="number" min={1} max={10000} value={capacity} onChange={(e) => setCapacity(e.target.value)} />
        </div>
      </div>
      <label htmlFor="ob-desc">Description</label>
      <input id="ob-desc" value={description} onChange={(e) => setDescription(e.target.value)} maxLength={2000} />
      <fieldset>
        <legend>Google calendar</legend>
        <label className="check">
          <input type="radio" name="ob-mode" checked={mode === 'CREATE'} onChange={() => setMode('CREATE')} />
          Create a new calendar for it
        </label>
        <label className="check">
          <input type="radio" name="ob-mode" checked={mode === 'EXISTING'} onChange={() => setMode('EXISTING')} />
          Use a calendar the Google account already has
        </label>
        {mode === 'EXISTING' && (
          <>
            <label htmlFor="ob-cal">Calendar</label>
            {calendars.isPending && <Loading what="Google calendars" />}
            {calendars.error && <Problem error={calendars.error} />}
            <select id="ob-cal" value={calendarId} onChange={(e) => setCalendarId(e.target.value)} required>
              <option value="">Choose a calendar</option>
              {free.map((c) => (
                <option key={c.id} value={c.id}>
                  {c.summary} ({c.access_role})
                </option>
              ))}
            </select>
            {calendars.data && free.length === 0 && <p className="muted">Every calendar the account sees is already in use; create a new one.</p>}
          </>
        )}
      </fieldset>
      <div className="actions left">
        <button type="submit" disabled={create.isPending || !name.trim() || (mode === 'EXISTING' && !calendarId)}>
          {create.isPending ? 'Adding…' : 'Add'}
        </button>
      </div>
    </form>
  );
}

function ResourceCard({ resource: r }: { resource: Resource }) {
  const toast = useToast();
  const queryClient = useQueryClient();
  const [editing, setEditing] = useState(false);
  const [open, setOpen] = useState(false);
  const refresh = () => void queryClient.invalidateQueries({ queryKey: keys.resources });
  const toggle = useMutation({
    mutationFn: () => api.post<Resource>(`/api/v1/resources/${r.id}/${r.enabled ? 'disable' : 'enable'}`),
    onSuccess: (x) => {
      refresh();
      toast.show(`${x.name} is ${x.enabled ? 'enabled' : 'disabled'}.`, 'success');
    },
    onError: (e) => toast.error(e),
  });
  return (
    <li className="card">
      <div className="card-head">
        <h2>
          {r.name} <span className="muted small">{r.kind === 'ROOM' ? 'Room' : 'Device'}{r.capacity ? ` · ${r.capacity} seats` : ''}</span>
        </h2>
        {!r.enabled && <span className="badge badge-cancelled">disabled</span>}
      </div>
      {r.description && <p>{r.description}</p>}
      <p className="muted small">Calendar {r.calendar_id}{r.calendar_created ? ' (made by CORBI)' : ''}</p>
      <div className="actions left">
        <button type="button" className="secondary" aria-expanded={editing} onClick={() => setEditing(!editing)}>
          Edit
        </button>
        <button type="button" className="secondary" onClick={() => toggle.mutate()} disabled={toggle.isPending}>
          {r.enabled ? 'Disable' : 'Enable'}
        </button>
        <button type="button" className="secondary" aria-expanded={open} onClick={() => setOpen(!open)}>
          Devices
        </button>
      </div>
      {editing && <EditResource resource={r} onDone={() => setEditing(false)} />}
      {open && <Devices resource={r} />}
    </li>
  );
}

function EditResource({ resource: r, onDone }: { resource: Resource; onDone: () => void }) {
  const toast = useToast();
  const queryClient = useQueryClient();
  const [name, setName] = useState(r.name);
  const [capacity, setCapacity] = useState(r.capacity ? String(r.capacity) : '');
  const [description, setDescription] = useState(r.description ?? '');
  const save = useMutation({
    mutationFn: () =>
      api.patch<Resource>(`/api/v1/resources/${r.id}`, {
        name: name.trim(),
        capacity: capacity ? Number(capacity) : null,
        description: description.trim() || null,
      }),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: keys.resources });
      toast.show('Saved.', 'success');
      onDone();
    },
    onError: (e) => toast.error(e),
  });
  return (
    <form
      className="panel"
      onSubmit={(e) => {
        e.preventDefault();
        save.mutate();
      }}
    >
      <div className="row">
        <div>
          <label htmlFor={`ed-name-${r.id}`}>Name</label>
          <input id={`ed-name-${r.id}`} value={name} onChange={(e) => setName(e.target.value)} required maxLength={200} />
        </div>
        <div>
          <label htmlFor={`ed-cap-${r.id}`}>Seats</label>
          <input id={`ed-cap-${r.id}`} type="number" min={1} max={10000} value={capacity} onChange={(e) => setCapacity(e.target.value)} />
        </div>
      </div>
      <label htmlFor={`ed-desc-${r.id}`}>Description</label>
      <input id={`ed-desc-${r.id}`} value={description} onChange={(e) => setDescription(e.target.value)} maxLength={2000} />
      <div className="actions left">
        <button type="submit" disabled={save.isPending}>
          Save
        </button>
      </div>
    </form>
  );
}

function Devices({ resource }: { resource: Resource }) {
  const me = useSession();
  const zone = me.tenant.time_zone || 'UTC';
  const toast = useToast();
  const queryClient = useQueryClient();
  const key = ['devices', resource.id];
  const devices = useQuery({
    queryKey: key,
    queryFn: async () => (await api.get<Page<Device>>(`/api/v1/resources/${resource.id}/devices`)).items,
    refetchInterval: 10_000,
  });
  const [code, setCode] = useState<EnrollmentCode | null>(null);
  const enroll = useMutation({
    mutationFn: () => api.post<EnrollmentCode>(`/api/v1/resources/${resource.id}/devices`),
    onSuccess: setCode,
    onError: (e) => toast.error(e),
  });
  const revoke = useMutation({
    mutationFn: (id: string) => api.post<Device>(`/api/v1/devices/${id}/revoke`),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: key });
      toast.show('The device is cut off.', 'success');
    },
    onError: (e) => toast.error(e),
  });
  return (
    <div className="panel">
      <h3>Devices of {resource.name}</h3>
      {devices.isPending && <Loading what="devices" />}
      {devices.error && <Problem error={devices.error} />}
      {devices.data?.length === 0 && <p>No device yet. “Add a device” makes a one-time code for the tablet at the door.</p>}
      {devices.data && devices.data.length > 0 && (
        <div className="scroll" tabIndex={0} role="region" aria-label="Table, scrolls sideways">
          <table>
            <thead>
              <tr>
                <th scope="col">Device</th>
                <th scope="col">Last heartbeat</th>
                <th scope="col">Agent</th>
                <th scope="col">State</th>
                <th scope="col"><span className="sr-only">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              {devices.data.map((d) => (
                <tr key={d.id}>
                  <td className="mono">{d.id.slice(0, 8)}</td>
                  <td>{d.last_seen_at ? formatDateTime(d.last_seen_at, zone) : 'never'}</td>
                  <td>{d.agent_version ?? '—'}</td>
                  <td>{d.revoked_at ? `revoked ${formatDateTime(d.revoked_at, zone)}` : 'active'}</td>
                  <td>
                    {!d.revoked_at && (
                      <button type="button" className="danger" onClick={() => revoke.mutate(d.id)} disabled={revoke.isPending}>
                        Revoke
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <div className="actions left">
        <button type="button" onClick={() => enroll.mutate()} disabled={enroll.isPending}>
          Add a device
        </button>
      </div>
      {code && <EnrollmentCodeView code={code} zone={zone} />}
    </div>
  );
}

/** What the QR code holds: the hub's address and the code, so a tablet can enroll by scanning. */
export function enrollmentPayload(origin: string, code: string): string {
  return JSON.stringify({ hub: origin, enrollment_code: code });
}

function EnrollmentCodeView({ code, zone }: { code: EnrollmentCode; zone: string }) {
  const [qr, setQr] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    void QRCode.toDataURL(enrollmentPayload(window.location.origin, code.enrollment_code), { margin: 1, width: 220 }).then((url) => {
      if (live) setQr(url);
    });
    return () => {
      live = false;
    };
  }, [code.enrollment_code]);
  return (
    <div className="enroll" data-testid="enrollment">
      <p>
        Enrollment code (shown once, valid until {formatDateTime(code.expires_at, zone)}): <strong className="mono code">{code.enrollment_code}</strong>
      </p>
      {qr && <img src={qr} width={220} height={220} alt={`QR code for enrollment code ${code.enrollment_code}`} />}
      <p className="muted small">Type the code into the tablet, or scan the QR code with it.</p>
    </div>
  );
}
