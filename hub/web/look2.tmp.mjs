import { chromium } from '@playwright/test';
const b = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
const p = await b.newPage({ viewport: { width: 1440, height: 900 } });
await p.goto('http://localhost:5199/calendar');
await p.waitForTimeout(2000);
console.log(await p.evaluate(() => {
  const out = [];
  let el = document.querySelector('.ec-event');
  while (el && !el.classList.contains('ec-frame')) { out.push(`${el.tagName}.${[...el.classList].join('.')}[role=${el.getAttribute('role')}]`); el = el.parentElement; }
  return out.join('\n');
}));
await b.close();
