/**
 * The Orchestra Kit with real extension folders (test/fixtures/extensions) and real processes.
 */
import { existsSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKernel, type Kernel, type LogEvent } from '../../src/index.js';
import { Bus, ForbiddenError, MethodNotFoundError, PeerGoneError } from '../../src/bus/index.js';
import type { Orchestra } from '../../src/orchestra/index.js';
import { delay, grantsFor, until } from '../helpers.js';
import { reachFromHost, tcpListener } from '../listener.js';

const fixtures = resolve(import.meta.dirname, '../fixtures/extensions');

function system(paths: string[], extra: Record<string, unknown> = {}) {
  return createKernel({
    baseDir: fixtures,
    components: {
      bus: { use: 'builtin:bus', with: { listen: 'none' } },
      orchestra: { use: 'builtin:orchestra', needs: ['bus'], with: { paths, grants: grantsFor(paths, fixtures), restart: { max: 3, within: '30s' }, backoff: { initial: '20ms', max: '100ms' }, ...extra } },
    },
  });
}

describe('Orchestra Kit', () => {
  let k: Kernel;
  let bus: Bus;
  let orchestra: Orchestra;
  const logs: string[] = [];

  beforeAll(async () => {
    rmSync('/var/tmp/sneaky-was-here.txt', { force: true });
    k = system(['word-count', 'crasher', 'sneaky', 'lazy', 'hog', 'trusted', 'bad-manifest']);
    k.on('log', (e) => void logs.push(`${(e as LogEvent).level} ${(e as LogEvent).message}`));
    await k.start();
    bus = k.get('bus') as Bus;
    bus.handle('kernel.upper', (s: string) => s.toUpperCase());
    bus.handle('kernel.secret', () => 'the crown jewels');
    orchestra = k.get('orchestra') as Orchestra;
  }, 30_000);
  afterAll(async () => k?.stop());

  it('serves calls from an isolated extension, which calls back into the kernel', async () => {
    const r = (await bus.request('text.wordCount', { text: 'the quick brown fox', shout: true })) as { words: number; pid: number; text: string };
    expect(r.words).toBe(4);
    expect(r.text).toBe('THE QUICK BROWN FOX');
    expect(r.pid).not.toBe(process.pid);
    const status = orchestra.status().find((s) => s.name === 'word-count')!;
    // r.pid is its pid in its own pid namespace; the status names the host's.
    expect(status).toMatchObject({ execution: 'isolated', state: 'active', pid: orchestra.runtime('word-count').pid });
  });

  it('runs a trusted extension in process, after the extension it depends on', async () => {
    expect(await bus.request('trusted.add', { a: 2, b: 3 })).toBe(5);
    expect(await bus.request('trusted.pid')).toBe(process.pid);
    expect(await bus.request('trusted.count', { text: 'one two three' })).toBe(3);
    const stage = Object.fromEntries(orchestra.kernel!.report!.components.map((c) => [c.name, c.stage]));
    expect(stage.trusted).toBeGreaterThan(stage['word-count']!);
  });

  it('denies what the manifest does not grant: files, processes, workers, network, undeclared calls', async () => {
    const listener = await tcpListener();
    const r = (await bus.request('sneaky.try', { host: listener.host, port: listener.port })) as Record<string, string>;
    await delay(200); // a connection that got through has landed by now
    // The denial is what the listener did not receive; the error code alone proves nothing (an
    // unconfined process gets ECONNREFUSED or ENETUNREACH too). The control run reaches it.
    expect(listener.seen, 'the isolated extension reached the host listener').toEqual({ connections: 0, bytes: 0 });
    expect(await reachFromHost(listener.host, listener.port), 'control: an unconfined process reaches the listener').toBe('connected');
    await until(() => listener.seen.bytes > 0, 5000, 'the control connection to land');
    await listener.close();
    expect(r).toEqual({
      readOwnFolder: 'allowed',
      readEtcHostname: 'ERR_ACCESS_DENIED',
      writeOwnScratch: 'allowed',
      writeOutside: 'ERR_ACCESS_DENIED',
      spawnProcess: 'ERR_ACCESS_DENIED',
      startWorker: 'ERR_ACCESS_DENIED',
      // EACCES: the sandbox's seccomp filter refuses the socket; ENETUNREACH: its empty network
      // namespace without seccomp; ERR_ACCESS_DENIED: the permission model without the sandbox.
      network: expect.stringMatching(/^(EACCES|ENETUNREACH|ERR_ACCESS_DENIED)$/),
      callUndeclared: -32002 as unknown as string,
      // A publish is a notification: nothing to reject in the extension; the bus drops it and logs the denial.
      publishUndeclared: 'allowed',
    } as never);
    await until(() => logs.some((l) => l.includes("denied: 'sneaky' publishes 'system.shutdown'")));
    expect(logs.some((l) => l.includes("denied: 'sneaky' calls 'kernel.secret'"))).toBe(true);
    await until(() => logs.some((l) => l.includes("extension 'sneaky': symphony: the bus refused a notification: 'sneaky' may not publish 'system.shutdown'")));
  });

  it('reports a bad manifest with its file and fields, and loads the rest', () => {
    const bad = orchestra.problems.filter((p) => p.file.endsWith('bad-manifest/package.json')).map((p) => `${p.line}:${p.col} ${p.message}`);
    expect(bad.join('\n')).toMatch(/version must be a semver version/);
    expect(bad.join('\n')).toMatch(/execution must be in-process or isolated/);
    expect(bad.join('\n')).toMatch(/provides must be a list of strings/);
    expect(bad.join('\n')).toMatch(/unknown field 'symphony.provide' \(did you mean 'provides'\?\)/);
    expect(bad.join('\n')).toMatch(/permissions.net must be true or false/);
    expect(orchestra.status().find((s) => s.name === 'bad-manifest')?.state).toBe('rejected');
    expect(logs.some((l) => l.includes('bad-manifest/package.json:'))).toBe(true);
  });

  it('activates an onCall extension on its first call; the call waits and succeeds', async () => {
    expect(orchestra.status().find((s) => s.name === 'lazy')).toMatchObject({ state: 'inactive', pid: undefined });
    const t0 = Date.now();
    const r = (await bus.request('lazy.hello', { name: 'world' })) as { hello: string; startedAt: number };
    expect(r.hello).toBe('world');
    expect(r.startedAt).toBeGreaterThanOrEqual(t0 - 5);
    expect(orchestra.status().find((s) => s.name === 'lazy')!.state).toBe('active');
  });

  it('restarts a crashed extension while its callers get -32004 at once; calls during the restart wait for it', async () => {
    const pid1 = (await bus.request('crash.pid')) as number;
    const pending = bus.request('crash.hang').catch((e: unknown) => e);
    await delay(20);
    const t0 = performance.now();
    await bus.request('crash.now');
    const err = await pending;
    expect(err).toBeInstanceOf(PeerGoneError);
    expect(performance.now() - t0).toBeLessThan(1000);
    // Sent after the crash, before the new instance is up: not -32601 (no responder), but the new instance's answer.
    await until(() => orchestra.status().find((s) => s.name === 'crasher')?.state !== 'active', 5000, 'the crash to be seen');
    expect(await bus.request('crash.pid', {}, { timeout: '10s' })).not.toBe(pid1);
    await until(() => orchestra.status().find((s) => s.name === 'crasher')?.state === 'active' && orchestra.runtime('crasher').pid !== pid1, 10_000, 'the restart');
    const pid2 = (await bus.request('crash.pid')) as number;
    expect(pid2).not.toBe(pid1);
    expect(orchestra.status().find((s) => s.name === 'crasher')!.restarts).toBe(1);
  });

  it('kills a memory hog at its limit, and the kernel carries on', async () => {
    await bus.request('hog.pid');
    const pid = orchestra.runtime('hog').pid!; // the host's pid of its process (its own is in its namespace)
    const err = await bus.request('hog.eat', {}, { timeout: '20s' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PeerGoneError);
    await until(() => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    }, 5000, 'the hog to be gone');
    expect(logs.some((l) => /extension 'hog' killed: (it used \d+\.\d MB, over its limit of 96 MB|over its memory limit of 96 MB \(cgroup\))/.test(l))).toBe(true);
    // Killed at its limit, not merely at some point: what it held (it says so after each bite) stays near 96 MB.
    expect(Math.max(0, ...logs.map((l) => Number(/extension 'hog': hog holds (\d+) MB$/.exec(l)?.[1] ?? 0)))).toBeLessThan(96 + 64);
    expect(await bus.request('trusted.add', { a: 1, b: 1 })).toBe(2);
  }, 30_000);

  it('left no file outside the sandbox', () => {
    expect(existsSync('/var/tmp/sneaky-was-here.txt')).toBe(false);
  });
});

describe('Orchestra Kit: dependency resolution', () => {
  it('reports conflicts and missing dependencies, and loads what it can', async () => {
    const k = system(['conflict']);
    await k.start();
    const orchestra = k.get('orchestra') as Orchestra;
    const messages = orchestra.problems.map((p) => p.message);
    expect(messages).toContainEqual(expect.stringMatching(/^dependency conflict on 'tokenizer': 'legacy@1.0.0' needs \^1.0.0, 'summarizer@1.0.0' needs \^2.0.0; found 1.0.0, 2.0.0/));
    expect(messages).toContainEqual("'legacy@1.0.0' depends on 'missing-thing' ^3.0.0, which is not installed");
    const states = Object.fromEntries(orchestra.status().map((s) => [s.name, s.state]));
    expect(states.summarizer).toBe('active');
    expect(states.tokenizer).toBe('active');
    expect(states.legacy).toBe('rejected');
    await k.stop();
  });
});

describe('Orchestra Kit: a dependency cycle between extensions', () => {
  it('is reported as a path to break by removing a dependency (extensions have no late edges), and neither loads', async () => {
    const k = system(['cyc-a', 'cyc-b', 'word-count']);
    await k.start();
    const orchestra = k.get('orchestra') as Orchestra;
    expect(orchestra.problems.map((p) => p.message)).toContainEqual(expect.stringMatching(/^dependency cycle: (cyc-a -> cyc-b -> cyc-a|cyc-b -> cyc-a -> cyc-b); extensions cannot depend on each other in a circle: remove one of these dependencies$/));
    const states = Object.fromEntries(orchestra.status().map((s) => [s.name, s.state]));
    expect(states['word-count']).toBe('active');
    expect(states['cyc-a']).not.toBe('active');
    await k.stop();
  });
});

describe('Orchestra Kit: supervision and reload', () => {
  it('quarantines an extension that keeps crashing: its methods then answer -32004 naming the quarantine', async () => {
    const k = createKernel({
      baseDir: fixtures,
      components: {
        bus: { use: 'builtin:bus', with: { listen: 'none' } },
        orchestra: { use: 'builtin:orchestra', needs: ['bus'], with: { paths: ['crasher'], grants: grantsFor(['crasher'], fixtures), restart: { max: 2, within: '30s' }, backoff: { initial: '10ms', max: '20ms' } } },
      },
    });
    await k.start();
    const bus = k.get('bus') as Bus;
    const orchestra = k.get('orchestra') as Orchestra;
    for (let i = 0; i < 3; i++) {
      await until(() => orchestra.status()[0]!.state === 'active', 10_000, `restart ${i}`);
      await bus.request('crash.now').catch(() => {});
      await until(() => orchestra.status()[0]!.state !== 'active', 5000, `crash ${i}`);
    }
    // Made while the last restart is pending (held), or after the quarantine: the same -32004.
    const held = bus.request('crash.pid', {}, { timeout: '20s' }).catch((e: unknown) => e);
    await until(() => orchestra.status()[0]!.state === 'quarantined', 10_000, 'the quarantine');
    const heldErr = (await held) as PeerGoneError;
    expect(heldErr).toBeInstanceOf(PeerGoneError);
    expect(heldErr.message).toMatch(/extension 'crasher' is quarantined after repeated failures/);
    const err = (await bus.request('crash.pid').catch((e: unknown) => e)) as PeerGoneError;
    expect(err).toBeInstanceOf(PeerGoneError);
    expect(err.message).toMatch(/extension 'crasher' is quarantined after repeated failures/);
    expect(k.system).toBe('ready'); // the Orchestra itself carries on; its health says which extension is down
    await k.stop();
  }, 40_000);

  it('an onCall extension that crashed comes back reserved: a call made meanwhile activates the new instance', async () => {
    const k = createKernel({
      baseDir: fixtures,
      components: {
        bus: { use: 'builtin:bus', with: { listen: 'none' } },
        orchestra: { use: 'builtin:orchestra', needs: ['bus'], with: { paths: ['lazy-crasher'], grants: grantsFor(['lazy-crasher'], fixtures), backoff: { initial: '10ms', max: '20ms' } } },
      },
    });
    await k.start();
    const bus = k.get('bus') as Bus;
    const orchestra = k.get('orchestra') as Orchestra;
    const pid1 = (await bus.request('lazycrash.pid')) as number; // activates it
    expect(await bus.request('lazycrash.now')).toBe('bye');
    await until(() => orchestra.status()[0]!.state !== 'active', 5000, 'the crash to be seen');
    expect(await bus.request('lazycrash.pid', {}, { timeout: '10s' })).not.toBe(pid1);
    expect(orchestra.status()[0]!.restarts).toBe(1);
    await k.stop();
  }, 20_000);

  it('reloads an in-process extension through the kernel swap when its folder changes', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(resolve(tmpdir(), 'symphony-reload-'));
    const write = (n: number) => {
      writeFileSync(resolve(dir, 'package.json'), JSON.stringify({ name: 'hot', version: `1.0.${n}`, main: 'index.js', type: 'module', symphony: { execution: 'in-process', provides: ['hot.*'] } }));
      writeFileSync(resolve(dir, 'index.js'), `export default { activate(ctx) { ctx.bus.handle('hot.version', () => ${n}); } };`);
    };
    write(1);
    const k = createKernel({
      components: {
        bus: { use: 'builtin:bus', with: { listen: 'none' } },
        // Not pinned (manifest: any): the reload changes the manifest's version, within the same rights.
        orchestra: { use: 'builtin:orchestra', needs: ['bus'], with: { paths: [dir], watch: true, grants: { hot: { ...grantsFor([dir]).hot, manifest: 'any' } } } },
      },
    });
    await k.start();
    const bus = k.get('bus') as Bus;
    expect(await bus.request('hot.version')).toBe(1);
    write(2);
    await until(async () => (await bus.request('hot.version')) === 2, 10_000, 'the reload');
    expect((k.get('orchestra') as Orchestra).status()[0]).toMatchObject({ version: '1.0.2', state: 'active' });
    await k.stop();
  }, 20_000);

  it('reloads a running isolated onCall extension: the new one takes its methods over in one step, no call made meanwhile fails', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const dir = mkdtempSync('/var/tmp/symphony-reload-oncall-');
    const write = (n: number) => {
      writeFileSync(resolve(dir, 'package.json'), JSON.stringify({ name: 'warm', version: `1.0.${n}`, main: 'index.js', type: 'module', symphony: { execution: 'isolated', activation: ['onCall'], provides: ['warm.version', 'warm.pid'] } }));
      writeFileSync(resolve(dir, 'index.js'), `export default { activate(ctx) { ctx.bus.handle('warm.version', () => ${n}); ctx.bus.handle('warm.pid', () => process.pid); } };`);
    };
    write(1);
    const k = createKernel({
      components: {
        bus: { use: 'builtin:bus', with: { listen: 'none' } },
        orchestra: { use: 'builtin:orchestra', needs: ['bus'], with: { paths: [dir], grants: { warm: { ...grantsFor([dir]).warm, manifest: 'any' } } } },
      },
    });
    await k.start();
    try {
      const bus = k.get('bus') as Bus;
      const orchestra = k.get('orchestra') as Orchestra;
      expect(orchestra.status()[0]!.state).toBe('inactive');
      expect(await bus.request('warm.version')).toBe(1); // activates it
      const oldHostPid = orchestra.status()[0]!.pid!;
      expect(oldHostPid).toBeGreaterThan(0);
      write(2);
      // Callers keep calling through the reload: each is answered, by the old one or the new one.
      let calling = true;
      const answers: unknown[] = [];
      const caller = (async () => {
        while (calling) answers.push(await bus.request('warm.version', {}, { timeout: '5s' }).catch((e: unknown) => e));
      })();
      await delay(50);
      try {
        await orchestra.reload('warm');
        await delay(100);
      } finally {
        calling = false;
        await caller;
      }
      expect(answers.filter((a) => a instanceof Error).map((e) => (e as Error).message)).toEqual([]);
      expect(answers.length).toBeGreaterThan(2);
      expect(answers.at(-1)).toBe(2);
      expect(await bus.request('warm.version')).toBe(2);
      expect(orchestra.status()[0]).toMatchObject({ version: '1.0.2', state: 'active' });
      expect(orchestra.status()[0]!.pid).not.toBe(oldHostPid);
      // The old process is gone, not left serving beside the new one.
      await until(() => !existsSync(`/proc/${oldHostPid}`), 5000, 'the old process to exit');
    } finally {
      await k.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);

  it('leaves no extension process behind when the kernel is killed with SIGKILL', async () => {
    const { spawn } = await import('node:child_process');
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(resolve(tmpdir(), 'symphony-orphans-'));
    writeFileSync(resolve(dir, 'symphony.yaml'), `components:\n  bus: { use: builtin:bus }\n  orchestra: { use: builtin:orchestra, needs: [bus], with: { paths: [${fixtures}/word-count, ${fixtures}/crasher], grants: ${JSON.stringify(grantsFor([`${fixtures}/word-count`, `${fixtures}/crasher`]))} } }\n`);
    const kernel = spawn(process.execPath, [resolve(import.meta.dirname, '../../dist/cli/main.js'), 'up', '-c', resolve(dir, 'symphony.yaml')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    kernel.stdout.on('data', (d) => (out += d));
    await until(() => out.includes('system ready'), 15_000, 'the system to be ready');
    const { connect } = await import('../../src/bus/index.js');
    const path = /listening on (\S+)/.exec(out)![1]!;
    const client = await connect({ path, name: 'probe', reconnect: false });
    await client.request('text.wordCount', { text: 'a b' });
    await client.request('crash.pid');
    await client.stop();
    // Their pids as the host sees them (inside, each has its own pid namespace): every process
    // whose command line names one of the two folders (the sandbox's and the extension's own).
    const { readdirSync, readFileSync } = await import('node:fs');
    const pids = readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .filter((d) => {
        try {
          const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8');
          return cmd.includes(`${fixtures}/word-count`) || cmd.includes(`${fixtures}/crasher`);
        } catch {
          return false;
        }
      })
      .map(Number);
    expect(pids.length).toBeGreaterThanOrEqual(2);
    for (const pid of pids) expect(() => process.kill(pid, 0)).not.toThrow();
    kernel.kill('SIGKILL');
    await until(
      () =>
        pids.every((pid) => {
          try {
            process.kill(pid, 0);
            return false;
          } catch {
            return true;
          }
        }),
      5000,
      'the extension processes to exit',
    );
  }, 30_000);
});

describe('Orchestra Kit: bad extensions are named and contained', () => {
  it('names an extension whose activate throws or hangs, or whose main is missing, and runs the rest', async () => {
    const k = system(['activate-throws', 'activate-hangs', 'no-main', 'word-count', 'hangs-in-process', 'same-method']);
    await k.start();
    const orchestra = k.get('orchestra') as Orchestra;
    const bus = k.get('bus') as Bus;
    const state = Object.fromEntries(orchestra.status().map((s) => [s.name, s]));
    expect(state['activate-throws']!.error).toMatch(/extension 'activate-throws' did not activate: exited with code 4 \(activate failed: RangeError: cannot find my model\)/);
    expect(state['activate-hangs']!.error).toMatch(/activation of extension 'activate-hangs' did not complete within 400ms/);
    expect(state['no-main']).toMatchObject({ state: 'rejected', error: expect.stringMatching(/^main 'lib\/missing.js' does not exist/) });
    expect(orchestra.problems.find((p) => p.extension === 'no-main')).toMatchObject({ line: 1, col: expect.any(Number) });
    expect(state['word-count']!.state).toBe('active');
    expect(((await bus.request('text.wordCount', { text: 'still here' })) as { words: number }).words).toBe(2);
    // An in-process activation past its deadline leaves nothing serving.
    expect(state['hangs-in-process']!.error).toMatch(/activation of extension 'hangs-in-process' did not complete within 400ms/);
    await expect(bus.request('hangin.x')).rejects.toBeInstanceOf(MethodNotFoundError);
    // A method another extension provides is refused at load, naming both (it used to start and serve nothing).
    expect(state['same-method']).toMatchObject({ state: 'rejected', error: expect.stringMatching(/extension 'same-method' refused: it provides 'text.wordCount', which overlaps 'text.wordCount' provided by 'word-count'/) });
    expect(k.states().find((s) => s.name === 'orchestra')!.state).toBe('degraded');
    await k.stop();
  }, 30_000);
});

describe('Orchestra Kit: manifest limits', () => {
  it('refuses limits.memoryMb too small for any extension process to start, at its position', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { readManifest } = await import('../../src/orchestra/manifest.js');
    const dir = mkdtempSync(join(tmpdir(), 'symphony-manifest-'));
    writeFileSync(join(dir, 'index.js'), 'export default { activate() {} };\n');
    writeFileSync(join(dir, 'package.json'), '{ "name": "tiny", "version": "1.0.0", "main": "index.js",\n  "symphony": { "provides": ["tiny.x"], "limits": { "memoryMb": 16 } } }\n');
    const { manifest, problems } = await readManifest(dir);
    expect(manifest).toBeUndefined();
    expect(problems.map((p) => `${p.line}:${p.col} ${p.message}`)).toEqual([expect.stringMatching(/^2:\d+ limits.memoryMb must be at least 64 \(an extension process uses about 45 MB/)]);
  });
});

