import { describe, expect, it } from 'vitest';
import { Bus } from '../../src/bus/index.js';
import { StaleManager, type ArtifactCatalog, type CatalogEntry } from '../../src/pit/stale.js';
import { pitContext } from './context.js';

const DAY = 86_400_000;

/** An in-memory catalog with the interface the Artifact Store provides. */
function catalog(entries: CatalogEntry[]): ArtifactCatalog & { entries: CatalogEntry[]; archived: string[] } {
  const c = {
    entries,
    archived: [] as string[],
    list: () => c.entries.filter((e) => !c.archived.includes(`${e.name}@${e.version}`)),
    archive: (name: string, version: number) => void c.archived.push(`${name}@${version}`),
    delete: (name: string, version: number) => void (c.entries = c.entries.filter((e) => !(e.name === name && e.version === version))),
  };
  return c;
}

const now = Date.now();
const entry = (name: string, ageDays: number, size: number, extra: Partial<CatalogEntry> = {}): CatalogEntry => ({
  name,
  version: 1,
  size,
  tags: [],
  createdAt: now - ageDays * DAY,
  lastAccessAt: null,
  accessCount: 0,
  ...extra,
});

describe('Stale Manager', () => {
  it('decides keep / archive / delete by max age, access count, tags and size budget, with reasons', async () => {
    const c = catalog([
      entry('reports.q1', 40, 10),
      entry('reports.q2', 40, 10, { accessCount: 5 }),
      entry('reports.q3', 40, 10, { tags: ['release'] }),
      entry('reports.q4', 1, 10),
      entry('cache.a', 0, 600, { lastAccessAt: now - 3000 }),
      entry('cache.b', 0, 600, { lastAccessAt: now - 1000 }),
      entry('other', 400, 1),
    ]);
    const stale = new StaleManager(() => c);
    await stale.init(pitContext(new Bus()).ctx);
    stale.setRules([
      { id: 'reports', match: 'reports.*', maxAgeMs: 30 * DAY, minAccessCount: 3, keepTagged: ['release'], action: 'archive' },
      { id: 'cache', match: 'cache.>', maxTotalBytes: 1000, minAccessCount: 0, keepTagged: [], action: 'delete' },
    ]);
    const decisions = Object.fromEntries(stale.evaluate(now).map((d) => [d.name, `${d.action}: ${d.reason}`]));
    expect(decisions).toEqual({
      'reports.q1': expect.stringMatching(/^archive: older than 2592000000ms \(\d+ms\), accessed 0 time\(s\) \(< 3\)$/),
      'reports.q2': 'keep: old, but accessed 5 time(s) (>= 3)',
      'reports.q3': "keep: tagged 'release'",
      'reports.q4': 'keep: within the rule',
      'cache.a': 'delete: over the size budget of 1000 bytes (least recently used)',
      'cache.b': 'keep: within the rule',
      other: 'keep: no rule covers it',
    });
  });

  it('a dry run changes nothing; a real run archives and deletes, and says how much it freed', async () => {
    const c = catalog([entry('tmp.a', 10, 100), entry('tmp.b', 10, 50), entry('keep.me', 10, 1)]);
    const stale = new StaleManager(() => c);
    const bus = new Bus();
    await stale.init(pitContext(bus).ctx);
    for (const [m, h] of Object.entries(stale.methods)) bus.handle(m, h);
    await bus.request('stale.rules.set', { rules: [{ id: 'tmp', match: 'tmp.*', maxAgeMs: DAY, action: 'delete' }] });
    const dry = (await bus.request('stale.run', { dryRun: true })) as { deleted: number; bytesFreed: number };
    expect(dry).toMatchObject({ dryRun: true, deleted: 2, bytesFreed: 150 });
    expect(c.entries).toHaveLength(3);
    const real = (await bus.request('stale.run', { dryRun: false })) as { deleted: number };
    expect(real.deleted).toBe(2);
    expect(c.entries.map((e) => e.name)).toEqual(['keep.me']);
    await expect(bus.request('stale.rules.set', { rules: [{ id: 'x', action: 'shred' }] })).rejects.toMatchObject({ code: -32602 });
    await expect(bus.request('stale.rules.set', { rules: [{ id: 'x', match: 'logs*' }] })).rejects.toMatchObject({ code: -32602, data: { field: 'rules.0.match' } });
    await expect(bus.request('stale.rules.set', { rules: [{ id: 'x' }, { id: 'x' }] })).rejects.toMatchObject({
      code: -32602,
      message: "stale.rules.set: rules[1].id: 'x' is used twice (rule ids must be unique)",
    });
    await bus.stop();
  });
});
