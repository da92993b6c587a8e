// The signed-in person: `/api/v1/me` read once, its CSRF token handed to the client, and a
// redirect to /signin when there is no session.
import { createContext, useContext, type ReactNode } from 'react';
import { useQuery } from '@tanstack/react-query';
import { Navigate, useLocation } from 'react-router';
import { api, ApiError, setCsrfToken } from './api/client';
import type { Me, MeAnswer } from './api/types';
import { Loading, Problem } from './components/States';

const SessionContext = createContext<Me | null>(null);

export function useSession(): Me {
  const me = useContext(SessionContext);
  if (!me) throw new Error('useSession outside RequireSession');
  return me;
}

export function useIsAdmin(): boolean {
  return useSession().user.role === 'admin';
}

export function RequireSession({ children }: { children: ReactNode }) {
  const location = useLocation();
  const me = useQuery({
    queryKey: ['me'],
    queryFn: async () => {
      const answer = await api.get<MeAnswer>('/api/v1/me');
      setCsrfToken(answer.csrf_token ?? null);
      return answer;
    },
    staleTime: 60_000,
  });
  if (me.isPending) return <Loading what="your session" />;
  if (me.error) {
    if (me.error instanceof ApiError && me.error.status === 401) {
      const next = `${location.pathname}${location.search}`;
      return <Navigate to={`/signin?next=${encodeURIComponent(next)}`} replace />;
    }
    return <Problem error={me.error} retry={() => void me.refetch()} />;
  }
  const user = me.data.user;
  if (!user) {
    return <Problem error={new Error('The console is for people. Sign in with your own account rather than an API key or a device token.')} />;
  }
  return <SessionContext.Provider value={{ ...me.data, user }}>{children}</SessionContext.Provider>;
}
