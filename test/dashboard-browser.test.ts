/**
 * The dashboard driven as an operator would, in Debian's Chromium through
 * playwright-core. Skipped with a notice where Chromium is missing (failed
 * under CI=true). Screenshots land in test-artifacts/dashboard/ (git-ignored).
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLoadBalancer, type LoadBalancer } from '../src/index.js';
import { createLoopbackBackend, type LoopbackBackend } from '../src/testing/index.js';
import { type Listening, listen, request } from './helpers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available) {
  if (process.env.CI === 'true') throw new Error(`Chromium is required in CI but ${CHROMIUM} does not exist`);
  console.warn(
    `\n  NOTICE: ${CHROMIUM} not found; the dashboard browser tests are SKIPPED (apt-get install chromium).\n`,
  );
}

const TOKEN = 'browser-token-0123456789abcdef';
const ARTIFACTS = join(import.meta.dirname, '..', 'test-artifacts', 'dashboard');
/** Longest wait for something on the page; the whole file stays well under a minute. */
const WAIT = 8000;
/** The page's refresh interval (POLL_MS in dashboard/src/main.tsx). */
const POLL_MS = 2000;

/** Answers at once, or after `?ms=` on `/slow` (to hold a request in flight). */
function handler(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://backend.invalid');
  const delay = url.pathname === '/slow' ? Math.min(Number(url.searchParams.get('ms')) || 0, 5000) : 0;
  const timer = setTimeout(() => res.end('ok'), delay);
  res.on('close', () => clearTimeout(timer));
}

let browser: Browser;
let context: BrowserContext;
let page: Page;
let lb: LoadBalancer;
let admin: Listening;
let proxy: Listening;
let attacker: Listening;
let backends: LoopbackBackend[] = [];
const consoleErrors: string[] = [];
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

function hit(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: proxy.port, path, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** Sends requests, `concurrency` at a time, for `ms` milliseconds. */
async function load(ms: number, concurrency = 4): Promise<number> {
  const end = Date.now() + ms;
  let sent = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end) {
        await hit('/');
        sent++;
      }
    }),
  );
  return sent;
}

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

const row = (id: string) => page.locator(`tr[data-backend="${id}"]`);

/**
 * Chromium logs each call the API refuses (400): waits for that message and
 * takes it off the list, so that any other console message still fails the
 * last test.
 */
async function refusedCallLogged(): Promise<void> {
  const refused = () => consoleErrors.findIndex((m) => m.includes('status of 400'));
  await expect.poll(refused, { timeout: WAIT }).toBeGreaterThan(-1);
  consoleErrors.splice(refused(), 1);
}

// Each step waits at most WAIT (rollout: 15 s) for the page; the file typically takes about 20 s.
describe.skipIf(!available)('dashboard in a browser', { timeout: 20_000 }, () => {
  beforeAll(async () => {
    rmSync(ARTIFACTS, { recursive: true, force: true });
    mkdirSync(ARTIFACTS, { recursive: true });
    backends = await Promise.all(['a', 'b', 'c', 'v2-a', 'v2-b'].map((id) => createLoopbackBackend({ id, handler })));
    lb = createLoadBalancer({
      strategy: 'round-robin',
      backends: backends.slice(0, 3).map((b) => ({ id: b.id, url: b.url })),
    });
    admin = await listen(lb.admin({ token: TOKEN, dashboard: { assets: inject('dashboardAssets') } }));
    proxy = await listen(lb.handler);
    // Another site (localhost is not 127.0.0.1 to a browser) whose page posts to the admin API.
    attacker = await listen((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<!doctype html><form id="f" method="post" action="http://127.0.0.1:${admin.port}/backends/b/drain">
        <button>win a prize</button></form>`);
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'],
      timeout: 20_000,
    });
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await context.newPage();
    page.setDefaultTimeout(WAIT);
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => consoleErrors.push(String(error)));
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    agent.destroy();
    await attacker?.close();
    await admin?.close();
    await proxy?.close();
    await lb?.close();
    await Promise.all(backends.map((b) => b.close()));
  });

  it('logs in with the keyboard and shows three backends', async () => {
    await page.goto(`${admin.url}/dashboard/`);
    // The token field has the focus; the skip link comes before it, the button after.
    const focused = () => page.evaluate<string>('document.activeElement?.id || document.activeElement?.textContent');
    await expect.poll(focused, { timeout: WAIT }).toBe('token');
    await page.keyboard.press('Shift+Tab');
    expect(await focused()).toBe('Skip to content');
    await page.keyboard.press('Tab');
    expect(await focused()).toBe('token');
    await shot('1-login');
    await page.keyboard.type(TOKEN);
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('tbody tr[data-backend]').count(), { timeout: WAIT }).toBe(3);
    expect(page.url()).not.toContain(TOKEN);
    const cookies = await context.cookies();
    expect(cookies).toHaveLength(1);
    expect(cookies[0]).toMatchObject({ name: 'switchyard_session', httpOnly: true, sameSite: 'Strict' });
    expect(await row('a').locator('[data-label="Status"]').textContent()).toBe('healthy');
  });

  it('changes a weight, and shows the API error next to the field', async () => {
    const weight = page.getByLabel('Weight of a', { exact: true });
    await weight.fill('-1');
    await weight.press('Enter');
    const error = row('a').getByRole('alert');
    await expect.poll(() => error.textContent(), { timeout: WAIT }).toMatch(/weight/);
    expect(await weight.getAttribute('aria-invalid')).toBe('true');
    await shot('1b-weight-error');
    await refusedCallLogged();
    await weight.fill('5');
    await row('a').getByRole('button', { name: 'Set weight of a' }).click();
    await expect.poll(() => lb.backends().find((b) => b.id === 'a')?.weight, { timeout: WAIT }).toBe(5);
    await expect.poll(() => page.getByTestId('action-status').textContent()).toContain('a: weight set to 5');
    expect(await row('a').getByRole('alert').count()).toBe(0);
  });

  it('adds a backend (its URL error next to the URL field first) and removes it', async () => {
    const url = page.getByLabel('URL', { exact: true });
    await url.fill('ftp://nope');
    await page.getByLabel('Id (optional)').fill('extra');
    await page.getByRole('button', { name: 'Add backend' }).click();
    await expect.poll(() => page.locator('#add-url-error').textContent(), { timeout: WAIT }).toContain('url');
    await refusedCallLogged();
    await url.fill(backends[3]?.url as string);
    await page.getByRole('button', { name: 'Add backend' }).click();
    await expect.poll(() => row('extra').count(), { timeout: WAIT }).toBe(1);
    expect(lb.backends().map((b) => b.id)).toContain('extra');
    page.once('dialog', (dialog) => void dialog.accept());
    await row('extra').getByRole('button', { name: 'Remove extra' }).click();
    await expect.poll(() => row('extra').count(), { timeout: WAIT }).toBe(0);
    expect(lb.backends().map((b) => b.id)).toEqual(['a', 'b', 'c']);
  });

  it('drains a backend and shows it draining, then gone', async () => {
    // Hold one request in flight at each backend, so the drain has something to wait for.
    const slow = [hit('/slow?ms=2500'), hit('/slow?ms=2500'), hit('/slow?ms=2500')];
    await expect.poll(() => lb.backends().find((b) => b.id === 'c')?.active, { timeout: WAIT }).toBe(1);
    await row('c').getByRole('button', { name: 'Drain c' }).click();
    await expect.poll(() => row('c').getAttribute('data-status'), { timeout: WAIT }).toBe('draining');
    await shot('2-draining');
    await Promise.all(slow);
    await expect.poll(() => row('c').count(), { timeout: WAIT }).toBe(0);
    await expect.poll(() => page.locator('.events').textContent(), { timeout: WAIT }).toContain('drained');
  });

  it('moves the live chart under load', async () => {
    const summary = page.getByTestId('chart-traffic-summary');
    const before = Number(/^([\d.]+) req\/s in the last sample/.exec((await summary.textContent()) ?? '')?.[1] ?? 0);
    const sent = await load(4500);
    expect(sent).toBeGreaterThan(20);
    await expect
      .poll(
        async () => Number(/^([\d.]+) req\/s in the last sample/.exec((await summary.textContent()) ?? '')?.[1] ?? 0),
        { timeout: WAIT },
      )
      .toBeGreaterThan(before + 1);
    const points = await page.locator('figure:has(#chart-traffic-title) .chart-canvas').getAttribute('data-points');
    expect(Number(points)).toBeGreaterThan(0);
    expect(await page.locator('.chart-canvas canvas').count()).toBe(3);
    await shot('3-under-load');
  });

  it('refuses a POST from another site', async () => {
    const evil = await context.newPage();
    await evil.goto(`http://localhost:${attacker.port}/`);
    const [response] = await Promise.all([
      evil.waitForResponse((r) => r.url().includes('/backends/b/drain')),
      evil.locator('#f button').click(),
    ]);
    expect(response.status()).toBe(403);
    expect(await response.text()).toContain('ERR_CSRF');
    await evil.close();
    expect(lb.backends().find((b) => b.id === 'b')?.status).toBe('healthy');
  });

  it('starts a rollout and shows it progress batch by batch', async () => {
    await page.getByLabel('New backends (one URL per line)').fill(`${backends[3]?.url}\n${backends[4]?.url}`);
    await page.getByLabel('Batch size').fill('1');
    await page.getByLabel('Observe each batch for').fill('2s');
    const traffic = load(6000, 2);
    await page.getByRole('button', { name: 'Start rollout' }).click();
    const status = page.getByTestId('rollout-status');
    // Watch it as the page shows it: running batch after batch, then completed.
    const seen = new Set<string>();
    await expect
      .poll(
        async () => {
          const state = `${await status.getAttribute('data-status')} ${await page.locator('#rollout-progress').getAttribute('value')}`;
          if (!seen.has(state) && state.startsWith('running')) await shot(`4-rollout-${state.replace(' ', '-')}`);
          seen.add(state);
          return state;
        },
        { timeout: 15_000, interval: 200 },
      )
      .toBe('completed 2');
    expect([...seen]).toEqual(expect.arrayContaining(['running 0', 'running 1']));
    await traffic;
    expect(await page.locator('table.steps tbody tr').count()).toBe(2);
    await expect.poll(() => page.locator('tbody tr[data-backend]').count(), { timeout: WAIT }).toBe(2);
    await expect.poll(() => page.locator('.events').textContent(), { timeout: WAIT }).toContain('completed');
  });

  it('switches the strategy, and shows a policy error next to the policy field', async () => {
    await page.getByLabel(/^Strategy \(now/).selectOption('least-connections');
    await page.getByRole('button', { name: 'Switch strategy' }).click();
    await expect.poll(() => lb.config.strategy, { timeout: WAIT }).toBe('least-connections');
    await expect.poll(() => page.getByLabel(/^Strategy \(now/).inputValue()).toBe('least-connections');
    await page.getByLabel('Policy', { exact: true }).selectOption('retry');
    const policy = page.getByLabel(/^retry \(JSON/);
    // The field shows the retry section before it is edited (the section switch has settled).
    await expect.poll(() => policy.inputValue(), { timeout: WAIT }).toContain('"attempts"');
    // A refresh landing meanwhile leaves the edit alone (the next test makes one land on purpose).
    await policy.fill('{ "attempts": "many" }');
    await page.getByRole('button', { name: 'Apply retry' }).click();
    await expect.poll(() => page.locator('#policy-value-error').textContent()).toContain('retry.attempts');
    expect(await policy.getAttribute('aria-invalid')).toBe('true');
    await shot('5a-policy-error');
    await refusedCallLogged();
    await policy.fill('{ "attempts": 3 }');
    await page.getByRole('button', { name: 'Apply retry' }).click();
    await expect
      .poll(
        () => (lb.config.retry as { attempts?: number } | false) && (lb.config.retry as { attempts: number }).attempts,
        { timeout: WAIT },
      )
      .toBe(3);
    expect(await page.locator('#policy-value-error').count()).toBe(0);
  });

  it('never lets a refresh overwrite a policy edit, even one landing just before the keystroke', async () => {
    // A context of its own with a fake clock: the 2 s refresh timer, and the work the page
    // does after a frame, run only when the test moves the clock.
    const own = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const messages: string[] = [];
    try {
      await own.clock.install();
      const other = await own.newPage();
      other.setDefaultTimeout(WAIT);
      other.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') messages.push(m.text());
      });
      other.on('pageerror', (error) => messages.push(String(error)));
      await other.goto(`${admin.url}/dashboard/`);
      await other.getByLabel('Admin token').fill(TOKEN);
      await other.getByRole('button', { name: 'Log in' }).click();
      await other.getByLabel('Policy', { exact: true }).selectOption('retry');
      const field = other.getByLabel(/^retry \(JSON/);
      await expect.poll(() => field.inputValue(), { timeout: WAIT }).toContain('"attempts": 3');
      const strategyLabel = () => other.locator('label[for="strategy"]').textContent();
      const updated = other.getByRole('region', { name: 'Summary' }).locator('dd').last();

      // Time stops; one more refresh lands (it may be one in flight), after which none is in flight.
      await own.clock.pauseAt((await other.evaluate<number>('Date.now()')) + 500);
      const before = await updated.textContent();
      await own.clock.runFor(POLL_MS);
      await expect.poll(() => updated.textContent(), { timeout: WAIT }).not.toBe(before);

      // 1. The server's retry (and strategy, which the page shows at once) changes; the refresh
      // that brings it lands, and the operator types before the page's next frame.
      lb.configure({ strategy: 'round-robin', retry: { attempts: 4 } });
      await own.clock.runFor(POLL_MS);
      await expect.poll(strategyLabel, { timeout: WAIT }).toContain('now round-robin');
      const edit = '{ "attempts": "many" }';
      await field.fill(edit);
      expect(await field.inputValue()).toBe(edit);
      await own.clock.runFor(100); // the frames after the keystroke
      expect(await field.inputValue()).toBe(edit);
      expect(await other.locator('#policy-value-changed').count()).toBe(0);

      // 2. The server's retry changes again while the field is edited: the edit stays, and a
      // notice says the server's value moved on.
      lb.configure({ strategy: 'random', retry: { attempts: 5 } });
      await own.clock.runFor(POLL_MS);
      await expect.poll(strategyLabel, { timeout: WAIT }).toContain('now random');
      await own.clock.runFor(100);
      expect(await field.inputValue()).toBe(edit);
      expect(await other.locator('#policy-value-changed').textContent()).toContain("The server's retry changed");

      // 3. Applying sends the edit (the server refuses it, next to the field); Reset shows the server's value.
      await other.getByRole('button', { name: 'Apply retry' }).click();
      await expect.poll(() => other.locator('#policy-value-error').textContent()).toContain('retry.attempts');
      expect(await field.inputValue()).toBe(edit);
      await other.getByRole('button', { name: 'Reset' }).click();
      await expect.poll(() => field.inputValue()).toContain('"attempts": 5');
      expect(await other.locator('#policy-value-changed').count()).toBe(0);
      // The refused PATCH is the one message Chromium logs.
      expect(messages).toEqual([expect.stringContaining('status of 400')]);
    } finally {
      await own.close();
      lb.configure({ strategy: 'least-connections', retry: { attempts: 3 } });
    }
  });

  it('stays readable on a narrow window', async () => {
    await page.setViewportSize({ width: 400, height: 800 });
    // Elements sticking out past the window (wide tables scroll inside their own box).
    const wide = () =>
      page.evaluate<string[]>(`[...document.querySelectorAll('body *')]
        .filter((e) => !e.closest('.table-wrap') && e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
        .slice(0, 5)
        .map((e) => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))`);
    // Charts follow their box's width on the next frame.
    await expect.poll(wide, { timeout: WAIT }).toEqual([]);
    await expect
      .poll(() => page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth'))
      .toBeLessThanOrEqual(0);
    await page.screenshot({ path: join(ARTIFACTS, '5-narrow-viewport.png') });
    await shot('5-narrow');
    await page.setViewportSize({ width: 1280, height: 800 });
    await shot('6-wide');
  });

  it('shows routes and pools from an admin API that offers them (as a router admin would), reading only that API', async () => {
    // A stand-in admin: the built page plus JSON answers, the way a router's admin would give them.
    const dir = inject('dashboardAssets');
    const json: Record<string, unknown> = {
      '/session': {
        session: { csrfToken: 't', expiresAt: new Date(Date.now() + 60_000).toISOString(), idleTimeoutMs: 60_000 },
        api: ['/backends', '/routes', '/pools'],
      },
      '/backends': { backends: [] },
      '/routes': { routes: [{ name: 'api', pool: 'api-pool', match: { path: '/api' } }] },
      '/pools': { pools: [{ name: 'api-pool', routes: ['api'], health: { status: 'ok' }, backends: [] }] },
    };
    const fake = await listen((req, res) => {
      const path = (req.url ?? '/').split('?')[0] as string;
      if (path.startsWith('/dashboard/')) {
        const file = join(dir, path === '/dashboard/' ? 'index.html' : path.slice('/dashboard/'.length));
        if (!existsSync(file)) return void res.writeHead(404).end();
        const type = file.endsWith('.js') ? 'text/javascript' : file.endsWith('.css') ? 'text/css' : 'text/html';
        return void res.writeHead(200, { 'content-type': type }).end(readFileSync(file));
      }
      if (!(path in json)) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(json[path]));
    });
    const other = await context.newPage();
    try {
      await other.goto(`${fake.url}/dashboard/`);
      const routes = other.getByRole('region', { name: /^Routes/ });
      await expect.poll(() => routes.textContent(), { timeout: WAIT }).toContain('api-pool');
      const pools = other.getByRole('region', { name: /^Pools/ });
      expect(await pools.textContent()).toContain('api-pool');
      expect(await other.getByRole('region', { name: /^Last 15 minutes/ }).count()).toBe(0);
    } finally {
      await other.close();
      await fake.close();
    }
  });

  it('has no WCAG 2.1 A/AA violations that axe-core can find', async () => {
    // DevTools evaluation is not subject to the page's CSP, so axe runs in the page as served.
    await page.evaluate(readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8'));
    const { passes, violations } = await page.evaluate<{
      passes: number;
      violations: { id: string; impact: string; nodes: string[] }[];
    }>(
      `axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] }).then((r) => ({
        passes: r.passes.length,
        violations: r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) })),
      }))`,
    );
    // It checked something (labels, contrast, names...), and found nothing wrong.
    expect(passes).toBeGreaterThan(10);
    expect(violations).toEqual([]);
  });

  it('logs out: the session no longer works', async () => {
    const [cookie] = await context.cookies();
    await page.getByRole('button', { name: 'Log out' }).click();
    await expect.poll(() => page.getByLabel('Admin token').count(), { timeout: WAIT }).toBe(1);
    expect(await context.cookies()).toHaveLength(0);
    const stale = await request(admin.port, {
      path: '/backends',
      headers: { cookie: `${cookie?.name}=${cookie?.value}` },
    });
    expect(stale.status).toBe(401);
  });

  it('logged no console error or warning on the dashboard page', () => {
    expect(consoleErrors).toEqual([]);
  });
});
