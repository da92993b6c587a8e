// TanStack Query hooks for the hub's reads, one key per resource so writes can refresh them.
import { useQuery } from '@tanstack/react-query';
import { api, getAllPages } from './client';
import type { Change, Meeting, Page, Resource, TenantSettings } from './types';

export const keys = {
  resources: ['resources'] as const,
  settings: ['settings'] as const,
  events: (from: string, to: string) => ['events', from, to] as const,
  meeting: (id: string) => ['meeting', id] as const,
  changes: (id: string) => ['changes', id] as const,
};

export function useResources() {
  return useQuery({
    queryKey: keys.resources,
    queryFn: async () => (await api.get<Page<Resource>>('/api/v1/resources')).items,
  });
}

export function useSettings() {
  return useQuery({ queryKey: keys.settings, queryFn: () => api.get<TenantSettings>('/api/v1/tenant/settings') });
}

/** Meetings overlapping a range; polled every second so changes made elsewhere show within 2 s. */
export function useEvents(from: string, to: string, poll = true) {
  return useQuery({
    queryKey: keys.events(from, to),
    queryFn: () => getAllPages<Meeting>('/api/v1/calendar/events', { from, to, limit: 200 }),
    refetchInterval: poll ? 1000 : false,
    refetchIntervalInBackground: false,
    staleTime: 0,
  });
}

export function useMeeting(id: string) {
  return useQuery({
    queryKey: keys.meeting(id),
    queryFn: () => api.get<Meeting>(`/api/v1/calendar/events/${encodeURIComponent(id)}`),
    refetchInterval: 2000,
  });
}

export function useChanges(id: string) {
  return useQuery({
    queryKey: keys.changes(id),
    queryFn: async () => (await api.get<Page<Change>>(`/api/v1/calendar/events/${encodeURIComponent(id)}/changes`)).items,
    refetchInterval: 2000,
  });
}
