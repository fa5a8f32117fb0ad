/**
 * A hostile isolated extension signals the kernel, a sibling, process groups, 0 and -1; and
 * outlives a SIGKILLed kernel if it can. Each has its own kernel process (a signal that escapes
 * kills it). Signals to groups, 0 and -1 run only after the attacker proved, from inside, that it
 * is confined to its own pid namespace and filesystem view (confined() in the fixture); otherwise
 * the case fails without trying. A sentinel host process in its own group must live through all.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { attack, cleanup, delay, gateOf, hostProcessesMentioning, instance, KernelProcess, newRun, processState, type Instance, type Run } from './hostile-extension-harness.js';

/** A host process that must survive every signal the attacker sends. */
function sentinel(run: Run): ChildProcess {
  return spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', `sentinel-${run.dir}`], { detached: true, stdio: 'ignore' });
}

const expectRanConfined = (r: Record<string, any>) => expect(r.refused, `${r.refused}: ${r.why}`).toBeUndefined();
/** The control: the attempt ran (the kill system call answered), it was not refused before trying or lost on the way. */
const expectSignalSent = (r: Record<string, any>) => expect(r.outcome === 'succeeded' || (r.outcome === 'failed' && typeof r.code === 'string'), JSON.stringify(r)).toBe(true);

describe('signals (a fresh kernel for each: one that escapes must not hide the next)', () => {
  let run: Run;
  let k: KernelProcess;
  let S: Instance;
  let victim: Instance;
  let guard: ChildProcess;
  let victimPid: number;

  beforeEach(async () => {
    run = newRun();
    // Granted /proc (the sandbox's own): its confinement gate lists it.
    S = instance(run, { name: 'signaller', from: 'attacker', permissions: { fsRead: ['/proc'] } });
    victim = instance(run, { name: 'victim', from: 'victim' });
    k = await KernelProcess.boot(run, [S, victim]);
    guard = sentinel(run);
    victimPid = (await k.pidOf('victim'))!;
    expect(victimPid).toBeGreaterThan(0);
  }, 40_000);
  afterEach(async () => {
    guard?.kill('SIGKILL');
    if (k && processState(k.pid) === 'T') process.kill(k.pid, 'SIGCONT');
    await k?.stop();
    if (run) cleanup(run);
  });

  /** Everyone that must survive: the kernel (serving, not stopped), the victim (answering, same pid), the sentinel, the test runner. */
  async function everyoneAlive(): Promise<void> {
    await delay(300);
    expect(processState(guard.pid!), 'the sentinel').toBeDefined();
    expect(processState(victimPid), 'the victim').toBeDefined();
    expect(processState(victimPid)).not.toBe('T');
    await k.expectServing([
      async () => {
        const v = (await k.client.request('victim.ping', {}, { timeout: '3s' })) as { who: string };
        expect(v.who).toBe('victim');
        expect(await k.pidOf('victim')).toBe(victimPid);
      },
    ]);
  }

  it("SIGKILL to the kernel's pid (given to it)", async () => {
    const at = k.events.length;
    const r = await attack(k, S, 'kill', { pid: k.pid, signal: 'SIGKILL' });
    expectSignalSent(r);
    await everyoneAlive();
    await k.expectLogged(at, 'signaller');
  });

  it("SIGSTOP to the kernel's pid: the kernel is not stopped", async () => {
    const at = k.events.length;
    const r = await attack(k, S, 'kill', { pid: k.pid, signal: 'SIGSTOP' });
    expectSignalSent(r);
    await delay(200);
    const state = processState(k.pid);
    if (state === 'T') process.kill(k.pid, 'SIGCONT'); // undo it, then fail
    expect(state).not.toBe('T');
    await everyoneAlive();
    await k.expectLogged(at, 'signaller');
  });

  // Its parent is its sandbox's init (pid 1 in its namespace), which ignores SIGKILL and SIGSTOP
  // from inside: the signal is delivered and does nothing, so there is nothing to log. The proof is
  // who its parent is, and everyone alive afterwards.
  it('SIGKILL to process.ppid', async () => {
    const r = await attack(k, S, 'kill', { pid: 'ppid', signal: 'SIGKILL' });
    expectSignalSent(r);
    expect(r.pid, 'its parent is its own sandbox init, not the kernel').toBe(1);
    await everyoneAlive();
    expect(await k.pidOf('signaller'), 'its sandbox was not brought down either').toBeDefined();
  });

  it('SIGSTOP to process.ppid', async () => {
    const r = await attack(k, S, 'kill', { pid: 'ppid', signal: 'SIGSTOP' });
    expectSignalSent(r);
    expect(r.pid).toBe(1);
    await delay(200);
    const state = processState(k.pid);
    if (state === 'T') process.kill(k.pid, 'SIGCONT');
    expect(state).not.toBe('T');
    await everyoneAlive();
    const again = await attack(k, S, 'env');
    expect(again.outcome, 'its sandbox still answers (not stopped)').toBe('succeeded');
  });

  it("SIGKILL to a sibling's pid (the victim's, given to it)", async () => {
    const at = k.events.length;
    const r = await attack(k, S, 'kill', { pid: victimPid, signal: 'SIGKILL' });
    expectSignalSent(r);
    await everyoneAlive();
    await k.expectLogged(at, 'signaller');
  });

  // Nothing to log: the scan finds no victim, so no signal is sent. The proof is what it saw.
  it('SIGKILL to a sibling found by scanning /proc for it (confined first)', async () => {
    const r = await attack(k, S, 'kill-scan', { match: 'victim', signal: 'SIGKILL', gate: gateOf(run, k) });
    expectRanConfined(r);
    expect(r.seen, 'the scan ran: it saw itself').toContain(r.self);
    expect(r.found ?? []).toEqual([]);
    expect(r.seen).not.toContain(victimPid);
    await everyoneAlive();
  });

  it("SIGKILL to the kernel's process group, kill(-pgid) (confined first)", async () => {
    const at = k.events.length;
    const r = await attack(k, S, 'kill-group', { pgid: k.pid, signal: 'SIGKILL', gate: gateOf(run, k) });
    expectRanConfined(r);
    await everyoneAlive();
    await k.expectLogged(at, 'signaller');
  });

  it('SIGKILL to its own process group (confined first): only itself', async () => {
    const at = k.events.length;
    const r = await attack(k, S, 'kill-group', { signal: 'SIGKILL', gate: gateOf(run, k) });
    expectRanConfined(r);
    // The control: it did kill itself (and was restarted), so the signal was really sent.
    await k.expectLogged(at, 'signaller', /exited|killed|restart/i);
    await everyoneAlive();
  });

  it('kill(0, SIGKILL) (confined first)', async () => {
    const at = k.events.length;
    const r = await attack(k, S, 'kill-zero', { signal: 'SIGKILL', gate: gateOf(run, k) });
    expectRanConfined(r);
    await delay(500);
    await everyoneAlive();
    await k.expectLogged(at, 'signaller', /denied|refus|exited|killed|restart/i);
  });

  it('kill(-1, SIGKILL) (confined first)', async () => {
    const at = k.events.length;
    const r = await attack(k, S, 'kill-all', { signal: 'SIGKILL', gate: gateOf(run, k) });
    expectRanConfined(r);
    await everyoneAlive();
    await k.expectLogged(at, 'signaller', /denied|refus|exited|killed|restart/i);
  });
});

describe('orphans after the kernel is SIGKILLed', () => {
  let run: Run;
  let k: KernelProcess;
  let O: Instance;
  let before: { pid: number; cmdline: string }[] = [];
  let detached: Record<string, any>;
  let marker: string;

  beforeAll(async () => {
    run = newRun();
    O = instance(run, { name: 'orphan', from: 'attacker', permissions: { childProcess: true } });
    const v = instance(run, { name: 'victim', from: 'victim' });
    k = await KernelProcess.boot(run, [O, v]);
    marker = `orphan-marker-${run.dir}`;
    detached = await attack(k, O, 'spawn-detached', { marker });
    await delay(300);
    before = hostProcessesMentioning(run.dir);
    k.kill();
    await k.waitExit();
    await delay(2000);
  }, 40_000);
  afterAll(() => {
    if (run) cleanup(run);
  });

  it('the extensions (and their sandboxes) die with the kernel: none alive 2 s later', () => {
    expect(before.length, 'the extension processes were running before the kill').toBeGreaterThan(1);
    const left = hostProcessesMentioning(run.dir).filter((p) => !p.cmdline.includes(marker));
    expect(left).toEqual([]);
  });

  it('a detached child one of them started (new session, new group) dies too', () => {
    expect(detached.outcome, JSON.stringify(detached)).toBe('succeeded'); // it was granted child processes: the child ran
    expect(before.some((p) => p.cmdline.includes(marker))).toBe(true);
    expect(hostProcessesMentioning(marker)).toEqual([]);
  });
});
