// Tenant settings: zone, working hours, check-in window, auto-release, notifications, and the
// vendor credentials (write-only: the hub only says whether each is stored).
import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from '../../api/client';
import { keys, useSettings } from '../../api/queries';
import type { Channel, ChangeKind, CredentialFlags, TenantSettings } from '../../api/types';
import { Loading, Problem } from '../../components/States';
import { useToast } from '../../components/Toast';
import { isValidZone } from '../../lib/time';

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const CHANGES: ChangeKind[] = ['CREATED', 'UPDATED', 'RESCHEDULED', 'CANCELLED'];

export default function SettingsAdmin() {
  const settings = useSettings();
  return (
    <section className="page">
      <h1>Settings</h1>
      {settings.isPending && <Loading what="settings" />}
      {settings.error && <Problem error={settings.error} retry={() => void settings.refetch()} />}
      {settings.data && <SettingsForm initial={settings.data} />}
      <Credentials />
    </section>
  );
}

function NumberField({ id, label, value, onChange, min, max }: { id: string; label: string; value: number; onChange: (n: number) => void; min: number; max: number }) {
  return (
    <div>
      <label htmlFor={id}>{label}</label>
      <input id={id} type="number" min={min} max={max} value={value} onChange={(e) => onChange(Number(e.target.value))} />
    </div>
  );
}

function SettingsForm({ initial }: { initial: TenantSettings }) {
  const toast = useToast();
  const queryClient = useQueryClient();
  const [s, setS] = useState<TenantSettings>(initial);
  const save = useMutation({
    mutationFn: (body: TenantSettings) => api.put<TenantSettings>('/api/v1/tenant/settings', body),
    onSuccess: (saved) => {
      queryClient.setQueryData(keys.settings, saved);
      void queryClient.invalidateQueries({ queryKey: ['me'] });
      setS(saved);
      toast.show('Settings saved.', 'success');
    },
    onError: (e) => toast.error(e),
  });
  const zoneOk = isValidZone(s.time_zone);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (zoneOk) save.mutate(s);
  };
  const channel = (c: Channel, patch: Partial<TenantSettings['notifications'][Channel]>) =>
    setS({ ...s, notifications: { ...s.notifications, [c]: { ...s.notifications[c], ...patch } } });

  return (
    <form className="panel" onSubmit={submit}>
      <h2>Tenant</h2>
      <label htmlFor="st-zone">Time zone (IANA, e.g. Europe/Berlin)</label>
      <input id="st-zone" value={s.time_zone} onChange={(e) => setS({ ...s, time_zone: e.target.value })} aria-invalid={!zoneOk || undefined} aria-describedby={zoneOk ? undefined : 'st-zone-error'} />
      {!zoneOk && (
        <span className="field-error" id="st-zone-error">
          This is not a time zone name this browser knows.
        </span>
      )}
      <fieldset>
        <legend>Working hours</legend>
        <div className="days">
          {DAYS.map((d) => (
            <label key={d} className="check">
              <input
                type="checkbox"
                checked={s.working_hours.days.includes(d)}
                onChange={(e) =>
                  setS({
                    ...s,
                    working_hours: {
                      ...s.working_hours,
                      days: e.target.checked ? DAYS.filter((x) => x === d || s.working_hours.days.includes(x)) : s.working_hours.days.filter((x) => x !== d),
                    },
                  })
                }
              />
              {d}
            </label>
          ))}
        </div>
        <div className="row">
          <div>
            <label htmlFor="st-wh-start">From</label>
            <input id="st-wh-start" type="time" value={s.working_hours.start} onChange={(e) => setS({ ...s, working_hours: { ...s.working_hours, start: e.target.value } })} />
          </div>
          <div>
            <label htmlFor="st-wh-end">To</label>
            <input id="st-wh-end" type="time" value={s.working_hours.end} onChange={(e) => setS({ ...s, working_hours: { ...s.working_hours, end: e.target.value } })} />
          </div>
        </div>
      </fieldset>
      <fieldset>
        <legend>Check-in window</legend>
        <div className="row">
          <NumberField id="st-ci-open" label="Opens (minutes before the start)" min={0} max={240} value={s.check_in.opens_minutes_before} onChange={(n) => setS({ ...s, check_in: { ...s.check_in, opens_minutes_before: n } })} />
          <NumberField id="st-ci-close" label="Closes (minutes after the start)" min={1} max={1440} value={s.check_in.closes_minutes_after} onChange={(n) => setS({ ...s, check_in: { ...s.check_in, closes_minutes_after: n } })} />
        </div>
      </fieldset>
      <fieldset>
        <legend>Auto-release</legend>
        <label className="check">
          <input type="checkbox" checked={s.auto_release.enabled} onChange={(e) => setS({ ...s, auto_release: { ...s.auto_release, enabled: e.target.checked } })} />
          Give the room back when nobody checks in
        </label>
        <div className="row">
          <NumberField id="st-ar-after" label="After (minutes)" min={1} max={240} value={s.auto_release.after_minutes} onChange={(n) => setS({ ...s, auto_release: { ...s.auto_release, after_minutes: n } })} />
          <NumberField id="st-ar-long" label="Except meetings longer than (minutes, 0: none)" min={0} max={1440} value={s.auto_release.exempt_longer_than_minutes} onChange={(n) => setS({ ...s, auto_release: { ...s.auto_release, exempt_longer_than_minutes: n } })} />
          <NumberField id="st-ar-within" label="Except meetings booked within (minutes of start)" min={0} max={1440} value={s.auto_release.exempt_booked_within_minutes} onChange={(n) => setS({ ...s, auto_release: { ...s.auto_release, exempt_booked_within_minutes: n } })} />
        </div>
      </fieldset>
      <label htmlFor="st-default-cal">Default calendar for meetings without a room (empty: the account's primary)</label>
      <input id="st-default-cal" value={s.default_calendar_id ?? ''} onChange={(e) => setS({ ...s, default_calendar_id: e.target.value.trim() || null })} />
      {(['email', 'whatsapp'] as Channel[]).map((c) => (
        <fieldset key={c}>
          <legend>{c === 'email' ? 'Email notifications' : 'WhatsApp notifications'}</legend>
          <label className="check">
            <input type="checkbox" checked={s.notifications[c].enabled} onChange={(e) => channel(c, { enabled: e.target.checked })} />
            On
          </label>
          <div className="days" role="group" aria-label={`${c} is sent on`}>
            {CHANGES.map((k) => (
              <label key={k} className="check">
                <input
                  type="checkbox"
                  checked={s.notifications[c].on.includes(k)}
                  onChange={(e) => channel(c, { on: e.target.checked ? CHANGES.filter((x) => x === k || s.notifications[c].on.includes(x)) : s.notifications[c].on.filter((x) => x !== k) })}
                />
                {k.toLowerCase()}
              </label>
            ))}
          </div>
          <div className="row">
            <div>
              <label htmlFor={`st-${c}-tpl`}>Template id</label>
              <input id={`st-${c}-tpl`} value={s.notifications[c].template_id ?? ''} onChange={(e) => channel(c, { template_id: e.target.value.trim() || null })} />
            </div>
            <div>
              <label htmlFor={`st-${c}-sender`}>{c === 'email' ? 'Sender address' : 'Sender number (E.164)'}</label>
              <input id={`st-${c}-sender`} value={s.notifications[c].sender ?? ''} onChange={(e) => channel(c, { sender: e.target.value.trim() || null })} />
            </div>
          </div>
        </fieldset>
      ))}
      <div className="actions left">
        <button type="submit" disabled={save.isPending || !zoneOk}>
          Save settings
        </button>
      </div>
    </form>
  );
}

const SECRETS: { key: keyof CredentialFlags; field: string; label: string }[] = [
  { key: 'sendgrid_api_key_set', field: 'sendgrid_api_key', label: 'SendGrid API key' },
  { key: 'twilio_account_sid_set', field: 'twilio_account_sid', label: 'Twilio account SID' },
  { key: 'twilio_auth_token_set', field: 'twilio_auth_token', label: 'Twilio auth token' },
  { key: 'twilio_whatsapp_from_set', field: 'twilio_whatsapp_from', label: 'Twilio WhatsApp sender (E.164)' },
];

function Credentials() {
  const toast = useToast();
  const queryClient = useQueryClient();
  const flags = useQuery({ queryKey: ['credentials'], queryFn: () => api.get<CredentialFlags>('/api/v1/tenant/notification-credentials') });
  const [values, setValues] = useState<Record<string, string>>({});
  const [remove, setRemove] = useState<Record<string, boolean>>({});
  const save = useMutation({
    mutationFn: () => {
      const body: Record<string, string | null> = {};
      for (const s of SECRETS) {
        if (remove[s.field]) body[s.field] = null;
        else if (values[s.field]?.trim()) body[s.field] = values[s.field]!.trim();
      }
      return api.put<CredentialFlags>('/api/v1/tenant/notification-credentials', body);
    },
    onSuccess: (f) => {
      queryClient.setQueryData(['credentials'], f);
      setValues({});
      setRemove({});
      toast.show('Credentials saved.', 'success');
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
      autoComplete="off"
    >
      <h2>Vendor credentials</h2>
      <p className="muted">Stored sealed and never shown again. Leave a field empty to keep what is stored.</p>
      {flags.isPending && <Loading what="credentials" />}
      {flags.error && <Problem error={flags.error} />}
      {flags.data &&
        SECRETS.map((s) => (
          <div key={s.field} className="secret">
            <label htmlFor={`cr-${s.field}`}>
              {s.label} <span className="muted small">({flags.data[s.key] ? 'stored' : 'not set'})</span>
            </label>
            <input
              id={`cr-${s.field}`}
              type="password"
              autoComplete="new-password"
              value={values[s.field] ?? ''}
              disabled={remove[s.field]}
              onChange={(e) => setValues({ ...values, [s.field]: e.target.value })}
            />
            {flags.data[s.key] && (
              <label className="check">
                <input type="checkbox" checked={!!remove[s.field]} onChange={(e) => setRemove({ ...remove, [s.field]: e.target.checked })} />
                Remove
              </label>
            )}
          </div>
        ))}
      <div className="actions left">
        <button type="submit" disabled={save.isPending}>
          Save credentials
        </button>
      </div>
    </form>
  );
}
