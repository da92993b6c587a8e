// Benchmark (not a test): what the calendar page ships, and how fast its week view paints.
//
//   node bench/calendar.mjs            (after `npm run build` and `cargo build -p hub`)
//
// 1. Gzipped JS + CSS the calendar page loads (entry chunk, its CSS and preloads; the lazy
//    admin chunks are not loaded there).
// 2. Starts `hub demo` (CORBI_HUB_BIN, default ../../target/debug/hub), onboards rooms up to
//    20, books 400 meetings in one week through the API, then loads the week view of the 20
//    rooms 10 times in headless Chromium and reports the p50 time from navigation to all
//    meetings painted, beside the same page for a week without meetings.
//
// Against a hub already running: CORBI_BENCH_CREDS=<its credentials file> (a `hub demo
// --credentials-out` file: its console sign-in link is used).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { chromium } from '@playwright/test';

const ROOMS = 20;
const MEETINGS = 400;
const LOADS = 10;

function bundleSize() {
  const html = readFileSync('dist/index.html', 'utf8');
  const files = [...html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]);
  let raw = 0;
  let gz = 0;
  for (const f of files) {
    const bytes = readFileSync(join('dist', f));
    raw += bytes.length;
    gz += gzipSync(bytes, { level: 9 }).length;
  }
  return { files, raw, gz };
}

async function startHub() {
  const bin = resolve(process.env.CORBI_HUB_BIN ?? '../../target/debug/hub');
  const dir = mkdtempSync(join(tmpdir(), 'corbi-bench-'));
  const file = join(dir, 'credentials.json');
  const child = spawn(bin, ['demo', '--credentials-out', file], {
    env: { ...process.env, BIND: '127.0.0.1:0', DATABASE_URL: `sqlite://${join(dir, 'hub.db')}?mode=rwc`, RUST_LOG: 'warn' },
    stdio: 'ignore',
  });
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`hub demo exited with ${child.exitCode}`);
    if (existsSync(file)) {
      try {
        const creds = JSON.parse(readFileSync(file, 'utf8'));
        if (creds.base_url) return { creds, stop: () => child.kill('SIGTERM') };
      } catch {
        /* still being written */
      }
    }
    if (Date.now() > deadline) throw new Error('hub demo did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
}

async function main() {
  const size = bundleSize();
  console.log(`calendar page: ${size.files.length} files, ${(size.raw / 1024).toFixed(1)} KiB raw, ${(size.gz / 1024).toFixed(1)} KiB gzipped`);

  const { creds, stop } = process.env.CORBI_BENCH_CREDS
    ? { creds: JSON.parse(readFileSync(process.env.CORBI_BENCH_CREDS, 'utf8')), stop: () => {} }
    : await startHub();
  try {
    const consoleUrl = creds.console?.url?.replace(/\/$/, '');
    if (!consoleUrl) throw new Error('this hub has no console links in its credentials file');
    const api = async (method, path, body) => {
      const res = await fetch(`${creds.base_url}${path}`, {
        method,
        headers: { Authorization: `Bearer ${creds.admin_token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
      return res.json();
    };
    const existing = (await api('GET', '/api/v1/resources?kind=ROOM&enabled=true')).items;
    const rooms = existing.slice(0, ROOMS);
    for (let i = rooms.length; i < ROOMS; i++) {
      rooms.push(await api('POST', '/api/v1/resources', { name: `Bench ${String(i + 1).padStart(2, '0')}`, kind: 'ROOM', capacity: 4 + i, calendar: { mode: 'CREATE' } }));
    }
    // A week three weeks ahead (Monday), 20 meetings per room: 4 a day, Monday to Friday.
    const monday = new Date();
    monday.setUTCHours(0, 0, 0, 0);
    monday.setUTCDate(monday.getUTCDate() + 21 - ((monday.getUTCDay() + 6) % 7));
    const before = (await api('GET', `/api/v1/calendar/events?from=${monday.toISOString()}&to=${new Date(monday.getTime() + 7 * 86400000).toISOString()}&limit=200`)).items.length;
    const t0 = Date.now();
    let made = 0;
    for (const room of rooms) {
      for (let d = 0; d < 5; d++) {
        for (let k = 0; k < MEETINGS / ROOMS / 5; k++) {
          const start = new Date(monday.getTime() + d * 86400000 + (8 + k * 2) * 3600000);
          await api('POST', '/api/v1/calendar/events', {
            title: `Bench ${room.name} ${d}/${k}`,
            start: start.toISOString(),
            end: new Date(start.getTime() + 3600000).toISOString(),
            resource_id: room.id,
          });
          made++;
        }
      }
    }
    console.log(`seeded ${made} meetings on ${rooms.length} rooms in ${((Date.now() - t0) / 1000).toFixed(1)} s (${before} were there before)`);

    const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--no-sandbox'], headless: true });
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const signin = await context.newPage();
    await signin.goto(`${creds.console.admin_login_url}&next=/calendar`);
    await signin.waitForURL(/\/calendar/);
    await signin.close();
    const ids = rooms.map((r) => `resource=${r.id}`).join('&');
    const ymd = (d) => d.toISOString().slice(0, 10);
    const full = `${consoleUrl}/calendar?view=week&date=${ymd(monday)}&${ids}`;
    const empty = `${consoleUrl}/calendar?view=week&date=${ymd(new Date(monday.getTime() + 14 * 86400000))}&${ids}`;

    const load = async (url, expected) => {
      const page = await context.newPage();
      await page.goto(url, { waitUntil: 'commit' });
      await page.waitForFunction(
        ([n, rooms]) => {
          const frame = document.querySelector('[data-testid="calendar"]');
          if (!frame || Number(frame.getAttribute('data-events')) < n) return false;
          if (document.querySelectorAll('.ec-event').length < n) return false;
          return document.querySelectorAll('.ec-row-head').length >= rooms;
        },
        [expected, ROOMS],
        { timeout: 30_000, polling: 'raf' },
      );
      const ms = await page.evaluate(() => performance.now());
      await page.close();
      return ms;
    };
    await load(full, MEETINGS); // warm the browser cache once, as a returning person has it
    const withMeetings = [];
    const without = [];
    for (let i = 0; i < LOADS; i++) {
      withMeetings.push(await load(full, MEETINGS));
      without.push(await load(empty, 0));
    }
    await browser.close();
    const p50 = median(withMeetings);
    const p50Empty = median(without);
    console.log(`week view, ${ROOMS} rooms, ${MEETINGS} meetings: p50 ${p50.toFixed(0)} ms over ${LOADS} loads (min ${Math.min(...withMeetings).toFixed(0)}, max ${Math.max(...withMeetings).toFixed(0)})`);
    console.log(`week view, ${ROOMS} rooms, no meetings:  p50 ${p50Empty.toFixed(0)} ms (ratio ${(p50 / p50Empty).toFixed(2)})`);
  } finally {
    stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
