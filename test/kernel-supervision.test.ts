/**
 * OTP supervision: one_for_all, the restart types (permanent, transient, temporary, and `never` as
 * temporary's old spelling), and shutdown per component (a deadline, brutal_kill, infinity).
 * Each is proved by the instances' lives (which instance started, which was stopped, how often)
 * and the kernel's events, not by a return code alone.
 */
import { describe, expect, it } from 'vitest';
import { createKernel, normalizeSpec, type AnyComponentDefinition, type ComponentContext, type KernelEvent } from '../src/index.js';
import { STRATEGIES } from '../src/bootstrap/index.js';
import { collect, delay, Journal, transitions, until } from './helpers.js';

/** A component whose every instance is numbered; it records start:NAME#N and stop:NAME#N, and keeps its ctx. */
function lives(journal: Journal, name: string, extra: Partial<AnyComponentDefinition> = {}) {
  const ctxs: ComponentContext[] = [];
  let n = 0;
  const def: AnyComponentDefinition = {
    async start(ctx) {
      ctxs.push(ctx);
      const id = `${name}#${++n}`;
      journal.add(`start:${id}`);
      return { id, stopped: false };
    },
    async stop(instance: { id: string; stopped: boolean }) {
      instance.stopped = true;
      journal.add(`stop:${instance.id}`);
    },
    ...extra,
  };
  return { def, ctx: () => ctxs[ctxs.length - 1]!, starts: () => n };
}

describe('restart strategies', () => {
  it('one_for_all: one failure stops every component in reverse dependency order, then starts them all again in order', async () => {
    const journal = new Journal();
    const a = lives(journal, 'a');
    const b = lives(journal, 'b');
    const c = lives(journal, 'c');
    const k = createKernel({
      components: {
        a: { use: a.def },
        b: { use: b.def, needs: ['a'] },
        c: { use: c.def, restart: { strategy: 'one_for_all', max: 3, within: '10s' } },
      },
    });
    await k.start();
    const oldA = k.get('a');
    const oldB = k.get('b');
    journal.entries.length = 0;
    const events = collect(k);
    c.ctx().fail(new Error('c crashed'));
    await until(() => journal.of('start').length === 3, 3000, 'the group to start again');
    // b stops before a (it needs a); c, independent, at any point of the stop phase; then starts in dependency order.
    const stops = journal.of('stop');
    expect(stops.sort()).toEqual(['a#1', 'b#1', 'c#1']);
    expect(journal.entries.indexOf('stop:b#1')).toBeLessThan(journal.entries.indexOf('stop:a#1'));
    expect(journal.entries.slice(0, 3).every((e) => e.startsWith('stop:'))).toBe(true);
    expect(journal.entries.indexOf('start:a#2')).toBeLessThan(journal.entries.indexOf('start:b#2'));
    expect(journal.of('start').sort()).toEqual(['a#2', 'b#2', 'c#2']);
    // The old instances were really stopped, and nobody serves them any more.
    expect(oldA).toMatchObject({ id: 'a#1', stopped: true });
    expect(oldB).toMatchObject({ id: 'b#1', stopped: true });
    expect(k.get('a')).toMatchObject({ id: 'a#2', stopped: false });
    expect(k.get('b')).toMatchObject({ id: 'b#2', stopped: false });
    expect(b.ctx().deps.a).toBe(k.get('a'));
    expect(transitions(events, 'a')).toEqual(['stopping', 'stopped', 'starting', 'ready']);
    const restartLog = events.find((e): e is Extract<KernelEvent, { type: 'log' }> => e.type === 'log' && e.message.startsWith('restarting'));
    expect(restartLog?.message).toMatch(/one_for_all after 'c' failed/);
    expect(k.system).toBe('ready');
    await k.stop();
  });

  it('the strategies are a table: one_for_one, rest_for_one and one_for_all', () => {
    expect(Object.keys(STRATEGIES)).toEqual(['one_for_one', 'rest_for_one', 'one_for_all']);
  });
});

describe('restart types', () => {
  it('permanent: restarted after a failure and after a normal exit', async () => {
    const journal = new Journal();
    const p = lives(journal, 'p');
    const k = createKernel({ components: { p: { use: p.def, restart: { strategy: 'one_for_one', type: 'permanent', max: 5, within: '10s' } } } });
    await k.start();
    p.ctx().fail(new Error('boom'));
    await until(() => p.starts() === 2, 3000, 'restart after the failure');
    p.ctx().exit!('done');
    await until(() => p.starts() === 3, 3000, 'restart after the exit');
    expect(journal.entries).toEqual(['start:p#1', 'stop:p#1', 'start:p#2', 'stop:p#2', 'start:p#3']);
    expect(k.get('p')).toMatchObject({ id: 'p#3' });
    await k.stop();
  });

  it('transient: restarted after a failure; after a normal exit it stays down with what needs it, and the system stays ready', async () => {
    const journal = new Journal();
    const t = lives(journal, 't');
    const user = lives(journal, 'user');
    const k = createKernel({
      components: {
        t: { use: t.def, restart: { strategy: 'one_for_one', type: 'transient', max: 5, within: '10s' } },
        user: { use: user.def, needs: ['t'] },
        other: { use: lives(journal, 'other').def },
      },
    });
    await k.start();
    t.ctx().fail(new Error('boom'));
    await until(() => t.starts() === 2, 3000, 'restart after the failure');
    const events = collect(k);
    t.ctx().exit!('work finished');
    await until(() => journal.entries.includes('stop:t#2'), 3000, 'the exit to stop it');
    await delay(100); // time for a restart that must not come
    expect(t.starts()).toBe(2);
    expect(journal.entries.slice(-2)).toEqual(['stop:user#1', 'stop:t#2']);
    expect(k.states().find((s) => s.name === 't')!.state).toBe('stopped');
    expect(k.get('other')).toMatchObject({ id: 'other#1', stopped: false });
    expect(k.system).toBe('ready');
    expect(transitions(events, 't')).toEqual(['stopping', 'stopped']);
    await k.stop();
  });

  it('temporary: never restarted; a required one stops the system (exit 1), an optional one stays down (degraded)', async () => {
    const journal = new Journal();
    const req = lives(journal, 'req');
    const k = createKernel({ components: { req: { use: req.def, restart: { type: 'temporary' } } } });
    await k.start();
    req.ctx().fail(new Error('boom'));
    const exit = await k.done;
    expect(exit.code).toBe(1);
    expect(exit.reason).toMatch(/'req' failed and its restart type is temporary/);
    expect(req.starts()).toBe(1);
    expect(journal.entries).toEqual(['start:req#1', 'stop:req#1']);

    const opt = lives(journal, 'opt');
    const k2 = createKernel({ components: { opt: { use: opt.def, optional: true, restart: { type: 'temporary' } }, base: { use: lives(journal, 'base').def } } });
    await k2.start();
    opt.ctx().fail(new Error('boom'));
    await until(() => k2.system === 'degraded', 3000, 'the system to be degraded');
    await delay(50);
    expect(opt.starts()).toBe(1);
    expect(k2.phase).toBe('running');
    await k2.stop();
  });

  it("strategy 'never' is an alias of restart type temporary", () => {
    const use = { start: () => ({}) };
    const never = normalizeSpec('x', { use, restart: { strategy: 'never', max: 2 } }).restart;
    const temporary = normalizeSpec('x', { use, restart: { type: 'temporary', max: 2 } }).restart;
    expect(never).toEqual(temporary);
    expect(never.type).toBe('temporary');
    expect(normalizeSpec('x', { use, restart: { strategy: 'rest_for_one' } }).restart.type).toBe('permanent');
    expect(normalizeSpec('x', { use }).restart.type).toBe('temporary');
    expect(() => normalizeSpec('x', { use, restart: { strategy: 'never', type: 'permanent' } })).toThrow(/strategy never means type temporary/);
    expect(() => normalizeSpec('x', { use, restart: { type: 'sometimes' as never } })).toThrow(/restart.type must be permanent, transient, temporary/);
  });
});

describe('shutdown', () => {
  it('brutal_kill: the stop is told at once (its signal already aborted) and not waited for; dependency order still holds', async () => {
    const journal = new Journal();
    let abortedAtCall: boolean | undefined;
    let stopFinished = false;
    const k = createKernel({
      components: {
        base: { use: lives(journal, 'base').def },
        hard: {
          needs: ['base'],
          stopTimeout: 'brutal_kill',
          use: {
            async start() { return {}; },
            async stop(_i: unknown, ctx) {
              abortedAtCall = ctx.signal.aborted;
              journal.add('stop:hard');
              await delay(2000);
              stopFinished = true;
            },
          },
        },
      },
    });
    await k.start();
    const events = collect(k);
    const t0 = performance.now();
    await k.stop();
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(abortedAtCall).toBe(true);
    expect(stopFinished).toBe(false);
    expect(journal.of('stop')).toEqual(['hard', 'base#1']);
    const stopped = events.find((e) => e.type === 'component' && e.component === 'hard' && e.state === 'stopped');
    expect(stopped && 'error' in stopped ? stopped.error : undefined).toBeUndefined();
  });

  it('infinity: the stop is waited for however long it takes; a deadline cuts the same stop short', async () => {
    const slowStop = (ms: number): AnyComponentDefinition => ({ async start() { return {}; }, stop: () => delay(ms) });
    const k = createKernel({ components: { slow: { use: slowStop(300), stopTimeout: 'infinity' } } });
    await k.start();
    const t0 = performance.now();
    await k.stop();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
    expect((await k.done).code).toBe(0);

    const k2 = createKernel({ components: { slow: { use: slowStop(300), stopTimeout: 50 } } });
    await k2.start();
    await expect(k2.stop()).rejects.toThrow(/'slow' did not stop within 50ms/);
    expect((await k2.done).code).toBe(1);
  });
});
