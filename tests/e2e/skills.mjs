// Drives the Skills page in headless Chromium (Debian's, through
// playwright-core) for host/tests/registry.rs, which runs `tgw up` over a
// skills folder whose installed skill has an update waiting. One word a
// line on stdout:
//
//   ENROLLED (the first admin enrolled with a virtual passkey) → PENDING
//   (the Skills page shows the installed version, its publisher and
//   digest, and the waiting update with what it widens) → the test says
//   ACCEPT → ACCEPTED (the admin accepted it; the page says the new version serves, and nothing
//   waits).
//
// Usage: node skills.mjs ENROLL_LINK SCREENSHOT_DIR
import { chromium } from 'playwright-core';
import { createInterface } from 'node:readline';

const [link, shots] = process.argv.slice(2);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const expect = async (word) => {
  const { value } = await lines.next();
  if (value !== word) throw new Error(`expected ${word} from the test, got ${value}`);
};
const say = (line) => { console.log(line); console.error(`browser: ${line}`); };
const timeout = 30000;

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true,
      isUserVerified: true, automaticPresenceSimulation: true },
  });

  await page.goto(link);
  await page.fill('#name', 'ada');
  await page.click('text=Create my passkey');
  await page.waitForSelector('text=Nothing waits for you', { timeout });
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
}
