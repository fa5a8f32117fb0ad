/**
 * Regression tests for the Conductor, through its public surface: `melody.run` on the bus of a
 * small system (bus, Pit, Orchestra Kit with the test extensions in ./extensions, Conductor), and
 * `symphony run` through the compiled CLI.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kernel, kernelOptions, loadSystem } from '../../src/index.js';
import type { Bus } from '../../src/bus/index.js';
import type { MelodyResult } from '../../src/conductor/index.js';
import { grantsFor } from '../helpers.js';

const root = resolve(import.meta.dirname, '../..');
const bin = join(root, 'dist/cli/main.js');
const extensions = join(import.meta.dirname, 'extensions');
const tmp = mkdtempSync(join(tmpdir(), 'symphony-conductor-'));

/** A system config file: the test extensions, a fresh Pit, the Conductor with the given settings. */
function config(name: string, conductor: Record<string, unknown> = {}): string {
  const file = join(tmp, `${name}.yaml`);
  const dataDir = mkdtempSync(join(tmp, `${name}-pit-`));
  writeFileSync(
    file,
    [
      'components:',
      '  bus:       { use: builtin:bus }',
      `  pit:       { use: builtin:pit, needs: [bus], late: [conductor], with: { dataDir: ${JSON.stringify(dataDir)} } }`,
      `  orchestra: { use: builtin:orchestra, needs: [bus, pit], with: { paths: [${JSON.stringify(extensions)}], grants: ${JSON.stringify(grantsFor([extensions]))} } }`,
      `  conductor: { use: builtin:conductor, needs: [orchestra], with: ${JSON.stringify(conductor)} }`,
      '',
    ].join('\n'),
  );
  return file;
}

async function boot(file: string): Promise<{ k: Kernel; bus: Bus }> {
  const k = new Kernel(kernelOptions(await loadSystem(file)));
  await k.start();
  return { k, bus: k.get('bus') as Bus };
}

const run = (bus: Bus, melody: unknown, inputs: Record<string, unknown> = {}) => bus.request('melody.run', { melody, inputs }, { timeout: '60s' }) as Promise<MelodyResult>;
type Calls = { calls: { method: string; params: any }[]; maxRunning: number; running: number };
const calls = (bus: Bus) => bus.request('probe.calls', {}) as Promise<Calls>;

/** `symphony run` of a melody file (written from text) with the default test system. */
function cli(name: string, melody: string, args: string[] = [], cfg = config(`cli-${name}`)) {
  const file = join(tmp, `${name}.yaml`);
  writeFileSync(file, melody);
  const r = spawnSync(process.execPath, [bin, 'run', file, '-c', cfg, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, file };
}

describe('the Conductor with the builtin policy', () => {
  let k: Kernel;
  let bus: Bus;
  beforeAll(async () => ({ k, bus } = await boot(config('builtin'))), 30_000);
  afterAll(async () => k?.stop());

  it('is up', async () => {
    expect((await run(bus, { melody: 'up', steps: { a: { call: 'probe.echo', with: { x: 1 } } } })).state).toBe('succeeded');
    await calls(bus);
  });

  it('stops a foreach at its first failed item: no more items handed out, the calls in flight awaited', async () => {
    const list = Array.from({ length: 20 }, (_, i) => ({ i, ms: i === 0 ? 20 : 200, fail: i === 0 }));
    const r = await run(bus, { melody: 'fan-fail', inputs: { list: { type: 'array', default: list } }, steps: { fan: { call: 'probe.sleep', foreach: '${inputs.list}', with: '${item}' } } });
    expect(r.state).toBe('failed');
    expect(r.steps.fan!.state).toBe('failed');
    const c = await calls(bus);
    // The first 8 were handed out; none after the failure; all of them ended before the result.
    expect(c.calls.filter((x) => x.method === 'sleep-start').map((x) => x.params.i)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(c.calls.filter((x) => x.method === 'sleep-end')).toHaveLength(8);
    expect(c.running).toBe(0);
  });

  it('reports a step skipped by when as skipped, and never compensates it', async () => {
    const r = await run(bus, {
      melody: 'when-skip',
      steps: {
        a: { call: 'probe.echo', when: '${false}', with: { a: 1 }, compensate: { call: 'probe.log', with: { undo: 'a' } } },
        z: { call: 'probe.echo', with: { z: 1 }, compensate: { call: 'probe.log', with: { undo: 'z' } } },
        b: { call: 'probe.fail', needs: ['a', 'z'] },
      },
    });
    expect(r.state).toBe('failed');
    expect(r.steps.a).toMatchObject({ state: 'skipped', output: null, note: 'skipped: ${false} is false' });
    expect(r.compensated).toEqual(['z']);
    expect((await calls(bus)).calls.filter((x) => x.method === 'log').map((x) => x.params)).toEqual([{ undo: 'z' }]);
  });

  it('compensates the steps when the outputs cannot be computed', async () => {
    const r = await run(bus, {
      melody: 'outputs-fail',
      steps: { a: { call: 'probe.echo', with: { s: 'hello' }, compensate: { call: 'probe.log', with: { undo: 'a' } } } },
      outputs: { bad: '${steps.a.output.s.length}' },
    });
    expect(r.state).toBe('failed');
    expect(r.reason).toMatch(/^the outputs could not be computed: /);
    expect(r.compensated).toEqual(['a']);
    expect((await calls(bus)).calls.filter((x) => x.method === 'log').map((x) => x.params)).toEqual([{ undo: 'a' }]);
  });

  it('compensates the steps that succeeded newest first, saga-style', async () => {
    const undo = (id: string) => ({ call: 'probe.log', with: { undo: id } });
    const r = await run(bus, {
      melody: 'saga-order',
      steps: {
        a: { call: 'probe.echo', with: { a: 1 }, compensate: undo('a') },
        b: { call: 'probe.echo', needs: ['a'], with: { b: 1 }, compensate: undo('b') },
        c: { call: 'probe.echo', needs: ['b'], with: { c: 1 }, compensate: undo('c') },
        d: { call: 'probe.fail', needs: ['c'], compensate: undo('d') },
      },
    });
    expect(r.state).toBe('failed');
    expect(r.compensated).toEqual(['c', 'b', 'a']);
    expect((await calls(bus)).calls.filter((x) => x.method === 'log').map((x) => x.params)).toEqual([{ undo: 'c' }, { undo: 'b' }, { undo: 'a' }]);
  });

  it('records an onCall extension whose activation fails, and fails (or skips) the steps calling it as they run', async () => {
    const r = await run(bus, {
      melody: 'activation-fails',
      steps: {
        a: { call: 'probe.echo', with: { a: 1 } },
        opt: { call: 'broken.go', optional: true },
        b: { call: 'broken.go', needs: ['a'], onFailure: 'fallback', fallback: { call: 'probe.echo', with: { fb: 1 } } },
        c: { call: 'probe.echo', needs: ['b'], with: { c: '${steps.b.output}' } },
      },
      outputs: { c: '${steps.c.output}' },
    });
    expect(r.chambering.activated).toEqual([{ extension: 'broken', ms: expect.any(Number), error: expect.stringMatching(/activation exploded/) }]);
    expect(r.state).toBe('succeeded');
    expect(r.steps.b!.state).toBe('succeeded (fallback)');
    expect(r.steps.opt!.state).toBe('failed');
    expect(r.outputs).toEqual({ c: { c: { fb: 1 } } });
    const failed = await run(bus, { melody: 'activation-fails-2', steps: { x: { call: 'broken.go' } } });
    expect(failed.state).toBe('failed');
    expect(failed.steps.x).toMatchObject({ state: 'failed', error: expect.stringMatching(/activation exploded/) });
    await calls(bus);
  });

  it('runs steps and inputs named like Object.prototype members as plain names', async () => {
    const r = await run(
      bus,
      {
        melody: 'proto-names',
        inputs: { toString: { type: 'number' }, valueOf: { type: 'number', default: 2 } },
        steps: {
          toString: { call: 'probe.echo', with: { v: '${inputs.toString}', w: '${inputs.valueOf}' } },
          hasOwnProperty: { call: 'probe.echo', needs: ['toString'], with: { v: '${steps.toString.output.v}', proto: '${!steps.toString.output.constructor}' } },
        },
        outputs: { v: '${steps.hasOwnProperty.output}' },
      },
      { toString: 1 },
    );
    expect(r.state).toBe('succeeded');
    expect(r.outputs).toEqual({ v: { v: 1, proto: true } });
    const e = (await bus.request('melody.validate', { melody: { melody: 'x', inputs: { a: {} }, steps: { a: { call: 'probe.echo' } } }, inputs: { a: 1, constructor: 2 } }).catch((x: unknown) => x)) as Error;
    expect(e.message).toMatch(/input 'constructor' is not declared by melody 'x'/);
    await calls(bus);
  });

  it('reads a missing value as null in comparisons and in interpolated text', async () => {
    const r = await run(bus, {
      melody: 'missing-null',
      steps: {
        a: { call: 'probe.echo', with: { n: 5, nul: null } },
        b: {
          call: 'probe.echo',
          needs: ['a'],
          with: {
            missingEqNull: '${steps.a.output.zz == null}',
            missingNeNull: '${steps.a.output.zz != null}',
            nullEqNull: '${steps.a.output.nul == null}',
            presentEqNull: '${steps.a.output.n == null}',
            text: 'n=${steps.a.output.n} miss=${steps.a.output.zz}',
          },
        },
      },
      outputs: { b: '${steps.b.output}' },
    });
    expect(r.outputs).toEqual({ b: { missingEqNull: true, missingNeNull: false, nullEqNull: true, presentEqNull: false, text: 'n=5 miss=null' } });
    await calls(bus);
  });

  it('reads fields of artifacts, dotted artifact names (the longest existing name wins), in steps, outputs and compensations', async () => {
    const stored = await run(bus, {
      melody: 'art-store',
      steps: {
        a: { call: 'probe.echo', with: { words: 42, nested: { k: 'v' } }, store: 'probe-out' },
        c: { call: 'probe.echo', with: { v1: { x: 'short' } }, store: 'cfg' },
        d: { call: 'probe.echo', with: { x: 'long' }, store: 'cfg.v1' },
      },
    });
    expect(stored.state).toBe('succeeded');
    const r = await run(bus, {
      melody: 'art-read',
      steps: {
        b: {
          call: 'probe.echo',
          with: { whole: '${artifacts.probe-out}', words: '${artifacts.probe-out.words}', long: '${artifacts.cfg.v1.x}', bracket: '${artifacts["cfg.v1"].x}', short: '${artifacts.cfg.v1}' },
          compensate: { call: 'probe.log', with: { undo: '${artifacts.probe-out.nested.k}' } },
        },
        f: { call: 'probe.fail', needs: ['b'], optional: true },
      },
      outputs: { b: '${steps.b.output}', k: '${artifacts.probe-out.nested.k}', text: 'n=${artifacts.probe-out.words}', cfg: '${artifacts.cfg}' },
    });
    expect(r.state).toBe('succeeded');
    expect(r.outputs).toEqual({ b: { whole: { words: 42, nested: { k: 'v' } }, words: 42, long: 'long', bracket: 'long', short: { x: 'long' } }, k: 'v', text: 'n=42', cfg: { v1: { x: 'short' } } });
    // A step that stores a new version: later steps read it, not what the run read before.
    const again = await run(bus, {
      melody: 'art-again',
      steps: {
        a: { call: 'probe.echo', with: { w: '${artifacts.probe-out.words}' } },
        b: { call: 'probe.echo', needs: ['a'], with: { words: 7 }, store: 'probe-out', compensate: { call: 'probe.log', with: { undo: '${artifacts.probe-out.words}', cfg: '${artifacts.cfg.v1.x}' } } },
        c: { call: 'probe.echo', needs: ['b'], with: { w: '${artifacts.probe-out.words}' } },
        d: { call: 'probe.fail', needs: ['c'] },
      },
    });
    expect(again.state).toBe('failed');
    expect(again.steps.a!.output).toEqual({ w: 42 });
    expect(again.steps.c!.output).toEqual({ w: 7 });
    expect(again.compensated).toEqual(['b']);
    expect((await calls(bus)).calls.filter((x) => x.method === 'log').map((x) => x.params)).toEqual([{ undo: 7, cfg: 'long' }]);
    const missing = await run(bus, { melody: 'art-missing', steps: { a: { call: 'probe.echo', with: { w: '${artifacts.nosuch.field}' } } } });
    expect(missing.steps.a!.error).toMatch(/no artifact named 'nosuch.field' or 'nosuch'/);
  });

  it('retries a failed foreach only after its first attempt ended: never more than 8 calls at a time', async () => {
    const list = Array.from({ length: 10 }, (_, i) => ({ i, ms: i === 0 ? 10 : 150, fail: i === 0 }));
    const r = await run(bus, { melody: 'fan-retry', inputs: { list: { type: 'array', default: list } }, steps: { fan: { call: 'probe.sleep', foreach: '${inputs.list}', with: '${item}', retry: { max: 1, delay: '10ms' } } } });
    expect(r.state).toBe('failed');
    expect(r.steps.fan!.attempts).toBe(2);
    const c = await calls(bus);
    expect(c.maxRunning).toBeLessThanOrEqual(8);
    expect(c.calls.filter((x) => x.method === 'sleep-start')).toHaveLength(16);
    expect(c.running).toBe(0);
  });
});

describe('a decision policy that stops the melody after a failure', () => {
  it('fails the melody and the step, with the policy\'s note, and compensates what succeeded', async () => {
    const { k, bus } = await boot(config('policy', { policy: 'probe.decide' }));
    try {
      const r = await run(bus, {
        melody: 'policy-stops',
        steps: {
          a: { call: 'probe.echo', compensate: { call: 'probe.log', with: { undo: 'a' } } },
          b: { call: 'probe.flaky', needs: ['a'], with: { key: 'p', fails: 1 }, retry: { max: 2, delay: '10ms' } },
          c: { call: 'probe.sleep', with: { ms: 100 } },
        },
      });
      expect(r.state).toBe('failed');
      expect(r.reason).toMatch(/step 'b' failed and the policy stopped the melody: policy says no/);
      expect(r.steps.b).toMatchObject({ state: 'failed', attempts: 1, note: 'the policy failed it: policy says no', error: expect.stringMatching(/flaky p #1/) });
      expect(r.steps.a!.state).toBe('succeeded');
      expect(r.compensated).toContain('a');
    } finally {
      await k.stop();
    }
  }, 30_000);
});

describe('symphony run rejects bad melodies at FILE:LINE:COL (exit 2)', () => {
  it('names Object.prototype members as steps that do not exist, and refuses reserved names', () => {
    const r = cli('proto', 'melody: proto\nsteps:\n  a: { call: probe.echo, needs: [constructor] }\n');
    expect(r.stderr).toBe(`${r.file}:3:34: step 'a' needs 'constructor', which is not a step\n`);
    expect(r.code).toBe(2);
    const refs = cli('proto-refs', "melody: proto-refs\nsteps:\n  a: { call: probe.echo, with: { v: '${steps.toString.output}', w: '${inputs.valueOf}' } }\n");
    expect(refs.stderr).toMatch(/proto-refs\.yaml:3:\d+: \$\{steps\.toString\.output\} reads step 'toString', which is not a step/);
    expect(refs.stderr).toMatch(/proto-refs\.yaml:3:\d+: \$\{inputs\.valueOf\} reads input 'valueOf', which is not declared in inputs/);
    expect(refs.code).toBe(2);
    const reserved = cli('reserved', 'melody: reserved\nsteps:\n  constructor: { call: probe.echo }\n  b: { call: probe.echo }\n');
    expect(reserved.stderr).toMatch(/reserved\.yaml:3:3: 'constructor' cannot name a step \(a reserved name\)/);
    expect(reserved.code).toBe(2);
  }, 30_000);
});

describe("symphony run refuses '~' in step names", () => {
  it('at the name, since the Conductor names its fallback nodes NAME~fallback', () => {
    const r = cli('tilde', "melody: tilde\nsteps:\n  a: { call: probe.fail, onFailure: fallback, fallback: { call: probe.echo } }\n  a~fallback: { call: probe.log }\n");
    expect(r.stderr).toBe(`${r.file}:4:3: step name "a~fallback" cannot contain '~' (reserved for the Conductor's own nodes, like 'a~fallback')\n`);
    expect(r.code).toBe(2);
  }, 30_000);
});

describe('symphony run -i NAME=VALUE', () => {
  it("takes a string input's value as text, and parses the others as JSON", () => {
    const melody = [
      'melody: inputs',
      'inputs:',
      '  s: { type: string }',
      '  t: { type: string }',
      '  n: { type: number }',
      '  b: { type: boolean }',
      '  l: { type: array }',
      '  a: { type: any }',
      'steps:',
      "  e: { call: probe.echo, with: { s: '${inputs.s}', t: '${inputs.t}', n: '${inputs.n}', b: '${inputs.b}', l: '${inputs.l}', a: '${inputs.a}' } }",
      'outputs:',
      '  e: ${steps.e.output}',
      '',
    ].join('\n');
    const r = cli('inputs', melody, ['--json', '-i', 's=123', '-i', 't=true', '-i', 'n=123', '-i', 'b=true', '-i', 'l=[1,"x"]', '-i', 'a=7']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).outputs).toEqual({ e: { s: '123', t: 'true', n: 123, b: true, l: [1, 'x'], a: 7 } });
    const bad = cli('inputs-bad', melody, ['-i', 's=x', '-i', 't=y', '-i', 'n=abc', '-i', 'b=true', '-i', 'l=[]', '-i', 'a=1']);
    expect(bad.stderr).toMatch(/input 'n' must be a number, not a string \("abc"\)/);
    expect(bad.code).toBe(2);
  }, 30_000);
});
