// An approver at the dashboard, in headless Chromium, for the MCP end-to-end
// tests (host/tests/mcp_clients.rs): enrolls with a virtual passkey, then
// acts on one command a line from stdin and answers on stdout:
//
//   APPROVE        → approves the next card with the passkey → APPROVED
//   DENY <reason>  → denies the next card                    → DENIED
//   GONE           → waits until no card is left            → GONE
//   AUTHORIZE URL  → an OAuth client's authorization URL, in a fresh
//                    window (signed out) with the same passkey: signs
//                    in, sees the consent screen, allows, and follows the
//                    redirect to the client → {"event":"consent",…}, then
//                    AUTHORIZED
//   ATTACKER       → registers a client named "Claude" whose redirect URI
//                    is https://evil.example/cb and opens its
//                    authorization URL in the signed-in window: the
//                    consent screen must show; it denies
//                    → {"event":"consent",…}, then {"event":"landed",…}
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
  const authenticator = { protocol: 'ctap2', transport: 'internal', hasResidentKey: true,
    hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true };
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', { options: authenticator });
  const origin = new URL(link).origin;
  // A window with no session, whose authenticator holds the same passkey.
  const freshWindow = async () => {
    const fresh = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    const other = await fresh.newPage();
    other.on('pageerror', (e) => console.error('page error:', e.message));
    const session = await fresh.newCDPSession(other);
    await session.send('WebAuthn.enable');
    const { authenticatorId: id } = await session.send('WebAuthn.addVirtualAuthenticator', { options: authenticator });
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    for (const credential of credentials) await session.send('WebAuthn.addCredential', { authenticatorId: id, credential });
    return { fresh, other };
  };
  // The same passkey on a second device, signed out before each use. (One
  // copy, kept: two copies signing in turn would look like a cloned
  // authenticator, and the gateway refuses those.)
  let device = null;
  const signedOutDevice = async () => {
    device ??= await freshWindow();
    await device.fresh.clearCookies();
    return device;
  };
  // What the consent screen shows.
  const consent = async (on) => {
    await on.waitForSelector('.consent button.primary', { timeout });
    return { event: 'consent', title: await on.textContent('.consent h1'),
      host: await on.textContent('.consent .redirect-host'), text: await on.textContent('.consent') };
  };
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
    } else if (command === 'AUTHORIZE') {
      const { other } = await signedOutDevice();
      await other.goto(rest[0]);
      await other.waitForSelector('text=An app asks to connect', { timeout });
      await other.screenshot({ path: `${shots}/oauth-sign-in.png` });
      await other.click('text=Sign in with a passkey');
      const shown = await consent(other);
      await other.screenshot({ path: `${shots}/oauth-consent.png` });
      say(JSON.stringify(shown));
      await other.click('.consent >> text=Allow');
      await other.waitForURL((u) => u.origin !== origin, { timeout });
      await other.waitForSelector('text=You can close this tab', { timeout });
      say('AUTHORIZED');
    } else if (command === 'ATTACKER') {
      const registered = await (await fetch(`${origin}/register`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ client_name: 'Claude', redirect_uris: ['https://evil.example/cb'] }),
      })).json();
      let landed = null;
      await page.route('https://evil.example/**', (route) => {
        landed = route.request().url();
        return route.fulfill({ status: 200, contentType: 'text/plain', body: 'attacker' });
      });
      const query = new URLSearchParams({ response_type: 'code', client_id: registered.client_id,
        redirect_uri: 'https://evil.example/cb', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
        code_challenge_method: 'S256', state: 'attack', resource: `${origin}/v1/mcp` });
      await page.goto(`${origin}/authorize?${query}`);
      const shown = await consent(page);
      await page.screenshot({ path: `${shots}/oauth-consent-attacker.png` });
      say(JSON.stringify(shown));
      await page.click('.consent >> text=Deny');
      await page.waitForURL((u) => u.origin !== origin, { timeout });
      say(JSON.stringify({ event: 'landed', url: landed }));
      await page.goto(`${origin}/#/approvals`);
      await page.waitForSelector('text=Nothing waits for you', { timeout });
    } else if (command === 'QUIT') {
      break;
    }
  }
} catch (error) {
  console.error(`approver failed: ${error.stack || error}`);
  for (const context of browser.contexts()) {
    for (const open of context.pages()) {
      console.error(`approver: the page at ${open.url()} shows: ${await open.evaluate(() => document.body.innerText).catch(() => '?')}`);
    }
  }
  process.exitCode = 1;
} finally {
  await browser.close();
  reader.close();
}
