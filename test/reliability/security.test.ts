/**
 * Security: an isolated extension that tries every escape is denied each time and the attempt is
 * logged; the bus socket is unreachable for other users; tokens never appear in logs or reports.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKernel, type Kernel, type KernelEvent } from '../../src/index.js';
import type { Bus } from '../../src/bus/index.js';
import type { Orchestra } from '../../src/orchestra/index.js';
import { grantsFor, until } from '../helpers.js';

const fixture = resolve(import.meta.dirname, '../fixtures/security/escape-artist');

describe('an isolated extension trying to escape', () => {
  let k: Kernel;
  let bus: Bus;
  const log: string[] = [];
  let events = '';
  beforeAll(async () => {
    rmSync('/tmp/escape-artist-was-here', { force: true });
    k = createKernel({
      components: {
        bus: { use: 'builtin:bus', with: { listen: 'auto' } },
        orchestra: { use: 'builtin:orchestra', needs: ['bus'], with: { paths: [fixture], grants: grantsFor([fixture]) } },
      },
    });
    k.on('event', (e: KernelEvent) => {
      events += `${JSON.stringify(e)}\n`;
      if (e.type === 'log') log.push(`${e.component}: ${e.message}`);
    });
    await k.start();
    bus = k.get('bus') as Bus;
    bus.handle('kernel.secret', () => 'the crown jewels');
  }, 30_000);
  afterAll(async () => k?.stop());

  it('is denied every escape', async () => {
    const r = (await bus.request('escape.tryAll', {}, { timeout: '10s' })) as Record<string, string>;
    expect(r).toEqual({
      readOutside: 'ERR_ACCESS_DENIED',
      readOutsideAsync: 'ERR_ACCESS_DENIED',
      readOperatorToken: 'ERR_ACCESS_DENIED',
      writeOutside: 'ERR_ACCESS_DENIED',
      writeOwnScratch: 'allowed',
      spawn: 'ERR_ACCESS_DENIED',
      worker: 'ERR_ACCESS_DENIED',
      nativeAddon: 'ERR_DLOPEN_DISABLED',
      network: expect.stringMatching(/^(ENETUNREACH|ERR_ACCESS_DENIED)$/),
      callUndeclared: 'bus -32002',
      impersonateWithOwnToken: 'bus -32001',
      guessedToken: 'bus -32001',
    });
    expect(existsSync('/tmp/escape-artist-was-here')).toBe(false);
  });

  it('logs every attempt', async () => {
    const expected = [
      /extension 'escape-artist': denied: fs\.readFileSync \/etc\/hostname \(ERR_ACCESS_DENIED\)/,
      /extension 'escape-artist': denied: fs\.promises\.readFile \/etc\/passwd \(ERR_ACCESS_DENIED\)/,
      /extension 'escape-artist': denied: fs\.writeFileSync \/tmp\/escape-artist-was-here \(ERR_ACCESS_DENIED\)/,
      /extension 'escape-artist': denied: child process .*\(ERR_ACCESS_DENIED\)/,
      /extension 'escape-artist': denied: worker thread \(ERR_ACCESS_DENIED\)/,
      /extension 'escape-artist': denied: native addon .*libc\.so\.6 \(ERR_DLOPEN_DISABLED\)/,
      /extension 'escape-artist': denied: network connect .*1\.1\.1\.1.*\((ENETUNREACH|ERR_ACCESS_DENIED)\)/,
      /bus: denied: 'escape-artist' calls 'kernel\.secret'/,
      /bus: denied: hello from 'socket peer': 'escape-artist' is already connected/,
      /bus: denied: hello from 'socket peer': bad token/,
    ];
    await until(() => expected.every((re) => log.some((l) => re.test(l))), 5000, 'all denials to be logged').catch((err: Error) => {
      const missing = expected.filter((re) => !log.some((l) => re.test(l)));
      throw new Error(`${err.message}; missing ${missing.join(', ')} in:\n${log.join('\n')}`);
    });
  });

  it('keeps the bus socket unreachable for other users', () => {
    const path = bus.socketPath!;
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(dirname(path)).mode & 0o777).toBe(0o700);
    const nobody = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, '-e', `require('net').connect(${JSON.stringify(path)}).on('error', (e) => { console.log(e.code); process.exit(0) }).on('connect', () => { console.log('CONNECTED'); process.exit(0) })`], { encoding: 'utf8', timeout: 10_000 });
    if (nobody.error || nobody.status === 127) return; // no runuser here: the modes above are the check
    expect(nobody.stdout.trim()).toBe('EACCES');
  });

  it('never writes a token to the logs or the report', async () => {
    const orchestra = k.get('orchestra') as Orchestra;
    const pid = orchestra.status().find((s) => s.name === 'escape-artist')!.pid!;
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    const extensionToken = environ.find((e) => e.startsWith('SYMPHONY_TOKEN='))!.slice('SYMPHONY_TOKEN='.length);
    const operatorToken = readFileSync(`${bus.socketPath}.token`, 'utf8').trim();
    expect(extensionToken.length).toBeGreaterThan(20);
    const everything = `${events}\n${JSON.stringify(k.report)}\n${JSON.stringify(bus.stats())}`;
    expect(everything).not.toContain(extensionToken);
    expect(everything).not.toContain(operatorToken);
  });
});
