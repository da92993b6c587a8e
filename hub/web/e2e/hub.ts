// Starts a real `hub demo` for the browser tests and reads its credentials file.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test as base } from '@playwright/test';

export interface Credentials {
  base_url: string;
  tenant: string;
  admin_token: string;
  member_token: string;
  resources: { id: string; name: string; kind: 'ROOM' | 'DEVICE'; seeded: boolean }[];
  google: { base_url: string; external_user_email: string; external_user_token: string };
  console?: { url: string; admin_login_url: string; member_login_url: string };
}

export type Started = Credentials & { console: NonNullable<Credentials['console']> };

export interface Hub {
  creds: Started;
  /** A call to the hub's API with the admin token. */
  api: <T>(method: string, path: string, body?: unknown) => Promise<T>;
}

async function waitFor<T>(what: string, probe: () => T | null, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function startHub(): Promise<{ hub: Hub; stop: () => void }> {
  const bin = resolve(process.env.CORBI_HUB_BIN ?? '../../target/debug/hub');
  const dir = mkdtempSync(join(tmpdir(), 'corbi-e2e-'));
  const file = join(dir, 'credentials.json');
  const child: ChildProcess = spawn(bin, ['demo', '--credentials-out', file], {
    env: { ...process.env, BIND: '127.0.0.1:0', DATABASE_URL: `sqlite://${join(dir, 'hub.db')}?mode=rwc`, RUST_LOG: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const creds = await waitFor(
    'the hub demo credentials',
    () => {
      if (child.exitCode !== null) throw new Error(`hub demo exited (${child.exitCode}): ${stderr}`);
      if (!existsSync(file)) return null;
      try {
        const parsed = JSON.parse(readFileSync(file, 'utf8')) as Credentials;
        return parsed.base_url ? parsed : null;
      } catch {
        return null;
      }
    },
    120_000,
  );
  if (!creds.console) throw new Error('the demo credentials name no console links');
  // The console's URL ends with a slash; the tests append absolute paths to it.
  const started: Started = { ...creds, console: { ...creds.console, url: creds.console.url.replace(/\/$/, '') } };
  const api = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${creds.base_url}${path}`, {
      method,
      headers: { Authorization: `Bearer ${creds.admin_token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  };
  return { hub: { creds: started, api }, stop: () => child.kill('SIGTERM') };
}

/** One hub for the whole run (workers: 1), shared by every test. */
export const test = base.extend<object, { hub: Hub }>({
  hub: [
    async ({}, use) => {
      const { hub, stop } = await startHub();
      try {
        await use(hub);
      } finally {
        stop();
      }
    },
    { scope: 'worker' },
  ],
});

export { expect } from '@playwright/test';

type Sessions = { adminState: StorageState; memberState: StorageState };
type StorageState = Awaited<ReturnType<import('@playwright/test').BrowserContext['storageState']>>;

/** Signed-in browser states, made once per run from the demo's one-time sign-in links. */
export const signedIn = test.extend<object, Sessions>({
  adminState: [
    async ({ hub, browser }, use) => {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(hub.creds.console.admin_login_url);
      await page.waitForURL(/\/calendar/);
      const state = await context.storageState();
      await context.close();
      await use(state);
    },
    { scope: 'worker' },
  ],
  memberState: [
    async ({ hub, browser }, use) => {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(hub.creds.console.member_login_url);
      await page.waitForURL(/\/calendar/);
      const state = await context.storageState();
      await context.close();
      await use(state);
    },
    { scope: 'worker' },
  ],
});
