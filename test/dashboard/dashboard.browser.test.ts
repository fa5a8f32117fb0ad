/**
 * The dashboard in a real browser (Debian's chromium through playwright-core) against a real
 * `symphony up` of the default system: what the page names, what it shows live without a reload,
 * what the operator token allows and what a page without it cannot do, and no console errors.
 * With SYMPHONY_UPDATE_SCREENSHOT=1 it leaves docs/images/dashboard.png, the picture the README shows.
 */
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { connect } from '../../src/bus/index.js';
import { browserAvailable, launch } from './browser.js';
import { root, startSystem, type RunningSystem } from './system.js';

const run = browserAvailable() ? describe : describe.skip;

/** The default system's components and bundled extensions, read from the files that define them. */
const componentNames = Object.keys((parse(readFileSync(join(root, 'examples', 'symphony.yaml'), 'utf8')) as { components: object }).components);
const extensionNames = readdirSync(join(root, 'examples', 'extensions')).map((d) => (JSON.parse(readFileSync(join(root, 'examples', 'extensions', d, 'package.json'), 'utf8')) as { name: string }).name);

run('the dashboard in chromium', () => {
  let sys: RunningSystem;
  let browser: Awaited<ReturnType<typeof launch>>;
  let context: BrowserContext;
  let page: Page;
  const consoleErrors: string[] = [];
  /** While set, a 401 the browser logs for an action is one this test asked for (a refusal), not the page's error. */
  let refusing = false;
  let refusals = 0;

  const row = (name: string) => page.locator(`#components tr[data-name="${name}"]`);
  const cell = (name: string, col: string) => row(name).locator(`td[data-col="${col}"]`);
  const ext = (name: string) => sys.ps().components.find((c) => c.name === name && c.kind === 'extension')!;

  beforeAll(async () => {
    sys = await startSystem();
    browser = await launch({ width: 1280, height: 900 });
    context = browser.context;
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      if (refusing && m.text().includes('401') && m.location().url.includes('/dashboard/actions/')) refusals++;
      else consoleErrors.push(`${m.text()} (${m.location().url})`);
    });
    page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
    await page.goto(sys.url);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 15_000 });
    // Set once: a reload would lose it, so seeing it later proves the page was never reloaded.
    await page.evaluate('window.loadedOnce = 1');
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await sys?.stop();
  });

  it('prints its address at ready on a line of its own that carries no token', () => {
    const line = sys.output().split('\n').find((l) => l.startsWith('symphony: dashboard '))!;
    expect(line).toMatch(/^symphony: dashboard http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(sys.token.length).toBeGreaterThan(20);
    expect(sys.output()).not.toContain(sys.token);
  });

  it('names every component and bundled extension of the default system, with its state', async () => {
    expect(componentNames).toEqual(expect.arrayContaining(['bus', 'pit', 'orchestra', 'conductor']));
    expect(extensionNames.length).toBeGreaterThanOrEqual(3);
    for (const name of [...componentNames, ...extensionNames]) {
      await expect.poll(() => row(name).count(), { timeout: 10_000 }).toBe(1);
      await expect.poll(() => cell(name, 'state').innerText(), { timeout: 10_000 }).toMatch(/^(ready|active|inactive)$/);
    }
    for (const name of extensionNames) expect(await cell(name, 'kind').innerText()).toBe('extension');
    // The isolated one shows its pid and sandbox; the boot waterfall draws every component.
    expect(await cell('text-stats', 'pid').innerText()).toBe(String(ext('text-stats').pid));
    expect(await cell('text-stats', 'isolation').innerText()).toMatch(/^(sandboxed|degraded)$/);
    expect(await cell('text-stats', 'grant').innerText()).toContain('text.stats');
    const waterfall = await page.locator('#waterfall svg').textContent();
    for (const name of componentNames) expect(waterfall).toContain(name);
    expect(await page.locator('#waterfall path.late-edge').count()).toBeGreaterThanOrEqual(1); // pit ⇢ conductor
    expect(await page.locator('#boot-summary').innerText()).toContain('critical path: bus → pit → orchestra');
  });

  it('draws live bus traffic per peer', async () => {
    // Traffic on the bus from outside, while the page watches: its figures and charts move on their own.
    const client = await connect({ path: sys.socket, token: sys.token, name: 'traffic', reconnect: false, exitWithParent: false });
    let calling = true;
    const traffic = (async () => {
      while (calling) {
        await client.request('text.stats', { text: 'one two three' });
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    try {
      await expect.poll(async () => page.locator('#peers .card[data-peer="text-stats"] .figures').innerText(), { timeout: 10_000 }).toMatch(/^[1-9][\d.]* req\/s · p50 [\d.]+(ms|s)/);
      expect(await page.locator('#peers .card[data-peer="text-stats"] canvas').count()).toBeGreaterThan(0);
    } finally {
      calling = false;
      await traffic;
      await client.stop();
    }
  });

  it('without the token it is read-only: the buttons say why, and a forced restart changes nothing', async () => {
    const before = ext('text-stats');
    const button = row('text-stats').locator('button[data-action="restart"]');
    expect(await button.isDisabled()).toBe(true);
    expect(await button.getAttribute('title')).toContain('operator token');
    expect(await page.locator('#actions-note').innerText()).toContain('operator token');
    refusing = true;
    // A wrong token through the form: refused, still read-only.
    await page.fill('#token', 'not-the-operator-token');
    await page.click('#unlock-button');
    await expect.poll(() => page.locator('#notices').innerText(), { timeout: 5000 }).toContain('Not unlocked');
    expect(await button.isDisabled()).toBe(true);
    // The request itself, from the page, without a token and with a wrong one.
    const statuses = await page.evaluate(async () => {
      const post = (headers: Record<string, string>) => fetch('/dashboard/actions/restart', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ name: 'text-stats' }) }).then((r) => r.status);
      return [await post({}), await post({ authorization: 'Bearer wrong-token-0123456789' })];
    });
    // Refused means nothing happened: same restarts, same process (checked before the status codes).
    await new Promise((r) => setTimeout(r, 1000));
    const after = ext('text-stats');
    expect(after.pid).not.toBeNull();
    expect(after.pid).toBe(before.pid);
    expect(after.restarts).toBe(before.restarts);
    expect(statuses).toEqual([401, 401]);
    refusing = false;
    expect(refusals).toBe(3); // the form's attempt and the two requests: each refused, nothing else failed
  });

  it('a SIGKILLed isolated extension shows its restart on the page without a reload', async () => {
    const before = ext('text-stats');
    expect(before.pid).toBeGreaterThan(0);
    process.kill(before.pid!, 'SIGKILL');
    await expect.poll(() => cell('text-stats', 'restarts').innerText(), { timeout: 15_000 }).toBe(String(before.restarts + 1));
    // The new process, as the page shows it, is the one the system runs (a moment without a pid is allowed).
    await expect.poll(async () => Number(await cell('text-stats', 'pid').innerText()) === ext('text-stats').pid, { timeout: 15_000 }).toBe(true);
    expect(Number(await cell('text-stats', 'pid').innerText())).not.toBe(before.pid);
    expect(await page.evaluate('window.loadedOnce')).toBe(1);
    await expect.poll(() => page.locator('#log').innerText(), { timeout: 5000 }).toContain('text-stats');
  });

  it('with the token a restart from the page works, and the page never shows the token', async () => {
    await expect.poll(() => cell('text-stats', 'state').innerText(), { timeout: 15_000 }).toMatch(/^(ready|active)$/);
    const before = ext('text-stats');
    await page.fill('#token', sys.token);
    await page.click('#unlock-button');
    await expect.poll(() => page.locator('#lock').innerText(), { timeout: 10_000 }).toBe('actions unlocked');
    const button = row('text-stats').locator('button[data-action="restart"]');
    expect(await button.isDisabled()).toBe(false);
    await button.click();
    // An operator's restart is a new process (supervision's restart count is for crashes, not for it).
    await expect.poll(() => page.locator('#notices').innerText(), { timeout: 15_000 }).toContain("'text-stats' restarted");
    const after = ext('text-stats');
    expect(after.pid).not.toBe(before.pid);
    expect(after.pid).toBeGreaterThan(0);
    await expect.poll(async () => Number(await cell('text-stats', 'pid').innerText()), { timeout: 10_000 }).toBe(after.pid);
    // No secret anywhere in the page: not in its markup, not in a field.
    expect(await page.content()).not.toContain(sys.token);
    const values = (await page.evaluate("[...document.querySelectorAll('input, textarea')].map((e) => e.value)")) as string[];
    expect(values.join('\n')).not.toContain(sys.token);
    expect(await page.evaluate('JSON.stringify({ ...sessionStorage }) + JSON.stringify({ ...localStorage }) + document.cookie')).not.toContain(sys.token);
  });

  it('brings a quarantined extension back from the page (the button says so), with the token still unlocked', async () => {
    // Killed each time it is back until supervision gives up on it: the page shows the quarantine live.
    for (let i = 0; i < 12 && (await cell('text-stats', 'state').innerText()) !== 'quarantined'; i++) {
      await expect.poll(() => ext('text-stats').pid ?? 0, { timeout: 15_000 }).toBeGreaterThan(0);
      const pid = ext('text-stats').pid!;
      process.kill(pid, 'SIGKILL');
      await expect.poll(async () => (await cell('text-stats', 'state').innerText()) === 'quarantined' || (ext('text-stats').pid ?? pid) !== pid, { timeout: 15_000 }).toBe(true);
    }
    await expect.poll(() => cell('text-stats', 'state').innerText(), { timeout: 15_000 }).toBe('quarantined');
    const button = row('text-stats').locator('button[data-action="restart"]');
    await expect.poll(() => button.innerText(), { timeout: 5000 }).toBe('Bring back');
    await button.click();
    await expect.poll(() => cell('text-stats', 'state').innerText(), { timeout: 20_000 }).toMatch(/^(ready|active)$/);
    const back = ext('text-stats');
    expect(back.pid).toBeGreaterThan(0);
    expect(() => process.kill(back.pid!, 0)).not.toThrow();
    await expect.poll(() => button.innerText(), { timeout: 5000 }).toBe('Restart');
  }, 120_000);

  it('runs a melody from the page and shows each step', async () => {
    await page.selectOption('#melody-file', { label: 'word-stats (melodies/word-stats.yaml)' });
    await page.fill('#melody-inputs', JSON.stringify({ text: 'the dashboard runs this melody', minWords: 3 }));
    await page.click('#melody-button');
    const card = page.locator('#runs .run', { hasText: 'word-stats' }).first();
    await expect.poll(() => card.locator('[data-step="count"]').innerText(), { timeout: 20_000 }).toContain('succeeded');
    await expect.poll(() => card.locator('.state').first().innerText(), { timeout: 20_000 }).toBe('succeeded');
  });

  it('fits a narrow screen, and leaves its screenshot (for the README with SYMPHONY_UPDATE_SCREENSHOT=1)', async () => {
    // The committed picture changes only when asked: a test run leaves the checkout as it was.
    const shot = process.env.SYMPHONY_UPDATE_SCREENSHOT === '1' ? join(root, 'docs', 'images', 'dashboard.png') : join(tmpdir(), `symphony-dashboard-${process.pid}.png`);
    mkdirSync(dirname(shot), { recursive: true });
    // Lock again: the picture shows the read-only page most people see first.
    await page.click('#lock-button');
    await page.waitForTimeout(2500); // a few samples on the charts
    await page.evaluate("document.getElementById('notices').replaceChildren()");
    await page.screenshot({ path: shot, fullPage: true });
    expect(statSync(shot).size).toBeGreaterThan(20_000);
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(300);
    const overflow = (await page.evaluate('document.documentElement.scrollWidth - window.innerWidth')) as number;
    expect(overflow).toBeLessThanOrEqual(1);
    expect(await row('text-stats').isVisible()).toBe(true);
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it('logged no console error', () => {
    expect(consoleErrors).toEqual([]);
  });
});
