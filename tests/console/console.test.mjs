// The operator console in a real browser: Debian's headless chromium,
// driven over the DevTools protocol by playwright-core (tests/package.json;
// it downloads no browser), against a real `hookloop serve` (SQLite, port 0,
// both tokens set) and the mock partner (tools/mock_partner), both over
// loopback. Run by ctest (tests/console/CMakeLists.txt) as
//   node console.test.mjs
// with HOOKLOOP_BIN, MOCK_PARTNER_BIN and HL_ARTIFACTS (where the
// screenshots go) in the environment. Exits 77 (skipped) when chromium or
// playwright-core is missing; `make test` installs both.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { createServer } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = dirname(fileURLToPath(import.meta.url));
const CONSOLE_DIR = join(here, '..', '..', 'console');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ADMIN = 'console-admin-token';
const API = 'console-api-token';
const ARTIFACTS = process.env.HL_ARTIFACTS || join(tmpdir(), 'hookloop-console-screenshots');

let chromium;
try {
  ({ chromium } = createRequire(import.meta.url)('playwright-core'));
} catch {
  console.log('skipped: playwright-core is not installed (scripts/install-deps.sh test runs npm ci in tests/)');
  process.exit(77);
}
if (!existsSync(CHROMIUM)) {
  console.log(`skipped: no chromium at ${CHROMIUM} (scripts/install-deps.sh test installs Debian's chromium)`);
  process.exit(77);
}
for (const v of ['HOOKLOOP_BIN', 'MOCK_PARTNER_BIN']) {
  if (!process.env[v] || !existsSync(process.env[v])) throw new Error(`${v} must name the built binary`);
}

/** Starts a process that prints "listening <host>:<port>"; resolves {proc, port}. */
function startListening(bin, args, env) {
  return new Promise((resolve, reject) => {
    const proc = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    proc.stderr.on('data', (d) => { err = (err + d).slice(-20000); });
    const timer = setTimeout(() => reject(new Error(`${bin} did not listen in 60 s:\n${err}`)), 60000);
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`${bin} exited ${code}:\n${err}`)); });
    createInterface({ input: proc.stdout }).on('line', (line) => {
      const m = /^listening .*:(\d+)$/.exec(line);
      if (m) { clearTimeout(timer); resolve({ proc, port: Number(m[1]), log: () => err }); }
    });
  });
}

function stop(p) {
  return new Promise((resolve) => {
    if (!p || p.proc.exitCode !== null) { resolve(); return; }
    p.proc.removeAllListeners('exit');
    p.proc.on('exit', () => resolve());
    p.proc.kill('SIGTERM');
  });
}

let partner, hookloop, browser, context, page, base, dataDir;
const problems = [];     // CSP violations and script errors seen by the page
let acmeId, flakyId;

const main = () => page.locator('#main');
const h1 = () => page.locator('#main h1');

// WCAG 2.1 AA: every visible text at least 4.5:1 against the background it
// sits on (3:1 when large), by the contrast formula of WCAG 2.1 §1.4.3.
function lowContrastTexts() {
  const parse = (c) => {
    const m = /rgba?\(([^)]+)\)/.exec(c);
    if (!m) return null;
    const p = m[1].split(',').map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const lum = ({ r, g, b }) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const bgOf = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0.5) return c;
    }
    return { r: 255, g: 255, b: 255, a: 1 };
  };
  const bad = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || !el || el.closest('.sr-only, [hidden], dialog:not([open]), option')) continue;
    const r = el.getBoundingClientRect();
    const cs = getComputedStyle(el);
    if (!r.width || !r.height || cs.visibility === 'hidden') continue;
    const a = lum(parse(cs.color)), b = lum(bgOf(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(cs.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(cs.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) bad.push(`"${n.textContent.trim().slice(0, 40)}" ${ratio.toFixed(2)}:1`);
  }
  return bad;
}

// Every form control has a label (or an aria-label).
function unlabelledControls() {
  return [...document.querySelectorAll('input, select, textarea')]
    .filter((e) => e.type !== 'hidden' && !e.labels?.length && !e.getAttribute('aria-label'))
    .map((e) => e.outerHTML.slice(0, 80));
}

async function screenshot(name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  assert.deepEqual(await page.evaluate(unlabelledControls), [], `${name}: controls without a label`);
  for (const [w, h] of [[1280, 800], [400, 800]]) {
    await page.setViewportSize({ width: w, height: h });
    // Nothing is wider than the screen: wide tables scroll in their own region.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `${name} at ${w}px: the page is ${overflow}px wider than the window`);
    assert.deepEqual(await page.evaluate(lowContrastTexts), [], `${name} at ${w}px: text below WCAG AA contrast`);
    await page.screenshot({ path: join(ARTIFACTS, `${name}-${w}.png`), fullPage: true });
  }
  await page.setViewportSize({ width: 1280, height: 800 });
}

async function open(hash) {
  await page.evaluate((h) => {
    if (location.hash === h) window.dispatchEvent(new HashChangeEvent('hashchange'));
    else location.hash = h;
  }, hash);
  await page.waitForFunction(() => document.activeElement && document.activeElement.id === 'page-title', null, { timeout: 30000 })
    .catch(() => {});
}

/** The API's error at pointer shown at form field name, which is marked invalid. */
async function refusedAt(form, name, pointer) {
  const f = form.locator(`[data-field="${name}"]`);
  await f.locator('.field-error').getByText(`at ${pointer}`).waitFor();
  assert.equal(await f.locator('input, textarea, select').first().getAttribute('aria-invalid'), 'true', `${name} is marked invalid`);
}

async function partnerRequests(name) {
  const res = await fetch(`http://127.0.0.1:${partner.port}/requests?name=${name}`);
  return res.json();
}

before(async () => {
  partner = await startListening(process.env.MOCK_PARTNER_BIN, ['--listen', '127.0.0.1:0'], {});
  dataDir = mkdtempSync(join(tmpdir(), 'hookloop-console-'));
  hookloop = await startListening(process.env.HOOKLOOP_BIN, ['serve'], {
    HOOKLOOP_LISTEN: '127.0.0.1:0', HOOKLOOP_DATA_DIR: dataDir, HOOKLOOP_ADMIN_TOKEN: ADMIN, HOOKLOOP_API_TOKEN: API,
    HOOKLOOP_ALLOW_PRIVATE_TARGETS: '1', HOOKLOOP_RETRY_SCHEDULE: '100ms,200ms', LOG_LEVEL: 'warn',
    // Two failed attempts in a row disable a subscription: flaky's 410s in
    // the overview's load do (its streak is at most 1 before, see there).
    HOOKLOOP_DISABLE_AFTER_FAILURES: '2',
  });
  base = `http://127.0.0.1:${hookloop.port}`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // A fresh profile per launch (playwright makes it); no network beyond loopback.
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  context.setDefaultTimeout(30000);
  page = await context.newPage();
  page.on('console', (m) => { if (/Content Security Policy|Refused to/i.test(m.text())) problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
});

after(async () => {
  if (browser) await browser.close();
  await stop(hookloop);
  await stop(partner);
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('the operator console', () => {
  it('is served with a strict Content-Security-Policy and no sniffing, framing or referrer', async () => {
    for (const path of ['/console', '/console/app.js', '/console/style.css']) {
      const res = await fetch(base + path);
      assert.equal(res.status, 200, path);
      const csp = res.headers.get('content-security-policy') || '';
      for (const want of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "object-src 'none'"]) {
        assert.ok(csp.includes(want), `${path}: CSP lacks ${want}: ${csp}`);
      }
      assert.ok(!/unsafe-inline|unsafe-eval|\*/.test(csp), `${path}: CSP allows too much: ${csp}`);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
    }
    assert.match((await fetch(`${base}/console/app.js`)).headers.get('content-type'), /^text\/javascript/);
  });

  it('has no inline script or style and never parses strings as HTML', () => {
    const files = readdirSync(CONSOLE_DIR).filter((f) => /\.(js|html|css)$/.test(f));
    assert.ok(files.length >= 8);
    for (const f of files) {
      const text = readFileSync(join(CONSOLE_DIR, f), 'utf8');
      for (const bad of [/\.innerHTML\b/, /\.outerHTML\b/, /insertAdjacentHTML/, /document\.write/, /\beval\(/, /new Function\(/, /DOMParser/, /createContextualFragment/]) {
        assert.ok(!bad.test(text), `${f} uses ${bad}`);
      }
      if (f.endsWith('.html')) {
        assert.ok(!/<script(?![^>]*\bsrc=)[^>]*>/i.test(text), `${f} has an inline script`);
        assert.ok(!/\sstyle=|<style|\son[a-z]+=/i.test(text), `${f} has an inline style or handler`);
      }
    }
  });

  it('asks for the token on a 401 and keeps it in session storage, never in the URL', async () => {
    await page.goto(`${base}/console`);
    const dialog = page.locator('#token-dialog');
    await dialog.waitFor({ state: 'visible' });
    await page.fill('#token-admin', 'wrong-token');
    await page.press('#token-admin', 'Enter');
    await page.waitForFunction(() => document.getElementById('token-dialog').open);
    await dialog.waitFor({ state: 'visible' });
    await page.fill('#token-admin', ADMIN);
    await page.fill('#token-api', API);
    await page.click('#token-dialog button[type=submit]');
    await dialog.waitFor({ state: 'hidden' });
    await page.locator('#main h1', { hasText: 'Overview' }).waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('hookloop.adminToken')), ADMIN);
    assert.equal(await page.evaluate(() => localStorage.length), 0);
    assert.ok(!page.url().includes(ADMIN));
    assert.equal((await context.cookies()).length, 0);
  });

  it('reaches every page by keyboard alone', async () => {
    const pages = [['overview', 'Overview'], ['schemas', 'Event types and schemas'], ['transformations', 'Transformations'],
      ['partners', 'Partners'], ['subscriptions', 'Subscriptions'],
      ['deliveries', 'Deliveries'], ['send', 'Send a test event']];
    // One load: the skip link first, then the links in order; after each
    // page the focus is on its title, and Shift+Tab walks back through the
    // header (the "Forget token" button, then the links from the last).
    await page.goto(`${base}/console`);
    await page.locator('#main h1').waitFor();
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.className), 'skip', 'the skip link comes first');
    for (const [i, [name, title]] of pages.entries()) {
      if (i === 0) await page.keyboard.press('Tab');
      else for (let k = 0; k < 1 + pages.length - i; k++) await page.keyboard.press('Shift+Tab');
      assert.equal(await page.evaluate(() => document.activeElement.dataset.page), name);
      await page.keyboard.press('Enter');
      await page.locator('#main h1', { hasText: title }).waitFor();
      await page.waitForFunction(() => document.activeElement && document.activeElement.id === 'page-title');
      assert.equal(await page.locator('#nav a[aria-current=page]').getAttribute('data-page'), name);
    }
  });

  it('registers a schema, showing the API\'s error pointers next to the field', async () => {
    await open('#/schemas');
    await main().getByText('No schema is registered yet').waitFor();
    const form = page.locator('form[aria-label="Register a schema"]');
    await form.getByLabel('Domain').fill('payments');
    await form.getByLabel('Event type').fill('Payment');
    await form.getByLabel('Version').fill('0');
    await form.getByRole('button', { name: 'Register' }).click();
    const version = form.locator('[data-field=version]');
    await version.locator('.field-error').getByText('at /version').waitFor();
    assert.equal(await version.locator('input').getAttribute('aria-invalid'), 'true');

    await form.getByLabel('Version').fill('1');
    await form.getByLabel('JSON Schema').fill('{"type": "object", "required": ["amount", "amount"]}');
    await form.getByRole('button', { name: 'Register' }).click();
    const schemaField = form.locator('[data-field=schema]');
    await schemaField.locator('.field-error').getByText('at /required').waitFor();
    assert.equal(await schemaField.locator('textarea').getAttribute('aria-invalid'), 'true');
    assert.equal(await version.locator('input').getAttribute('aria-invalid'), null, 'the fixed field is cleared');
    await screenshot('schemas-error');

    await form.getByLabel('JSON Schema').fill(JSON.stringify({
      type: 'object', required: ['eventHeader', 'amount', 'currency'],
      properties: { amount: { type: 'number', minimum: 0 }, currency: { type: 'string' } },
    }, null, 2));
    await form.getByRole('button', { name: 'Register' }).click();
    await main().getByText('Registered payments.Payment.v1.').waitFor();
    await main().getByRole('link', { name: 'payments.Payment.v1' }).click();
    await page.locator('#main h1', { hasText: 'Schema payments.Payment.v1' }).waitFor();
    await main().getByText('"minimum": 0').waitFor();
    await screenshot('schema-view');
  });

  it('creates subscriptions, with a bad URL refused at its field and the secret shown once', async () => {
    await open('#/subscriptions');
    await main().getByText('No subscription yet').waitFor();
    await screenshot('subscriptions-empty');
    const create = async (partnerId, url, filter) => {
      await open('#/subscriptions/new');
      const form = page.locator('form[aria-label="New subscription"]');
      await form.getByLabel('Partner id').fill(partnerId);
      await form.getByLabel(/^URL\b/).fill(url);
      if (filter) await form.getByLabel('Filter').fill(filter);
      await form.getByRole('button', { name: 'Add a header' }).click();
      await form.getByLabel('Header name').fill('x-partner-key');
      await form.getByLabel('Header value').fill(`key-of-${partnerId}`);
      await form.getByRole('button', { name: 'Create' }).click();
      return form;
    };
    const form = await create('acme', 'ftp://127.0.0.1/nope', null);
    await form.locator('[data-field=url] .field-error').getByText('at /url').waitFor();
    await form.getByLabel(/^URL\b/).fill(`http://127.0.0.1:${partner.port}/hook/ok`);
    await form.getByLabel('Filter').fill('{"/currency": "EUR"}');
    await form.getByRole('button', { name: 'Create' }).click();
    await page.locator('#main h1', { hasText: 'Subscription created' }).waitFor();
    const secret = await main().locator('code.secret').textContent();
    assert.match(secret, /^whsec_/);
    acmeId = /Created (sub_\S+)\./.exec(await main().textContent())[1];

    await create('flaky', `http://127.0.0.1:${partner.port}/hook/flaky?codes=410,200`, null);
    await page.locator('#main h1', { hasText: 'Subscription created' }).waitFor();
    flakyId = /Created (sub_\S+)\./.exec(await main().textContent())[1];

    await open('#/subscriptions');
    const rows = main().locator('tbody tr');
    await rows.first().waitFor();
    assert.equal(await rows.count(), 2);
    assert.ok((await rows.nth(0).textContent()).includes('acme'));
    assert.ok((await rows.nth(0).textContent()).includes('ACTIVE'));
    assert.ok(!(await main().textContent()).includes(secret), 'the secret is never shown again');
    /* Rotation is offered: the new secret is shown once, the old one keeps
     * signing for the overlap (docs/interface.md). */
    await rows.nth(0).getByRole('button', { name: 'Rotate secret' }).click();
    await main().getByText('Signing secret, shown only now').waitFor();
    const rotated = await main().locator('code.secret').textContent();
    assert.match(rotated, /^whsec_/);
    assert.notEqual(rotated, secret);
    await screenshot('subscriptions');
    await open(`#/subscriptions/${acmeId}`);
    await page.locator('#main h1', { hasText: 'Subscription of acme to Payment' }).waitFor();
    assert.equal(await page.locator('.h-value').inputValue(), '', 'header values are not shown');
    await main().getByText('Saving replaces the whole subscription').waitFor();
    await screenshot('subscription-edit');
  });

  it('creates a subscription to an SQS queue, its bad queue URL refused at its field, then deletes it', async () => {
    await open('#/subscriptions/new');
    const form = page.locator('form[aria-label="New subscription"]');
    await form.getByLabel('Partner id').fill('queued');
    await form.getByLabel('Delivered to').selectOption('sqs');
    assert.equal(await form.getByLabel(/^URL\b/).isVisible(), false, 'no URL field for a queue');
    await form.getByLabel('Queue URL').fill('not-a-queue');
    await form.getByRole('button', { name: 'Create' }).click();
    await refusedAt(form, 'destination-queue_url', '/destination/queue_url');
    await screenshot('subscription-destination-error');
    await form.getByLabel('Queue URL').fill('https://sqs.eu-west-1.amazonaws.com/123456789012/payments');
    await form.getByRole('button', { name: 'Create' }).click();
    await page.locator('#main h1', { hasText: 'Subscription created' }).waitFor();
    await open('#/subscriptions');
    const row = main().locator('tbody tr', { hasText: 'queued' });
    await row.getByText('SQS queue').waitFor();
    assert.ok((await row.textContent()).includes('https://sqs.eu-west-1.amazonaws.com/123456789012/payments'));
    await screenshot('subscriptions-destinations');
    await row.getByRole('button', { name: 'Delete' }).click();
    await row.getByRole('button', { name: 'Yes, delete' }).click();
    await main().getByText(/^Deleted sub_\S+\.$/).waitFor();
    assert.equal(await main().locator('tbody tr', { hasText: 'queued' }).count(), 0);
    assert.equal(await main().locator('tbody tr').count(), 2);
  });

  it('lists partners, registers one with its limits, refuses to delete one in use, deletes one', async () => {
    await open('#/partners');
    const acme = main().locator('tbody tr', { hasText: 'acme' });
    await acme.waitFor();
    const form = page.locator('form[aria-label="New partner"]');
    await form.getByLabel('Partner id').fill('globex');
    await form.getByLabel('Contact').fill('ops@globex.example');
    await form.getByLabel(/^Max in flight/).fill('-1');
    await form.getByRole('button', { name: 'Register' }).click();
    await refusedAt(form, 'max_in_flight', '/max_in_flight');
    await form.getByLabel(/^Max in flight/).fill('8');
    await form.getByRole('button', { name: 'Register' }).click();
    await main().getByText('Saved globex.').waitFor();
    const globex = main().locator('tbody tr', { hasText: 'globex' });
    const text = await globex.textContent();
    assert.ok(text.includes('ops@globex.example') && text.includes('8 in flight') && text.includes('REGISTERED'), text);
    await screenshot('partners');
    await acme.getByRole('button', { name: 'Delete' }).click();
    await acme.getByRole('button', { name: 'Yes, delete' }).click();
    await main().locator('.error-box').getByText('the partner still has subscriptions').waitFor();
    assert.equal(await acme.count(), 1, 'acme is still listed');
    await globex.getByRole('button', { name: 'Delete' }).click();
    await globex.getByRole('button', { name: 'Yes, delete' }).click();
    await main().getByText('Deleted globex.').waitFor();
    assert.equal(await main().locator('tbody tr', { hasText: 'globex' }).count(), 0);
    await open('#/partners/acme');
    await page.locator('#main h1', { hasText: 'Partner acme' }).waitFor();
    await main().getByRole('link', { name: acmeId }).waitFor();
    await screenshot('partner-view');
  });

  it('registers a subscription\'s transformation, its error pointer next to the spec, then a second version', async () => {
    await open('#/transformations');
    await main().getByText('No transformation yet').waitFor();
    const form = page.locator('form[aria-label="Register a transformation"]');
    await form.getByLabel('Applies to').selectOption(`subscription:${acmeId}`);
    await form.getByLabel('Spec (JSON)').fill('{"version": 1, "ops": [{"op": "set", "path": "/source", "valu": "console"}]}');
    await form.getByRole('button', { name: 'Register' }).click();
    await refusedAt(form, 'spec', '/spec/ops/0');
    await screenshot('transformations-error');
    await form.getByLabel('Spec (JSON)').fill('{"version": 1, "ops": [{"op": "set", "path": "/source", "value": "console-v1"}]}');
    await form.getByRole('button', { name: 'Register' }).click();
    await page.locator('#main h1', { hasText: `Transformation subscription:${acmeId}` }).waitFor();
    await main().getByText('Registered version 1.').waitFor();
    await main().getByText('"value": "console-v1"').waitFor();
    const next = page.locator('form[aria-label="Register a transformation"]');
    await next.getByLabel('Spec (JSON)').fill('{"version": 1, "ops": [{"op": "set", "path": "/source", "value": "console-v2"}]}');
    await next.getByRole('button', { name: 'Register version 2' }).click();
    await main().getByText('Registered version 2.').waitFor();
    await main().locator('pre').getByText('"value": "console-v2"').waitFor();
    await screenshot('transformation-view');
    await open('#/transformations');
    const row = main().locator('tbody tr', { hasText: acmeId });
    await row.waitFor();
    assert.match(await row.textContent(), /subscription acme|subscription sub_/);
    assert.ok((await row.textContent()).includes('2'));
    await screenshot('transformations');
    // The subscription's form shows it, as its latest version.
    await open(`#/subscriptions/${acmeId}`);
    assert.match(await page.getByLabel('Its own transformation (JSON spec)').inputValue(), /console-v2/);
  });

  it('sends a test event and sees its delivery succeed at the first attempt', async () => {
    await open(`#/send?subscription=${acmeId}`);
    const editor = page.getByLabel('Event (JSON)');
    await page.waitForFunction(() => document.querySelector('textarea[name=event]').value.includes('eventHeader'));
    const generated = JSON.parse(await editor.inputValue());
    assert.equal(generated.eventHeader.eventType, 'Payment');
    assert.ok('amount' in generated && 'currency' in generated, 'the sample has the schema\'s required members');
    await editor.fill(JSON.stringify({ eventHeader: { uuid: 'evt-console-1', eventType: 'Payment' }, amount: 12.50, currency: 'EUR' }));
    await page.getByRole('button', { name: 'Send' }).click();
    await main().getByText('Event evt-console-1 accepted.').waitFor();
    await main().locator('.result[data-final=SUCCESS]').waitFor({ timeout: 60000 });
    assert.match(await main().locator('.result').textContent(), /after 1 attempt\b/);
    const row = main().locator('tbody tr', { hasText: acmeId });
    assert.ok((await row.textContent()).includes('200'));
    const got = await partnerRequests('ok');
    const mine = got.find((r) => r.webhook_id === 'evt-console-1');
    assert.ok(mine, 'the partner received it');
    assert.equal(JSON.parse(mine.body).source, 'console-v2', 'shaped by the latest version of its transformation');
    await screenshot('send');
    // Its delivery's page lists the attempt: the partner's 200 and its answer.
    await main().getByRole('link', { name: 'See its attempts' }).click();
    await page.locator('#main h1', { hasText: 'Delivery to acme' }).waitFor();
    const attempts = main().locator('.response');
    await attempts.first().waitFor();
    assert.equal(await attempts.count(), 1, 'one attempt');
    assert.deepEqual(await main().locator('tbody td[data-label=Answer]').allTextContents(), ['200']);
    assert.equal(await attempts.first().locator('pre').first().textContent(), '{}', 'the partner\'s answer, as text');
    await screenshot('delivery');
  });

  it('retries a failed delivery from the console', async () => {
    await open('#/deliveries');
    await main().getByText('Search for an event').waitFor();
    await page.getByLabel('Event id').fill('evt-console-1');
    await page.getByRole('button', { name: 'Search' }).click();
    const flaky = main().locator('tbody tr', { hasText: flakyId });
    for (let i = 0; i < 60 && !(await flaky.textContent().catch(() => '')).includes('FAILED'); i++) {
      await page.waitForTimeout(500);
      await page.getByRole('button', { name: 'Search' }).click();
    }
    assert.ok((await flaky.textContent()).includes('410'));
    await flaky.getByRole('button', { name: 'Retry' }).click();
    await main().getByText(`Re-queued the delivery to ${flakyId}`).waitFor();
    for (let i = 0; i < 60 && !(await flaky.textContent().catch(() => '')).includes('SUCCESS'); i++) {
      await page.waitForTimeout(500);
      await page.getByRole('button', { name: 'Search' }).click();
      await flaky.waitFor();
    }
    const text = await flaky.textContent();
    assert.ok(text.includes('SUCCESS') && text.includes('200'), text);
    assert.equal(await flaky.getByRole('button', { name: 'Retry' }).count(), 0, 'no retry once delivered');
    const acme = main().locator('tbody tr', { hasText: acmeId });
    const shaped = acme.locator(`a[title="subscription:${acmeId}"]`);
    assert.equal(await shaped.textContent(), 'its own v2', 'the transformation version that shaped it');
    await screenshot('deliveries');
    // Its attempt log, oldest first: the 410, then the retry's 200.
    await flaky.getByRole('link', { name: 'Attempts' }).click();
    await page.locator('#main h1', { hasText: 'Delivery to flaky' }).waitFor();
    await main().locator('.response[data-attempt="2"]').waitFor();
    assert.deepEqual(await main().locator('tbody td[data-label=Answer]').allTextContents(), ['410', '200']);
    assert.equal(await main().getByRole('button', { name: 'Retry' }).count(), 0, 'no retry once delivered');
    await screenshot('delivery-retried');
  });

  it('shows event bodies, ids and error messages as text, never as markup', async () => {
    await page.evaluate(() => { delete window.__xss; });
    const id = '<script>window.__xss=1</script>';
    await open(`#/send?subscription=${acmeId}`);
    await page.waitForFunction(() => document.querySelector('textarea[name=event]').value.includes('eventHeader'));
    await page.getByLabel('Event (JSON)').fill(JSON.stringify({
      eventHeader: { uuid: id, eventType: 'Payment' }, amount: 1, currency: 'EUR', note: '<img src=x onerror="window.__xss=2">',
    }));
    await page.getByRole('button', { name: 'Send' }).click();
    await main().getByText(`Event ${id} accepted.`).waitFor();
    await main().locator('.result[data-final=SUCCESS]').waitFor({ timeout: 60000 });
    await main().locator('details summary').click();
    await main().getByText('<img src=x onerror=\\"window.__xss=2\\">', { exact: false }).waitFor();

    await page.getByLabel('Event (JSON)').fill(JSON.stringify({
      eventHeader: { uuid: 'evt-console-x', eventType: '<img src=x onerror=window.__xss=3>' }, amount: 1,
    }));
    await page.getByRole('button', { name: 'Send' }).click();
    await main().locator('.error-box').getByText("event type '<img src=x onerror=window.__xss=3>'").waitFor();
    await screenshot('send-injection');

    await open(`#/deliveries?event_id=${encodeURIComponent(id)}`);
    await main().locator('tbody tr').first().waitFor();
    assert.ok((await main().textContent()).includes(id) || (await main().locator('[aria-label*="script"]').count()) > 0);
    assert.equal(await page.evaluate(() => window.__xss), undefined, 'no injected script ran');
    assert.equal(await main().locator('script, img, iframe, object').count(), 0, 'no element was made from API text');
  });

  it('shows live figures on the overview, with charts and the subscriptions', async () => {
    await open('#/overview');
    await main().getByText('Deliveries/s').waitFor();
    // Two polls give a rate and a line on the charts.
    await main().locator('svg.spark path.line').first().waitFor({ state: 'attached', timeout: 30000 });
    const table = main().locator('tbody');
    await table.getByText('acme').waitFor();
    await table.getByText('flaky').waitFor();
    // Two deliveries failed for good at flaky (410): evt-console-1 before its
    // retry, and the <script> event; acme got all three events.
    await page.waitForFunction(() => [...document.querySelectorAll('#main .card')]
      .some((c) => c.querySelector('h3').textContent === 'Dead letters' && c.querySelector('.big').textContent === '2'), null, { timeout: 30000 });
    const cards = await main().locator('.card').allTextContents();
    assert.ok(cards.some((c) => c.startsWith('Deliveries/s') && c.includes('5 attempts in all')), String(cards));
    assert.ok(cards.some((c) => c.startsWith('Success rate') && c.includes('60.0 % since start')), String(cards));
    // Traffic while the page watches: some interval shows a rate above zero.
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${base}/api/v1/events`, {
        method: 'POST', headers: { authorization: `Bearer ${API}`, 'content-type': 'application/json' },
        body: JSON.stringify({ eventHeader: { uuid: `evt-load-${i}`, eventType: 'Payment' }, amount: i, currency: 'EUR' }),
      });
      assert.equal(res.status, 202);
    }
    await page.waitForFunction(() => {
      const c = [...document.querySelectorAll('#main .card')].find((x) => x.querySelector('h3').textContent === 'Deliveries/s');
      return c && Number.parseFloat(c.querySelector('.big').textContent) > 0;
    }, null, { timeout: 30000, polling: 100 });
    await screenshot('overview');
  });

  it('shows a partner\'s answer holding markup as text in the attempt log', async () => {
    // A partner of its own (after the overview's counts): it answers 200
    // with HTML that would run script if it were ever parsed.
    const evil = '<script>window.__xss=4</script><img src=x onerror="window.__xss=5">';
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => { res.writeHead(200, { 'content-type': 'text/html', 'x-note': '<b onclick="window.__xss=6">b</b>' }); res.end(evil); });
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const call = (path, body, token = ADMIN) => fetch(base + path, {
        method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
      });
      assert.ok((await call('/admin/schemas', { domain: 'notes', event_type: 'Note', schema: { type: 'object' } })).ok);
      const sub = await (await call('/admin/subscriptions', { partner_id: 'echo', event_type: 'Note', url: `http://127.0.0.1:${server.address().port}/hook` })).json();
      assert.equal((await call('/api/v1/events', { eventHeader: { uuid: 'evt-html-answer', eventType: 'Note' } }, API)).status, 202);
      const response = main().locator('.response[data-attempt="1"]');
      for (let i = 0; i < 60; i++) {
        await open(`#/deliveries/evt-html-answer/${sub.subscription_id}`);
        await main().locator('#page-title').waitFor();
        await main().locator('[aria-busy]').waitFor({ state: 'detached' });
        if (await response.count()) break;
        await page.waitForTimeout(250);
      }
      assert.equal(await response.locator('pre').first().textContent(), evil);
      await response.locator('summary').click();
      await response.getByText('x-note: <b onclick="window.__xss=6">b</b>').waitFor();
      assert.equal(await page.evaluate(() => window.__xss), undefined, 'no injected script ran');
      assert.equal(await main().locator('script, img, b').count(), 0, 'no element was made from the answer');
      await screenshot('delivery-html-answer');
    } finally {
      server.close();
    }
  });

  it('shows a subscription disabled after failures, and enables it again', async () => {
    // The overview's load gave flaky two 410s in a row: disabled, its
    // other deliveries held back.
    const flakyRow = () => main().locator('tbody tr', { hasText: flakyId });
    for (let i = 0; i < 60; i++) {
      await open('#/subscriptions');
      await flakyRow().waitFor();
      if (await flakyRow().locator('.state').getAttribute('data-status') === 'DISABLED') break;
      await page.waitForTimeout(500);
    }
    assert.equal(await flakyRow().locator('.state').getAttribute('data-status'), 'DISABLED');
    const acmeRow = main().locator('tbody tr', { hasText: acmeId });
    assert.equal(await acmeRow.locator('.state').getAttribute('data-status'), 'ACTIVE');
    assert.equal(await acmeRow.getByRole('button', { name: 'Enable' }).count(), 0, 'nothing to enable on a delivering subscription');
    await screenshot('subscriptions-disabled');
    const before = (await partnerRequests('flaky')).length;
    await flakyRow().getByRole('button', { name: 'Enable' }).click();
    await main().getByText(`Enabled ${flakyId}.`).waitFor();
    // Its held deliveries are attempted again.
    for (let i = 0; i < 120 && (await partnerRequests('flaky')).length <= before; i++) await page.waitForTimeout(250);
    assert.ok((await partnerRequests('flaky')).length > before, 'enabling resumed its deliveries');
  });

  it('registers a subscription\'s transformation from its edit form, a refused spec shown under the saved subscription', async () => {
    await open(`#/subscriptions/${acmeId}`);
    const form = page.locator('form[aria-label="Edit the subscription"]');
    const xform = form.getByLabel('Its own transformation (JSON spec)');
    assert.match(await xform.inputValue(), /console-v2/);
    await form.getByLabel('Header value').fill('key-of-acme');
    await xform.fill('{"version": 1, "ops": [{"op": "set", "pth": "/source", "value": "console-v3"}]}');
    await form.getByRole('button', { name: 'Save' }).click();
    await page.locator('#main h1', { hasText: 'Subscription saved' }).waitFor();
    // Saved without a secret: the partner's secret is kept, and not shown.
    await main().getByText('The signing secret is unchanged').waitFor();
    assert.equal(await main().locator('code.secret').count(), 0, 'no secret shown for an edit that gave none');
    const again = page.locator('form[aria-label="Register a transformation"]');
    await refusedAt(again, 'spec', '/spec/ops/0');
    await again.getByLabel('Spec (JSON)').fill('{"version": 1, "ops": [{"op": "set", "path": "/source", "value": "console-v3"}]}');
    await again.getByRole('button', { name: 'Register the transformation' }).click();
    await main().getByText('Registered its transformation, version 3.').waitFor();
    assert.ok((await main().textContent()).includes('The signing secret is unchanged'), 'the saved notice stays on the page');
    await screenshot('subscription-saved-transformation');
  });

  // Recovery of a time range (its own subscription and event type, after
  // the overview's counts): a delivery fails (410; one only, as two
  // failures in a row disable a subscription here), the form re-queues it,
  // its progress reaches done, and the partner gets it again with the same
  // webhook-id.
  it('recovers a subscription\'s failed deliveries of a time range, with its progress', async () => {
    const call = (path, body, token = ADMIN) => fetch(base + path, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    assert.ok((await call('/admin/schemas', { domain: 'ops', event_type: 'Outage', schema: { type: 'object' } })).ok);
    const sub = (await (await call('/admin/subscriptions', {
      partner_id: 'outage', event_type: 'Outage', url: `http://127.0.0.1:${partner.port}/hook/outage?codes=410,200`,
    })).json()).subscription_id;
    const ids = ['evt-outage-1'];
    for (const id of ids) assert.equal((await call('/api/v1/events', { eventHeader: { uuid: id, eventType: 'Outage' } }, API)).status, 202);
    const failed = async () => {
      const res = await fetch(`${base}/admin/deliveries?subscription_id=${sub}&status=FAILED`, { headers: { authorization: `Bearer ${ADMIN}` } });
      return (await res.json()).deliveries.length;
    };
    for (let i = 0; i < 120 && (await failed()) < ids.length; i++) await page.waitForTimeout(250);
    assert.equal(await failed(), ids.length);

    await open(`#/deliveries?subscription_id=${sub}`);
    const form = page.locator('form[aria-label="Recover a time range"]');
    assert.equal(await form.getByLabel('Subscription to recover').inputValue(), sub, 'filled from the search');
    await form.getByLabel(/^Range start/).fill('yesterday');
    await form.getByRole('button', { name: 'Recover' }).click();
    await refusedAt(form, 'since', '/since');
    await screenshot('deliveries-recover-error');
    await form.getByLabel(/^Range start/).fill(new Date(Date.now() - 3600 * 1000).toISOString());
    await form.getByRole('button', { name: 'Recover' }).click();
    const progress = main().locator('.recover-progress[data-state=done]');
    await progress.waitFor({ timeout: 60000 });
    assert.equal(await progress.locator('[data-field=matched]').textContent(), '1');
    assert.equal(await progress.locator('[data-field=requeued]').textContent(), '1');
    assert.equal(await progress.locator('[data-field=errors]').textContent(), '0');
    await screenshot('deliveries-recovered');
    // It reached the partner twice, with the same webhook-id.
    for (let i = 0; i < 120 && (await partnerRequests('outage')).length < 2 * ids.length; i++) await page.waitForTimeout(250);
    const got = await partnerRequests('outage');
    for (const id of ids) assert.equal(got.filter((r) => r.webhook_id === id).length, 2, id);
    assert.equal(got.length, 2 * ids.length);
  });

  // --- searching a subscription's deliveries in pages, replaying an event ---

  it('searches a subscription\'s deliveries by status, in pages, and finds a delivery', async () => {
    const search = async (status, perPage) => {
      await open('#/deliveries');
      await page.getByLabel('Subscription id').fill(acmeId);
      await page.getByLabel('Status').selectOption(status);
      await page.getByLabel('Per page').selectOption(perPage);
      await page.getByRole('button', { name: 'Search' }).click();
    };
    // Waits until the rows on screen are gone (replaced by another render).
    const replaced = async () => {
      const old = await main().locator('tbody tr').first().elementHandle();
      return () => page.waitForFunction((el) => !el.isConnected, old);
    };
    await search('FAILED', '10');
    await main().getByText('No delivery matches.').waitFor();
    await search('SUCCESS', '10');
    await main().locator('tbody code.event-id').first().waitFor();
    const seen = new Set();
    let found = false;
    for (let p = 0; p < 10 && !found; p++) {
      const ids = await main().locator('tbody code.event-id').allTextContents();
      assert.ok(ids.length > 0 && ids.length <= 10, `page ${p + 1}: ${ids.length} rows`);
      for (const id of ids) { assert.ok(!seen.has(id), `${id} on two pages`); seen.add(id); }
      const statuses = await main().locator('tbody td[data-label=Status]').allTextContents();
      assert.ok(statuses.every((x) => x === 'SUCCESS'), String(statuses));
      found = ids.includes('evt-console-1');
      if (p === 0) { assert.equal(ids.length, 10, 'a full first page'); await screenshot('deliveries-by-subscription'); }
      if (!found) {
        const gone = await replaced();
        await main().getByRole('link', { name: 'Next page' }).click();
        await gone();
        await main().locator('tbody code.event-id').first().waitFor();
        await main().getByRole('link', { name: 'First page' }).waitFor();
      }
    }
    assert.ok(found, 'evt-console-1 is among acme\'s delivered ones');
    assert.ok(seen.size > 10, 'more than one page');
  });

  it('replays an event to one subscription, which gets a second attempt with the same webhook-id', async () => {
    const sent = async (name) => (await partnerRequests(name)).filter((r) => r.webhook_id === 'evt-console-1').length;
    const flakyBefore = await sent('flaky');
    assert.equal(await sent('ok'), 1);
    await open('#/deliveries?event_id=evt-console-1');
    const acme = main().locator('tbody tr', { hasText: acmeId });
    await acme.getByRole('button', { name: 'Replay' }).click();
    await main().getByText('Replayed event evt-console-1: 1 delivery queued again').waitFor();
    await main().getByText('acme: queued (replay 1).').waitFor();
    for (let i = 0; i < 120 && (await sent('ok')) < 2; i++) await page.waitForTimeout(250);
    assert.equal(await sent('ok'), 2, 'acme got it a second time');
    const response = main().locator('.response[data-attempt="2"]');
    for (let i = 0; i < 60; i++) {
      await open(`#/deliveries/evt-console-1/${acmeId}`);
      await main().locator('[aria-busy]').waitFor({ state: 'detached' });
      if (await response.count()) break;
      await page.waitForTimeout(250);
    }
    assert.deepEqual(await main().locator('tbody td[data-label=Answer]').allTextContents(), ['200', '200']);
    await screenshot('delivery-replayed');
    assert.equal(await sent('flaky'), flakyBefore, 'the other subscription was not sent it again');
  });

  it('shows "breaker open" on a subscription whose breaker opened', async () => {
    // A hookloop of its own, so that its breaker settings touch no other
    // step: the breaker opens after 2 failed attempts in a row
    // (HOOKLOOP_BREAKER_FAILURES), stays open for 10 minutes, and no
    // disable comes first (HOOKLOOP_DISABLE_AFTER_FAILURES=0).
    const dir = mkdtempSync(join(tmpdir(), 'hookloop-console-breaker-'));
    const other = await startListening(process.env.HOOKLOOP_BIN, ['serve'], {
      HOOKLOOP_LISTEN: '127.0.0.1:0', HOOKLOOP_DATA_DIR: dir, HOOKLOOP_ADMIN_TOKEN: ADMIN, HOOKLOOP_API_TOKEN: API,
      HOOKLOOP_ALLOW_PRIVATE_TARGETS: '1', HOOKLOOP_RETRY_SCHEDULE: '50ms,50ms,50ms', LOG_LEVEL: 'warn',
      HOOKLOOP_BREAKER_FAILURES: '2', HOOKLOOP_BREAKER_OPEN_MS: '600000', HOOKLOOP_DISABLE_AFTER_FAILURES: '0',
    });
    const base2 = `http://127.0.0.1:${other.port}`;
    const saved = page;
    try {
      const call = async (method, path, body, token = ADMIN) => fetch(base2 + path, {
        method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body && JSON.stringify(body),
      });
      assert.ok((await call('POST', '/admin/schemas', { domain: 'payments', event_type: 'Payment', schema: { type: 'object' } })).ok);
      const down = await (await call('POST', '/admin/subscriptions', { partner_id: 'down', event_type: 'Payment', url: `http://127.0.0.1:${partner.port}/hook/down?codes=503` })).json();
      assert.equal((await call('POST', '/api/v1/events', { eventHeader: { uuid: 'evt-breaker', eventType: 'Payment' } }, API)).status, 202);
      let state = '';
      for (let i = 0; i < 120 && state !== 'open'; i++) {
        state = (await (await call('GET', `/admin/subscriptions/${down.subscription_id}`)).json()).breaker?.state;
        if (state !== 'open') await new Promise((r) => setTimeout(r, 250));
      }
      assert.equal(state, 'open', 'the API says the breaker is open');
      page = await context.newPage();
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      await page.goto(`${base2}/console`);
      await page.locator('#token-dialog').waitFor({ state: 'visible' });
      await page.fill('#token-admin', ADMIN);
      await page.fill('#token-api', API);
      await page.click('#token-dialog button[type=submit]');
      await page.locator('#token-dialog').waitFor({ state: 'hidden' });
      await open('#/subscriptions');
      const row = main().locator('tbody tr', { hasText: down.subscription_id });
      await row.waitFor();
      assert.equal(await row.locator('.state').getAttribute('data-breaker'), 'open');
      assert.equal(await row.locator('.state').getAttribute('data-status'), 'ACTIVE');
      await row.locator('.state .badge.bad').getByText('breaker open', { exact: true }).waitFor();
      await screenshot('subscriptions-breaker-open');
    } finally {
      if (page !== saved) await page.close();
      page = saved;
      await stop(other);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // --- what the forms keep: members they do not show, exact numbers ---

  const admin = (method, path, body) => fetch(base + path, {
    method, headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body,
  });

  it('keeps the members its edit form does not show when a subscription is saved unchanged, and asks for its client certificate again', async () => {
    assert.ok((await admin('POST', '/admin/schemas', '{"domain":"ledger","event_type":"Ledger","schema":{"type":"object"}}')).ok);
    const signed = await (await admin('POST', '/admin/subscriptions', JSON.stringify({
      partner_id: 'signed', event_type: 'Ledger', url: 'http://127.0.0.1:9/signed',
      signing: 'ed25519', ordering: 'fifo', skip_after: 3, enrichment: { on_failure: 'deliver_unenriched' },
    }))).json();
    await open(`#/subscriptions/${signed.subscription_id}`);
    const form = page.locator('form[aria-label="Edit the subscription"]');
    await form.getByRole('button', { name: 'Save' }).click();
    await page.locator('#main h1', { hasText: 'Subscription saved' }).waitFor();
    assert.equal(await main().locator('code.secret').count(), 0, 'no new secret was made');
    const got = await (await admin('GET', `/admin/subscriptions/${signed.subscription_id}`)).json();
    assert.deepEqual({ signing: got.signing, public_key: got.public_key, ordering: got.ordering, skip_after: got.skip_after, enrichment: got.enrichment },
      { signing: 'ed25519', public_key: signed.public_key, ordering: 'fifo', skip_after: 3, enrichment: { on_failure: 'deliver_unenriched' } });

    // Its client certificate is never shown: the form refuses to save
    // without it rather than drop it, and saves it when given again.
    const dir = mkdtempSync(join(tmpdir(), 'hookloop-console-mtls-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=console-mtls',
        '-days', '2', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
      const certificate = readFileSync(join(dir, 'cert.pem'), 'utf8'), key = readFileSync(join(dir, 'key.pem'), 'utf8');
      const res = await admin('POST', '/admin/subscriptions', JSON.stringify({
        partner_id: 'mtls', event_type: 'Ledger', url: 'https://127.0.0.1:9/mtls', client_certificate: { certificate, private_key: key },
      }));
      assert.equal(res.status, 201, await res.clone().text());
      const mtls = await res.json();
      const subject = async () => (await (await admin('GET', `/admin/subscriptions/${mtls.subscription_id}`)).json()).client_certificate?.subject;
      await open(`#/subscriptions/${mtls.subscription_id}`);
      await form.getByRole('button', { name: 'Save' }).click();
      const cert = form.locator('[data-field=client_certificate]');
      await cert.locator('.field-error').getByText('enter it again').waitFor();
      assert.match(await subject(), /console-mtls/, 'kept while the form was refused');
      await form.getByLabel('Client certificate (PEM)').fill(certificate);
      await form.getByLabel('Its private key (PEM)').fill(key);
      await form.getByRole('button', { name: 'Save' }).click();
      await page.locator('#main h1', { hasText: 'Subscription saved' }).waitFor();
      assert.match(await subject(), /console-mtls/, 'kept once given again');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps the exact numbers of a filter, a schema, a transformation spec and partner metadata through its forms', async () => {
    // 12345678901234567891 is no double, and 100.10 prints as 100.1 from one.
    const text = async (path) => (await admin('GET', path)).text();
    assert.ok((await admin('POST', '/admin/schemas',
      '{"domain":"exact","event_type":"Exact","version":1,"schema":{"type":"object","properties":{"amount":{"type":"number","maximum":12345678901234567891}}}}')).ok);
    const sub = await (await admin('POST', '/admin/subscriptions',
      '{"partner_id":"exact","event_type":"Exact","url":"http://127.0.0.1:9/exact","filter":{"/account":12345678901234567891}}')).json();
    assert.ok((await admin('POST', '/admin/transformations', '{"event_type":"Exact","spec":{"version":1,"ops":[{"op":"set","path":"/fee","value":100.10}]}}')).ok);
    assert.ok((await admin('POST', '/admin/partners', '{"partner_id":"exact","metadata":{"cap":100.10}}')).ok);

    await open(`#/subscriptions/${sub.subscription_id}`);
    const form = page.locator('form[aria-label="Edit the subscription"]');
    assert.match(await form.getByLabel('Filter', { exact: true }).inputValue(), /"\/account": 12345678901234567891/);
    await form.getByRole('button', { name: 'Save' }).click();
    await page.locator('#main h1', { hasText: 'Subscription saved' }).waitFor();
    assert.ok((await text(`/admin/subscriptions/${sub.subscription_id}`)).includes('"filter":{"/account":12345678901234567891}'), 'the filter saved unchanged');

    await open('#/transformations/event_type%3AExact');
    await main().locator('pre.code').getByText('"value": 100.10').waitFor();
    await page.locator('form[aria-label="Register a transformation"]').getByRole('button', { name: 'Register version 2' }).click();
    await main().getByText('Registered version 2.').waitFor();
    assert.ok((await text('/admin/transformations/event_type%3AExact')).includes('"value":100.10'), 'version 2 as prefilled');

    await open('#/schemas/exact.Exact.v1');
    await main().locator('pre.code').getByText('"maximum": 12345678901234567891').waitFor();
    await main().getByRole('button', { name: 'Register a new version from this one' }).click();
    await page.locator('form[aria-label="Register a schema"]').getByRole('button', { name: 'Register' }).click();
    await main().getByText('Registered exact.Exact.v2.').waitFor();
    assert.ok((await text('/admin/schemas/exact.Exact.v2')).includes('12345678901234567891'), 'version 2 as prefilled');

    await open('#/partners/exact');
    const pform = page.locator('form[aria-label="Edit the partner"]');
    assert.match(await pform.getByLabel('Metadata').inputValue(), /"cap": 100\.10/);
    await pform.getByRole('button', { name: 'Save' }).click();
    await main().getByText('Saved exact.').waitFor();
    assert.ok((await text('/admin/partners/exact')).includes('"cap":100.10'), 'the metadata saved unchanged');
  });

  it('stops the Overview\'s poll while the token prompt is open, keeps what is typed, and polls again once a token is given', async () => {
    const fresh = await context.newPage(); // a tab of its own: no token in its session storage
    fresh.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    let polls = 0;
    fresh.on('request', (r) => { if (r.url().endsWith('/admin/stats')) polls++; });
    try {
      const refused = fresh.waitForResponse((r) => r.url().endsWith('/admin/stats') && r.status() === 401);
      await fresh.goto(`${base}/console`);
      await fresh.locator('#token-dialog').waitFor({ state: 'visible' });
      await fresh.locator('#main h1', { hasText: 'Overview' }).waitFor();
      await refused;
      await fresh.locator('#token-admin').focus();
      await fresh.keyboard.type('adm-');
      await fresh.locator('#token-api').focus();
      await fresh.keyboard.type('api-');
      // The page polls every 3 s: two periods and more with the prompt open.
      const before = polls;
      await fresh.waitForTimeout(7000);
      assert.equal(polls - before, 0, 'the Overview kept asking for /admin/stats while the token prompt was open');
      assert.deepEqual([await fresh.inputValue('#token-admin'), await fresh.inputValue('#token-api'), await fresh.evaluate(() => document.activeElement.id)],
        ['adm-', 'api-', 'token-api']);
      const served = fresh.waitForResponse((r) => r.url().endsWith('/admin/stats') && r.status() === 200);
      await fresh.fill('#token-admin', ADMIN);
      await fresh.fill('#token-api', API);
      await fresh.click('#token-dialog button[type=submit]');
      await served;
      await fresh.locator('#main .cards .card').first().waitFor();
    } finally {
      await fresh.close();
    }
  });

  it('refuses a schema version with a leading zero at its field', async () => {
    await open('#/schemas');
    const form = page.locator('form[aria-label="Register a schema"]');
    await form.getByLabel('Domain').fill('ledger');
    await form.getByLabel('Event type').fill('Zero');
    await form.getByLabel('Version').fill('02');
    await form.getByRole('button', { name: 'Register' }).click();
    await form.locator('.error-box').waitFor();
    assert.doesNotMatch(await form.locator('.summary').innerText(), /not valid JSON/);
    await refusedAt(form, 'version', '/version');
  });

  it('opens a link with a malformed percent sequence without an error', async () => {
    await open('#/partners');
    await page.locator('#main h1', { hasText: 'Partners' }).waitFor();
    const seen = problems.length;
    const failed = page.waitForEvent('pageerror').then((e) => e.message);
    await open('#/deliveries/%E0%A4%A/x');
    const outcome = await Promise.race([failed, page.locator('#nav a[data-page=deliveries][aria-current=page]').waitFor().then(() => 'routed')]);
    assert.equal(outcome, 'routed');
    assert.deepEqual(problems.slice(seen), []);
  });

  it('forgets the token on request', async () => {
    await page.click('#forget');
    await page.locator('#token-dialog').waitFor({ state: 'visible' });
    assert.equal(await page.evaluate(() => sessionStorage.getItem('hookloop.adminToken')), null);
    await screenshot('token-prompt');
  });

  it('broke no Content-Security-Policy rule and threw no error', () => {
    assert.deepEqual(problems, []);
  });
});
