// What the dashboard scripts share: Debian's Chromium launched through
// playwright-core (never a downloaded browser), the DevTools Protocol's
// virtual WebAuthn authenticator, and the one-word-a-line talk with the
// Rust test on stdin and stdout.
import { chromium } from 'playwright-core';
import { createInterface } from 'node:readline';

export const launch = () => chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});

// A virtual platform authenticator that verifies the user, for every page
// of the browser context.
export async function addPasskey(context, page) {
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true,
      isUserVerified: true, automaticPresenceSimulation: true },
  });
}

// Enrolls as `name` from the enrollment link, with a passkey of `page`'s.
export async function enroll(page, link, name, timeout) {
  await page.goto(link);
  await page.fill('#name', name);
  await page.click('text=Create my passkey');
  await page.waitForSelector('text=Nothing waits for you', { timeout });
}

const reader = createInterface({ input: process.stdin });
const lines = reader[Symbol.asyncIterator]();

// Stops listening to the test, so the script can end.
export const hangUp = () => reader.close();

// Waits for `word` from the test.
export async function expect(word) {
  const { value } = await lines.next();
  if (value !== word) throw new Error(`expected ${word} from the test, got ${value}`);
}

// Tells the test `line` (and the log, cut short).
export const say = (line) => { console.log(line); console.error(`browser: ${line.slice(0, 200)}`); };
