// Drives the Skills page in headless Chromium (Debian's, through
// playwright-core) for host/tests/registry.rs, which runs `tgw up` over a
// skills folder whose installed skill has an update waiting. One word a
// line on stdout:
//
//   ENROLLED (the first admin enrolled with a virtual passkey) → PENDING
//   (the Skills page shows the installed version, its publisher and
//   digest, and the waiting update with what it widens) → the test says
//   ACCEPT → ACCEPTED (the admin accepted it; the page says the new
//   version serves, and nothing waits).
//
// Usage: node skills.mjs ENROLL_LINK SCREENSHOT_DIR
import { addPasskey, enroll, expect, hangUp, launch, say } from './common.mjs';

const [link, shots] = process.argv.slice(2);
const timeout = 30000;

const browser = await launch();
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await addPasskey(context, page);
  await enroll(page, link, 'ada', timeout);
  say('ENROLLED');

  await page.goto(`${new URL(link).origin}/#/skills`);
  const update = await page.waitForSelector('.pending-update', { timeout });
  const shown = await update.textContent();
  for (const wanted of ['files 0.2.0', '+ HTTP host https://api.example.com:443',
    '~ tool search: risk read → destructive', 'widens', 'signed by publisher', 'sha256:']) {
    if (!shown.includes(wanted)) throw new Error(`the waiting update does not show ${wanted}: ${shown}`);
  }
  await page.waitForSelector('h2:text-is("files 0.1.0")', { timeout });
  await page.screenshot({ path: `${shots}/skills-pending.png`, fullPage: true });
  say('PENDING');

  await expect('ACCEPT');
  await page.click('text=Accept update');
  await page.waitForSelector('text=files 0.2.0 now serves.', { timeout });
  await page.waitForSelector('.pending-update', { state: 'detached', timeout });
  await page.waitForSelector('h2:text-is("files 0.2.0")', { timeout });
  await page.screenshot({ path: `${shots}/skills.png`, fullPage: true });
  say('ACCEPTED');
} finally {
  await browser.close();
  hangUp();
}
