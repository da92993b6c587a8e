// Routes and the page frame. Admin pages are loaded on demand so the calendar stays small.
import { lazy, Suspense, type ReactNode } from 'react';
import { Navigate, NavLink, Route, Routes, useNavigate } from 'react-router';
import { useQueryClient } from '@tanstack/react-query';
import { api, setCsrfToken } from './api/client';
import { RequireSession, useIsAdmin, useSession } from './session';
import { Loading } from './components/States';
import { useToast } from './components/Toast';
import { CalendarPage } from './pages/Calendar';
import { SignInPage } from './pages/SignIn';
import { MeetingPage } from './pages/Meeting';
import { MyMeetingsPage } from './pages/MyMeetings';
import { FindRoomPage } from './pages/FindRoom';

const ResourcesAdmin = lazy(() => import('./pages/admin/Resources'));
const GoogleAdmin = lazy(() => import('./pages/admin/Google'));
const SettingsAdmin = lazy(() => import('./pages/admin/Settings'));
const PeopleAdmin = lazy(() => import('./pages/admin/People'));
const OperationsAdmin = lazy(() => import('./pages/admin/Operations'));

export function App() {
  return (
    <Routes>
      <Route path="/signin" element={<SignInPage />} />
      <Route
        path="*"
        element={
          <RequireSession>
            <Frame>
              <Routes>
                <Route path="/" element={<Navigate to="/calendar" replace />} />
                <Route path="/calendar" element={<CalendarPage />} />
                <Route path="/find" element={<FindRoomPage />} />
                <Route path="/my" element={<MyMeetingsPage />} />
                <Route path="/meetings/:id" element={<MeetingPage />} />
                <Route path="/meetings/:id/reschedule" element={<MeetingPage reschedule />} />
                <Route path="/admin/resources" element={<AdminOnly page={<ResourcesAdmin />} />} />
                <Route path="/admin/google" element={<AdminOnly page={<GoogleAdmin />} />} />
                <Route path="/admin/settings" element={<AdminOnly page={<SettingsAdmin />} />} />
                <Route path="/admin/people" element={<AdminOnly page={<PeopleAdmin />} />} />
                <Route path="/admin/operations" element={<AdminOnly page={<OperationsAdmin />} />} />
                <Route path="*" element={<NotFound />} />
              </Routes>
            </Frame>
          </RequireSession>
        }
      />
    </Routes>
  );
}

function AdminOnly({ page }: { page: ReactNode }) {
  const admin = useIsAdmin();
  if (!admin) {
    return (
      <section className="page">
        <h1>Admins only</h1>
        <p>This page is for the tenant's admins. Ask an admin if you need something changed here.</p>
      </section>
    );
  }
  return <Suspense fallback={<Loading what="the page" />}>{page}</Suspense>;
}

function NotFound() {
  return (
    <section className="page">
      <h1>Page not found</h1>
      <p>
        There is nothing at this address. Go to the <NavLink to="/calendar">calendar</NavLink>.
      </p>
    </section>
  );
}

function Frame({ children }: { children: ReactNode }) {
  const me = useSession();
  const admin = me.user.role === 'admin';
  const navigate = useNavigate();
  const toast = useToast();
  const queryClient = useQueryClient();
  const signOut = async () => {
    try {
      await api.post('/auth/logout');
      setCsrfToken(null);
      queryClient.clear();
      navigate('/signin', { replace: true });
    } catch (error) {
      toast.error(error);
    }
  };
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <span className="brand">{me.tenant.name || 'CORBI'}</span>
        <nav aria-label="Main">
          <ul>
            <li><NavLink to="/calendar">Calendar</NavLink></li>
            <li><NavLink to="/find">Find a room</NavLink></li>
            <li><NavLink to="/my">My meetings</NavLink></li>
            {admin && (
              <>
                <li><NavLink to="/admin/resources">Rooms &amp; devices</NavLink></li>
                <li><NavLink to="/admin/google">Google</NavLink></li>
                <li><NavLink to="/admin/settings">Settings</NavLink></li>
                <li><NavLink to="/admin/people">People</NavLink></li>
                <li><NavLink to="/admin/operations">Operations</NavLink></li>
              </>
            )}
          </ul>
        </nav>
        <span className="who">
          <span className="who-name" title={me.user.email}>{me.user.name || me.user.email}</span>
          <button type="button" className="secondary" onClick={() => void signOut()}>
            Sign out
          </button>
        </span>
      </header>
      <main id="main" tabIndex={-1}>
        {children}
      </main>
    </>
  );
}
