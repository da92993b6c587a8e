// Operations: dead background jobs (with retry) and failed notifications.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link } from 'react-router';
import { api } from '../../api/client';
import type { Job, NotificationRow, Page } from '../../api/types';
import { Loading, Problem } from '../../components/States';
import { useToast } from '../../components/Toast';
import { formatDateTime } from '../../lib/time';
import { useSession } from '../../session';

export default function OperationsAdmin() {
  const me = useSession();
  const zone = me.tenant.time_zone || 'UTC';
  const toast = useToast();
  const queryClient = useQueryClient();
  const jobs = useQuery({ queryKey: ['jobs', 'dead'], queryFn: async () => (await api.get<Page<Job>>('/api/v1/admin/jobs', { state: 'dead' })).items, refetchInterval: 10_000 });
  const notices = useQuery({
    queryKey: ['notifications', 'failed'],
    queryFn: async () => (await api.get<Page<NotificationRow>>('/api/v1/admin/notifications', { state: 'failed' })).items,
    refetchInterval: 10_000,
  });
  const retry = useMutation({
    mutationFn: (id: string) => api.post<Job>(`/api/v1/admin/jobs/${id}/retry`),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: ['jobs'] });
      toast.show('The job is queued again.', 'success');
    },
    onError: (e) => toast.error(e),
  });
  return (
    <section className="page">
      <h1>Operations</h1>
      <h2>Dead jobs</h2>
      {jobs.isPending && <Loading what="jobs" />}
      {jobs.error && <Problem error={jobs.error} />}
      {jobs.data?.length === 0 && <p>No dead jobs: every background job finished or is still trying.</p>}
      {jobs.data && jobs.data.length > 0 && (
        <div className="scroll" tabIndex={0} role="region" aria-label="Table, scrolls sideways">
          <table>
            <thead>
              <tr>
                <th scope="col">Kind</th>
                <th scope="col">Attempts</th>
                <th scope="col">Last error</th>
                <th scope="col">Changed</th>
                <th scope="col"><span className="sr-only">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              {jobs.data.map((j) => (
                <tr key={j.id}>
                  <td className="mono small">{j.kind}</td>
                  <td>
                    {j.attempts}/{j.max_attempts}
                  </td>
                  <td className="small">{j.last_error ?? '—'}</td>
                  <td>{formatDateTime(j.updated_at, zone)}</td>
                  <td>
                    <button type="button" onClick={() => retry.mutate(j.id)} disabled={retry.isPending}>
                      Retry
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <h2>Failed notifications</h2>
      {notices.isPending && <Loading what="notifications" />}
      {notices.error && <Problem error={notices.error} />}
      {notices.data?.length === 0 && <p>No failed notifications.</p>}
      {notices.data && notices.data.length > 0 && (
        <div className="scroll" tabIndex={0} role="region" aria-label="Table, scrolls sideways">
          <table>
            <thead>
              <tr>
                <th scope="col">Meeting</th>
                <th scope="col">Channel</th>
                <th scope="col">Recipient</th>
                <th scope="col">Error</th>
                <th scope="col">When</th>
              </tr>
            </thead>
            <tbody>
              {notices.data.map((n) => (
                <tr key={n.id}>
                  <td>
                    <Link to={`/meetings/${n.meeting_id}`}>{n.change_type.toLowerCase()}</Link>
                  </td>
                  <td>{n.channel}</td>
                  <td>{n.recipient}</td>
                  <td className="small">{n.error ?? n.delivery_status ?? '—'}</td>
                  <td>{formatDateTime(n.updated_at, zone)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
