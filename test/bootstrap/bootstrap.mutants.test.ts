/**
 * The kernel's health gates, liveness watch, handles, late binding and stop order, as the
 * mutation run of src/bootstrap found them unchecked (see docs/testing.md). Time bounds are
 * wide against what a broken kernel would do (probe without pause, never stop, stop at once).
 */
import { describe, expect, it } from 'vitest';
import { BootError, createKernel, type AnyComponentDefinition, type ComponentContext, type KernelEvent, type LateHandle, type LogEvent } from '../../src/index.js';
import { collect, delay, Journal, recorded, until } from '../helpers.js';

const noop: AnyComponentDefinition = { async start() { return { id: 'noop' }; } };

/** Boots a kernel with one component `db` whose health probe is `health`; resolves with the failure message. */
async function gateFailure(health: () => unknown, spec: Record<string, unknown> = { threshold: 1 }): Promise<string> {
  const k = createKernel({ components: { db: { use: { async start() { return {}; }, health: health as never }, health: spec as never } } });
  const err = await k.start().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(BootError);
  const failure = (err as BootError).report.failure!;
  expect(failure).toMatchObject({ component: 'db', phase: 'health' });
  return failure.message;
}

describe('the readiness gate', () => {
  it('a healthy probe passes at once, even with a threshold of 1', async () => {
    let probes = 0;
    const k = createKernel({ components: { db: { use: { async start() { return { db: 1 }; }, health: () => (probes++, true) }, health: { threshold: 1, interval: '1h' } } } });
    await k.start();
    expect(k.system).toBe('ready');
    expect(probes).toBe(1);
    await k.stop();
  });

  it('a degraded verdict passes the gate: the component is degraded, still running, its handle usable', async () => {
    const k = createKernel({ components: { db: { use: { async start() { return { db: 1 }; }, health: () => ({ status: 'degraded', detail: 'slow disk' }) }, health: { threshold: 1, interval: '1h' } } } });
    await k.start();
    expect(k.states()[0]).toMatchObject({ name: 'db', state: 'degraded', health: 'degraded' });
    expect(k.system).toBe('degraded');
    const h = k.handle('db');
    expect(h.name).toBe('db');
    expect(h.ready).toBe(true);
    expect(h.current).toEqual({ db: 1 });
    await k.stop();
    expect(h.ready).toBe(false);
    expect(() => h.current).toThrow("'db' is not running (state: stopped)");
  });

  it('names what a failing probe returned', async () => {
    expect(await gateFailure(() => false)).toBe("HealthCheckError: 'db' failed its readiness probe 1 time(s) in a row: probe returned false");
    expect(await gateFailure(() => 42)).toBe("HealthCheckError: 'db' failed its readiness probe 1 time(s) in a row: probe returned 42 (expected a boolean or { status })");
    expect(await gateFailure(() => null)).toBe("HealthCheckError: 'db' failed its readiness probe 1 time(s) in a row: probe returned null (expected a boolean or { status })");
    expect(await gateFailure(() => ({ status: 'fine' }))).toBe(`HealthCheckError: 'db' failed its readiness probe 1 time(s) in a row: probe returned {"status":"fine"} (expected a boolean or { status })`);
    expect(await gateFailure(() => ({ status: 'unhealthy' }))).toBe("HealthCheckError: 'db' failed its readiness probe 1 time(s) in a row: unhealthy");
    expect(await gateFailure(() => ({ status: 'unhealthy', detail: { disk: 'full' } }))).toBe(`HealthCheckError: 'db' failed its readiness probe 1 time(s) in a row: {"disk":"full"}`);
    expect(await gateFailure(() => { throw 'not an error'; })).toBe("HealthCheckError: 'db' failed its readiness probe 1 time(s) in a row: NonErrorThrown: health probe of 'db' threw a non-Error value: 'not an error'");
  });

  it('a probe that never answers fails at its timeout, saying so', async () => {
    const t0 = performance.now();
    const message = await gateFailure(() => new Promise(() => {}), { threshold: 1, timeout: '100ms' });
    expect(message).toBe("HealthCheckError: 'db' failed its readiness probe 1 time(s) in a row: HealthCheckError: health probe did not answer within 100ms");
    expect(performance.now() - t0).toBeLessThan(3000);
  });

  it('pauses between failed probes, doubling from 20 ms, capped by the interval', async () => {
    const gaps = async (interval: string) => {
      const at: number[] = [];
      const k = createKernel({
        components: { db: { use: { async start() { return {}; }, health: () => (at.push(performance.now()), at.length > 4) }, health: { threshold: 10, interval } } },
      });
      await k.start();
      await k.stop();
      return at[4]! - at[0]!;
    };
    // 20 + 40 + 80 + 160 ms; a pause that shrank instead (10 / 2^n) would be a few ms in all.
    expect(await gaps('1h')).toBeGreaterThanOrEqual(280);
    // 20 + 40 + 50 + 50 ms: never more than the interval.
    const capped = await gaps('50ms');
    expect(capped).toBeGreaterThanOrEqual(150);
    expect(capped).toBeLessThan(280);
  });

  it('leaves no timer behind once the probe answered', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const k = createKernel({ components: { db: { use: { async start() { return {}; }, health: () => true }, health: { timeout: '1h', interval: '0ms' } } } });
    await k.start();
    expect(timers()).toBe(before);
    await k.stop();
  });
});

describe('the start deadline during the gate', () => {
  it('a start whose gate outlasts its timeout fails in phase timeout, and its probing stops', async () => {
    let probes = 0;
    const k = createKernel({ components: { db: { use: { async start() { return {}; }, health: () => (probes++, false) }, timeout: '200ms', health: { threshold: 1000, interval: '20ms' } } } });
    const t0 = performance.now();
    const err = (await k.start().catch((e: unknown) => e)) as BootError;
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(err.report.failure).toMatchObject({ component: 'db', phase: 'timeout' });
    const atFailure = probes;
    await delay(200);
    expect(probes - atFailure).toBeLessThanOrEqual(1); // at most the probe already under way
  });
});

describe('the liveness watch', () => {
  it('an interval of 0 means no liveness probes after the gate', async () => {
    let probes = 0;
    const k = createKernel({ components: { db: { use: { async start() { return {}; }, health: () => (probes++, true) }, health: { interval: '0ms' } } } });
    await k.start();
    await delay(150);
    expect(probes).toBe(1);
    await k.stop();
  });

  it('a component without a probe is not watched, whatever its interval', async () => {
    const k = createKernel({ components: { db: { use: noop, health: { interval: '10ms', threshold: 1 } } } });
    const events = collect(k);
    await k.start();
    await delay(150);
    expect(k.states()[0]!.state).toBe('ready');
    expect(events.filter((e) => e.type === 'component' && e.state === 'failed')).toEqual([]);
    await k.stop();
  });

  it('fails a component after exactly threshold unhealthy probes, logs each, and stops probing it', async () => {
    let healthy = true;
    let probes = 0;
    const k = createKernel({
      components: { db: { use: { async start() { return {}; }, health: () => (probes++, healthy || { status: 'unhealthy', detail: 'disk full' }) }, health: { interval: '20ms', threshold: 3 } } },
    });
    const events = collect(k);
    await k.start();
    const atBoot = probes;
    healthy = false;
    // Its restart type (temporary) then stops the system.
    await until(() => events.some((e) => e.type === 'component' && e.state === 'failed'), 3000, 'the liveness failure');
    const atFailure = probes;
    const sick = events.filter((e): e is LogEvent => e.type === 'log' && e.component === 'db' && e.level === 'warn').map((e) => e.message);
    expect(sick).toEqual(['liveness probe failed (1/3): disk full', 'liveness probe failed (2/3): disk full', 'liveness probe failed (3/3): disk full']);
    // The probes after the last healthy one: exactly three unhealthy ones.
    const healthyAfterBoot = atFailure - atBoot - 3;
    expect(healthyAfterBoot).toBeGreaterThanOrEqual(0);
    const failed = events.find((e) => e.type === 'component' && e.component === 'db' && e.state === 'failed') as Extract<KernelEvent, { type: 'component' }>;
    expect(failed.error?.message).toBe("'db' failed its liveness probe 3 times in a row: disk full");
    await delay(150);
    expect(probes).toBe(atFailure);
    await k.stop().catch(() => {});
  });

  it('follows degraded and back to ready, saying the liveness probe moved it', async () => {
    let verdict: unknown = true;
    const k = createKernel({ components: { db: { use: { async start() { return {}; }, health: () => verdict as never }, health: { interval: '20ms', threshold: 2 } } } });
    const events = collect(k);
    await k.start();
    verdict = { status: 'degraded', detail: 'slow' };
    await until(() => k.states()[0]!.state === 'degraded', 3000, 'degraded');
    expect(k.system).toBe('degraded');
    verdict = { status: 'healthy' };
    await until(() => k.states()[0]!.state === 'ready', 3000, 'ready again');
    expect(k.system).toBe('ready');
    const moves = events.filter((e) => e.type === 'component' && e.component === 'db' && (e.state === 'degraded' || e.state === 'ready')).map((e) => [(e as { state: string }).state, (e as { reason?: string }).reason]);
    expect(moves.slice(1)).toEqual([['degraded', 'liveness probe'], ['ready', 'liveness probe']]);
    await k.stop();
  });

  it('a failure below the threshold is forgotten after a healthy probe', async () => {
    let n = 0;
    // unhealthy, healthy, unhealthy, healthy, ...: never two in a row.
    const k = createKernel({ components: { db: { use: { async start() { return {}; }, health: () => n++ === 0 || n % 2 === 0 }, health: { interval: '10ms', threshold: 2 } } } });
    await k.start();
    await until(() => n > 12, 3000, 'a dozen probes');
    expect(k.states()[0]!.state).toBe('ready');
    await k.stop();
  });

  it('stops probing once the system stops', async () => {
    let probes = 0;
    const k = createKernel({ components: { db: { use: { async start() { return {}; }, health: () => (probes++, true) }, health: { interval: '10ms' } } } });
    await k.start();
    await until(() => probes > 2, 3000, 'liveness probes');
    await k.stop();
    const after = probes;
    await delay(100);
    expect(probes).toBe(after);
  });
});

describe('handles and late binding', () => {
  it("a late handle's ready, asked after the target is up, resolves with its instance; name and bound follow it", async () => {
    let late!: LateHandle<unknown>;
    const k = createKernel({
      components: {
        pit: { use: { async start(ctx: ComponentContext) { late = ctx.late.conductor!; return {}; } }, late: ['conductor'] },
        conductor: { use: { async start() { return { who: 'conductor' }; } }, needs: ['pit'] },
      },
    });
    await k.start();
    expect(late.name).toBe('conductor');
    expect(late.bound).toBe(true);
    expect(await late.ready).toEqual({ who: 'conductor' });
    expect(late.get()).toEqual({ who: 'conductor' });
    await k.stop();
    expect(late.bound).toBe(false);
  });

  it("a late handle's ready asked twice before the target is up: both resolve", async () => {
    let first: Promise<unknown> | undefined;
    let second: Promise<unknown> | undefined;
    const k = createKernel({
      components: {
        pit: { use: { async start(ctx: ComponentContext) { first = ctx.late.conductor!.ready; second = ctx.late.conductor!.ready; return {}; } }, late: ['conductor'] },
        conductor: { use: { async start() { await delay(20); return { who: 'c' }; } }, needs: ['pit'] },
      },
    });
    await k.start();
    expect(await Promise.race([first, delay(1000).then(() => 'never')])).toEqual({ who: 'c' });
    expect(await Promise.race([second, delay(1000).then(() => 'never')])).toEqual({ who: 'c' });
    await k.stop();
  });

  it("a late handle's ready, asked after the target failed, rejects with the target's error", async () => {
    let late!: LateHandle<unknown>;
    const k = createKernel({
      components: {
        pit: { use: { async start(ctx: ComponentContext) { late = ctx.late.conductor!; return {}; } }, late: ['conductor'] },
        conductor: { use: { async start() { throw new Error('no maestro today'); } }, needs: ['pit'], optional: true },
      },
    });
    await k.start().catch(() => undefined);
    await expect(late.ready).rejects.toThrow('no maestro today');
    await k.stop().catch(() => undefined);
  });

  it('ctx.deps holds needs and running wants by name, and leaves out a want that is not running', async () => {
    let deps: Record<string, unknown> | undefined;
    const k = createKernel({
      components: {
        a: { use: { async start() { return 'A'; } } },
        b: { use: { async start() { return 'B'; } } },
        w: { use: { async start() { return 'W'; } } },
        broken: { use: { async start() { throw new Error('down'); } }, optional: true },
        user: { use: { async start(ctx: ComponentContext) { deps = { ...(ctx.deps as object) }; return {}; } }, needs: ['a', 'b'], wants: ['w', 'broken'] },
      },
    });
    await k.start();
    expect(deps).toEqual({ a: 'A', b: 'B', w: 'W' });
    await k.stop();
  });

  it('a component with wants and no needs still gets its running wants in ctx.deps', async () => {
    let deps: Record<string, unknown> | undefined;
    const k = createKernel({
      components: {
        w: { use: { async start() { return 'W'; } } },
        user: { use: { async start(ctx: ComponentContext) { deps = { ...(ctx.deps as object) }; return {}; } }, wants: ['w'] },
      },
    });
    await k.start();
    expect(deps).toEqual({ w: 'W' });
    await k.stop();
  });
});

describe('stopping', () => {
  it('stops wanters before what they want, tells each stop and event why, and the system says why it stopped', async () => {
    const journal = new Journal();
    const reasons: string[] = [];
    const def = (name: string): AnyComponentDefinition => ({
      async start() { return {}; },
      async stop(_i: unknown, ctx: { reason: string; name: string }) { reasons.push(`${ctx.name}:${ctx.reason}`); journal.add(`stop:${name}`); },
    });
    const k = createKernel({ components: { w: { use: def('w') }, x: { use: def('x'), wants: ['w'] }, y: { use: def('y'), needs: ['w'], wants: ['w'] } } });
    const events = collect(k);
    await k.start();
    await k.stop('the operator said so');
    expect(journal.of('stop').at(-1)).toBe('w');
    expect(reasons.sort()).toEqual(['w:shutdown', 'x:shutdown', 'y:shutdown']);
    const stops = events.filter((e) => e.type === 'component' && (e.state === 'stopping' || e.state === 'stopped'));
    expect(stops).toHaveLength(6);
    for (const e of stops) expect((e as { reason?: string }).reason).toBe('shutdown');
    const system = events.filter((e) => e.type === 'system' && (e.state === 'stopping' || e.state === 'stopped')).map((e) => [(e as { state: string }).state, (e as { reason?: string }).reason]);
    expect(system).toEqual([['stopping', 'the operator said so'], ['stopped', 'the operator said so']]);
  });

  it('a failed stop: the others still stop, the stop rejects naming it, its event carries the error', async () => {
    const journal = new Journal();
    const k = createKernel({
      components: {
        a: { use: recorded(journal, 'a') },
        bad: { use: { async start() { return {}; }, async stop() { throw new Error('stuck'); } }, needs: ['a'] },
      },
    });
    const events = collect(k);
    await k.start();
    const err = (await k.stop().catch((e: unknown) => e)) as AggregateError;
    expect(err).toBeInstanceOf(AggregateError);
    expect(err.message).toBe("1 component(s) failed to stop: 'bad' failed to stop: Error: stuck");
    expect(journal.of('stop')).toEqual(['a']);
    const stopped = events.find((e) => e.type === 'component' && e.component === 'bad' && e.state === 'stopped') as { error?: { message: string } };
    expect(stopped.error?.message).toBe("'bad' failed to stop: Error: stuck");
    expect(k.states().map((s) => s.state)).toEqual(['stopped', 'stopped']);
  });

  it("brutal_kill: the stop gets an aborted signal and is not waited for; a hung one past its stopTimeout is given up", async () => {
    let signal: AbortSignal | undefined;
    const k = createKernel({
      components: {
        brute: { use: { async start() { return {}; }, stop: (_i: unknown, ctx: { signal: AbortSignal }) => ((signal = ctx.signal), new Promise(() => {})) }, stopTimeout: 'brutal_kill' },
      },
    });
    await k.start();
    const t0 = performance.now();
    await k.stop();
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(signal?.aborted).toBe(true);

    const h = createKernel({ components: { hung: { use: { async start() { return {}; }, stop: () => new Promise(() => {}) }, stopTimeout: '100ms' } } });
    await h.start();
    const t1 = performance.now();
    await expect(h.stop()).rejects.toThrow("'hung' did not stop within 100ms");
    expect(performance.now() - t1).toBeLessThan(2000);
  });

  it('a late instance of a brutal_kill component is stopped with its signal already aborted', async () => {
    let aborted: boolean | undefined;
    const k = createKernel({
      components: {
        slow: {
          use: {
            async start() { await delay(150); return {}; },
            stop: (_i: unknown, ctx: { signal: AbortSignal }) => ((aborted = ctx.signal.aborted), new Promise(() => {})),
          },
          timeout: '50ms',
          stopTimeout: 'brutal_kill',
        },
      },
    });
    await k.start().catch(() => undefined);
    await until(() => aborted !== undefined, 3000, 'the late instance to be stopped');
    expect(aborted).toBe(true);
  });

  it('a start that ends after its deadline: its instance is stopped anyway, and a failing stop of it is logged', async () => {
    let stoppedLate = false;
    const k = createKernel({
      components: {
        slow: {
          use: {
            async start() { await delay(200); return { late: true }; },
            async stop(instance: { late: boolean }) { stoppedLate = instance.late; throw new Error('cannot stop the latecomer'); },
          },
          timeout: '50ms',
        },
      },
    });
    const events = collect(k);
    await k.start().catch(() => undefined);
    await until(() => stoppedLate, 3000, 'the late instance to be stopped');
    await until(() => events.some((e) => e.type === 'log' && e.message.includes('discarded')), 3000, 'the log line');
    const line = events.find((e): e is LogEvent => e.type === 'log' && e.message.includes('discarded'))!;
    expect(line).toMatchObject({ component: 'kernel', level: 'warn', message: "stopping a discarded instance of 'slow' failed: 'slow' failed to stop: Error: cannot stop the latecomer" });
  });
});

describe('what the mutation run of health.ts, slot.ts and teardown.ts left', () => {
  it('a healthy gate records the verdict healthy', async () => {
    const k = createKernel({ components: { db: { use: { async start() { return {}; }, health: () => true }, health: { interval: '1h' } } } });
    await k.start();
    expect(k.states()[0]).toMatchObject({ name: 'db', state: 'ready', health: 'healthy' });
    await k.stop();
  });

  it('a probe answering a function carrying a status is not taken for a verdict', async () => {
    const fn = Object.assign(() => undefined, { status: 'healthy' });
    expect(await gateFailure(() => fn)).toBe("HealthCheckError: 'db' failed its readiness probe 1 time(s) in a row: probe returned undefined (expected a boolean or { status })");
  });

  it('healthy liveness probes of a ready component move nothing: no event', async () => {
    let probes = 0;
    const k = createKernel({ components: { db: { use: { async start() { return {}; }, health: () => (probes++, true) }, health: { interval: '10ms' } } } });
    const events = collect(k);
    await k.start();
    await until(() => probes > 5, 3000, 'liveness probes');
    await k.stop();
    expect(events.filter((e) => e.type === 'component' && (e as { reason?: string }).reason === 'liveness probe')).toEqual([]);
  });

  it('a liveness probe that answers after the stop began changes nothing and is not followed by another', async () => {
    let probes = 0;
    let inFlight = false;
    const k = createKernel({
      components: {
        db: { use: { async start() { return {}; }, health: async () => { probes++; inFlight = true; await delay(40); inFlight = false; return { status: 'degraded', detail: 'late' }; } }, health: { interval: '10ms', timeout: '1s' } },
        // Its slow stop keeps the kernel stopping (and db still ready) well after db's probe answered.
        app: { use: { async start() { return {}; }, async stop() { await delay(250); } }, needs: ['db'] },
      },
    });
    const events = collect(k);
    await k.start();
    await until(() => probes > 1 && inFlight, 3000, 'a liveness probe under way');
    const atStop = probes;
    const stopping = k.stop();
    await stopping;
    expect(probes).toBe(atStop);
    expect(k.states().map((s) => s.state)).toEqual(['stopped', 'stopped']);
    const afterStop = events.slice(events.findIndex((e) => e.type === 'system' && e.state === 'stopping'));
    expect(afterStop.filter((e) => e.type === 'component' && (e.state === 'degraded' || e.state === 'ready'))).toEqual([]);
  });

  it("a late handle's ready, asked after a boot that left the target out, rejects saying it did not start", async () => {
    let late!: LateHandle<unknown>;
    const k = createKernel(
      {
        components: {
          pit: { use: { async start(ctx: ComponentContext) { late = ctx.late.conductor!; return {}; } }, late: ['conductor'] },
          conductor: { use: { async start() { return {}; } }, needs: ['pit'] },
        },
        until: 'pit',
      },
    );
    await k.start();
    expect(k.states().find((s) => s.name === 'conductor')!.state).toBe('skipped');
    await expect(late.ready).rejects.toThrow("'conductor' did not start");
    await k.stop();
  });

  it('a component being stopped is in state stopping, and the kernel in phase stopping', async () => {
    const seen: [string, string][] = [];
    let k!: ReturnType<typeof createKernel>;
    k = createKernel({ components: { db: { use: { async start() { return {}; }, async stop() { seen.push([k.states()[0]!.state, k.phase]); } } } } });
    await k.start();
    await k.stop();
    expect(seen).toEqual([['stopping', 'stopping']]);
  });

  it('two failed stops: the stop names both, the exit says how many, the states keep each error', async () => {
    const bad = (msg: string): AnyComponentDefinition => ({ async start() { return {}; }, async stop() { throw new Error(msg); } });
    const k = createKernel({ components: { a: { use: bad('stuck a') }, b: { use: bad('stuck b') } } });
    await k.start();
    const err = (await k.stop().catch((e: unknown) => e)) as AggregateError;
    expect(err.message).toBe("2 component(s) failed to stop: 'a' failed to stop: Error: stuck a; 'b' failed to stop: Error: stuck b");
    expect(await k.done).toEqual({ code: 1, reason: '2 component(s) failed to stop' });
  });
});

describe('attempts and their deadlines (attempt.ts)', () => {
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

  it('a retry waits the backoff it announced, and its own deadline timer is cleared when it succeeds', async () => {
    let n = 0;
    const at: number[] = [];
    // Earlier tests' pauses (a second at most) run out first: then any timer left is this kernel's.
    await until(() => timers() === 0, 3000, 'earlier timers to run out');
    const k = createKernel({
      components: { db: { use: { async start() { at.push(performance.now()); if (n++ === 0) throw new Error('first try'); return {}; } }, retries: 1, backoff: { initial: '150ms', max: '150ms' }, timeout: '1h' } },
    });
    const events = collect(k);
    await k.start();
    const retry = events.find((e) => e.type === 'component' && /retry in \d+ms/.test((e as { reason?: string }).reason ?? '')) as { reason: string };
    const announced = Number(/retry in (\d+)ms/.exec(retry.reason)![1]);
    expect(announced).toBeGreaterThan(20);
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(announced - 5);
    // Its 1 h deadline timer is gone (a kernel without health probes keeps no timer).
    expect(timers()).toBe(0);
    await k.stop();
  });

  it('a stop during a retry aborts that attempt: the boot fails in phase aborted, at once', async () => {
    let n = 0;
    let retrying = false;
    const k = createKernel({
      components: {
        db: {
          use: { async start() { if (n++ === 0) throw new Error('first try'); retrying = true; return new Promise(() => {}); } },
          retries: 1,
          backoff: { initial: '10ms', max: '10ms' },
          timeout: '1h',
        },
      },
    });
    const boot = k.start().catch((e: unknown) => e);
    await until(() => retrying, 3000, 'the retry');
    const t0 = performance.now();
    await k.stop();
    const err = (await boot) as BootError;
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(err).toBeInstanceOf(BootError);
    expect(err.report.failure).toMatchObject({ component: 'db', phase: 'aborted' });
  });

  it("a start's signal is one signal, aborted at its deadline, and already aborted when first asked after it", async () => {
    const signals: AbortSignal[] = [];
    let lateAsk: boolean | undefined;
    const k = createKernel({
      components: {
        early: { use: { async start(ctx: ComponentContext) { signals.push(ctx.signal, ctx.signal); return new Promise(() => {}); } }, timeout: '50ms', optional: true },
        late: { use: { async start(ctx: ComponentContext) { await delay(150); lateAsk = ctx.signal.aborted; return {}; } }, timeout: '50ms', optional: true },
      },
    });
    await k.start().catch(() => undefined);
    await until(() => lateAsk !== undefined, 3000, 'the late start to ask for its signal');
    expect(signals[0]).toBe(signals[1]);
    expect(signals[0]!.aborted).toBe(true);
    expect(lateAsk).toBe(true);
    await k.stop().catch(() => undefined);
  });

  it("abandoning a boot aborts the starts under way, not the signal of a start already done", async () => {
    let fast: AbortSignal | undefined;
    let slow: AbortSignal | undefined;
    const k = createKernel({
      components: {
        a: { use: { async start(ctx: ComponentContext) { fast = ctx.signal; return {}; } } },
        b: { use: { async start(ctx: ComponentContext) { slow = ctx.signal; return new Promise(() => {}); } }, timeout: '1h' },
      },
    });
    const boot = k.start().catch((e: unknown) => e);
    await until(() => fast !== undefined && slow !== undefined, 3000, 'both starts');
    await k.stop();
    expect(await boot).toBeInstanceOf(BootError);
    expect(slow!.aborted).toBe(true);
    expect(fast!.aborted).toBe(false);
  });
});

describe('what the rerun of health.ts, slot.ts, teardown.ts and attempt.ts left', () => {
  type Inst = { n: number };
  /** A permanent component `db` whose instances are numbered; `ctxs[n]` is instance n's start context. */
  function numbered(health: (i: Inst) => unknown, options: Record<string, unknown> = {}, stop?: (i: Inst) => Promise<void>) {
    const ctxs: ComponentContext[] = [];
    const def: AnyComponentDefinition = {
      async start(ctx: ComponentContext) { ctxs.push(ctx); return { n: ctxs.length }; },
      health: health as never,
      ...(stop ? { stop: stop as never } : {}),
    };
    const k = createKernel({ components: { db: { use: def, health: { interval: '20ms', threshold: 1, timeout: '2s' }, restart: { strategy: 'one_for_one', max: 10 }, ...options } } });
    return { k, ctxs };
  }
  const liveness = (events: KernelEvent[]) => events.filter((e) => e.type === 'component' && (e as { reason?: string }).reason === 'liveness probe');

  it('a liveness probe that answers while its failed component is being stopped moves nothing and is not followed by another', async () => {
    let gated = false;
    let inFlight = false;
    let answered = false;
    let probesOfFirst = 0;
    const { k, ctxs } = numbered(
      async (i) => {
        if (i.n !== 1 || !gated) return (gated = true);
        probesOfFirst++;
        inFlight = true;
        await delay(100);
        answered = true;
        return { status: 'degraded', detail: 'from the failed instance' };
      },
      {},
      // The failed instance's stop outlasts its probe: the probe answers while it is stopping.
      async (i) => { if (i.n === 1) await delay(400); },
    );
    const events = collect(k);
    await k.start();
    await until(() => inFlight, 3000, 'a liveness probe under way');
    ctxs[0]!.fail(new Error('boom'));
    await until(() => answered, 3000, 'the probe to answer');
    await delay(60);
    expect(k.states()[0]!.state).toBe('stopping');
    expect(probesOfFirst).toBe(1);
    await until(() => ctxs.length === 2 && k.states()[0]!.state === 'ready', 3000, 'the restart');
    expect(liveness(events)).toEqual([]);
    await k.stop();
  });

  it('a probe of the old instance that answers after the restart leaves the new instance alone', async () => {
    let gated = false;
    let inFlight = false;
    let answered = false;
    const { k, ctxs } = numbered(async (i) => {
      if (i.n !== 1) return true;
      if (!gated) return (gated = true);
      inFlight = true;
      await delay(200);
      answered = true;
      return { status: 'degraded', detail: 'from the old instance' };
    });
    const events = collect(k);
    await k.start();
    await until(() => inFlight, 3000, 'a liveness probe under way');
    ctxs[0]!.fail(new Error('boom'));
    await until(() => ctxs.length === 2 && k.states()[0]!.state === 'ready', 3000, 'the restart');
    await until(() => answered, 3000, 'the old probe to answer');
    await delay(60);
    expect(k.states()[0]).toMatchObject({ state: 'ready', health: 'healthy' });
    expect(k.system).toBe('ready');
    expect(liveness(events)).toEqual([]);
    await k.stop();
  });

  it('a liveness failure ends the watch of that instance: it is not probed again while its restart waits out its backoff', async () => {
    const probes = new Map<number, number>();
    let sick = 0;
    const { k, ctxs } = numbered(
      (i) => (probes.set(i.n, (probes.get(i.n) ?? 0) + 1), probes.get(i.n)! === 1 || i.n !== sick),
      { backoff: { initial: '600ms', max: '600ms' } },
    );
    const events = collect(k);
    await k.start();
    sick = 1; // the first restart is at once; the second waits 300-600 ms
    await until(() => ctxs.length === 2 && k.states()[0]!.state === 'ready', 3000, 'the first restart');
    sick = 2;
    await until(() => events.filter((e) => e.type === 'component' && e.state === 'failed').length === 2, 3000, 'the second failure');
    const atFailure = probes.get(2)!;
    await delay(150); // within the backoff: a watch left on it would probe it every 20 ms
    expect(ctxs.length).toBe(2);
    expect(probes.get(2)).toBe(atFailure);
    await k.stop();
  });

  it('a component that exited and stays down is stopped once: the system stop does not stop it again', async () => {
    const stopped: string[] = [];
    let ctx!: ComponentContext;
    const k = createKernel({
      components: {
        job: { use: { async start(c: ComponentContext) { ctx = c; return {}; }, async stop() { stopped.push('job'); } }, restart: { type: 'transient', strategy: 'one_for_one' } },
        other: { use: { async start() { return {}; }, async stop() { stopped.push('other'); } } },
      },
    });
    await k.start();
    ctx.exit!('done');
    await until(() => k.states()[0]!.state === 'stopped', 3000, 'job to stop');
    await k.stop();
    expect(stopped.sort()).toEqual(['job', 'other']);
  });

  it("a failed boot's report keeps the error of a stop that failed in the rollback", async () => {
    const k = createKernel({
      components: {
        a: { use: { async start() { return {}; }, async stop() { throw new Error('stuck in rollback'); } } },
        b: { use: { async start() { throw new Error('no b'); } }, needs: ['a'] },
      },
    });
    const err = (await k.start().catch((e: unknown) => e)) as BootError;
    expect(err).toBeInstanceOf(BootError);
    const a = err.report.components.find((c) => c.name === 'a')!;
    expect(a.state).toBe('stopped');
    expect(a.error).toBe("StopError: 'a' failed to stop: Error: stuck in rollback");
  });

  it('a swap that ends while the system stops does not start watching the new instance', async () => {
    let newProbes = 0;
    const v2: AnyComponentDefinition = { async start() { await delay(50); return { v: 2 }; }, health: () => (newProbes++, true) };
    const k = createKernel({
      components: {
        db: { use: { async start() { return { v: 1 }; }, health: () => true }, health: { interval: '10ms', timeout: '1s' } },
        // Its stop keeps the system stopping (and db up) for a while after the swap ended.
        app: { use: { async start() { return {}; }, async stop() { await delay(300); } }, needs: ['db'] },
      },
    });
    await k.start();
    const swapped = k.swap('db', v2).catch((e: unknown) => e);
    await delay(10);
    const stopped = k.stop();
    await swapped;
    const atSwap = newProbes; // its readiness gate
    await stopped;
    expect(atSwap).toBeGreaterThanOrEqual(1);
    expect(newProbes).toBe(atSwap);
  });

  it('a boot abandoned twice keeps the first reason: what the later stages are told is why it was first abandoned', async () => {
    // Asked before the boot ends: asked after a failed boot, a target left pending never settles.
    let ready!: Promise<unknown>;
    const ac = new AbortController();
    let hanging = false;
    const k = createKernel({
      components: {
        a: { use: { async start(ctx: ComponentContext) { ready = ctx.late.c!.ready; return {}; } }, late: ['c'] },
        b: { use: { async start() { hanging = true; return new Promise(() => {}); } }, needs: ['a'], timeout: '1h' },
        c: { use: noop, needs: ['b'] },
      },
    });
    const boot = k.start({ signal: ac.signal }).catch((e: unknown) => e);
    await until(() => hanging, 3000, 'b to start');
    ac.abort();
    const stopping = k.stop('the second reason');
    expect(await boot).toBeInstanceOf(BootError);
    await stopping;
    await expect(ready).rejects.toThrow(/^boot interrupted$/);
  });
});
