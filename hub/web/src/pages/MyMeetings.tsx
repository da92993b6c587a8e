// My meetings: upcoming and past meetings the person organised, booked or takes part in.
import { useMemo, useState } from 'react';
import { Link } from 'react-router';
import { useQuery } from '@tanstack/react-query';
import { getAllPages } from '../api/client';
import { useResources } from '../api/queries';
import type { Meeting } from '../api/types';
import { Empty, Loading, Problem } from '../components/States';
import { statusLabel } from '../lib/status';
import { formatRange, toUtcString } from '../lib/time';
import { useSession } from '../session';

const DAY = 86400000;

export function MyMeetingsPage() {
  const me = useSession();
  const zone = me.tenant.time_zone || 'UTC';
  const [now] = useState(() => Date.now());
  const from = toUtcString(new Date(Math.floor(now / DAY) * DAY - 30 * DAY));
  const to = toUtcString(new Date(Math.floor(now / DAY) * DAY + 61 * DAY));
  const resources = useResources();
  const list = useQuery({
    queryKey: ['events', from, to],
    queryFn: () => getAllPages<Meeting>('/api/v1/calendar/events', { from, to, limit: 200 }),
    refetchInterval: 10_000,
  });
  const mine = useMemo(() => {
    const email = me.user.email.toLowerCase();
    return (list.data ?? []).filter(
      (m) =>
        m.created_by === me.user.id ||
        m.organizer?.email.toLowerCase() === email ||
        m.participants.some((p) => p.email.toLowerCase() === email),
    );
  }, [list.data, me.user.id, me.user.email]);
  const upcoming = mine.filter((m) => new Date(m.end).getTime() >= now || m.recurrence.length > 0);
  const past = mine.filter((m) => new Date(m.end).getTime() < now && m.recurrence.length === 0).reverse();
  const roomName = (id: string | null) => resources.data?.find((r) => r.id === id)?.name ?? (id ? 'a room' : 'no room');

  const table = (items: Meeting[]) => (
    <ul className="cards">
      {items.map((m) => (
        <li key={m.id} className={`card status-${m.status.toLowerCase()}`}>
          <Link to={`/meetings/${m.id}`}>{m.title}</Link>
          <div>{formatRange(m.start, m.end, zone)}</div>
          <div className="muted">
            {roomName(m.resource_id)} · {statusLabel(m)}
            {m.recurrence.length > 0 ? ' · repeats' : ''}
          </div>
        </li>
      ))}
    </ul>
  );

  return (
    <section className="page">
      <h1>My meetings</h1>
      <p className="muted">Meetings you booked, organise or were invited to, from 30 days ago to two months ahead.</p>
      {list.isPending && <Loading what="your meetings" />}
      {list.error && <Problem error={list.error} retry={() => void list.refetch()} />}
      {list.data && (
        <>
          <h2>Upcoming</h2>
          {upcoming.length ? (
            table(upcoming)
          ) : (
            <Empty>
              <p>
                Nothing coming up. Book one from the <Link to="/calendar">calendar</Link> or <Link to="/find">find a free room</Link>.
              </p>
            </Empty>
          )}
          <h2>Past</h2>
          {past.length ? table(past) : <Empty><p>No past meetings in the last 30 days.</p></Empty>}
        </>
      )}
    </section>
  );
}
