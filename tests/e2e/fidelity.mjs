// What you see is what you sign, in headless Chromium (Debian's, through
// playwright-core), for host/tests/dashboard.rs: the first admin enrolls
// with a virtual passkey; the test proposes a call whose arguments hold a
// long string, a right-to-left override and TAG characters, and says
// PROPOSED; this script reads the card as a person sees it — the
// canonical text in its box, its warnings, the input hash and the
// component — prints it as one JSON line (CARD {...}), scrolls the box to
// its end, approves with the passkey and says APPROVED.
//
// Usage: node fidelity.mjs ENROLL_LINK SCREENSHOT_DIR
import { chromium } from 'playwright-core';
import { createInterface } from 'node:readline';

const [link, shots] = process.argv.slice(2);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const expect = async (word) => {
  const { value } = await lines.next();
  if (value !== word) throw new Error(`expected ${word} from the test, got ${value}`);
};
const say = (line) => { console.log(line); console.error(`browser: ${line.slice(0, 200)}`); };
const timeout = 20000;

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
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

  await expect('PROPOSED');
  const card = await page.waitForSelector('article.card', { timeout });
  const box = await card.$('pre.canonical');
  const read = async (selector) => (await card.$(selector))?.textContent();
  const shown = await box.textContent();
  const warnings = await card.$$eval('li.warning', (items) => items.map((i) => i.textContent));
  // The box scrolls: the whole text is in it, and its end can be reached.
  const scroll = await box.evaluate((el) => {
    const before = { scrollHeight: el.scrollHeight, clientHeight: el.clientHeight };
    el.scrollTop = el.scrollHeight;
    return { ...before, scrolledTo: el.scrollTop };
  });
  await page.screenshot({ path: `${shots}/approval-fidelity.png` });
  say(`CARD ${JSON.stringify({
    shown, warnings, scroll,
    input_hash: await read('code.input-hash'),
    component: await read('code.component'),
  })}`);
  await page.click('text=Approve with passkey');
  await page.waitForSelector('article.card', { state: 'detached', timeout });
  say('APPROVED');
} finally {
  await browser.close();
}
