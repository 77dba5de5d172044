// An approver at the dashboard, in headless Chromium, for the MCP end-to-end
// tests (host/tests/mcp_clients.rs): enrolls with a virtual passkey, then
// acts on one command a line from stdin and answers on stdout:
//
//   APPROVE        → approves the next card with the passkey → APPROVED
//   DENY <reason>  → denies the next card                    → DENIED
//   GONE           → waits until no card is left            → GONE
//
// Usage: node approver.mjs ENROLL_LINK SCREENSHOT_DIR
import { chromium } from 'playwright-core';
import { createInterface } from 'node:readline';

const [link, shots] = process.argv.slice(2);
const reader = createInterface({ input: process.stdin });
const say = (line) => { console.log(line); console.error(`approver: ${line}`); };
const timeout = 15000;

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
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
  for await (const line of reader) {
    const [command, ...rest] = line.split(' ');
    // The next call's card may arrive as soon as this one is decided: wait
    // for this very card to go.
    const card = async () => {
      const id = await (await page.waitForSelector('article.card', { timeout })).getAttribute('data-approval');
      return `article.card[data-approval="${id}"]`;
    };
    if (command === 'APPROVE') {
      const one = await card();
      await page.screenshot({ path: `${shots}/mcp-approval-card.png` });
      await page.click(`${one} >> text=Approve with passkey`);
      await page.waitForSelector(one, { state: 'detached', timeout });
      say('APPROVED');
    } else if (command === 'DENY') {
      const one = await card();
      await page.fill(`${one} input`, rest.join(' '));
      await page.click(`${one} >> text=Deny`);
      await page.waitForSelector(one, { state: 'detached', timeout });
      say('DENIED');
    } else if (command === 'GONE') {
      await page.waitForSelector('article.card', { state: 'detached', timeout });
      say('GONE');
    } else if (command === 'QUIT') {
      break;
    }
  }
} catch (error) {
  console.error(`approver failed: ${error.stack || error}`);
  process.exitCode = 1;
} finally {
  await browser.close();
  reader.close();
}
