/**
 * The whole system out of the box: the default config (bus, Pit, Orchestra Kit with the bundled
 * extensions, Conductor), the example melodies end to end with the TypeScript and with the Python
 * Conductor, failures mid-run, and bad melodies rejected before they run.
 */
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kernel, kernelOptions, loadSystem, type LoadedSystem } from '../../src/index.js';
import type { Bus } from '../../src/bus/index.js';
import type { MelodyResult } from '../../src/conductor/index.js';
import { grantsFor } from '../helpers.js';

const root = resolve(import.meta.dirname, '../..');
const melodies = join(root, 'examples/melodies');
const fixtures = join(root, 'test/fixtures/conductor');

/** A system from an example config, with its Pit data in a fresh temp folder. */
async function boot(config: string, tweak: (s: LoadedSystem) => void = () => {}): Promise<{ k: Kernel; bus: Bus }> {
  const system = await loadSystem(join(root, 'examples', config));
  const dataDir = mkdtempSync(join(tmpdir(), 'symphony-system-'));
  system.components.pit = { ...system.components.pit, with: { ...(system.components.pit!.with as object), dataDir } };
  tweak(system);
  const k = new Kernel(kernelOptions(system));
  await k.start();
  return { k, bus: k.get('bus') as Bus };
}

const run = (bus: Bus, file: string, inputs: Record<string, unknown> = {}) => bus.request('melody.run', { file, inputs }, { timeout: '60s' }) as Promise<MelodyResult>;
/** What must be equal between conductors: states and outputs, not ids, times or who decided. */
const comparable = (r: MelodyResult) => ({ state: r.state, outputs: r.outputs, steps: Object.fromEntries(Object.entries(r.steps).map(([id, s]) => [id, s.state])) });

describe('the default system', () => {
  let k: Kernel;
  let bus: Bus;
  beforeAll(async () => ({ k, bus } = await boot('symphony.yaml')), 30_000);
  afterAll(async () => k?.stop());

  it('boots the bus, the Pit, the Orchestra Kit and the Conductor in stages, the late edge bound', () => {
    const r = k.report!;
    expect(r.system).toBe('ready');
    expect(r.stages.map((s) => s.components)).toEqual([['bus'], ['pit'], ['orchestra'], ['conductor']]);
    expect(r.late).toEqual([{ from: 'pit', to: 'conductor', boundMs: r.components.find((c) => c.name === 'conductor')!.readyMs }]);
  });

  it('runs index-texts end to end: files (in-process), text-stats (isolated), summarizer (activated on call), stored results', async () => {
    const r = await run(bus, join(melodies, 'index-texts.yaml'));
    expect(r.state).toBe('succeeded');
    expect(r.outputs).toMatchObject({ files: 3, words: 146 });
    expect((r.outputs.top as { word: string }[])[0]).toEqual({ word: 'the', count: 26 });
    expect(r.outputs.report).toMatch(/^Index of \.\n=+\n3 file\(s\), 146 words/);
    expect(r.artifact).toMatchObject({ name: `melody.index-texts.${r.run}`, version: 1 });
    const stored = (await bus.request('artifacts.get', { name: 'text-index' })) as { metadata: { melody: string } };
    expect(stored.metadata.melody).toBe('index-texts');
    const dag = (await bus.request('dag.status', { run: r.run })) as { state: string };
    expect(dag.state).toBe('succeeded');
    // The Chambering flow: registration from the manifests, activation of the onCall summarizer, reclamation.
    expect(r.chambering.registration).toEqual([
      { method: 'files.list', provider: 'files@1.0.0 (in-process)' },
      { method: 'files.read', provider: 'files@1.0.0 (in-process)' },
      { method: 'text.stats', provider: 'text-stats@1.1.0 (isolated)' },
      { method: 'text.merge', provider: 'text-stats@1.1.0 (isolated)' },
      { method: 'report.text', provider: 'summarizer@1.0.0 (isolated)' },
    ]);
    expect(r.chambering.activated.map((a) => a.extension)).toEqual(['summarizer']);
    expect(r.chambering.reclaimed).toEqual({ archived: 0, deleted: 0 });
  });

  it("delivers the Pit's events to the Conductor through the late edge, buffered from before it was ready", async () => {
    const status = (await bus.request('conductor.status')) as { reported: number };
    // Each Pit extension reported 'ready' while the Conductor did not exist yet.
    expect(status.reported).toBeGreaterThanOrEqual(5);
  });

  it('runs word-stats with its condition', async () => {
    const long = await run(bus, join(melodies, 'word-stats.yaml'), { text: 'one two three four' });
    expect(long.outputs).toMatchObject({ words: 4 });
    expect(long.outputs.report).not.toBeNull();
    const short = await run(bus, join(melodies, 'word-stats.yaml'), { text: 'hi' });
    expect(short.outputs).toMatchObject({ words: 1, report: null });
    expect(short.steps.report!.note).toMatch(/^skipped: \$\{steps.count.output.words >= inputs.minWords\} is false/);
  });

  it('rejects a melody with a cycle, an unknown method, bad references or bad inputs before it runs', async () => {
    const reject = async (file: string, inputs: Record<string, unknown> = {}) => {
      const e = (await run(bus, join(fixtures, file), inputs).catch((x: unknown) => x)) as { code: number; message: string };
      expect(e.code).toBe(-32602);
      return e.message;
    };
    expect(await reject('cycle.yaml')).toMatch(/cycle between steps: a -> c -> b -> a/);
    expect(await reject('unknown-method.yaml')).toMatch(/step 'a' calls 'text.nonsense', which nobody serves \(unknown method\)/);
    const refs = await reject('bad-refs.yaml');
    expect(refs).toMatch(/bad-refs\.yaml:6:\d+: unknown key 'retyr' in step 'b' \(did you mean 'retry'\?\)/);
    expect(await reject(join('..', '..', '..', 'examples', 'melodies', 'word-stats.yaml'))).toMatch(/missing input 'text' of melody 'word-stats'/);
    expect(await reject(join('..', '..', '..', 'examples', 'melodies', 'word-stats.yaml'), { text: 5 })).toMatch(/input 'text' must be a string, not a number/);
  });
});

describe('a provider that crashes mid-run', () => {
  it('is restarted by the Orchestra Kit while the step is retried per its policy', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'symphony-flaky-'));
    cpSync(join(fixtures, 'flaky'), join(dir, 'flaky'), { recursive: true });
    const { k, bus } = await boot('symphony.yaml', (s) => {
      s.components.orchestra = { ...s.components.orchestra, with: { paths: [join(dir, 'flaky')], grants: grantsFor([join(dir, 'flaky')]), backoff: { initial: '20ms', max: '50ms' } } };
    });
    try {
      const r = await run(bus, join(fixtures, 'flaky.yaml'));
      expect(r.state).toBe('succeeded');
      expect(r.outputs).toEqual({ doubled: 42 });
      expect(r.steps.work!.attempts).toBeGreaterThanOrEqual(2);
      expect(r.steps.work!.provider).toBe('flaky.work');
      expect(r.decisions.filter((d) => d.kind === 'failure')[0]).toMatchObject({ choice: 'accept', by: 'builtin', rationale: expect.stringMatching(/^following the recovery rule: .*retry/) });
    } finally {
      await k.stop();
    }
  }, 40_000);
});

describe('the Python Conductor', () => {
  it('boots the same system with the maestro in Python and gives the same results', async () => {
    const ts = await boot('symphony.yaml');
    const expected = {
      index: comparable(await run(ts.bus, join(melodies, 'index-texts.yaml'))),
      stats: comparable(await run(ts.bus, join(melodies, 'word-stats.yaml'), { text: 'a b c d e' })),
    };
    await ts.k.stop();
    const py = await boot('python-conductor.yaml');
    try {
      expect(py.k.report!.late).toEqual([{ from: 'pit', to: 'conductor', boundMs: expect.any(Number) }]);
      expect(py.k.report!.components.find((c) => c.name === 'conductor')!.mode).toBe('command');
      const index = await run(py.bus, join(melodies, 'index-texts.yaml'));
      expect(comparable(index)).toEqual(expected.index);
      expect(comparable(await run(py.bus, join(melodies, 'word-stats.yaml'), { text: 'a b c d e' }))).toEqual(expected.stats);
      expect(index.decisions.length).toBeGreaterThan(0);
      expect(index.decisions.every((d) => d.by === 'python-conductor')).toBe(true);
      const status = (await py.bus.request('conductor.status')) as { decisions: number };
      expect(status.decisions).toBeGreaterThan(0);
    } finally {
      await py.k.stop();
    }
  }, 60_000);

  for (const mode of ['garbage', 'silent'] as const) {
    it(`falls back to the built-in policy, and says so, when the policy peer answers ${mode === 'garbage' ? 'garbage' : 'nothing'}`, async () => {
      const { k, bus } = await boot('python-conductor.yaml', (s) => {
        s.components.conductor = { command: [process.execPath, join(fixtures, 'bad-policy.mjs')], needs: ['orchestra', 'bus'], with: { mode } };
        s.components.melodies = { ...s.components.melodies, with: { policy: 'remote', policyTimeoutMs: 200 } };
      });
      try {
        const r = await run(bus, join(melodies, 'word-stats.yaml'), { text: 'a b c d' });
        expect(r.state).toBe('succeeded');
        expect(r.outputs).toMatchObject({ words: 4 });
        expect(r.decisions[0]!.by).toMatch(mode === 'garbage' ? /^builtin \(fallback: conductor.decide answered \{"choice":42/ : /^builtin \(fallback: conductor.decide failed: .*within 200ms/);
      } finally {
        await k.stop();
      }
    }, 30_000);
  }
});

describe('the boot report of the default system', () => {
  it("shows the Pit's five extensions started concurrently, as parts of the pit", async () => {
    const { k } = await boot('symphony.yaml');
    try {
      const pit = k.report!.components.find((c) => c.name === 'pit')!;
      const parts = pit.parts!;
      expect(parts.map((p) => p.name).sort()).toEqual(['arbiter', 'artifacts', 'dag', 'pool', 'stale']);
      // Concurrent: every part started before the first one finished.
      const firstDone = Math.min(...parts.map((p) => p.readyMs!));
      for (const p of parts) expect(p.startMs).toBeLessThanOrEqual(firstDone);
      for (const p of parts) expect(p.startMs).toBeGreaterThanOrEqual(pit.startMs!);
    } finally {
      await k.stop();
    }
  }, 30_000);
});
