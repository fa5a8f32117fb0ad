import { describe, expect, it } from 'vitest';
import {
  BootError,
  createKernel,
  GraphError,
  HealthCheckError,
  LateBindingError,
  StartTimeoutError,
  SwapError,
  type AnyComponentDefinition,
  type ComponentContext,
  type Handle,
  type LateHandle,
} from '../src/index.js';
import { collect, delay, Journal, recorded, transitions, until } from './helpers.js';

const noop: AnyComponentDefinition = { async start() { return {}; } };

describe('staged boot', () => {
  it('plans stages by dependency level and starts a stage concurrently', async () => {
    const journal = new Journal();
    let inFlight = 0;
    let maxInFlight = 0;
    const slow = (name: string): AnyComponentDefinition => ({
      async start() {
        journal.add(`start:${name}`);
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await delay(200);
        inFlight--;
        journal.add(`ready:${name}`);
        return { name };
      },
    });
    const k = createKernel({
      components: {
        a: { use: slow('a') },
        b: { use: slow('b'), needs: ['a'] },
        c: { use: slow('c'), needs: ['a'] },
        d: { use: slow('d'), needs: ['b', 'c'] },
      },
    });
    expect(k.plan.stages).toEqual([['a'], ['b', 'c'], ['d']]);
    const report = await k.start();
    expect(maxInFlight).toBe(2); // b and c overlapped
    expect(journal.entries.indexOf('ready:a')).toBeLessThan(journal.entries.indexOf('start:b'));
    expect(journal.entries.indexOf('start:d')).toBeGreaterThan(Math.max(journal.entries.indexOf('ready:b'), journal.entries.indexOf('ready:c')));
    expect(report.system).toBe('ready');
    expect(report.stages.map((s) => s.components)).toEqual([['a'], ['b', 'c'], ['d']]);
    // The stage of b/c took ~200ms, not the ~400ms of one after the other: they ran side by side.
    const stage1 = report.stages[1]!;
    expect(stage1.readyMs! - stage1.startMs!).toBeLessThan(360);
    await k.stop();
  });

  it('honours explicit stage labels, and rejects one placed before its dependency', async () => {
    const k = createKernel({
      stages: ['infra', 'core', 'apps'],
      components: { a: { use: noop }, b: { use: noop, stage: 'apps' }, c: { use: noop, needs: ['a'] } },
    });
    expect(k.plan.stages).toEqual([['a'], ['c'], ['b']]);
    expect(() =>
      createKernel({ stages: ['infra', 'core'], components: { a: { use: noop, stage: 'core' }, b: { use: noop, needs: ['a'], stage: 'infra' } } }),
    ).toThrow(/'b' is placed in stage "infra", before 'a'/);
  });

  it('gates the next stage on readiness: a probe that fails twice, then passes', async () => {
    const journal = new Journal();
    let probes = 0;
    const k = createKernel({
      components: {
        db: {
          use: {
            async start() { journal.add('start:db'); return {}; },
            health() { probes++; journal.add(`probe:${probes}`); return probes >= 3; },
          },
          health: { threshold: 5, timeout: '1s' },
        },
        api: { use: recorded(journal, 'api'), needs: ['db'] },
      },
    });
    await k.start();
    expect(journal.entries).toEqual(['start:db', 'probe:1', 'probe:2', 'probe:3', 'start:api']);
    await k.stop();
  });

  it('fails the boot in phase "health" after threshold failed probes, with the probe detail', async () => {
    const journal = new Journal();
    const k = createKernel({
      components: {
        a: { use: recorded(journal, 'a') },
        db: {
          use: { ...recorded(journal, 'db'), health: () => ({ status: 'unhealthy', detail: 'disk full' }) },
          needs: ['a'],
          health: { threshold: 2 },
        },
      },
    });
    const err = await k.start().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BootError);
    const report = (err as BootError).report;
    expect(report.failure).toMatchObject({ component: 'db', phase: 'health' });
    expect(report.failure!.message).toMatch(/^HealthCheckError: 'db' failed its readiness probe 2 time\(s\) in a row: disk full/);
    // The instance that failed its gate is stopped, and so is everything before it.
    await until(() => journal.of('stop').length === 2);
    expect(journal.of('stop')).toEqual(['db', 'a']); // reverse order: db needs a
  });

  it('counts a throwing health probe as unhealthy and names the error', async () => {
    const k = createKernel({
      components: {
        db: {
          use: { async start() { return {}; }, health() { throw new RangeError('probe exploded'); } },
          health: { threshold: 1 },
        },
      },
    });
    const err = (await k.start().catch((e: unknown) => e)) as BootError;
    expect(err.report.failure!.message).toContain('RangeError: probe exploded');
  });

  it('times out a hanging start, names it (not those waiting on it), and stops what started in reverse order', async () => {
    const journal = new Journal();
    let signalAborted = false;
    const k = createKernel({
      components: {
        a: { use: recorded(journal, 'a') },
        b: { use: recorded(journal, 'b'), needs: ['a'] },
        c: { use: recorded(journal, 'c'), needs: ['a'] },
        hang: {
          use: {
            start(ctx: ComponentContext) {
              ctx.signal.addEventListener('abort', () => (signalAborted = true));
              return new Promise(() => {});
            },
          },
          needs: ['b', 'c'],
          timeout: '150ms',
        },
        after: { use: recorded(journal, 'after'), needs: ['hang'] },
      },
    });
    const events = collect(k);
    const t0 = performance.now();
    const err = (await k.start().catch((e: unknown) => e)) as BootError;
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(err).toBeInstanceOf(BootError);
    expect(err.report.failure).toEqual({ component: 'hang', phase: 'timeout', message: "StartTimeoutError: 'hang' did not start within 150ms" });
    expect(signalAborted).toBe(true);
    // Reverse order: b and c (either order) before a; nothing of after.
    const stops = journal.of('stop');
    expect(stops.slice(0, 2).sort()).toEqual(['b', 'c']);
    expect(stops[2]).toBe('a');
    expect(journal.of('start')).not.toContain('after');
    const state = Object.fromEntries(err.report.components.map((c) => [c.name, c.state]));
    expect(state).toEqual({ a: 'stopped', b: 'stopped', c: 'stopped', hang: 'failed', after: 'pending' });
    expect(err.report.system).toBe('failed');
    expect(transitions(events, 'a')).toEqual(['starting', 'ready', 'stopping', 'stopped']);
    expect(k.phase).toBe('stopped');
    expect(await k.done).toEqual({ code: 1, reason: expect.stringContaining('hang') });
  });

  it('when a start throws, rolls back siblings whose start already resolved and abandons those still under way', async () => {
    const stops: string[] = [];
    const stopper = (name: string) => ({ stop: (_i: unknown, ctx: { reason: string }) => void stops.push(`${name}:${ctx.reason}`) });
    const k = createKernel({
      components: {
        base: { use: { start: () => ({}), ...stopper('base') } },
        broken: { use: { start() { throw new Error('broken'); } }, needs: ['base'] },
        quick: { use: { async start() { return {}; }, ...stopper('quick') }, needs: ['base'] },
        slow: { use: { start: () => delay(30).then(() => ({})), ...stopper('slow') }, needs: ['base'] },
      },
    });
    const events = collect(k);
    const err = (await k.start().catch((e: unknown) => e)) as BootError;
    expect(err.report.failure).toMatchObject({ component: 'broken', phase: 'start' });
    expect(transitions(events, 'quick')).toEqual(['starting', 'ready', 'stopping', 'stopped']);
    expect(transitions(events, 'slow')).toEqual(['starting', 'stopped']);
    await until(() => stops.length === 3);
    expect(stops.sort()).toEqual(['base:rollback', 'quick:rollback', 'slow:abandoned']);
  });

  it('stops an instance whose start resolves after its deadline', async () => {
    const stopped: unknown[] = [];
    const k = createKernel({
      components: {
        late: {
          use: {
            async start() { await delay(120); return { id: 'late-instance' }; },
            async stop(i: unknown) { stopped.push(i); },
          },
          timeout: '40ms',
        },
      },
    });
    await expect(k.start()).rejects.toBeInstanceOf(BootError);
    await until(() => stopped.length === 1, 2000, 'orphan stop');
    expect(stopped).toEqual([{ id: 'late-instance' }]);
  });

  it('retries with backoff: fails twice, then succeeds, with attempts: 3', async () => {
    let calls = 0;
    const k = createKernel({
      random: () => 0.5,
      components: {
        flaky: {
          use: {
            async start(ctx: ComponentContext) {
              calls++;
              if (ctx.attempt !== calls) throw new Error('attempt numbering is off');
              if (calls <= 2) throw new Error(`transient failure ${calls}`);
              return { calls };
            },
          },
          retries: 2,
          backoff: { initial: '10ms', max: '50ms' },
        },
      },
    });
    const events = collect(k);
    const report = await k.start();
    const c = report.components[0]!;
    expect(c).toMatchObject({ name: 'flaky', state: 'ready', attempts: 3 });
    expect(k.get('flaky')).toEqual({ calls: 3 });
    const retries = events.filter((e) => e.type === 'component' && e.reason?.includes('retry in'));
    expect(retries.map((e) => (e as { reason: string }).reason)).toEqual([
      'attempt 1 of 3 failed; retry in 8ms',
      'attempt 2 of 3 failed; retry in 15ms',
    ]);
    await k.stop();
  });

  it('gives up after retries and reports every attempt', async () => {
    const k = createKernel({
      components: { never: { use: { async start() { throw new Error('nope'); } }, retries: 1, backoff: { initial: 1, max: 1 } } },
    });
    const err = (await k.start().catch((e: unknown) => e)) as BootError;
    expect(err.report.components[0]).toMatchObject({ attempts: 2, state: 'failed', error: 'Error: nope' });
  });

  it('wraps a non-Error thrown by start and names the component', async () => {
    const k = createKernel({ components: { odd: { use: { start() { throw { code: 42 }; } } } } });
    const err = (await k.start().catch((e: unknown) => e)) as BootError;
    expect(err.report.failure!.message).toBe("NonErrorThrown: start of 'odd' threw a non-Error value: { code: 42 }");
  });

  it('gives nested work the remaining budget', async () => {
    let budget = -1;
    let deadlineOk = false;
    const k = createKernel({
      components: {
        a: {
          use: {
            async start(ctx: ComponentContext) {
              await delay(20);
              budget = ctx.remainingMs();
              deadlineOk = Math.abs(ctx.deadline - (performance.now() + budget)) < 5;
              return {};
            },
          },
          timeout: '1s',
        },
      },
    });
    await k.start();
    expect(budget).toBeGreaterThan(700);
    expect(budget).toBeLessThan(985);
    expect(deadlineOk).toBe(true);
    await k.stop();
  });
});

describe('needs, wants and optional', () => {
  it('an optional failure leaves the system degraded; wants proceed without it; needs are skipped', async () => {
    const k = createKernel({
      components: {
        cache: { use: { async start() { throw new Error('no redis'); } }, optional: true },
        api: { use: { async start(ctx: ComponentContext) { return { cache: ctx.deps.cache ?? null }; } }, wants: ['cache'] },
        warmer: { use: noop, needs: ['cache'], optional: true },
      },
    });
    const report = await k.start();
    expect(report.system).toBe('degraded');
    expect(report.ok).toBe(true);
    const state = Object.fromEntries(report.components.map((c) => [c.name, c.state]));
    expect(state).toEqual({ cache: 'failed', api: 'ready', warmer: 'skipped' });
    expect(k.get('api')).toEqual({ cache: null });
    await k.stop();
  });

  it('a required component that needs a failed optional one fails the boot, naming the root cause', async () => {
    const k = createKernel({
      components: {
        cache: { use: { async start() { throw new Error('no redis'); } }, optional: true },
        api: { use: noop, needs: ['cache'] },
      },
    });
    const err = (await k.start().catch((e: unknown) => e)) as BootError;
    expect(err.report.failure).toMatchObject({ component: 'cache', phase: 'dependency' });
    expect(err.report.failure!.message).toBe("DependencyFailedError: 'api' needs 'cache', which is not running");
  });

  it('boots only a part of the graph with until', async () => {
    const journal = new Journal();
    const k = createKernel({
      until: 'pit',
      components: {
        bus: { use: recorded(journal, 'bus') },
        pit: { use: recorded(journal, 'pit'), needs: ['bus'], late: ['conductor'] },
        orchestra: { use: recorded(journal, 'orchestra'), needs: ['bus', 'pit'] },
        conductor: { use: recorded(journal, 'conductor'), needs: ['orchestra'] },
      },
    });
    const report = await k.start();
    expect(journal.of('start')).toEqual(['bus', 'pit']);
    expect(report.until).toBe('pit');
    expect(report.components.map((c) => c.state)).toEqual(['ready', 'ready', 'skipped', 'skipped']);
    expect(report.late).toEqual([{ from: 'pit', to: 'conductor', boundMs: null }]);
    await k.stop();
  });
});

describe('late binding', () => {
  it('closes the seed cycle: the late handle throws before the target is ready and binds after', async () => {
    let early: unknown;
    let handle!: LateHandle<{ name: string }>;
    const k = createKernel({
      components: {
        bus: { use: noop },
        pit: {
          use: {
            async start(ctx: ComponentContext<Record<string, unknown>, { conductor: { name: string } }>) {
              handle = ctx.late.conductor;
              try {
                handle.get();
              } catch (e) {
                early = e;
              }
              return { handle };
            },
          },
          needs: ['bus'],
          late: ['conductor'],
        },
        orchestra: { use: noop, needs: ['bus', 'pit'] },
        conductor: { use: { async start() { return { name: 'maestro' }; } }, needs: ['orchestra'] },
      },
    });
    const report = await k.start();
    expect(early).toBeInstanceOf(LateBindingError);
    const e = early as LateBindingError;
    expect(e.message).toBe("'pit' used its late handle to 'conductor' (stage 3) before 'conductor' was ready (state: pending); await ctx.late.conductor.ready first");
    expect([e.target, e.user, e.targetStage]).toEqual(['conductor', 'pit', 3]);
    expect(handle.get()).toEqual({ name: 'maestro' });
    await expect(handle.ready).resolves.toEqual({ name: 'maestro' });
    const late = report.late[0]!;
    expect(late.from).toBe('pit');
    expect(late.boundMs).toBe(report.components.find((c) => c.name === 'conductor')!.readyMs);
    await k.stop();
  });

  it("rejects the late handle's ready promise when the target fails", async () => {
    let ready!: Promise<unknown>;
    const k = createKernel({
      components: {
        pit: { use: { async start(ctx: ComponentContext) { ready = ctx.late.conductor!.ready; return {}; } }, late: ['conductor'] },
        conductor: { use: { async start() { throw new Error('python missing'); } }, needs: ['pit'] },
      },
    });
    await expect(k.start()).rejects.toBeInstanceOf(BootError);
    await expect(ready).rejects.toThrow('python missing');
  });

  it('rejects a late edge to a component that does not exist', () => {
    const create = () => createKernel({ components: { pit: { use: noop, late: ['conductr'] } } });
    expect(create).toThrow(GraphError);
    expect(create).toThrow("missing late target 'conductr' of 'pit'");
  });
});

describe('graph errors', () => {
  it('prints a cycle as a path and suggests the edges that could become late', () => {
    const err = (() => {
      try {
        createKernel({ components: { a: { use: noop, needs: ['c'] }, b: { use: noop, needs: ['a'] }, c: { use: noop, needs: ['b'] } } });
      } catch (e) {
        return e as GraphError;
      }
    })()!;
    expect(err).toBeInstanceOf(GraphError);
    expect(err.message).toContain('cycle: a -> c -> b -> a');
    expect(err.message).toContain('make one of these late (a -> c, c -> b, b -> a)');
  });

  it('names a missing dependency with a suggestion', () => {
    expect(() => createKernel({ components: { cache: { use: noop }, users: { use: noop, needs: ['cahce'] } } })).toThrow(
      "missing dependency 'cahce' of 'users' (did you mean 'cache'?)",
    );
  });
});

describe('stop', () => {
  it('stops in reverse dependency order, independent ones concurrently', async () => {
    const journal = new Journal();
    const slowStop = (name: string): AnyComponentDefinition => ({
      async start() { return {}; },
      async stop() { journal.add(`begin:${name}`); await delay(25); journal.add(`end:${name}`); },
    });
    const k = createKernel({
      components: { a: { use: slowStop('a') }, b: { use: slowStop('b'), needs: ['a'] }, c: { use: slowStop('c'), needs: ['a'] } },
    });
    await k.start();
    await k.stop();
    expect(journal.entries.slice(0, 2).sort()).toEqual(['begin:b', 'begin:c']);
    expect(journal.entries.indexOf('begin:a')).toBeGreaterThan(Math.max(journal.entries.indexOf('end:b'), journal.entries.indexOf('end:c')));
  });

  it('names a stop that hangs or throws, still stops the rest, and exits 1', async () => {
    const journal = new Journal();
    const k = createKernel({
      components: {
        a: { use: recorded(journal, 'a') },
        hangs: { use: { async start() { return {}; }, stop: () => new Promise(() => {}) }, needs: ['a'], stopTimeout: '60ms' },
        throws: { use: { async start() { return {}; }, stop() { throw 'plain string'; } }, needs: ['a'] },
      },
    });
    await k.start();
    const err = (await k.stop().catch((e: unknown) => e)) as AggregateError;
    expect(err).toBeInstanceOf(AggregateError);
    const messages = err.errors.map((e: Error) => e.message).sort();
    expect(messages).toEqual(["'hangs' did not stop within 60ms", "'throws' failed to stop: plain string"]);
    expect(journal.of('stop')).toEqual(['a']);
    expect((await k.done).code).toBe(1);
  });

  it('abandons a boot under way when stop() is called, and rolls back', async () => {
    const journal = new Journal();
    const k = createKernel({
      components: {
        a: { use: recorded(journal, 'a') },
        slow: { use: { async start(ctx: ComponentContext) { await delay(5000, ); return ctx.name; } }, needs: ['a'] },
      },
    });
    const booting = k.start().catch((e: unknown) => e);
    await until(() => journal.of('start').includes('a'));
    await delay(10);
    await k.stop('test');
    const err = (await booting) as BootError;
    expect(err.report.failure).toMatchObject({ component: 'slow', phase: 'aborted' });
    expect(journal.of('stop')).toEqual(['a']);
  });

  it('reports phase "signal" when the abort reason names a signal', async () => {
    const ac = new AbortController();
    const k = createKernel({ components: { slow: { use: { start: () => delay(3000).then(() => ({})) } } } });
    const booting = k.start({ signal: ac.signal }).catch((e: unknown) => e);
    await delay(20);
    ac.abort({ signal: 'SIGTERM' });
    const err = (await booting) as BootError;
    expect(err.report.failure).toEqual({ component: 'slow', phase: 'signal', message: 'BootAbandonedError: boot interrupted by SIGTERM' });
  });

  it('works with await using', async () => {
    const journal = new Journal();
    {
      await using k = createKernel({ components: { a: { use: recorded(journal, 'a') } } });
      await k.start();
    }
    expect(journal.of('stop')).toEqual(['a']);
  });
});

describe('swap', () => {
  const counterDef = (label: string, journal: Journal): AnyComponentDefinition => ({
    async start() { journal.add(`start:${label}`); return { label }; },
    async stop() { journal.add(`stop:${label}`); },
    health: () => true,
  });

  it('starts the new instance, restarts dependents against it, switches handles, then stops the old one', async () => {
    const journal = new Journal();
    let handle!: Handle<{ label: string }>;
    const k = createKernel({
      components: {
        store: { use: counterDef('store-v1', journal) },
        api: {
          use: {
            async start(ctx: ComponentContext<{ store: { label: string } }>) {
              handle = ctx.handles.store;
              journal.add(`start:api(${ctx.deps.store.label})`);
              return { store: ctx.deps.store };
            },
            async stop() { journal.add('stop:api'); },
          },
          needs: ['store'],
        },
      },
    });
    await k.start();
    journal.entries.length = 0;
    await k.swap('store', counterDef('store-v2', journal));
    expect(journal.entries).toEqual(['start:store-v2', 'stop:api', 'start:api(store-v2)', 'stop:store-v1']);
    expect(k.get('store')).toEqual({ label: 'store-v2' });
    expect(k.get('api')).toEqual({ store: { label: 'store-v2' } });
    expect(handle.current).toEqual({ label: 'store-v2' });
    await k.stop();
  });

  it('rolls back when the new instance fails its health gate; the old one never stopped', async () => {
    const journal = new Journal();
    const k = createKernel({
      components: {
        store: { use: counterDef('store-v1', journal), health: { threshold: 1 } },
        api: { use: recorded(journal, 'api'), needs: ['store'] },
      },
    });
    await k.start();
    journal.entries.length = 0;
    const err = await k.swap('store', { ...counterDef('store-v2', journal), health: () => false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SwapError);
    expect((err as SwapError).rolledBack).toBe(true);
    expect((err as Error).message).toMatch(/swap of 'store' rolled back: the new instance did not start: HealthCheckError/);
    await until(() => journal.entries.includes('stop:store-v2'));
    expect(journal.entries).toEqual(['start:store-v2', 'stop:store-v2']);
    expect(k.get('store')).toEqual({ label: 'store-v1' });
    expect(k.states().map((s) => s.state)).toEqual(['ready', 'ready']);
    await k.stop();
  });

  it('rolls back to the old instance when a dependent cannot restart against the new one', async () => {
    const journal = new Journal();
    const k = createKernel({
      components: {
        store: { use: counterDef('store-v1', journal) },
        api: {
          use: {
            async start(ctx: ComponentContext<{ store: { label: string } }>) {
              if (ctx.deps.store.label === 'store-v2') throw new Error('api rejects v2');
              journal.add(`start:api(${ctx.deps.store.label})`);
              return {};
            },
            async stop() { journal.add('stop:api'); },
          },
          needs: ['store'],
        },
      },
    });
    await k.start();
    journal.entries.length = 0;
    const err = (await k.swap('store', counterDef('store-v2', journal)).catch((e: unknown) => e)) as SwapError;
    expect(err).toBeInstanceOf(SwapError);
    expect(err.message).toContain('api rejects v2');
    await until(() => journal.entries.includes('stop:store-v2'));
    expect(journal.entries).toEqual(expect.arrayContaining(['start:store-v2', 'stop:api', 'start:api(store-v1)', 'stop:store-v2']));
    expect(journal.entries).not.toContain('stop:store-v1');
    expect(k.get('store')).toEqual({ label: 'store-v1' });
    expect(k.system).toBe('ready');
    await k.stop();
  });
});

describe('supervision', () => {
  it('restarts with rest_for_one: the failed component and everything that depends on it, in order', async () => {
    const journal = new Journal();
    let healthy = true;
    let dbGen = 0;
    const k = createKernel({
      components: {
        config: { use: recorded(journal, 'config') },
        db: {
          use: {
            async start() { dbGen++; journal.add(`start:db`); return { gen: dbGen }; },
            async stop() { journal.add('stop:db'); },
            health: () => healthy,
          },
          needs: ['config'],
          health: { interval: '20ms', threshold: 2 },
          restart: { strategy: 'rest_for_one', max: 3, within: '10s' },
        },
        repo: { use: recorded(journal, 'repo'), needs: ['db'] },
        api: { use: recorded(journal, 'api'), needs: ['repo'] },
        metrics: { use: recorded(journal, 'metrics'), needs: ['config'] },
      },
    });
    await k.start();
    journal.entries.length = 0;
    healthy = false;
    await until(() => journal.entries.length > 0, 3000, 'restart to begin');
    healthy = true;
    await until(() => journal.of('start').length === 3, 3000, 'restart to finish');
    expect(journal.entries).toEqual(['stop:api', 'stop:repo', 'stop:db', 'start:db', 'start:repo', 'start:api']);
    expect(k.get('db')).toEqual({ gen: 2 });
    expect(k.system).toBe('ready');
    expect(k.states().find((s) => s.name === 'db')!.restarts).toBe(1);
    await k.stop();
  });

  it('restarts one_for_one on ctx.fail(), leaving dependents alone', async () => {
    const journal = new Journal();
    let fail!: (e: unknown) => void;
    const k = createKernel({
      components: {
        worker: {
          use: { async start(ctx: ComponentContext) { fail = (e) => ctx.fail(e); journal.add('start:worker'); return {}; }, async stop() { journal.add('stop:worker'); } },
          restart: { strategy: 'one_for_one' },
        },
        api: { use: recorded(journal, 'api'), needs: ['worker'] },
      },
    });
    const events = collect(k);
    await k.start();
    journal.entries.length = 0;
    fail(new Error('worker crashed'));
    await until(() => journal.of('start').length === 1);
    expect(journal.entries).toEqual(['stop:worker', 'start:worker']);
    const failed = events.find((e) => e.type === 'component' && e.state === 'failed');
    expect(failed).toMatchObject({ component: 'worker', error: { name: 'Error', message: 'worker crashed' } });
    await k.stop();
  });

  it('escalates past the restart intensity: optional -> degraded, required -> orderly shutdown with exit 1', async () => {
    const fails: Record<string, (e: unknown) => void> = {};
    const failing = (name: string): AnyComponentDefinition => ({ async start(ctx: ComponentContext) { fails[name] = (e) => ctx.fail(e); return {}; } });
    const k = createKernel({
      components: {
        extra: { use: failing('extra'), optional: true, restart: { strategy: 'one_for_one', max: 1, within: '10s' }, backoff: { initial: 1, max: 1 } },
        core: { use: failing('core'), restart: { strategy: 'one_for_one', max: 1, within: '10s' }, backoff: { initial: 1, max: 1 } },
      },
    });
    await k.start();
    const firstExtra = fails.extra;
    fails.extra!(new Error('boom 1'));
    await until(() => fails.extra !== firstExtra);
    const events = collect(k);
    fails.extra!(new Error('boom 2'));
    await until(() => events.some((e) => e.type === 'component' && e.reason?.startsWith('escalated')));
    expect(k.system).toBe('degraded');
    expect(k.states().find((s) => s.name === 'extra')!.state).toBe('failed');
    expect(k.phase).toBe('running');

    const firstCore = fails.core;
    fails.core!(new Error('core 1'));
    await until(() => fails.core !== firstCore);
    fails.core!(new Error('core 2'));
    const exit = await k.done;
    expect(exit.code).toBe(1);
    expect(exit.reason).toContain("'core' failed and it failed more than 1 times");
    expect(k.phase).toBe('stopped');
  });
});

describe('supervision: the edge cases', () => {
  /** A component whose every instance can be made to fail (fails[name]()), counting its starts and stops. */
  function failing(log: string[], opts: { failStart?: (n: number) => boolean } = {}): { def: AnyComponentDefinition; fail: (e?: unknown) => void; starts: () => number } {
    let n = 0;
    let fail: (e?: unknown) => void = () => {};
    const def: AnyComponentDefinition = {
      async start(ctx: ComponentContext) {
        n++;
        if (opts.failStart?.(n)) throw new Error(`start ${n} refused`);
        const id = n;
        fail = (e) => ctx.fail(e ?? new Error(`instance ${id} broke`));
        return { id };
      },
      async stop(i: { id: number }) {
        log.push(`stop ${i.id}`);
      },
    };
    return { def, fail: (e) => fail(e), starts: () => n };
  }

  it('a stop during the pause before a restart stops each component once', async () => {
    const log: string[] = [];
    const db = failing(log);
    const k = createKernel({ components: { db: { use: db.def, restart: { strategy: 'one_for_one', max: 5, within: '10s' }, backoff: { initial: 300, max: 300 } }, other: { use: noop } } });
    await k.start();
    db.fail(); // restarted at once (the first restart has no pause)
    await until(() => db.starts() === 2);
    db.fail(); // the second waits out the backoff
    await delay(30);
    await k.stop();
    expect((await k.done).code).toBe(0);
    expect(log).toEqual(['stop 1', 'stop 2']);
  });

  it('ctx.fail() while later stages still boot is acted on once the boot is over', async () => {
    const log: string[] = [];
    const db = failing(log);
    let release!: () => void;
    const k = createKernel({
      components: {
        db: { use: db.def, restart: { strategy: 'one_for_one', max: 3, within: '10s' } },
        slow: { use: { start: () => new Promise<object>((r) => (release = () => r({}))) }, needs: ['db'] },
      },
    });
    const booted = k.start();
    await until(() => release !== undefined);
    db.fail();
    release();
    await booted;
    await until(() => db.starts() === 2);
    expect(k.states().find((s) => s.name === 'db')).toMatchObject({ state: 'ready', restarts: 1 });
    await k.stop();
  });

  it('a failed restart counts as one more failure and is tried again, within the restart intensity', async () => {
    const log: string[] = [];
    const db = failing(log, { failStart: (n) => n === 2 });
    const k = createKernel({ components: { db: { use: db.def, restart: { strategy: 'one_for_one', max: 3, within: '10s' }, backoff: { initial: 1, max: 1 } } } });
    await k.start();
    db.fail();
    await until(() => db.starts() === 3 && k.states()[0]!.state === 'ready');
    expect(k.phase).toBe('running');
    expect(k.states()[0]!.restarts).toBe(2);
    await k.stop();
  });

  it('an optional component down for good takes down what needs it (a required one stops the system), in reverse order', async () => {
    const log: string[] = [];
    const cache = failing(log);
    const k = createKernel({
      components: {
        cache: { use: cache.def, optional: true },
        reader: { use: { async start() { return {}; }, async stop() { log.push('stop reader'); } }, needs: ['cache'], optional: true },
        other: { use: noop },
      },
    });
    await k.start();
    cache.fail();
    await until(() => k.states().find((s) => s.name === 'reader')!.state === 'failed');
    expect(log).toEqual(['stop reader', 'stop 1']);
    expect(k.system).toBe('degraded');
    expect(k.phase).toBe('running');
    await k.stop();

    const c2 = failing([]);
    const k3 = createKernel({ components: { cache: { use: c2.def, optional: true }, api: { use: noop, needs: ['cache'] } } });
    await k3.start();
    c2.fail();
    const exit = await k3.done;
    expect(exit.code).toBe(1);
    expect(exit.reason).toContain("'api' needs 'cache', which failed");
  });

  it('ctx.fail() from an instance that was abandoned (it started after its deadline) is ignored', async () => {
    let n = 0;
    const fails: ((e: unknown) => void)[] = [];
    const k = createKernel({
      components: {
        db: {
          use: {
            async start(ctx: ComponentContext) {
              const id = ++n;
              fails.push((e) => ctx.fail(e));
              if (id === 1) await delay(120); // past its deadline: abandoned, stopped when it resolves
              return { id };
            },
          },
          timeout: 50,
          retries: 1,
          backoff: { initial: 1, max: 1 },
          restart: { strategy: 'one_for_one', max: 3, within: '10s' },
        },
      },
    });
    await k.start();
    await delay(150);
    fails[0]!(new Error('the abandoned instance noticed something'));
    await delay(30);
    expect(k.get('db')).toEqual({ id: 2 });
    expect(k.states()[0]!.restarts).toBe(0);
    await k.stop();
  });

  it('k.restart() refuses a component outside the boot (--until)', async () => {
    const k = createKernel({ components: { db: { use: noop }, api: { use: noop, needs: ['db'] } }, until: 'db' });
    await k.start();
    await expect(k.restart('api')).rejects.toThrow("cannot restart 'api': it is not part of this boot (--until)");
    await k.stop();
  });
});

describe('events and report', () => {
  it('emits one structured event per transition and an async stream', async () => {
    const k = createKernel({ components: { a: { use: noop }, b: { use: noop, needs: ['a'] } } });
    const seen: string[] = [];
    const ac = new AbortController();
    const streamed = (async () => {
      for await (const e of k.events(ac.signal)) if (e.type === 'system') seen.push(e.state);
    })();
    const events = collect(k);
    await k.start();
    await k.stop();
    ac.abort();
    await streamed;
    expect(transitions(events)).toEqual(['a:starting', 'a:ready', 'b:starting', 'b:ready', 'b:stopping', 'b:stopped', 'a:stopping', 'a:stopped']);
    expect(seen).toEqual(['booting', 'ready', 'stopping', 'stopped']);
    const ready = events.find((e) => e.type === 'component' && e.component === 'b' && e.state === 'ready')!;
    expect(ready).toMatchObject({ type: 'component', component: 'b', stage: 1, attempt: 1 });
    expect(typeof ready.elapsedMs).toBe('number');
  });

  it('reports own time vs waiting, attempts, the critical path and memory', async () => {
    const sleepy = (ms: number): AnyComponentDefinition => ({ async start() { await delay(ms); return {}; } });
    const k = createKernel({
      components: {
        bus: { use: sleepy(10) },
        fast: { use: sleepy(1) },
        pit: { use: sleepy(30), needs: ['bus'] },
        side: { use: sleepy(2), needs: ['fast'] },
        orchestra: { use: sleepy(5), needs: ['pit'] },
      },
    });
    const r = await k.start();
    const c = Object.fromEntries(r.components.map((x) => [x.name, x]));
    expect(r.criticalPath).toEqual(['bus', 'pit', 'orchestra']);
    expect(c.pit!.ownMs!).toBeGreaterThanOrEqual(28);
    expect(c.pit!.waitMs!).toBeGreaterThanOrEqual(8); // waited for bus (stage 0)
    expect(c.pit!.ownMs! + c.pit!.waitMs!).toBeCloseTo(c.pit!.readyMs! - c.pit!.queuedMs!, 1);
    expect(r.memory.rssBytes).toBeGreaterThan(10_000_000);
    expect(r.memory.heapUsedBytes).toBeGreaterThan(0);
    expect(r.kernelOverheadMs).toBeLessThan(r.readyMs);
    expect(r.processMs).toBeGreaterThan(0);
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
    await k.stop();
  });

  it('keeps the report as it was when the boot ended, however late it is read, and it behaves as plain data', async () => {
    const k = createKernel({ components: { a: { use: noop }, b: { use: noop, needs: ['a'] } } });
    const r = await k.start();
    await k.stop();
    expect(k.states().map((s) => s.state)).toEqual(['stopped', 'stopped']);
    expect(r.components.map((c) => [c.name, c.state, c.attempts])).toEqual([['a', 'ready', 1], ['b', 'ready', 1]]);
    expect(r.components).toBe(r.components);
    expect(Object.keys(r)).toEqual(['isolation', 'ok', 'system', 'readyMs', 'processMs', 'stages', 'components', 'criticalPath', 'late', 'failure', 'until', 'memory', 'loadMs', 'kernelOverheadMs']);
    expect({ ...r }.components).toBe(r.components);
    expect(structuredClone(r)).toEqual(r);
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
    r.components = [];
    expect(r.components).toEqual([]);
    expect(JSON.parse(JSON.stringify(r)).components).toEqual([]);
  });

  it('a liveness probe that throws is contained (never an unhandled rejection)', async () => {
    let n = 0;
    const k = createKernel({
      components: {
        flappy: {
          use: { async start() { return {}; }, health() { n++; if (n > 1) throw new HealthCheckError('flappy', 'flap'); return true; } },
          health: { interval: '10ms', threshold: 100 },
        },
      },
    });
    await k.start();
    await until(() => n > 4);
    expect(k.states()[0]!.state).toBe('ready');
    await k.stop();
  });
});

describe('timeouts and errors are typed', () => {
  it('raises StartTimeoutError with the component and the budget (the kernel builds it, not the test)', async () => {
    // Started, but never healthy: the gate runs out of its 250ms budget. A late handle's ready
    // promise is rejected with the kernel's own error object.
    let ready!: Promise<unknown>;
    const k = createKernel({
      components: {
        watcher: { use: { async start(ctx: ComponentContext) { ready = ctx.late.db!.ready; return {}; } }, late: ['db'] },
        db: { use: { async start() { return {}; }, health: () => false }, timeout: '250ms', health: { threshold: 1000 } },
      },
    });
    const err = (await k.start().catch((e: unknown) => e)) as BootError;
    expect(err).toBeInstanceOf(BootError);
    expect(err.report.failure).toEqual({ component: 'db', phase: 'timeout', message: "StartTimeoutError: 'db' started but did not become healthy within 250ms" });
    const e = (await ready.catch((x: unknown) => x)) as StartTimeoutError;
    expect(e).toBeInstanceOf(StartTimeoutError);
    expect(e.message).toBe("'db' started but did not become healthy within 250ms");
    expect([e.component, e.timeoutMs]).toEqual(['db', 250]);
  });
});

describe('stop deadlines (one timer per timeout, shared by the stops under way)', () => {
  it('times out each hanging stop at its own deadline, names it, aborts its signal, and stops the rest', async () => {
    const journal = new Journal();
    const aborted: Record<string, unknown> = {};
    const hang = (name: string): AnyComponentDefinition => ({
      async start() { return {}; },
      stop(_i: unknown, ctx: { signal: AbortSignal }) {
        ctx.signal.addEventListener('abort', () => (aborted[name] = ctx.signal.reason));
        return new Promise(() => {});
      },
    });
    const k = createKernel({
      components: {
        base: { use: recorded(journal, 'base') },
        h40: { use: hang('h40'), needs: ['base'], stopTimeout: 40 },
        h120: { use: hang('h120'), needs: ['base'], stopTimeout: '120ms' },
        h40b: { use: hang('h40b'), needs: ['base'], stopTimeout: 40 },
        quick: { use: recorded(journal, 'quick'), needs: ['base'], stopTimeout: 40 },
        sync: { use: { start: () => ({}), stop: () => { journal.add('stop:sync'); } }, needs: ['base'] },
      },
    });
    await k.start();
    const events = collect(k);
    const t0 = performance.now();
    const err = (await k.stop().catch((e: unknown) => e)) as AggregateError;
    const took = performance.now() - t0;
    expect(err).toBeInstanceOf(AggregateError);
    expect(err.errors.map((e: Error) => e.message)).toEqual([
      "'h40' did not stop within 40ms",
      "'h40b' did not stop within 40ms",
      "'h120' did not stop within 120ms",
    ]);
    expect(took).toBeGreaterThanOrEqual(115);
    expect(took).toBeLessThan(1000);
    expect(Object.keys(aborted).sort()).toEqual(['h120', 'h40', 'h40b']);
    expect((aborted.h40 as Error).name).toBe('StopTimeoutError');
    // base waited for all of its dependents, the timed-out ones included.
    expect(journal.of('stop').sort()).toEqual(['base', 'quick', 'sync']);
    expect(journal.of('stop').at(-1)).toBe('base');
    const stopped = events.filter((e) => e.type === 'component' && e.state === 'stopped').map((e) => (e as { component: string }).component);
    expect(stopped.indexOf('h40')).toBeLessThan(stopped.indexOf('h120'));
    expect(stopped.at(-1)).toBe('base');
  });

  it('hands a stop that looks at its signal only after the deadline an aborted one', async () => {
    let late: AbortSignal | undefined;
    const k = createKernel({
      components: {
        slow: {
          use: {
            async start() { return {}; },
            async stop(_i: unknown, ctx: { signal: AbortSignal }) {
              await delay(80);
              late = ctx.signal;
            },
          },
          stopTimeout: 20,
        },
      },
    });
    await k.start();
    await expect(k.stop()).rejects.toThrow("'slow' did not stop within 20ms");
    await until(() => late !== undefined);
    expect(late!.aborted).toBe(true);
    expect((late!.reason as Error).message).toBe("'slow' did not stop within 20ms");
  });

  it('stops a long chain whose stops return no promise, in reverse order, without deep recursion', async () => {
    const order: number[] = [];
    const components: Record<string, { use: AnyComponentDefinition; needs?: string[] }> = {};
    const n = 5000;
    for (let i = 0; i < n; i++) {
      components[`c${i}`] = { use: { start: () => i, stop: (v: number) => void order.push(v) }, needs: i ? [`c${i - 1}`] : [] };
    }
    const k = createKernel({ components });
    await k.start();
    await k.stop();
    expect(order).toHaveLength(n);
    expect(order.every((v, i) => v === n - 1 - i)).toBe(true);
  });

  it('collects a stop that throws synchronously, and stop contexts name the component and the reason', async () => {
    const seen: string[] = [];
    const k = createKernel({
      components: {
        a: { use: { start: () => ({}), stop: (_i: unknown, ctx: { name: string; reason: string }) => void seen.push(`${ctx.name}:${ctx.reason}`) } },
        b: { use: { start: () => ({}), stop() { throw new RangeError('no'); } }, needs: ['a'] },
      },
    });
    await k.start();
    const err = (await k.stop().catch((e: unknown) => e)) as AggregateError;
    expect(err.errors.map((e: Error) => e.message)).toEqual(["'b' failed to stop: RangeError: no"]);
    expect(seen).toEqual(['a:shutdown']);
    expect(k.states().map((s) => s.state)).toEqual(['stopped', 'stopped']);
  });
});
