import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createKernel, type ComponentContext } from '../../src/index.js';
import { Bus, connect, UnauthorizedError } from '../../src/bus/index.js';
import { delay, until } from '../helpers.js';

const root = resolve(import.meta.dirname, '../..');

describe('builtin:bus as a kernel component', () => {
  it('takes its limits from with:', async () => {
    const k = createKernel({ components: { bus: { use: 'builtin:bus', with: { listen: 'none', maxFrameBytes: 4096, maxInFlight: 8, maxOutputBytes: 65536 } } } });
    await k.start();
    const bus = k.get('bus') as Bus;
    expect([bus.maxFrameBytes, bus.maxInFlight, bus.maxOutputBytes]).toEqual([4096, 8, 65536]);
    await k.stop();
  });

  it('is what ctx.deps.bus is; it listens on a private socket with the operator token beside it, and cleans up', async () => {
    const k = createKernel({
      components: {
        bus: { use: 'builtin:bus' },
        api: {
          use: {
            async start(ctx: ComponentContext<{ bus: Bus }>) {
              ctx.deps.bus.handle('api.hello', (p: { name: string }) => `hello ${p.name}`);
              return {};
            },
          },
          needs: ['bus'],
        },
      },
    });
    await k.start();
    const bus = k.get('bus') as Bus;
    const path = bus.socketPath!;
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const token = readFileSync(`${path}.token`, 'utf8').trim();
    const client = await connect({ path, token, name: 'operator-tool' });
    expect(client.name).toBe('operator-tool');
    expect(await client.request('api.hello', { name: 'op' })).toBe('hello op');
    const health = await k.report!.components.find((c) => c.name === 'bus');
    expect(health?.state).toBe('ready');
    await client.stop();
    await k.stop();
    expect(() => statSync(path)).toThrow();
  });

  it('takes the operator token from the environment with token: env:NAME', async () => {
    process.env.SYMPHONY_TEST_TOKEN = 'from-the-environment-0123456789';
    const k = createKernel({ components: { bus: { use: 'builtin:bus', with: { token: 'env:SYMPHONY_TEST_TOKEN' } } } });
    await k.start();
    const path = (k.get('bus') as Bus).socketPath!;
    await expect(connect({ path, token: 'wrong', reconnect: false })).rejects.toBeInstanceOf(UnauthorizedError);
    const ok = await connect({ path, token: process.env.SYMPHONY_TEST_TOKEN });
    await ok.stop();
    await k.stop();
    delete process.env.SYMPHONY_TEST_TOKEN;
  });
});

describe('the TypeScript client', () => {
  it('reconnects after the bus restarts on the same path: re-hello, re-register, re-subscribe', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'symphony-reconnect-'));
    const path = join(dir, 'bus.sock');
    const token = 'operator-token-for-reconnect';
    let bus = new Bus();
    bus.issueToken('op', undefined, { operator: true, token });
    await bus.listen({ path });
    const client = await connect({ path, token, name: 'svc', reconnect: { initialMs: 10, maxMs: 50 } });
    const states: string[] = [];
    client.onConnection = (s) => void states.push(s);
    await client.handle('svc.twice', (n: number) => n * 2).ready;
    const events: unknown[] = [];
    await client.subscribe('alerts.*', (d) => void events.push(d)).ready;
    expect(await bus.request('svc.twice', 4)).toBe(8);

    await bus.stop();
    bus = new Bus();
    bus.issueToken('op', undefined, { operator: true, token });
    await bus.listen({ path });
    await until(() => bus.serves('svc.twice'), 5000, 'the client to come back');
    expect(await bus.request('svc.twice', 21)).toBe(42);
    await delay(20);
    bus.publish('alerts.fire', 'again');
    await until(() => events.length === 1);
    // Lost once, then back (a reconnect attempt may fail first while the new bus starts listening).
    expect(states[0]).toBe('lost');
    expect(states.at(-1)).toBe('connected');
    expect(states.filter((s) => s === 'connected')).toHaveLength(1);
    await client.stop();
    await bus.stop();
  });
});

describe('symphony up with builtin:bus', () => {
  it('boots a system whose component talks to the bus, and an operator tool connects from outside', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'symphony-up-bus-'));
    writeFileSync(
      join(dir, 'svc.mjs'),
      `export default { async start(ctx) { ctx.deps.bus.handle('svc.time', () => 'now'); return {}; } };`,
    );
    writeFileSync(join(dir, 'symphony.yaml'), 'components:\n  bus: { use: builtin:bus }\n  svc: { use: ./svc.mjs, needs: [bus] }\n');
    const child = spawn(process.execPath, [join(root, 'dist/cli/main.js'), 'up', '-c', join(dir, 'symphony.yaml')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    await until(() => out.includes('system ready'), 10_000, 'the system to be ready');
    const path = /listening on (\S+)/.exec(out)![1]!;
    const client = await connect({ path, name: 'ops' });
    expect(await client.request('svc.time')).toBe('now');
    await client.stop();
    child.kill('SIGTERM');
    const code = await new Promise((r) => child.on('close', r));
    expect(code).toBe(0);
    expect(() => statSync(path)).toThrow();
  });
});
