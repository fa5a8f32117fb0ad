/**
 * No confused deputies: the Conductor and the Pool Manager call with the rights of whoever asked,
 * never with the kernel's own; melody files are read only from the folders the operator names.
 * Each denial is shown by what did not happen: the kernel's handler was never called, the planted
 * secret appears in no answer. Each has a control where the same request from the kernel works,
 * so the silence means something.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kernel, kernelOptions, loadSystem } from '../../src/index.js';
import type { Bus, BusApi, Rights } from '../../src/bus/index.js';
import type { MelodyResult } from '../../src/conductor/index.js';

const tmp = mkdtempSync(join(tmpdir(), 'symphony-deputies-'));
const secret = `secret-${randomBytes(12).toString('hex')}`;

describe('deputies call with their caller’s rights', () => {
  let k: Kernel;
  let bus: Bus;
  let ext: BusApi;
  const secretCalls: string[] = [];
  const melodies = join(tmp, 'melodies');

  beforeAll(async () => {
    mkdirSync(melodies);
    writeFileSync(join(tmp, 'secret.txt'), `${secret}\n`);
    writeFileSync(join(melodies, 'ok.yaml'), 'melody: ok\nsteps:\n  a: { call: ext.echo, with: { x: 1 } }\n');
    symlinkSync(join(tmp, 'secret.txt'), join(melodies, 'leads-out.yaml'));
    const file = join(tmp, 'system.yaml');
    writeFileSync(
      file,
      [
        'components:',
        '  bus:       { use: builtin:bus }',
        `  pit:       { use: builtin:pit, needs: [bus], late: [conductor], with: { dataDir: ${JSON.stringify(join(tmp, 'pit'))} } }`,
        '  conductor: { use: builtin:conductor, needs: [bus, pit] }',
        '',
      ].join('\n'),
    );
    k = new Kernel(kernelOptions(await loadSystem(file)));
    await k.start();
    bus = k.get('bus') as Bus;
    bus.handle('kernel.secret', (_p, ctx) => {
      secretCalls.push(ctx.peer);
      return secret;
    });
    const rights: Rights = { provides: ['ext.>'], calls: ['melody.run', 'melody.validate', 'pool.define', 'pool.allocate', 'ext.echo'], publishes: [], subscribes: [] };
    ext = bus.endpoint('ext', rights);
    ext.handle('ext.echo', (p, ctx) => ({ p, caller: ctx.peer }));
  }, 30_000);
  afterAll(async () => k?.stop());

  const melodyCalling = (method: string) => ({ melody: 'deputy', steps: { a: { call: method } } });

  it('a melody run by an extension cannot call what the extension may not', async () => {
    const before = secretCalls.length;
    const r = (await ext.request('melody.run', { melody: melodyCalling('kernel.secret') }, { timeout: '10s' })) as MelodyResult;
    expect(r.state).toBe('failed');
    expect(JSON.stringify(r)).not.toContain(secret);
    expect(JSON.stringify(r.steps.a), JSON.stringify(r.steps.a)).toContain('may not call');
    expect(secretCalls.length).toBe(before);
    // Control: the kernel runs the same melody and the step is served.
    const own = (await bus.request('melody.run', { melody: melodyCalling('kernel.secret') }, { timeout: '10s' })) as MelodyResult;
    expect(own.state).toBe('succeeded');
    expect(secretCalls.length).toBe(before + 1);
  });

  it('a step is served as called by the one who started the run', async () => {
    const r = (await ext.request('melody.run', { melody: { melody: 'who', steps: { a: { call: 'ext.echo', with: { x: 1 } } }, outputs: { caller: '${steps.a.output.caller}' } } }, { timeout: '10s' })) as MelodyResult;
    expect(r.state).toBe('succeeded');
    expect(r.outputs).toEqual({ caller: 'ext' });
  });

  it('a pool defined by an extension warms with the extension’s rights', async () => {
    const before = secretCalls.length;
    await ext.request('pool.define', { pool: 'stolen', warm: 'kernel.secret', capacity: 1 });
    const err = (await ext.request('pool.allocate', { pool: 'stolen', key: 'k', timeoutMs: 5000 }).catch((e: unknown) => e)) as { code?: number; message: string };
    expect(err).toBeInstanceOf(Error);
    expect(JSON.stringify(err)).not.toContain(secret);
    expect(err.message).not.toContain(secret);
    expect(secretCalls.length).toBe(before);
    // Control: a pool the kernel defines warms with the kernel's rights.
    await bus.request('pool.define', { pool: 'own', warm: 'kernel.secret', capacity: 1 });
    const lease = (await bus.request('pool.allocate', { pool: 'own', key: 'k', timeoutMs: 5000 })) as { handle?: unknown };
    expect(JSON.stringify(lease)).toContain(secret);
    expect(secretCalls.length).toBe(before + 1);
  });

  it('a pool cannot be redefined by another identity', async () => {
    const err = (await ext.request('pool.define', { pool: 'own', warm: 'ext.echo', capacity: 1 }).catch((e: unknown) => e)) as { code?: number };
    expect(err.code).toBe(-32002);
    const status = (await bus.request('pool.status', { pool: 'own' })) as { pools: { warm?: string }[] };
    expect(JSON.stringify(status)).not.toContain('ext.echo');
  });

  it('melody files: outside the configured folders (or through a link leading out) they are never read', async () => {
    for (const file of [join(tmp, 'secret.txt'), join(melodies, 'leads-out.yaml'), join(melodies, '..', 'secret.txt'), '/etc/passwd']) {
      for (const method of ['melody.validate', 'melody.run']) {
        const err = (await ext.request(method, { file }, { timeout: '5s' }).catch((e: unknown) => e)) as { code?: number; message: string; data?: unknown };
        expect(err.code, `${method} ${file}`).toBe(-32002);
        expect(`${err.message} ${JSON.stringify(err.data)}`).not.toContain(secret);
        expect(err.message).toContain('melodies');
      }
    }
    // Inside the folder it reads (and the kernel itself may name any file, as `symphony run` does).
    await expect(ext.request('melody.validate', { file: join(melodies, 'ok.yaml') })).resolves.toEqual({ ok: true });
    const own = (await bus.request('melody.validate', { file: join(tmp, 'secret.txt') }).catch((e: unknown) => e)) as Error;
    expect(own).toBeInstanceOf(Error); // not a melody: the kernel's own call reads it and says why
  });

  it('only the kernel’s own parts may act for another identity', async () => {
    const before = secretCalls.length;
    const err = (await ext.request('kernel.secret', {}, { onBehalfOf: 'kernel' }).catch((e: unknown) => e)) as { code?: number };
    expect(err.code).toBe(-32002);
    const unknown = (await bus.request('kernel.secret', {}, { onBehalfOf: 'nobody-at-all' }).catch((e: unknown) => e)) as { code?: number };
    expect(unknown.code).toBe(-32002);
    expect(secretCalls.length).toBe(before);
  });
});
