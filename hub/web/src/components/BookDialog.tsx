// The booking form in a modal dialog: filled from a calendar selection (or typed), checked
// here, then sent through the same API as everyone's. A clash shows the hub's sentence and
// offers its proposed slot with one click.
import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api, ApiError } from '../api/client';
import type { Meeting, Resource } from '../api/types';
import { MAX_REPEAT, proposedSlot, toBookingRequest, validateBooking, type BookingErrors, type BookingForm } from '../lib/booking';
import { formatRange, toInputValue, zoneLabel } from '../lib/time';
import { useToast } from './Toast';

interface Props {
  initial: Partial<BookingForm> & { zone: string };
  resources: Resource[];
  onClose: () => void;
  onBooked?: (meeting: Meeting) => void;
}

export function BookDialog({ initial, resources, onClose, onBooked }: Props) {
  const ref = useRef<HTMLDialogElement>(null);
  const id = useId();
  const toast = useToast();
  const queryClient = useQueryClient();
  const [form, setForm] = useState<BookingForm>({
    title: '',
    start: '',
    end: '',
    resourceId: '',
    participants: '',
    description: '',
    meetingLink: '',
    repeat: 'none',
    count: 4,
    ...initial,
  });
  const [errors, setErrors] = useState<BookingErrors>({});
  const [refusal, setRefusal] = useState<{ message: string; proposal: { start: string; end: string } | null } | null>(null);

  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
  }, []);

  const book = useMutation({
    mutationFn: (f: BookingForm) => api.post<Meeting>('/api/v1/calendar/events', toBookingRequest(f)),
    onSuccess: (meeting) => {
      void queryClient.invalidateQueries({ queryKey: ['events'] });
      toast.show(`Booked “${meeting.title}”.`, 'success');
      onBooked?.(meeting);
      onClose();
    },
    onError: (error) => {
      if (error instanceof ApiError && error.code === 'CONFLICT') {
        setRefusal({ message: error.message, proposal: proposedSlot(error.details) });
      } else {
        setRefusal({ message: error.message, proposal: null });
        toast.error(error);
      }
    },
  });

  const submit = (f: BookingForm) => {
    const found = validateBooking(f, resources);
    setErrors(found);
    setRefusal(null);
    if (Object.keys(found).length === 0) book.mutate(f);
  };

  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    submit(form);
  };

  const takeProposal = (slot: { start: string; end: string }) => {
    const next = { ...form, start: toInputValue(slot.start, form.zone), end: toInputValue(slot.end, form.zone) };
    setForm(next);
    submit(next);
  };

  const set = <K extends keyof BookingForm>(key: K, value: BookingForm[K]) => setForm((f) => ({ ...f, [key]: value }));
  const field = (key: keyof BookingForm) => ({
    id: `${id}-${key}`,
    'aria-invalid': errors[key] ? true : undefined,
    'aria-describedby': errors[key] ? `${id}-${key}-error` : undefined,
  });
  const error = (key: keyof BookingForm) =>
    errors[key] ? (
      <span className="field-error" id={`${id}-${key}-error`}>
        {errors[key]}
      </span>
    ) : null;

  return (
    <dialog ref={ref} className="dialog" aria-labelledby={`${id}-heading`} onClose={onClose}>
      <form onSubmit={onSubmit} noValidate>
        <h2 id={`${id}-heading`}>Book a meeting</h2>
        <p className="muted">Times in {zoneLabel(form.zone)}.</p>
        <label htmlFor={`${id}-title`}>Title</label>
        <input {...field('title')} value={form.title} onChange={(e) => set('title', e.target.value)} required autoFocus />
        {error('title')}
        <div className="row">
          <div>
            <label htmlFor={`${id}-start`}>Starts</label>
            <input {...field('start')} type="datetime-local" value={form.start} onChange={(e) => set('start', e.target.value)} required />
            {error('start')}
          </div>
          <div>
            <label htmlFor={`${id}-end`}>Ends</label>
            <input {...field('end')} type="datetime-local" value={form.end} onChange={(e) => set('end', e.target.value)} required />
            {error('end')}
          </div>
        </div>
        {error('zone')}
        <label htmlFor={`${id}-resourceId`}>Room or device</label>
        <select {...field('resourceId')} value={form.resourceId} onChange={(e) => set('resourceId', e.target.value)}>
          <option value="">None</option>
          {resources.map((r) => (
            <option key={r.id} value={r.id} disabled={!r.enabled}>
              {r.name}
              {r.capacity ? ` (${r.capacity} seats)` : ''}
              {r.enabled ? '' : ' — disabled'}
            </option>
          ))}
        </select>
        {error('resourceId')}
        <label htmlFor={`${id}-participants`}>Participants (email addresses)</label>
        <textarea {...field('participants')} rows={2} value={form.participants} onChange={(e) => set('participants', e.target.value)} />
        {error('participants')}
        <label htmlFor={`${id}-description`}>Description</label>
        <textarea {...field('description')} rows={3} value={form.description} onChange={(e) => set('description', e.target.value)} />
        {error('description')}
        <label htmlFor={`${id}-meetingLink`}>Meeting link</label>
        <input {...field('meetingLink')} type="url" placeholder="https://" value={form.meetingLink} onChange={(e) => set('meetingLink', e.target.value)} />
        {error('meetingLink')}
        <div className="row">
          <div>
            <label htmlFor={`${id}-repeat`}>Repeat</label>
            <select {...field('repeat')} value={form.repeat} onChange={(e) => set('repeat', e.target.value as BookingForm['repeat'])}>
              <option value="none">Does not repeat</option>
              <option value="daily">Daily</option>
              <option value="weekly">Weekly</option>
            </select>
          </div>
          {form.repeat !== 'none' && (
            <div>
              <label htmlFor={`${id}-count`}>Times in all</label>
              <input {...field('count')} type="number" min={2} max={MAX_REPEAT} value={form.count} onChange={(e) => set('count', Number(e.target.value))} />
              {error('count')}
            </div>
          )}
        </div>
        {refusal && (
          <div className="refusal" role="alert">
            <p>{refusal.message}</p>
            {refusal.proposal && (
              <button type="button" onClick={() => takeProposal(refusal.proposal!)} disabled={book.isPending}>
                Book {formatRange(refusal.proposal.start, refusal.proposal.end, form.zone)} instead
              </button>
            )}
          </div>
        )}
        <div className="actions">
          <button type="button" className="secondary" onClick={() => ref.current?.close()}>
            Cancel
          </button>
          <button type="submit" disabled={book.isPending}>
            {book.isPending ? 'Booking…' : 'Book'}
          </button>
        </div>
      </form>
    </dialog>
  );
}
