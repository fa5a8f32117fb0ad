/**
 * The Pit's methods are declared once: each service serves a table (`serve`), whose handlers carry
 * their params schema, and the callers' type map (PitMethods) is inferred from those tables. The
 * list below must name exactly the type map's keys (the compiler refuses a missing or extra one),
 * and the services must serve exactly these names.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { pitServices } from '../../src/pit/component.js';
import type { PitMethod, PitParams, PitResult } from '../../src/pit/index.js';

const TYPED: Record<PitMethod, true> = {
  'pool.define': true,
  'pool.allocate': true,
  'pool.release': true,
  'pool.status': true,
  'pool.evict': true,
  'dag.create': true,
  'dag.ready': true,
  'dag.start': true,
  'dag.complete': true,
  'dag.fail': true,
  'dag.status': true,
  'dag.runs': true,
  'dag.cancel': true,
  'artifacts.put': true,
  'artifacts.quota': true,
  'artifacts.upload.begin': true,
  'artifacts.upload.chunk': true,
  'artifacts.upload.commit': true,
  'artifacts.upload.abort': true,
  'artifacts.get': true,
  'artifacts.read': true,
  'artifacts.list': true,
  'artifacts.tag': true,
  'artifacts.archive': true,
  'artifacts.unarchive': true,
  'artifacts.delete': true,
  'artifacts.verify': true,
  'artifacts.stats': true,
  'arbiter.define': true,
  'arbiter.request': true,
  'arbiter.release': true,
  'arbiter.decisions': true,
  'arbiter.stats': true,
  'stale.rules.set': true,
  'stale.rules.get': true,
  'stale.evaluate': true,
  'stale.run': true,
};

describe('the Pit methods, declared once', () => {
  const services = pitServices();

  it('every service serves a table: each handler carries its params schema', () => {
    for (const s of services) {
      for (const [name, handler] of Object.entries(s.methods)) {
        expect(name.startsWith(`${s.name}.`), name).toBe(true);
        expect(typeof (handler as { schema?: unknown }).schema, `${name} is served with its schema`).toBe('object');
      }
    }
  });

  it('the type map names exactly the methods served', () => {
    const served = services.flatMap((s) => Object.keys(s.methods)).sort();
    expect(served).toEqual(Object.keys(TYPED).sort());
  });

  it('params and results are the services\' own types, not any', () => {
    expectTypeOf<PitResult<'artifacts.read'>['dataBase64']>().toEqualTypeOf<string>();
    expectTypeOf<PitResult<'artifacts.put'>['version']>().toEqualTypeOf<number>();
    expectTypeOf<PitResult<'dag.complete'>['released']>().toEqualTypeOf<string[]>();
    expectTypeOf<PitResult<'pool.allocate'>['served']>().toEqualTypeOf<'hot' | 'warmed' | 'queued'>();
    expectTypeOf<PitResult<'arbiter.request'>['grant']>().toEqualTypeOf<string>();
    expectTypeOf<PitResult<'stale.run'>['bytesFreed']>().toEqualTypeOf<number>();
    expectTypeOf<PitParams<'artifacts.read'>>().toHaveProperty('name').toEqualTypeOf<string>();
    expectTypeOf<{ name: 'x'; offset: 'a' }>().not.toMatchTypeOf<PitParams<'artifacts.read'>>();
  });
});
