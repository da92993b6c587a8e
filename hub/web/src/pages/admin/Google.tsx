// The tenant's Google connection: status, granted and missing scopes, a reconnect button, and
// the sync health of every followed calendar.
import { useQuery } from '@tanstack/react-query';
import { api } from '../../api/client';
import { useResources } from '../../api/queries';
import type { GoogleConnection, Page, SyncCalendar } from '../../api/types';
import { Loading, Problem } from '../../components/States';
import { formatDateTime } from '../../lib/time';
import { useSession } from '../../session';

export default function GoogleAdmin() {
  const me = useSession();
  const zone = me.tenant.time_zone || 'UTC';
  const connection = useQuery({ queryKey: ['google-connection'], queryFn: () => api.get<GoogleConnection>('/api/v1/google/connection', { for: 'tenant' }) });
  const sync = useQuery({
    queryKey: ['sync-calendars'],
    queryFn: async () => (await api.get<Page<SyncCalendar>>('/api/v1/sync/calendars')).items,
    refetchInterval: 10_000,
  });
  const resources = useResources();
  const c = connection.data;
  const needsConsent = !!c && (!c.connected || c.status === 'needs_reconsent' || c.missing_scopes.length > 0);
  return (
    <section className="page">
      <h1>Google</h1>
      {connection.isPending && <Loading what="the Google connection" />}
      {connection.error && <Problem error={connection.error} retry={() => void connection.refetch()} />}
      {c && (
        <div className="panel">
          <dl className="facts">
            <dt>Status</dt>
            <dd>
              {!c.connected ? 'Not connected' : c.status === 'needs_reconsent' ? 'Needs consent again' : 'Connected'}
              {c.status_reason && <div className="muted">{c.status_reason}</div>}
            </dd>
            <dt>Account</dt>
            <dd>{c.account_email ?? '—'}</dd>
            <dt>Granted scopes</dt>
            <dd>
              {c.scopes.length ? (
                <ul className="plain mono small">
                  {c.scopes.map((s) => (
                    <li key={s}>{s}</li>
                  ))}
                </ul>
              ) : (
                'none'
              )}
            </dd>
            {c.missing_scopes.length > 0 && (
              <>
                <dt>Missing scopes</dt>
                <dd>
                  <ul className="plain mono small">
                    {c.missing_scopes.map((s) => (
                      <li key={s}>{s}</li>
                    ))}
                  </ul>
                </dd>
              </>
            )}
          </dl>
          <p>
            <a className={needsConsent ? 'button' : 'button secondary'} href="/oauth/google/start?for=tenant">
              {c.connected ? 'Reconnect Google' : 'Connect Google'}
            </a>
          </p>
          {needsConsent && <p className="muted">CORBI cannot write to Google until the account is connected with every scope.</p>}
        </div>
      )}
      <h2>Calendar sync</h2>
      {sync.isPending && <Loading what="sync health" />}
      {sync.error && <Problem error={sync.error} />}
      {sync.data?.length === 0 && <p>No calendars are followed yet. Onboard a room to start.</p>}
      {sync.data && sync.data.length > 0 && (
        <div className="scroll" tabIndex={0} role="region" aria-label="Table, scrolls sideways">
          <table>
            <thead>
              <tr>
                <th scope="col">Calendar</th>
                <th scope="col">Resource</th>
                <th scope="col">Status</th>
                <th scope="col">Failures</th>
                <th scope="col">Last synced</th>
              </tr>
            </thead>
            <tbody>
              {sync.data.map((s) => (
                <tr key={s.calendar_id}>
                  <td className="mono small">{s.calendar_id}</td>
                  <td>{resources.data?.find((r) => r.id === s.resource_id)?.name ?? '—'}</td>
                  <td>
                    {s.status}
                    {s.reason && <div className="muted small">{s.reason}</div>}
                  </td>
                  <td>{s.failures}</td>
                  <td>{s.last_synced_at ? formatDateTime(s.last_synced_at, zone) : 'never'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
