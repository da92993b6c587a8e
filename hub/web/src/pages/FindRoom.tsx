// Find a room: a time range and a number of people → the rooms free then with enough seats,
// from each room's availability.
import { useState, type FormEvent } from 'react';
import { useQuery } from '@tanstack/react-query';
import { api } from '../api/client';
import { useResources } from '../api/queries';
import type { Resource, Slot } from '../api/types';
import { BookDialog } from '../components/BookDialog';
import { Empty, Loading, Problem } from '../components/States';
import { formatRange, fromWallClock, toUtcString, toWallClock, zoneLabel } from '../lib/time';
import { useSession } from '../session';

interface Search {
  start: string;
  end: string;
  people: number;
}

export function FindRoomPage() {
  const me = useSession();
  const zone = me.tenant.time_zone || 'UTC';
  const [start, setStart] = useState(() => toWallClock(new Date(Math.ceil(Date.now() / 1800000) * 1800000), zone).slice(0, 16));
  const [end, setEnd] = useState(() => toWallClock(new Date(Math.ceil(Date.now() / 1800000) * 1800000 + 3600000), zone).slice(0, 16));
  const [people, setPeople] = useState(2);
  const [search, setSearch] = useState<Search | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [booking, setBooking] = useState<Resource | null>(null);
  const resources = useResources();

  const free = useQuery({
    queryKey: ['find', search],
    enabled: !!search && !!resources.data,
    queryFn: async () => {
      if (!search || !resources.data) return [];
      const from = toUtcString(fromWallClock(search.start, zone));
      const to = toUtcString(fromWallClock(search.end, zone));
      const candidates = resources.data.filter((r) => r.enabled && r.kind === 'ROOM' && (r.capacity ?? 0) >= search.people);
      const answers = await Promise.all(
        candidates.map(async (r) => {
          const a = await api.get<{ busy: Slot[]; free: Slot[] }>(`/api/v1/resources/${r.id}/availability`, { from, to });
          return a.busy.length === 0 ? r : null;
        }),
      );
      return answers.filter((r): r is Resource => r !== null).sort((a, b) => (a.capacity ?? 0) - (b.capacity ?? 0));
    },
  });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    setProblem(null);
    try {
      const s = fromWallClock(start, zone);
      const en = fromWallClock(end, zone);
      if (en <= s) return setProblem('The end must be after the start.');
      if (!Number.isInteger(people) || people < 1) return setProblem('Say how many people will come (at least 1).');
    } catch {
      return setProblem('Choose a start and an end.');
    }
    setSearch({ start, end, people });
  };

  return (
    <section className="page">
      <h1>Find a room</h1>
      <form className="panel" onSubmit={submit} noValidate>
        <p className="muted">Times in {zoneLabel(zone)}.</p>
        <div className="row">
          <div>
            <label htmlFor="fr-start">From</label>
            <input id="fr-start" type="datetime-local" value={start} onChange={(e) => setStart(e.target.value)} />
          </div>
          <div>
            <label htmlFor="fr-end">To</label>
            <input id="fr-end" type="datetime-local" value={end} onChange={(e) => setEnd(e.target.value)} />
          </div>
          <div>
            <label htmlFor="fr-people">People</label>
            <input id="fr-people" type="number" min={1} value={people} onChange={(e) => setPeople(Number(e.target.value))} />
          </div>
        </div>
        {problem && (
          <p className="field-error" role="alert">
            {problem}
          </p>
        )}
        <div className="actions left">
          <button type="submit">Find free rooms</button>
        </div>
      </form>
      {search && (free.isPending || resources.isPending) && <Loading what="free rooms" />}
      {free.error && <Problem error={free.error} />}
      {search && free.data && free.data.length === 0 && (
        <Empty>
          <p>No room with {search.people}+ seats is free then. Try another time or fewer people.</p>
        </Empty>
      )}
      {search && free.data && free.data.length > 0 && (
        <>
          <h2>
            Free {formatRange(toUtcString(fromWallClock(search.start, zone)), toUtcString(fromWallClock(search.end, zone)), zone)}
          </h2>
          <ul className="cards">
            {free.data.map((r) => (
              <li key={r.id} className="card">
                <strong>{r.name}</strong>
                <div className="muted">
                  {r.capacity} seats{r.description ? ` · ${r.description}` : ''}
                </div>
                <button type="button" onClick={() => setBooking(r)}>
                  Book {r.name}
                </button>
              </li>
            ))}
          </ul>
        </>
      )}
      {booking && search && resources.data && (
        <BookDialog
          initial={{ zone, start: search.start, end: search.end, resourceId: booking.id }}
          resources={resources.data}
          onClose={() => setBooking(null)}
          onBooked={() => void free.refetch()}
        />
      )}
    </section>
  );
}
