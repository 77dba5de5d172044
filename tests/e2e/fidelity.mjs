// What you see is what you sign, in headless Chromium (Debian's, through
// playwright-core), for host/tests/dashboard.rs: the first admin enrolls
// with a virtual passkey; the test proposes a call whose arguments hold a
// long string, a right-to-left override and TAG characters, and says
// PROPOSED; this script reads the card as a person sees it — the
// canonical text in its box, its warnings, the input hash and the
// component — prints it as one JSON line (CARD {...}) and scrolls the box
// to its end; when the test says APPROVE, approves with the passkey and
// says APPROVED.
//
// Usage: node fidelity.mjs ENROLL_LINK SCREENSHOT_DIR
import { addPasskey, enroll, expect, hangUp, launch, say } from './common.mjs';

const [link, shots] = process.argv.slice(2);
const timeout = 20000;

const browser = await launch();
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await addPasskey(context, page);
  await enroll(page, link, 'ada', timeout);
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
  // The test reads the pending record before the approval decides it.
  await expect('APPROVE');
  await page.click('text=Approve with passkey');
  await page.waitForSelector('article.card', { state: 'detached', timeout });
  say('APPROVED');
} finally {
  await browser.close();
  hangUp();
}
