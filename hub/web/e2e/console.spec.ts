// The console in a real browser against a real `hub demo`: sign-in, calendar, booking and
// conflicts, the meeting page, onboarding with an enrollment QR, live Google edits, roles,
// accessibility (axe-core) and screenshots at 1440 and 390 px.
import { mkdirSync } from 'node:fs';
import AxeBuilder from '@axe-core/playwright';
import type { Page } from '@playwright/test';
import { expect, signedIn as test, type Hub } from './hub';

interface Meeting {
  id: string;
  title: string;
  start: string;
  end: string;
  status: string;
  resource_id: string | null;
  google: { calendar_id: string; event_id: string } | null;
}

const SHOTS = 'test-results/screenshots';
mkdirSync(SHOTS, { recursive: true });

/** Screenshots at 1440 and 390 px, and no serious or critical axe-core violation. */
async function check(page: Page, name: string) {
  await page.setViewportSize({ width: 1440, height: 900 });
  await page.screenshot({ path: `${SHOTS}/${name}-1440.png`, fullPage: true });
  const results = await new AxeBuilder({ page }).analyze();
  const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')})`)).toEqual([]);
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: `${SHOTS}/${name}-390.png`, fullPage: true });
  const narrow = await new AxeBuilder({ page }).analyze();
  expect(narrow.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id)).toEqual([]);
  await page.setViewportSize({ width: 1440, height: 900 });
}

async function zoneOf(hub: Hub): Promise<string> {
  return (await hub.api<{ time_zone: string }>('GET', '/api/v1/tenant/settings')).time_zone;
}

/** A date some days ahead, as YYYY-MM-DD in the tenant's zone. */
function dayAhead(zone: string, days: number): string {
  const d = new Date(Date.now() + days * 86400000);
  return new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(d);
}

/** Drags across the single resource column of a day view from one hour to another. */
async function selectRange(page: Page, fromHour: number, toHour: number) {
  const grid = page.locator('.ec-body .ec-day').first();
  const box = await grid.boundingBox();
  if (!box) throw new Error('no day column');
  const slotHeight = box.height / 48; // 30-minute slots over 24 hours
  const x = box.x + box.width / 2;
  await page.mouse.move(x, box.y + fromHour * 2 * slotHeight + 2);
  await page.mouse.down();
  await page.mouse.move(x, box.y + (fromHour * 2 + 1) * slotHeight, { steps: 5 });
  await page.mouse.move(x, box.y + toHour * 2 * slotHeight - 2, { steps: 5 });
  await page.mouse.up();
}

test('sign in by link shows the calendar with the seeded meetings', async ({ browser, adminState, hub }) => {
  test.setTimeout(180_000);
  // The demo's sample week; a demo that seeds none gets one meeting here, so the check holds.
  const zone = await zoneOf(hub);
  const from = new Date(Date.now() - 3 * 86400000).toISOString();
  const to = new Date(Date.now() + 3 * 86400000).toISOString();
  let seeded = (await hub.api<{ items: Meeting[] }>('GET', `/api/v1/calendar/events?from=${from}&to=${to}&limit=200`)).items.filter((m) => m.resource_id);
  if (seeded.length === 0) {
    const start = new Date(`${dayAhead(zone, 1)}T09:00:00Z`);
    seeded = [
      await hub.api<Meeting>('POST', '/api/v1/calendar/events', {
        title: 'Seeded stand-up',
        start: start.toISOString(),
        end: new Date(start.getTime() + 900000).toISOString(),
        resource_id: hub.creds.resources[0]!.id,
      }),
    ];
  }
  const context = await browser.newContext({ storageState: adminState });
  const page = await context.newPage();
  await page.goto(`${hub.creds.console.url}/calendar?view=week&date=${dayAhead(zone, 1)}`);
  await expect(page.getByRole('heading', { level: 1 })).toContainText('Week of');
  await expect(page.getByText(/Times in /)).toBeVisible();
  await expect.poll(async () => page.locator('.ec-event').count()).toBeGreaterThan(0);
  await page.goto(`${hub.creds.console.url}/calendar?view=day&date=${seeded[0]!.start.slice(0, 10)}&resource=${seeded[0]!.resource_id}`);
  await expect(page.locator('.ec-event', { hasText: seeded[0]!.title }).first()).toBeAttached();
  await check(page, 'calendar-week');
  await check(page, 'calendar');
  await context.close();
});

test('select a free slot and book it; it reaches the API and Google; a clash offers the proposal', async ({ browser, adminState, hub }) => {
  test.setTimeout(180_000);
  const zone = await zoneOf(hub);
  const room = hub.creds.resources.find((r) => r.kind === 'ROOM' && !r.seeded)!;
  const day = dayAhead(zone, 3);
  const context = await browser.newContext({ storageState: adminState });
  const page = await context.newPage();
  await page.goto(`${hub.creds.console.url}/calendar?resource=${room.id}&date=${day}&view=day`);
  await expect(page.locator('.ec-body .ec-day').first()).toBeVisible();

  await selectRange(page, 10, 11);
  const dialog = page.getByRole('dialog', { name: 'Book a meeting' });
  await expect(dialog).toBeVisible();
  await expect(dialog.getByLabel('Starts')).toHaveValue(`${day}T10:00`);
  await expect(dialog.getByLabel('Ends')).toHaveValue(`${day}T11:00`);
  await dialog.getByLabel('Title').fill('Browser booking');
  await dialog.getByLabel('Participants (email addresses)').fill('guest@example.com');
  await check(page, 'book');
  await dialog.getByRole('button', { name: 'Book', exact: true }).click();
  await expect(dialog).toBeHidden();
  await expect(page.locator('.ec-event', { hasText: 'Browser booking' })).toBeVisible();

  const listed = await hub.api<{ items: Meeting[] }>('GET', `/api/v1/calendar/events?resource_id=${room.id}&limit=200`);
  const booked = listed.items.find((m) => m.title === 'Browser booking');
  expect(booked, 'the booking is listed by the API').toBeTruthy();
  const google = await fetch(
    `${hub.creds.google.base_url}/calendar/v3/calendars/${encodeURIComponent(booked!.google!.calendar_id)}/events/${encodeURIComponent(booked!.google!.event_id)}`,
    { headers: { Authorization: `Bearer ${hub.creds.google.external_user_token}` } },
  );
  expect(google.status).toBe(200);
  expect(((await google.json()) as { summary: string }).summary).toBe('Browser booking');

  // A range across that booking clashes: the hub's sentence and its proposal, one click away.
  await selectRange(page, 9, 10.5);
  await expect(dialog).toBeVisible();
  await dialog.getByLabel('Title').fill('Clashing booking');
  await dialog.getByRole('button', { name: 'Book', exact: true }).click();
  const refusal = dialog.getByRole('alert');
  await expect(refusal).toContainText('already booked');
  await check(page, 'book-conflict');
  await refusal.getByRole('button', { name: /instead$/ }).click();
  await expect(dialog).toBeHidden();
  await expect(page.locator('.ec-event', { hasText: 'Clashing booking' })).toBeVisible();
  await context.close();
});

test('the meeting page shows the history and cancels with a reason', async ({ browser, adminState, hub }) => {
  test.setTimeout(240_000);
  const room = hub.creds.resources.find((r) => r.kind === 'ROOM' && !r.seeded)!;
  const start = new Date(Date.now() + 5 * 86400000);
  start.setUTCHours(14, 0, 0, 0);
  const meeting = await hub.api<Meeting>('POST', '/api/v1/calendar/events', {
    title: 'To be cancelled',
    start: start.toISOString(),
    end: new Date(start.getTime() + 3600000).toISOString(),
    resource_id: room.id,
  });
  const context = await browser.newContext({ storageState: adminState });
  const page = await context.newPage();
  await page.goto(`${hub.creds.console.url}/meetings/${meeting.id}`);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('To be cancelled');
  await expect(page.getByRole('list').filter({ hasText: 'Booked by' })).toBeVisible();
  await check(page, 'meeting');
  await page.getByRole('button', { name: 'Cancel meeting' }).click();
  await page.getByLabel('Reason (told to the participants)').fill('Room needed for an audit');
  await page.getByRole('button', { name: 'Cancel meeting' }).last().click();
  await expect(page.getByText('cancelled', { exact: true })).toBeVisible();
  await expect(page.getByText('Room needed for an audit', { exact: true })).toBeVisible();
  const after = await hub.api<Meeting>('GET', `/api/v1/calendar/events/${meeting.id}`);
  expect(after.status).toBe('CANCELLED');

  await page.goto(`${hub.creds.console.url}/meetings/${meeting.id}/reschedule`);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('To be cancelled');
  await page.goto(`${hub.creds.console.url}/my`);
  await expect(page.getByRole('heading', { name: 'My meetings' })).toBeVisible();
  await check(page, 'my-meetings');
  await page.goto(`${hub.creds.console.url}/find`);
  await page.getByRole('button', { name: 'Find free rooms' }).click();
  await expect(page.getByRole('button', { name: /^Book / }).first()).toBeVisible();
  await check(page, 'find');
  await context.close();
});

test('an admin onboards a room with a created calendar and gets an enrollment QR code', async ({ browser, adminState, hub }) => {
  test.setTimeout(300_000);
  const context = await browser.newContext({ storageState: adminState });
  const page = await context.newPage();
  await page.goto(`${hub.creds.console.url}/admin/resources`);
  await page.getByRole('button', { name: 'Add a room or device' }).click();
  await page.getByLabel('Name').first().fill('Browser Room');
  await page.getByLabel('Seats').first().fill('6');
  await page.getByLabel('Create a new calendar for it').check();
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  const card = page.locator('.card', { has: page.getByRole('heading', { name: /Browser Room/ }) });
  await expect(card).toBeVisible();
  await card.getByRole('button', { name: 'Devices' }).click();
  await card.getByRole('button', { name: 'Add a device' }).click();
  const enrollment = card.getByTestId('enrollment');
  await expect(enrollment.getByRole('img', { name: /QR code/ })).toBeVisible();
  await expect(enrollment.locator('.code')).not.toBeEmpty();
  await check(page, 'admin-resources');
  const resources = await hub.api<{ items: { name: string; calendar_created: boolean }[] }>('GET', '/api/v1/resources');
  expect(resources.items.find((r) => r.name === 'Browser Room')?.calendar_created).toBe(true);

  for (const [path, heading] of [
    ['/admin/google', 'Google'],
    ['/admin/settings', 'Settings'],
    ['/admin/people', 'People'],
    ['/admin/operations', 'Operations'],
  ] as const) {
    await page.goto(`${hub.creds.console.url}${path}`);
    await expect(page.getByRole('heading', { level: 1, name: heading })).toBeVisible();
    await expect(page.locator('.spinner')).toHaveCount(0);
    await check(page, `admin-${path.split('/')[2]}`);
  }
  await context.close();
});

test('an edit made in Google appears on an open calendar page without a reload', async ({ browser, adminState, hub }) => {
  const zone = await zoneOf(hub);
  const room = hub.creds.resources.filter((r) => r.kind === 'ROOM' && !r.seeded)[1]!;
  const day = dayAhead(zone, 4);
  const start = new Date(`${day}T12:00:00Z`);
  const meeting = await hub.api<Meeting>('POST', '/api/v1/calendar/events', {
    title: 'Before the Google edit',
    start: start.toISOString(),
    end: new Date(start.getTime() + 1800000).toISOString(),
    resource_id: room.id,
  });
  const context = await browser.newContext({ storageState: adminState });
  const page = await context.newPage();
  await page.goto(`${hub.creds.console.url}/calendar?resource=${room.id}&date=${day}`);
  await expect(page.locator('.ec-event', { hasText: 'Before the Google edit' })).toBeVisible();
  let reloaded = false;
  page.on('load', () => (reloaded = true));
  const g = meeting.google!;
  const res = await fetch(`${hub.creds.google.base_url}/calendar/v3/calendars/${encodeURIComponent(g.calendar_id)}/events/${encodeURIComponent(g.event_id)}`, {
    method: 'PATCH',
    headers: { Authorization: `Bearer ${hub.creds.google.external_user_token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ summary: 'Changed in Google' }),
  });
  expect(res.status).toBe(200);
  await expect(page.locator('.ec-event', { hasText: 'Changed in Google' })).toBeVisible({ timeout: 15_000 });
  expect(reloaded).toBe(false);
  await context.close();
});

test('a member is not offered admin pages', async ({ browser, memberState, hub }) => {
  const context = await browser.newContext({ storageState: memberState });
  const page = await context.newPage();
  await page.goto(`${hub.creds.console.url}/calendar`);
  const nav = page.getByRole('navigation', { name: 'Main' });
  await expect(nav.getByRole('link', { name: 'Calendar' })).toBeVisible();
  await expect(nav.getByRole('link', { name: /Rooms|Settings|People|Operations|Google/ })).toHaveCount(0);
  await page.goto(`${hub.creds.console.url}/admin/settings`);
  await expect(page.getByRole('heading', { name: 'Admins only' })).toBeVisible();
  await context.close();
});

test('the sign-in page explains a failed link and offers Google', async ({ page, hub }) => {
  await page.goto(`${hub.creds.console.url}/signin?error=link_expired&next=/my`);
  await expect(page.getByRole('alert')).toContainText('expired');
  await expect(page.getByRole('link', { name: 'Sign in with Google' })).toHaveAttribute('href', '/auth/google/start?next=%2Fmy');
  await check(page, 'signin');
  await page.goto(`${hub.creds.console.url}/my`);
  await page.waitForURL(/\/signin\?next=%2Fmy/);
});
