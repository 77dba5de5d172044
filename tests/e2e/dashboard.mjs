// Drives the dashboard in headless Chromium (Debian's, through
// playwright-core) for host/tests/dashboard.rs, which runs the gateway and
// proposes calls. They talk over stdin/stdout, one word a line:
//
//   test → ENROLLED (first admin enrolled with a virtual passkey, two
//          dashboards open) → test proposes, says PROPOSED → CARD (the card
//          is in both dashboards) → APPROVED <click ms> (approved in the
//          first; gone from the second) → test says PROPOSED again →
//          DENIED → HISTORY (History shows the run, and filters it) →
//          GROUPS (a second person enrolls from an invitation made on the
//          People page; the admin sets their groups there) → PEOPLE (the
//          admin disables them) → DONE.
// No request of the dashboard's may end in a 404 (the favicon included).
//
// Usage: node dashboard.mjs ENROLL_LINK SCREENSHOT_DIR
import { addPasskey, expect, hangUp, launch, say } from './common.mjs';

const [link, shots] = process.argv.slice(2);
const timeout = 15000;

const browser = await launch();
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const first = await context.newPage();
  first.on('pageerror', (e) => console.error('page error:', e.message));
  const missing = [];
  first.on('console', (m) => {
    if (m.type() !== 'error') return;
    console.error('page console:', m.text());
    if (m.text().includes('404')) missing.push(m.text());
  });
  first.on('response', (r) => { if (r.status() === 404) missing.push(r.url()); });
  await addPasskey(context, first);

  await first.goto(link);
  await first.fill('#name', 'ada');
  await first.click('text=Create my passkey');
  await first.waitForSelector('text=Nothing waits for you', { timeout });
  await first.screenshot({ path: `${shots}/approvals-empty.png` });
  const origin = new URL(link).origin;
  const second = await context.newPage();
  await second.goto(`${origin}/#/approvals`);
  await second.waitForSelector('text=Nothing waits for you', { timeout });
  say('ENROLLED');

  // A destructive call appears in both dashboards without a reload.
  await expect('PROPOSED');
  await first.waitForSelector('article.card', { timeout });
  await second.waitForSelector('article.card', { timeout });
  await first.screenshot({ path: `${shots}/approvals-card.png` });
  say('CARD');

  // Approved with the passkey in the first; gone from the second.
  const clicked = Date.now();
  await first.click('text=Approve with passkey');
  await first.waitForSelector('article.card', { state: 'detached', timeout });
  await second.waitForSelector('article.card', { state: 'detached', timeout });
  say(`APPROVED ${clicked}`);

  // Another one, denied with a reason.
  await expect('PROPOSED');
  console.error('browser: waiting for the second card');
  await first.waitForSelector('article.card', { timeout });
  console.error('browser: denying');
  await first.fill('article.card input', 'not today');
  await first.click('text=Deny');
  await first.waitForSelector('article.card', { state: 'detached', timeout });
  say('DENIED');

  await first.goto(`${origin}/#/history`);
  await first.waitForSelector('text=execution.done', { timeout });
  await first.waitForSelector('text=The audit chain is intact', { timeout });
  await first.screenshot({ path: `${shots}/history.png`, fullPage: true });
  // Only approvals: the executions leave the table, the decisions stay.
  await first.selectOption('select[name=kind]', 'approval');
  await first.waitForSelector('text=execution.done', { state: 'detached', timeout });
  await first.waitForSelector('td:text-is("approval.decided")', { timeout });
  say('HISTORY');

  // People: invite an approver, who enrolls in a browser of their own; the
  // admin edits their groups and disables them; no Disable button for
  // oneself.
  await first.goto(`${origin}/#/people`);
  await first.click('text=Invite an approver');
  const invite = await (await first.waitForSelector('code.invite', { timeout })).textContent();
  if (!invite.includes('/enroll#')) throw new Error(`not an enrollment link: ${invite}`);
  const other = await browser.newContext();
  const grace = await other.newPage();
  await addPasskey(other, grace);
  await grace.goto(invite);
  await grace.fill('#name', 'grace');
  await grace.click('text=Create my passkey');
  await grace.waitForSelector('text=Nothing waits for you', { timeout });
  await first.reload();
  const row = 'tr[data-person=grace]';
  await first.waitForSelector(`${row} >> text=active`, { timeout });
  // Groups: put grace in billing and support; a malformed name is refused
  // with a reason and changes nothing.
  await first.fill(`${row} input.group-editor`, 'billing, support');
  await first.click(`${row} >> text=Save groups`);
  await first.waitForSelector(`${row} .group-list:text-is("billing, support")`, { timeout });
  await first.fill(`${row} input.group-editor`, 'Bad Name');
  await first.click(`${row} >> text=Save groups`);
  await first.waitForSelector('p.error:has-text("is not a group name")', { timeout });
  await first.waitForSelector(`${row} .group-list:text-is("billing, support")`, { timeout });
  say('GROUPS');
  if (await first.locator('tr[data-person=ada] >> text=Disable').count() !== 0) throw new Error('ada may disable herself');
  await first.click(`${row} >> text=Revoke tokens`);
  await first.waitForSelector("text=Revoked grace's tokens", { timeout });
  await first.click(`${row} >> text=Disable`);
  await first.waitForSelector(`${row} >> text=disabled`, { timeout });
  await first.screenshot({ path: `${shots}/people.png`, fullPage: true });
  await grace.reload();
  await grace.waitForSelector('text=Sign in with a passkey', { timeout });
  await other.close();
  say('PEOPLE');
  // A phone-sized view of the approvals page.
  await first.setViewportSize({ width: 390, height: 844 });
  await first.goto(`${origin}/#/approvals`);
  await first.waitForSelector('text=Nothing waits for you', { timeout });
  await first.screenshot({ path: `${shots}/approvals-phone.png` });
  if (missing.length) throw new Error(`requests that ended in 404: ${missing.join(', ')}`);
  say('DONE');
} catch (error) {
  console.error(`dashboard test failed: ${error.stack || error}`);
  process.exitCode = 1;
} finally {
  await browser.close();
  hangUp();
}
