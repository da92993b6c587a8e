// Sign-in: Google, or a one-time link an admin sends. Shows why a previous attempt failed.
import { useSearchParams } from 'react-router';

const REASONS: Record<string, string> = {
  link_invalid: 'That sign-in link is not valid. Ask an admin for a new one.',
  link_expired: 'That sign-in link has expired (links last 15 minutes). Ask an admin for a new one.',
  link_used: 'That sign-in link was already used. Each link works once; ask an admin for a new one.',
  google_failed: 'Signing in with Google did not work. Please try again.',
  unknown_user: 'That Google account is not a user of this workspace. Ask an admin to add you.',
  deactivated: 'Your account has been deactivated. Ask an admin if you need access again.',
};

/** A same-origin path to return to, or /calendar. */
export function safeNext(next: string | null): string {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/calendar';
  return next;
}

export function SignInPage() {
  const [params] = useSearchParams();
  const next = safeNext(params.get('next'));
  const error = params.get('error');
  return (
    <main id="main" className="signin">
      <h1>Sign in to CORBI Scheduling</h1>
      {error && (
        <p className="state problem" role="alert">
          {REASONS[error] ?? 'Signing in did not work. Please try again.'}
        </p>
      )}
      <p>
        <a className="button" href={`/auth/google/start?next=${encodeURIComponent(next)}`}>
          Sign in with Google
        </a>
      </p>
      <p>
        No Google account here? An admin can send you a one-time sign-in link. It works once, for 15 minutes: open it
        in this browser.
      </p>
    </main>
  );
}
