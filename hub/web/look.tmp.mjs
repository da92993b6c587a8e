import { chromium } from '@playwright/test';
import { readFileSync, mkdirSync } from 'node:fs';
const c = JSON.parse(readFileSync('/tmp/webdemo/creds.json', 'utf8'));
const T = c.admin_token;
const api = async (m, p, body) => { const r = await fetch(c.base_url + p, { method: m, headers: { Authorization: 'Bearer ' + T, 'Content-Type': 'application/json' }, body: body && JSON.stringify(body) }); return r.json(); };
mkdirSync('../../docs/screenshots', { recursive: true });
const day = new Date(Date.now() + 1 * 86400000).toISOString().slice(0, 10);
const titles = ['Design review', 'Sprint planning', '1:1 Ana / Ben', 'Customer call: Acme', 'Hiring panel', 'Weekly sync'];
let first;
for (const [i, r] of c.resources.slice(0, 5).entries()) {
  for (let k = 0; k < 3; k++) {
    const h = 8 + i + k * 3;
    const m = await api('POST', '/api/v1/calendar/events', { title: titles[(i + k) % titles.length], start: `${day}T${String(h).padStart(2, '0')}:00:00Z`, end: `${day}T${String(h + 1).padStart(2, '0')}:00:00Z`, resource_id: r.id, participants: [{ email: 'ana@example.com' }, { email: 'ben@example.com' }], meeting_link: 'https://meet.example/abc-defg' });
    first ??= m;
  }
}
await api('PATCH', `/api/v1/calendar/events/${first.id}`, { start: `${day}T08:30:00Z`, end: `${day}T09:30:00Z` });
const b = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
const p = await b.newPage({ viewport: { width: 1440, height: 900 } });
for (const w of [1440, 390]) {
  await p.setViewportSize({ width: w, height: w === 390 ? 844 : 900 });
  await p.goto(`http://localhost:5199/calendar?date=${day}`);
  await p.waitForTimeout(2500);
  await p.screenshot({ path: `../../docs/screenshots/calendar-${w}.png` });
  await p.goto(`http://localhost:5199/meetings/${first.id}`);
  await p.waitForTimeout(2500);
  await p.screenshot({ path: `../../docs/screenshots/meeting-${w}.png`, fullPage: true });
}
await b.close();
