/**
 * Container behaviour the mutation run showed unchecked: each test here kills mutants of
 * src/container/container.ts that survived test/container.test.ts (see docs/testing.md).
 * Imported from the container's own face so no other part makes tokens first: the first token
 * below is id 0, the slot a mis-initialised cache would answer for.
 */
import { describe, expect, it } from 'vitest';
import {
  CircularDependencyError,
  Container,
  ContainerError,
  LifetimeError,
  MissingProviderError,
  token,
} from '../../src/container/index.js';

const First = token<string>('first');

async function rejection(p: Promise<unknown>): Promise<Error> {
  const r = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(r instanceof Error)) throw new Error(`expected a rejection, got ${String(r)}`);
  return r;
}

function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    if (e instanceof Error) return e;
    throw new Error(`threw a non-error: ${String(e)}`);
  }
  throw new Error('expected a throw');
}

describe('container errors name what went wrong', () => {
  it('an unresolved token (even the first one ever made) is not resolved yet, and says so', () => {
    const c = new Container().register(First, { factory: () => 'made' });
    const e = thrown(() => c.get(First));
    expect(e).toBeInstanceOf(ContainerError);
    expect(e.name).toBe('ContainerError');
    expect(e.message).toBe("'first' is not resolved yet: await container.resolve() first");
  });

  it('a missing provider names the token and the chain that needed it', async () => {
    const A = token<number>('a');
    const B = token<number>('b');
    const Nope = token<number>('nope');
    const c = new Container().register(A, { deps: [B], factory: (b) => b }).register(B, { deps: [Nope], factory: (n) => n });
    const e = await rejection(c.resolve(A));
    expect(e).toBeInstanceOf(MissingProviderError);
    expect(e.name).toBe('MissingProviderError');
    expect(e.message).toBe("no provider for 'nope' (needed by a -> b)");
    expect((e as MissingProviderError).path).toEqual(['a', 'b']);
    const bare = await rejection(c.resolve(Nope));
    expect(bare.message).toBe("no provider for 'nope'");
    expect(thrown(() => c.get(Nope)).message).toBe("no provider for 'nope'");
  });

  it('a cycle is reported from where it closes, not from the first resolution', async () => {
    const A = token<number>('a');
    const B = token<number>('b');
    const C = token<number>('c');
    const c = new Container()
      .register(A, { deps: [B], factory: (b) => b })
      .register(B, { deps: [C], factory: (x) => x })
      .register(C, { deps: [B], factory: (x) => x });
    const e = await rejection(c.resolve(A));
    expect(e).toBeInstanceOf(CircularDependencyError);
    expect(e.name).toBe('CircularDependencyError');
    expect(e.message).toBe('circular dependency: b -> c -> b');
    expect((e as CircularDependencyError).cycle).toEqual(['b', 'c', 'b']);
  });

  it('a scoped token resolved from the root says to use a scope', async () => {
    const S = token<object>('session');
    const c = new Container().register(S, { lifetime: 'scoped', factory: () => ({}) });
    const e = await rejection(c.resolve(S));
    expect(e).toBeInstanceOf(LifetimeError);
    expect(e.name).toBe('LifetimeError');
    expect(e.message).toBe("'session' is scoped: resolve it from a scope (container.createScope())");
  });

  it('a singleton depending on a scoped token is refused when resolved from a scope, naming both', async () => {
    const S = token<object>('request');
    const G = token<object>('cache');
    const c = new Container().register(S, { lifetime: 'scoped', factory: () => ({}) }).register(G, { deps: [S], factory: (s) => ({ s }) });
    const e = await rejection(c.createScope().resolve(G));
    expect(e).toBeInstanceOf(LifetimeError);
    expect(e.message).toBe("singleton 'cache' depends on scoped 'request': make 'cache' scoped or 'request' a singleton");
  });

  it('a bad stopTimeout names the token', () => {
    const T = token<number>('slowpoke');
    const e = thrown(() => new Container().register(T, { factory: () => 1, stopTimeout: 'soon' as never }));
    expect(e.message).toContain("stopTimeout of 'slowpoke'");
  });

  it('a stopped container refuses registrations and scopes, saying it is stopped', async () => {
    const T = token<number>('t');
    const c = new Container();
    await c.stop();
    expect(thrown(() => c.register(T, { factory: () => 1 })).message).toBe('container is stopped');
    expect(thrown(() => c.createScope()).message).toBe('container is stopped');
    expect((await rejection(c.resolve(T))).message).toBe('container is stopped');
  });
});

describe('validate', () => {
  it('passes a sound graph with dependencies of every lifetime', () => {
    const A = token<number>('a');
    const B = token<number>('b');
    const S = token<number>('s');
    const S2 = token<number>('s2');
    const c = new Container()
      .register(A, { deps: [B], factory: (b) => b })
      .register(B, { lifetime: 'transient', factory: () => 1 })
      .register(S, { lifetime: 'scoped', deps: [A, B], factory: (a, b) => a + b })
      .register(S2, { lifetime: 'scoped', deps: [S], factory: (s) => s });
    expect(() => c.validate()).not.toThrow();
  });

  it('reports a cycle from where it closes and a missing provider with its whole path', () => {
    const A = token<number>('a');
    const B = token<number>('b');
    const C = token<number>('c');
    const c = new Container()
      .register(A, { deps: [B], factory: (b) => b })
      .register(B, { deps: [C], factory: (x) => x })
      .register(C, { deps: [B], factory: (x) => x });
    const e = thrown(() => c.validate());
    expect(e).toBeInstanceOf(CircularDependencyError);
    expect(e.message).toBe('circular dependency: b -> c -> b');

    const M = token<number>('m');
    const Gone = token<number>('gone');
    const d = new Container().register(A, { deps: [M], factory: (m) => m }).register(M, { deps: [Gone], factory: (g) => g });
    const m = thrown(() => d.validate());
    expect(m).toBeInstanceOf(MissingProviderError);
    expect(m.message).toBe("no provider for 'gone' (needed by a -> m)");
  });

  it('reports a singleton capturing a scoped token', () => {
    const S = token<number>('scope-thing');
    const G = token<number>('global-thing');
    const c = new Container().register(S, { lifetime: 'scoped', factory: () => 1 }).register(G, { deps: [S], factory: (s) => s });
    const e = thrown(() => c.validate());
    expect(e).toBeInstanceOf(LifetimeError);
    expect(e.message).toBe("singleton 'global-thing' depends on scoped 'scope-thing': make 'global-thing' scoped or 'scope-thing' a singleton");
  });

  it('visits each registration once: a deep ladder of diamonds validates at once', () => {
    // Each rung depends twice on the rung below; walking it without remembering finished
    // registrations takes 2^40 steps.
    const rungs = Array.from({ length: 40 }, (_, i) => token<number>(`rung${i}`));
    const c = new Container().register(rungs[0]!, { factory: () => 0 });
    for (let i = 1; i < rungs.length; i++) {
      const below = rungs[i - 1]!;
      c.register(rungs[i]!, { deps: [below, below], factory: (a, b) => a + b });
    }
    const t0 = performance.now();
    c.validate();
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});

describe('override', () => {
  it('keeps the lifetime of what it replaces, for a value and for a provider', async () => {
    const S = token<{ n: number }>('scoped');
    const c = new Container().register(S, { lifetime: 'scoped', factory: () => ({ n: 0 }) });
    c.override(S, { factory: () => ({ n: 1 }) });
    expect((await rejection(c.resolve(S))).name).toBe('LifetimeError');
    const a = c.createScope();
    const b = c.createScope();
    expect((await a.resolve(S)).n).toBe(1);
    expect(await a.resolve(S)).not.toBe(await b.resolve(S));

    const V = token<number>('scoped-value');
    const d = new Container().register(V, { lifetime: 'scoped', factory: () => 0 }).override(V, { value: 5 });
    expect((await rejection(d.resolve(V))).name).toBe('LifetimeError');
    expect(await d.createScope().resolve(V)).toBe(5);
  });

  it('a provider override replaces the factory (and takes its own lifetime when it gives one)', async () => {
    const T = token<string>('t');
    const c = new Container().register(T, { factory: () => 'old' }).override(T, { lifetime: 'transient', factory: () => 'new' });
    expect(await c.resolve(T)).toBe('new');
  });

  it('works on a token never registered (a singleton then)', async () => {
    const T = token<string>('fresh');
    const c = new Container().override(T, { value: 'v' });
    expect(await c.resolve(T)).toBe('v');
    expect(c.get(T)).toBe('v');
  });

  it('refuses a token already resolved, in the root or in the scope asking', async () => {
    const G = token<number>('global');
    const S = token<number>('local');
    const c = new Container().register(G, { factory: () => 1 }).register(S, { lifetime: 'scoped', factory: () => 2 });
    const scope = c.createScope();
    await c.resolve(G);
    expect(thrown(() => scope.override(G, { value: 9 })).message).toBe("cannot override 'global': it was already resolved");
    await scope.resolve(S);
    expect(thrown(() => scope.override(S, { value: 9 })).message).toBe("cannot override 'local': it was already resolved");
  });
});

describe('lookups', () => {
  it('has() tells registered from not', () => {
    const A = token<number>('a');
    const B = token<number>('b');
    const c = new Container().register(A, { factory: () => 1 });
    expect(c.has(A)).toBe(true);
    expect(c.has(B)).toBe(false);
  });

  it('get() in a scope finds the root singleton, its own scoped instance, and a resolved undefined', async () => {
    const G = token<{ g: true }>('g');
    const S = token<{ s: true }>('s');
    const U = token<undefined>('u');
    const c = new Container()
      .register(G, { factory: () => ({ g: true as const }) })
      .register(S, { lifetime: 'scoped', factory: () => ({ s: true as const }) })
      .register(U, { factory: () => undefined });
    const scope = c.createScope();
    const g = await c.resolve(G);
    expect(scope.get(G)).toBe(g);
    const s = await scope.resolve(S);
    expect(scope.get(S)).toBe(s);
    expect(thrown(() => c.createScope().get(S)).message).toBe("'s' is not resolved yet: await container.resolve() first");
    await scope.resolve(U);
    expect(scope.get(U)).toBeUndefined();
    expect(c.get(U)).toBeUndefined();
  });

  it('a transient is made anew on every resolve, from the root and from a scope', async () => {
    const T = token<object>('t');
    let made = 0;
    const c = new Container().register(T, { lifetime: 'transient', factory: () => ({ n: ++made }) });
    expect(await c.resolve(T)).not.toBe(await c.resolve(T));
    const scope = c.createScope();
    expect(await scope.resolve(T)).not.toBe(await scope.resolve(T));
    expect(made).toBe(4);
  });

  it('a scoped token depends on another scoped token of the same scope', async () => {
    const A = token<object>('a');
    const B = token<{ a: object }>('b');
    const c = new Container().register(A, { lifetime: 'scoped', factory: () => ({}) }).register(B, { lifetime: 'scoped', deps: [A], factory: (a) => ({ a }) });
    const scope = c.createScope();
    const b = await scope.resolve(B);
    expect(b.a).toBe(await scope.resolve(A));
  });

  it('a failed construction is retried on the next resolve, not remembered', async () => {
    const T = token<string>('flaky');
    let calls = 0;
    const c = new Container().register(T, {
      async factory() {
        if (++calls === 1) throw new Error('first try fails');
        return 'second try';
      },
    });
    expect((await rejection(c.resolve(T))).message).toBe('first try fails');
    expect(await c.resolve(T)).toBe('second try');
  });
});

describe('disposal ownership', () => {
  it('a singleton made through a scope belongs to the root: the scope does not dispose it, nor the transient it holds', async () => {
    const T = token<string>('part');
    const G = token<string>('whole');
    const disposed: string[] = [];
    const c = new Container()
      .register(T, { lifetime: 'transient', factory: () => 'part', stop: (v) => void disposed.push(v) })
      .register(G, { deps: [T], factory: (t) => `whole of ${t}`, stop: (v) => void disposed.push(v) });
    const scope = c.createScope();
    expect(await scope.resolve(G)).toBe('whole of part');
    await scope.stop();
    expect(disposed).toEqual([]);
    await c.stop();
    expect(disposed).toEqual(['whole of part', 'part']);
  });

  it('disposes once however often asked', async () => {
    const T = token<number>('once');
    let n = 0;
    const c = new Container().register(T, { factory: () => 1, stop: () => void n++ });
    await c.resolve(T);
    await c.stop();
    await c.stop();
    expect(n).toBe(1);
  });

  it("a scope's failures reach the root's AggregateError with their own messages", async () => {
    const S = token<number>('req');
    const G = token<number>('db');
    const c = new Container()
      .register(S, { lifetime: 'scoped', factory: () => 1, stop: () => { throw new Error('req broke'); } })
      .register(G, { factory: () => 2, stop: () => { throw new Error('db broke'); } });
    await c.createScope().resolve(S);
    await c.resolve(G);
    const e = (await rejection(c.stop())) as AggregateError;
    expect(e).toBeInstanceOf(AggregateError);
    expect(e.errors.map((x: Error) => x.message)).toEqual(["'req' failed to stop: Error: req broke", "'db' failed to stop: Error: db broke"]);
    expect(e.message).toBe("2 instance(s) failed to stop: 'req' failed to stop: Error: req broke; 'db' failed to stop: Error: db broke");
  });

  it('a scope disposed on its own leaves the root, which then disposes only what it still holds', async () => {
    const S = token<number>('req');
    let n = 0;
    const c = new Container().register(S, { lifetime: 'scoped', factory: () => 1, stop: () => void n++ });
    const scope = c.createScope();
    await scope.resolve(S);
    await scope.stop();
    await c.stop();
    expect(n).toBe(1);
  });
});
