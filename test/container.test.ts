import { describe, expect, it } from 'vitest';
import { CircularDependencyError, Container, LifetimeError, MissingProviderError, token } from '../src/index.js';
import { delay, Journal } from './helpers.js';

interface Config { url: string }
interface Db { query(q: string): string; closed: boolean }
const ConfigT = token<Config>('config');
const DbT = token<Db>('db');
const RepoT = token<{ db: Db }>('repo');
const RequestT = token<{ id: number }>('request');

describe('Container', () => {
  it('resolves async factories with their dependencies, once per singleton even when asked concurrently', async () => {
    let made = 0;
    const c = new Container()
      .value(ConfigT, { url: 'mem://' })
      .register(DbT, {
        deps: [ConfigT],
        async factory(config) {
          made++;
          await delay(10);
          return { query: (q) => `${config.url}${q}`, closed: false };
        },
      });
    const [a, b] = await Promise.all([c.resolve(DbT), c.resolve(DbT)]);
    expect(a).toBe(b);
    expect(made).toBe(1);
    expect(a.query('x')).toBe('mem://x');
    expect(c.get(DbT)).toBe(a); // sync after resolution
  });

  it('makes a new transient each time, and one scoped instance per scope', async () => {
    let n = 0;
    const c = new Container()
      .register(token<number>('t'), { lifetime: 'transient', factory: () => ++n })
      .register(RequestT, { lifetime: 'scoped', factory: () => ({ id: ++n }) });
    const t = token<number>('t');
    // distinct token objects are distinct keys, even with the same name
    await expect(c.resolve(t)).rejects.toBeInstanceOf(MissingProviderError);
    const s1 = c.createScope();
    const s2 = c.createScope();
    const r1 = await s1.resolve(RequestT);
    expect(await s1.resolve(RequestT)).toBe(r1);
    expect(await s2.resolve(RequestT)).not.toBe(r1);
    await expect(c.resolve(RequestT)).rejects.toThrow(LifetimeError);
  });

  it('refuses a singleton that captures a scoped dependency', async () => {
    const c = new Container()
      .register(RequestT, { lifetime: 'scoped', factory: () => ({ id: 1 }) })
      .register(token<number>('bad'), { deps: [RequestT], factory: (r) => r.id });
    expect(() => c.validate()).toThrow("singleton 'bad' depends on scoped 'request'");
  });

  it('reports a cycle with its path, at validate() and at resolve()', async () => {
    const A = token<number>('a');
    const B = token<number>('b');
    const C = token<number>('c');
    const c = new Container()
      .register(A, { deps: [B], factory: (b) => b })
      .register(B, { deps: [C], factory: (x) => x })
      .register(C, { deps: [A], factory: (a) => a });
    expect(() => c.validate()).toThrow(new CircularDependencyError(['a', 'b', 'c', 'a']));
    await expect(c.resolve(A)).rejects.toThrow('circular dependency: a -> b -> c -> a');
  });

  it('names the chain that needed a missing provider', async () => {
    const c = new Container().register(RepoT, { deps: [DbT], factory: (db) => ({ db }) });
    await expect(c.resolve(RepoT)).rejects.toThrow("no provider for 'db' (needed by repo)");
  });

  it('disposes in reverse dependency order, independent ones concurrently, each within its deadline', async () => {
    const journal = new Journal();
    const slow = (name: string, ms: number) => async () => {
      journal.add(`begin:${name}`);
      await delay(ms);
      journal.add(`end:${name}`);
    };
    const L = token<string>('left');
    const R = token<string>('right');
    const c = new Container()
      .value(ConfigT, { url: 'x' }, slow('config', 5))
      .register(L, { deps: [ConfigT], factory: () => 'l', stop: slow('left', 20) })
      .register(R, { deps: [ConfigT], factory: () => 'r', stop: slow('right', 20) });
    await c.resolve(L);
    await c.resolve(R);
    const t0 = performance.now();
    await c.stop();
    expect(journal.entries.slice(0, 2).sort()).toEqual(['begin:left', 'begin:right']);
    expect(journal.entries.slice(-2)).toEqual(['begin:config', 'end:config']);
    expect(performance.now() - t0).toBeLessThan(200); // left and right overlapped
  });

  it('collects every disposal failure into an AggregateError and still disposes the rest', async () => {
    const journal = new Journal();
    const A = token<number>('a');
    const B = token<number>('b');
    const H = token<number>('hangs');
    const c = new Container()
      .value(ConfigT, { url: 'x' }, () => journal.add('disposed:config'))
      .register(A, { deps: [ConfigT], factory: () => 1, stop: () => { throw new Error('a broke'); } })
      .register(B, { deps: [ConfigT], factory: () => 2, stop: () => Promise.reject(new TypeError('b broke')) })
      .register(H, { deps: [ConfigT], factory: () => 3, stop: () => new Promise(() => {}), stopTimeout: '50ms' });
    await Promise.all([c.resolve(A), c.resolve(B), c.resolve(H)]);
    const err = (await c.stop().catch((e: unknown) => e)) as AggregateError;
    expect(err).toBeInstanceOf(AggregateError);
    expect(err.errors.map((e: Error) => e.message).sort()).toEqual([
      "'a' failed to stop: Error: a broke",
      "'b' failed to stop: TypeError: b broke",
      "'hangs' did not stop within 50ms",
    ]);
    expect(journal.entries).toEqual(['disposed:config']);
  });

  it('disposes scopes with the root, and works with await using', async () => {
    const journal = new Journal();
    {
      await using c = new Container().register(RequestT, { lifetime: 'scoped', factory: () => ({ id: 7 }), stop: (r) => journal.add(`req:${r.id}`) });
      const s = c.createScope();
      await s.resolve(RequestT);
    }
    expect(journal.entries).toEqual(['req:7']);
  });

  it('overrides a registration for tests with a value of the same type', async () => {
    const c = new Container().register(DbT, { factory: () => ({ query: () => 'real', closed: false }) });
    c.override(DbT, { value: { query: () => 'fake', closed: false } });
    expect((await c.resolve(DbT)).query('')).toBe('fake');
    expect(() => c.override(DbT, { value: { query: () => 'late', closed: false } })).toThrow("cannot override 'db': it was already resolved");
  });
});

describe('Container disposal deadlines', () => {
  it('gives every instance its own deadline, each timeout value served by one timer', async () => {
    const Base = token<number>('base');
    const tokens = [10, 60, 10, 60, 30].map((ms, i) => [token<number>(`h${i}-${ms}`), ms] as const);
    const c = new Container().value(Base, 0);
    const signals: AbortSignal[] = [];
    for (const [t, ms] of tokens) {
      c.register(t, { deps: [Base], factory: () => ms, stop: (_v, signal) => (signals.push(signal), new Promise(() => {})), stopTimeout: ms });
    }
    await Promise.all(tokens.map(([t]) => c.resolve(t)));
    const t0 = performance.now();
    const err = (await c.stop().catch((e: unknown) => e)) as AggregateError;
    const took = performance.now() - t0;
    expect(err.errors.map((e: Error) => e.message)).toEqual([
      "'h0-10' did not stop within 10ms",
      "'h2-10' did not stop within 10ms",
      "'h4-30' did not stop within 30ms",
      "'h1-60' did not stop within 60ms",
      "'h3-60' did not stop within 60ms",
    ]);
    expect(took).toBeGreaterThanOrEqual(55);
    expect(took).toBeLessThan(1000); // concurrent: not the sum of the deadlines
    expect(signals).toHaveLength(5);
    expect(signals.every((s) => s.aborted)).toBe(true);
  });
});
