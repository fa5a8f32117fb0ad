import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Kernel, kernelOptions, loadSystem } from '../../src/index.js';
import { until } from '../helpers.js';

const fixture = resolve(import.meta.dirname, '../fixtures/modes/system.yaml');

describe('component execution modes', () => {
  it('runs the same definition in process, in a worker and in a child process, with the same behaviour', async () => {
    const system = await loadSystem(fixture);
    expect(system.components.threaded!.needs).toEqual(['store', 'bus']); // the bus is implied
    const k = new Kernel(kernelOptions(system));
    const report = await k.start();
    expect(report.components.map((c) => `${c.name}:${c.mode}:${c.state}`)).toEqual(['bus:in-process:ready', 'store:in-process:ready', 'inproc:in-process:ready', 'threaded:worker:ready', 'forked:process:ready']);
    type Counter = { increment(by?: number): Promise<number>; where(): Promise<{ pid: number; mainThread: boolean }>; fail(): Promise<never> };
    const results: Record<string, unknown> = {};
    for (const name of ['inproc', 'threaded', 'forked']) {
      const c = k.get(name) as Counter;
      await c.increment();
      results[name] = { count: await c.increment(2), where: await c.where() };
      await expect(Promise.resolve().then(() => c.fail())).rejects.toThrow(/counter refuses/);
    }
    expect(results).toEqual({
      inproc: { count: 3, where: { pid: process.pid, mainThread: true, threadId: expect.any(Number) } },
      threaded: { count: 3, where: { pid: process.pid, mainThread: false, threadId: expect.any(Number) } },
      forked: { count: 3, where: { pid: expect.any(Number), mainThread: true, threadId: 0 } },
    });
    expect((results.forked as { where: { pid: number } }).where.pid).not.toBe(process.pid);
    await k.stop();
  }, 20_000);

  it.each([
    ['forked', 'process', 'SIGKILL'],
    ['threaded', 'worker', 'crash'],
    ['forked', 'process', 'crash'],
  ] as const)('holds the calls to %s (%s mode, %s) while the kernel restarts it: they wait for the new instance (not -32601)', async (name, _mode, how) => {
    const system = await loadSystem(fixture);
    system.components = { bus: system.components.bus!, store: system.components.store!, [name]: { ...system.components[name]!, restart: { strategy: 'one_for_one', max: 5, within: '1m' } } };
    const k = new Kernel(kernelOptions(system));
    await k.start();
    type Counter = { where(): Promise<{ pid: number; threadId: number }>; crash(): Promise<string> };
    const c = k.get(name) as Counter;
    const before = await c.where();
    if (how === 'SIGKILL') process.kill(before.pid, 'SIGKILL');
    else expect(await c.crash()).toBe('crashing');
    // Seen as not ready, or as restarted already (a fast restart can fall between two polls).
    await until(() => {
      const s = k.states().find((x) => x.name === name);
      return s?.state !== 'ready' || (s.restarts ?? 0) >= 1;
    }, 5000, 'the crash to be seen');
    // Sent while nothing serves the component: it waits for the restarted instance.
    const after = await c.where();
    expect(name === 'forked' ? after.pid : after.threadId).not.toBe(name === 'forked' ? before.pid : before.threadId);
    expect(k.states().find((x) => x.name === name)?.restarts).toBe(1);
    await k.stop();
  }, 20_000);
});
