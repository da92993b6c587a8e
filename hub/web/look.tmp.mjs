import { chromium } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
const b = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
const ctx = await b.newContext({ viewport: { width: 1440, height: 900 } });
const p = await ctx.newPage();
const errs = [];
p.on('pageerror', (e) => errs.push(String(e)));
for (const path of ['/calendar', '/calendar?view=week', '/find', '/my', '/admin/resources', '/admin/google', '/admin/settings', '/admin/people', '/admin/operations', '/signin?error=link_used']) {
  for (const w of [1440, 390]) {
    await p.setViewportSize({ width: w, height: 900 });
    await p.goto('http://localhost:5199' + path);
    await p.waitForTimeout(1500);
    const r = await new AxeBuilder({ page: p }).analyze();
    const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    console.log(path, w, bad.map((v) => `${v.id} ${v.nodes.length} ${v.nodes[0].target.join(' ')} ${v.nodes[0].failureSummary?.slice(0,150)}`));
    await p.screenshot({ path: `/tmp/webdemo/shots/${path.replace(/[/?=&]/g, '_')}-${w}.png`, fullPage: true });
  }
}
console.log(errs);
await b.close();
