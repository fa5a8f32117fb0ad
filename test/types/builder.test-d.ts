import { describe, expectTypeOf, it } from 'vitest';
import { Container, defineComponent, kernel, token, type ComponentContext, type Kernel, type LateHandle } from '../../src/index.js';

interface Cache { get(key: string): string | undefined }
interface Users { list(): string[] }
interface Conductor { report(event: string): void }

const cache = defineComponent({ async start(): Promise<Cache> { return { get: () => undefined }; } });
const users = defineComponent({
  async start(ctx: ComponentContext<{ cache: Cache }>): Promise<Users> {
    ctx.deps.cache.get('x');
    return { list: () => [] };
  },
});
const pit = defineComponent({
  async start(ctx: ComponentContext<{}, { conductor: Conductor }>) {
    return { notify: (e: string) => ctx.late.conductor.get().report(e) };
  },
});
const conductor = defineComponent({ async start(): Promise<Conductor> { return { report: () => {} }; } });

describe('typed builder', () => {
  it('builds a kernel whose get() is typed by the components added', () => {
    const k = kernel().add('cache', cache).add('users', users, { needs: ['cache'] }).build();
    expectTypeOf(k).toEqualTypeOf<Kernel<{ cache: Cache; users: Users }>>();
    expectTypeOf(k.get('users')).toEqualTypeOf<Users>();
    // @ts-expect-error: Argument of type '"nope"' is not assignable to parameter of type '"cache" | "users"'
    k.get('nope');
  });

  it('rejects a missing dependency: not listed in needs', () => {
    // @ts-expect-error: missing dependency 'cache' of 'users': its start uses ctx.deps.cache
    kernel().add('cache', cache).add('users', users);
  });

  it('rejects a dependency that is not added yet (or a cycle without a late edge)', () => {
    // @ts-expect-error: missing dependency 'cache' of 'users': add 'cache' before 'users'
    kernel().add('users', users, { needs: ['cache'] });
  });

  it('rejects a dependency of the wrong type', () => {
    const notACache = defineComponent({ async start() { return 42; } });
    // @ts-expect-error: dependency 'cache' of 'users' has the wrong type
    kernel().add('cache', notACache).add('users', users, { needs: ['cache'] });
  });

  it('rejects adding a name twice', () => {
    // @ts-expect-error: component 'cache' is already added
    kernel().add('cache', cache).add('cache', cache);
  });

  it('closes a cycle with a late edge; build() is an error while the late target is missing', () => {
    const ok = kernel().add('pit', pit, { late: ['conductor'] }).add('conductor', conductor, { needs: ['pit'] }).build();
    expectTypeOf(ok.get('conductor')).toEqualTypeOf<Conductor>();
    const missing = kernel().add('pit', pit, { late: ['conductor'] });
    // @ts-expect-error: late target 'conductor' of 'pit' was never added
    missing.build();
    // @ts-expect-error: 'pit' uses ctx.late.conductor but does not list 'conductor' in late
    kernel().add('pit', pit);
  });

  it('rejects a late target of the wrong type at build()', () => {
    const wrong = kernel().add('pit', pit, { late: ['conductor'] }).add('conductor', cache);
    // @ts-expect-error: late target 'conductor' of 'pit' has the wrong type
    wrong.build();
  });

  it('types late handles and stable handles in the context', () => {
    defineComponent({
      async start(ctx: ComponentContext<{ cache: Cache }, { conductor: Conductor }>) {
        expectTypeOf(ctx.late.conductor).toEqualTypeOf<LateHandle<Conductor>>();
        expectTypeOf(ctx.handles.cache.current).toEqualTypeOf<Cache>();
        expectTypeOf(ctx.signal).toEqualTypeOf<AbortSignal>();
        return {};
      },
    });
  });

  it('wants must be declared optional in the context', () => {
    const api = defineComponent({ async start(ctx: ComponentContext<{ cache?: Cache }>) { return ctx.deps.cache ?? null; } });
    kernel().add('cache', cache).add('api', api, { wants: ['cache'] });
    // @ts-expect-error: 'users' lists 'cache' in wants, so ctx.deps.cache may be undefined
    kernel().add('cache', cache).add('users', users, { wants: ['cache'] });
  });
});

describe('typed container', () => {
  it('resolves to the token type, and overrides must have the same type', async () => {
    const T = token<Cache>('cache');
    const c = new Container().register(T, { factory: () => ({ get: () => 'v' }) });
    expectTypeOf(await c.resolve(T)).toEqualTypeOf<Cache>();
    expectTypeOf(c.get(T)).toEqualTypeOf<Cache>();
    c.override(T, { value: { get: () => 'fake' } });
    // @ts-expect-error: Type 'number' is not assignable to type 'Cache'
    c.override(T, { value: 42 });
    const N = token<number>('n');
    // @ts-expect-error: Type 'Cache' is not assignable to type 'number'
    c.register(N, { deps: [T], factory: (x: number) => x });
  });
});
