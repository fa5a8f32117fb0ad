/**
 * The dashboard on the HTTP listener of a real `symphony up`: on by default (loopback, a free port)
 * and off with `http: false`; the listener's guards apply to it (a Host that could be rebound gets
 * nothing); an action from another origin, or with a bad token, does nothing (proved by the event
 * log staying quiet), and with the token it happens.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { root, startSystem, type RunningSystem } from './system.js';

const bin = join(root, 'dist', 'cli', 'main.js');
const fixtures = join(root, 'test', 'dashboard', 'fixtures');

/** A raw request (fetch cannot set Host or Origin). */
function raw(url: string, options: { method?: string; path: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method: options.method ?? 'GET', path: options.path, headers: { ...(options.body ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(options.body)) } : {}), ...options.headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

describe('the listener is on by default and http: false turns it off', () => {
  const once = (config: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'symphony-dashboard-http-'));
    try {
      writeFileSync(join(dir, 'symphony.yaml'), config);
      const r = spawnSync(process.execPath, [bin, 'up', '--once', '--log', 'plain', '--report', join(dir, 'r.json')], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
      return r;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it('a config that says nothing of http gets the dashboard on loopback, on a free port', () => {
    const r = once('components:\n  bus: { use: builtin:bus }\n');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^symphony: dashboard http:\/\/127\.0\.0\.1:\d+\/$/m);
  });

  it('http: false serves nothing: no listener, no dashboard line', () => {
    const r = once('http: false\ncomponents:\n  bus: { use: builtin:bus }\n');
    expect(r.status).toBe(0);
    expect(r.stdout).not.toContain('dashboard');
    expect(r.stdout).not.toContain('health endpoints');
  });
});

describe('the dashboard behind the listener guards and the operator token', () => {
  let sys: RunningSystem;
  const restartsLogged = async () => {
    const state = (await (await fetch(`${sys.url}dashboard/state`)).json()) as { log: { component: string; message: string }[] };
    return state.log.filter((l) => l.component === 'flood' && /^stopping/.test(l.message)).length;
  };

  beforeAll(async () => {
    sys = await startSystem(['-c', 'flood.yaml'], (dir) => {
      copyFileSync(join(fixtures, 'flood.yaml'), join(dir, 'flood.yaml'));
      copyFileSync(join(fixtures, 'flood.mjs'), join(dir, 'flood.mjs'));
    });
  }, 60_000);
  afterAll(async () => {
    await sys?.stop();
  });

  it('serves the page with a policy that runs only its own scripts, and nothing under a Host that could be rebound', async () => {
    const page = await fetch(sys.url);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(await page.text()).toContain('/dashboard/app.js');
    for (const path of ['/', '/dashboard/state', '/dashboard/events']) {
      const r = await raw(sys.url, { path, headers: { host: 'attacker.example:80' } });
      expect(r.status).toBe(421);
      expect(r.body).not.toContain('flood');
    }
  });

  it('refuses an action from another origin, without a token or with a wrong one, and nothing restarts', async () => {
    const before = await restartsLogged();
    const body = JSON.stringify({ name: 'flood' });
    const asked = [
      await raw(sys.url, { method: 'POST', path: '/dashboard/actions/restart', body, headers: { authorization: `Bearer ${sys.token}`, origin: 'http://attacker.example' } }),
      await raw(sys.url, { method: 'POST', path: '/dashboard/actions/restart', body }),
      await raw(sys.url, { method: 'POST', path: '/dashboard/actions/restart', body, headers: { authorization: 'Bearer not-the-token' } }),
    ];
    await new Promise((r) => setTimeout(r, 500));
    expect(await restartsLogged()).toBe(before);
    expect(asked.map((a) => a.status)).toEqual([403, 401, 401]);
    expect(asked.map((a) => a.body).join('')).not.toContain(sys.token);
  });

  it('restarts with the operator token', async () => {
    const before = await restartsLogged();
    const r = await raw(sys.url, { method: 'POST', path: '/dashboard/actions/restart', body: JSON.stringify({ name: 'flood' }), headers: { authorization: `Bearer ${sys.token}`, origin: new URL(sys.url).origin } });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ restarted: 'flood' });
    await new Promise((res) => setTimeout(res, 300));
    expect(await restartsLogged()).toBe(before + 1);
  });

  it('answers a bad action request with what to send', async () => {
    const r = await raw(sys.url, { method: 'POST', path: '/dashboard/actions/restart', body: '{"nam":1}', headers: { authorization: `Bearer ${sys.token}` } });
    expect(r.status).toBe(400);
    expect((JSON.parse(r.body) as { error: string }).error).toContain('restart needs { "name"');
    const g = await raw(sys.url, { method: 'GET', path: '/dashboard/actions/restart' });
    expect(g.status).toBe(405);
  });
});
