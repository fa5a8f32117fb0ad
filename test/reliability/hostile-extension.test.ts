/**
 * A hostile isolated extension, tried as an attacker would, against one shared kernel (cases that
 * kill things, load-time refusals and resource bombs have their own kernels, in
 * hostile-extension-*.test.ts). Each case: the attempt is denied, proven by what did NOT happen
 * (a listener that received nothing, a planted random secret found nowhere the extension could
 * put it, a file that was not created); the kernel's log names the extension; the kernel still
 * serves afterwards.
 */
import { connect as netConnect, createServer, type Server } from 'node:net';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { existsSync, mkdirSync, readFileSync, realpathSync, symlinkSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedLibraries } from '../../src/sandbox/index.js';
import { attack, cleanup, configGaps, delay, instance, KernelProcess, newRun, root, writableText, type Instance, type Run } from './hostile-extension-harness.js';

let run: Run;
let k: KernelProcess;
let A: Instance; // the attacker
let P: Instance; // an attacker granted /proc: what it sees there is the sandbox's own /proc, not the permission model's refusal
let victim: Instance;
let nsjumper: Instance; // an attacker granted child processes
let reloader: Instance;
let watcher: Instance;
let token: string;

/** A real listener on the host that counts what it receives. */
interface Listener {
  connections: number;
  bytes: number;
  close(): void;
}
function streamListener(options: { path?: string; port?: number; host?: string }): Promise<Listener & { server: Server; port: number }> {
  return new Promise((resolve) => {
    const l = { connections: 0, bytes: 0, server: undefined as unknown as Server, port: 0, close: () => l.server.close() };
    l.server = createServer((c) => {
      l.connections++;
      c.on('data', (d) => (l.bytes += d.length));
      c.on('error', () => {});
    });
    l.server.listen(options.path !== undefined ? { path: options.path } : { port: options.port ?? 0, host: options.host ?? '127.0.0.1' }, () => {
      const a = l.server.address();
      if (a && typeof a === 'object') l.port = a.port;
      resolve(l);
    });
  });
}
function udpListener(): Promise<Listener & { port: number }> {
  return new Promise((resolve) => {
    const s: UdpSocket = createSocket('udp4');
    const l = { connections: 0, bytes: 0, port: 0, close: () => s.close() };
    s.on('message', (m) => (l.connections++, (l.bytes += m.length)));
    s.bind(0, '127.0.0.1', () => ((l.port = s.address().port), resolve(l)));
  });
}

/** The planted secret (and the kernel's environment secret, and the operator token) appear in no answer, log line or file the extension could write. */
function expectNothingLeaked(answer: unknown, ...secrets: string[]): void {
  const everywhere = `${JSON.stringify(answer)}\n${k.logText()}\n${k.stderr}\n${writableText(A.scratch, P.scratch, nsjumper.scratch, reloader.scratch, watcher.scratch)}`;
  for (const s of [run.secret, run.envSecret, token, ...secrets]) expect(everywhere.includes(s), `a secret leaked: ${JSON.stringify(answer).slice(0, 400)}`).toBe(false);
}

const victimAnswers = async () => {
  const v = (await k.client.request('victim.ping', {}, { timeout: '3s' })) as { who: string };
  expect(v.who).toBe('victim');
};

beforeAll(async () => {
  run = newRun();
  A = instance(run, {
    name: 'attacker',
    from: 'attacker',
    provides: ['attack.run'],
    calls: ['melody.run', 'melody.validate', 'pool.define', 'pool.allocate', 'victim.ping'],
    publishes: ['attack.>'],
    permissions: { fsRead: [run.granted] },
    limits: { memoryMb: 192 },
  });
  P = instance(run, { name: 'procview', from: 'attacker', permissions: { fsRead: ['/proc'] } });
  victim = instance(run, { name: 'victim', from: 'victim' });
  // The programs it tries (and their libraries) are granted: the attempt really runs, and the layer that stops it is the sandbox's.
  const tools = ['nsenter', 'unshare', 'cat', 'tee'].map((t) => realpathSync(`/usr/bin/${t}`));
  const libs = [...new Set(tools.flatMap((t) => sharedLibraries(t)).map((l) => realpathSync(l)))];
  nsjumper = instance(run, { name: 'nsjumper', from: 'attacker', permissions: { childProcess: true, fsRead: [run.granted, ...tools, ...libs] }, activation: ['onCall'] });
  reloader = instance(run, { name: 'reloader', from: 'attacker', activation: ['onCall'] });
  watcher = instance(run, { name: 'watcher', from: 'attacker', activation: ['onCall'] });
  k = await KernelProcess.boot(run, [A, P, victim, nsjumper, reloader, watcher], { watch: true });
  token = readFileSync(`${run.socket}.token`, 'utf8').trim();
  if (configGaps.size) console.log(`hostile suite: settings the code under test does not take yet: ${[...configGaps].join('; ')}`);
}, 40_000);
afterAll(async () => {
  await k?.stop();
  if (run) cleanup(run);
});

describe("the kernel's environment and /proc", () => {
  it('cannot read the kernel environment through /proc/<kernel pid>/environ', async () => {
    const at = k.events.length;
    const r = await attack(k, A, 'read-file', { path: `/proc/${k.pid}/environ` });
    // Granted /proc, it looks in the sandbox's own: the kernel is no process there.
    const rp = await attack(k, P, 'read-file', { path: `/proc/${k.pid}/environ` });
    expectNothingLeaked([r, rp]);
    expect(`${r.text ?? ''}${rp.text ?? ''}`).not.toContain('HOSTILE_ENV_SECRET');
    expect(rp.code, 'the kernel is not in its /proc').toBe('ENOENT');
    await k.expectLogged(at, 'attacker');
    await k.expectServing();
  });

  it('cannot read /proc/1/environ of the host', async () => {
    let host1 = '';
    try {
      host1 = readFileSync('/proc/1/environ', 'latin1');
    } catch {}
    const at = k.events.length;
    const r = await attack(k, A, 'read-file', { path: '/proc/1/environ' });
    // Its pid 1 is the sandbox's own init (started with an empty environment).
    const rp = await attack(k, P, 'read-file', { path: '/proc/1/environ' });
    expect(rp.outcome, JSON.stringify(rp)).toBe('succeeded');
    expectNothingLeaked([r, rp]);
    for (const entry of host1.split('\0').filter((e) => e.length > 8)) expect(`${r.text ?? ''}${rp.text}`).not.toContain(entry);
    await k.expectLogged(at, 'attacker');
    await k.expectServing();
  });

  it('gets a cleared environment: no kernel variable, no token, no bus path in its own env or /proc/self/environ', async () => {
    const r = await attack(k, A, 'env');
    expect(r.outcome).toBe('succeeded'); // reading its own environment is allowed: what it holds is the point
    expectNothingLeaked(r);
    const env = `${JSON.stringify(r.env)}${r.procSelf}`;
    expect(env).not.toContain('HOSTILE_ENV_SECRET');
    expect(env).not.toContain('SYMPHONY_TOKEN');
    await k.expectServing();
  });

  it("cannot learn the kernel's socket path from its environment", async () => {
    const r = await attack(k, A, 'env');
    const rp = await attack(k, P, 'env');
    expect(rp.procSelf, 'granted /proc, it read its own /proc/self/environ').toContain('SYMPHONY_PEER=procview');
    for (const [who, answer] of [[A, r], [P, rp]] as const) {
      const env = `${JSON.stringify(answer.env)}${answer.procSelf}`;
      expect(env).not.toContain(run.socket);
      expect(env).not.toContain(dirname(run.socket));
      // Its own folder (its working folder, PWD) is its own to know; nothing else of the run is named.
      expect(env.replaceAll(who.dir, '<its folder>')).not.toContain(run.dir);
    }
    await k.expectServing();
  });

  it('sees only its sandbox in /proc: not the test runner, the kernel or the victim', async () => {
    const victimPid = await k.pidOf('victim');
    const r = await attack(k, P, 'proc-scan');
    expect(r.outcome, JSON.stringify(r)).toBe('succeeded');
    const seen = Object.keys(r.procs ?? {}).map(Number);
    expect(seen, 'it sees itself: the scan ran').toContain(r.self);
    for (const p of [process.pid, k.pid, victimPid]) if (p) expect(seen).not.toContain(p);
    expect(JSON.stringify(r.procs ?? {})).not.toMatch(/vitest|cli\/main\.js|victim/);
    expect(seen.length).toBeLessThanOrEqual(8);
    await k.expectServing([victimAnswers]);
  });

  it("cannot reach the operator token through /proc/<kernel pid>/root", async () => {
    const at = k.events.length;
    const r = await attack(k, A, 'read-file', { path: `/proc/${k.pid}/root${run.socket}.token` });
    const rp = await attack(k, P, 'read-file', { path: `/proc/${k.pid}/root${run.socket}.token` });
    expectNothingLeaked([r, rp]);
    expect(rp.code).toBe('ENOENT');
    await k.expectLogged(at, 'attacker');
    await k.expectServing();
  });

  it("cannot read the kernel's memory (/proc/<kernel pid>/mem, what ptrace or process_vm_readv would give)", async () => {
    const at = k.events.length;
    const r = await attack(k, A, 'read-mem', { pid: k.pid });
    const rp = await attack(k, P, 'read-mem', { pid: k.pid });
    expect(r.bytes ?? 0).toBe(0);
    expect(rp.bytes ?? 0).toBe(0);
    expect(rp.code).toBe('ENOENT');
    expectNothingLeaked([r, rp]);
    await k.expectLogged(at, 'attacker');
    await k.expectServing();
  });
});

describe("the operator's token", () => {
  it('cannot read the token file beside the socket', async () => {
    const at = k.events.length;
    const r = await attack(k, A, 'read-file', { path: `${run.socket}.token` });
    expectNothingLeaked(r);
    await k.expectLogged(at, 'attacker');
    await k.expectServing();
  });

  it('cannot read it through a symlink it plants in its own scratch folder', async () => {
    const at = k.events.length;
    const r = await attack(k, A, 'symlink-read', { target: `${run.socket}.token`, at: join(A.scratch!, 'tok') });
    expectNothingLeaked(r);
    await k.expectLogged(at, 'attacker');
    await k.expectServing();
  });

  it('cannot read it through a symlink the host left in a granted folder after boot', async () => {
    mkdirSync(join(run.granted, 'a/b/c'), { recursive: true });
    symlinkSync(`${run.socket}.token`, join(run.granted, 'a/b/c/token'));
    symlinkSync(run.secretPath, join(run.granted, 'a/b/c/secret'));
    const at = k.events.length;
    const r1 = await attack(k, A, 'read-file', { path: join(run.granted, 'a/b/c/token') });
    const r2 = await attack(k, A, 'read-file', { path: join(run.granted, 'a/b/c/secret') });
    expectNothingLeaked([r1, r2]);
    await k.expectLogged(at, 'attacker');
    await k.expectServing();
  });

  it('a symlink planted in its folder after boot, then orchestra.reload: refused, the token not read', async () => {
    mkdirSync(join(reloader.dir, 'deep/x/y/z'), { recursive: true });
    symlinkSync(`${run.socket}.token`, join(reloader.dir, 'deep/x/y/z/leak'));
    const at = k.events.length;
    const refused = await k.client.request('orchestra.reload', { extension: 'reloader' }, { timeout: '10s' }).then(() => undefined, (e: { code: number; message: string }) => e);
    // The reload itself is refused, naming the link (the layers below would also keep the token from it).
    expect(refused?.code).toBe(-32602);
    expect(refused?.message).toMatch(/not reloading 'reloader': .*deep\/x\/y\/z\/leak:1:1: refused: the symlink .* leads out of the extension folder/);
    const r = await attack(k, reloader, 'read-file', { path: join(reloader.dir, 'deep/x/y/z/leak') });
    expectNothingLeaked(r);
    await k.expectLogged(at, 'reloader', /symlink|refus|denied/i);
    await k.expectServing();
  });

  it('a symlink planted in its folder after boot, picked up by watch mode: refused, the token not read', async () => {
    await attack(k, watcher, 'env'); // running before the plant
    const at = k.events.length;
    mkdirSync(join(watcher.dir, 'w/1/2/3/4'), { recursive: true });
    symlinkSync(`${run.socket}.token`, join(watcher.dir, 'w/1/2/3/4/leak'));
    await delay(1500); // the watcher's debounce, and a reload
    const r = await attack(k, watcher, 'read-file', { path: join(watcher.dir, 'w/1/2/3/4/leak') });
    expectNothingLeaked(r);
    await k.expectLogged(at, 'watcher', /not reloading 'watcher': .*w\/1\/2\/3\/4\/leak:1:1: refused: the symlink/);
    await k.expectServing();
  });

  it('cannot take over the bus: a hello on the bus socket with its best guess of the token gets nothing', async () => {
    const before = k.secretCalls.length;
    const at = k.events.length;
    const found = await attack(k, A, 'read-file', { path: `${run.socket}.token` });
    const r = await attack(k, A, 'hello', { path: run.socket, token: found.text?.trim() || 'x'.repeat(43) });
    expect(r.outcome).not.toBe('succeeded');
    expect(k.secretCalls.length).toBe(before);
    expectNothingLeaked([found, r]);
    await k.expectLogged(at, 'attacker');
    await k.expectServing();
  });
});

describe('files outside', () => {
  it('cannot read a planted secret in a host folder it was not granted', async () => {
    const at = k.events.length;
    const r = await attack(k, A, 'read-file', { path: run.secretPath });
    expectNothingLeaked(r);
    await k.expectLogged(at, 'attacker');
    await k.expectServing();
  });

  it('cannot write outside (a host folder, /tmp): no file appears', async () => {
    const targets = [join(run.host, 'pwned'), `/tmp/hostile-pwned-${process.pid}`];
    const at = k.events.length;
    for (const path of targets) await attack(k, A, 'write-file', { path, text: 'pwned' });
    for (const path of targets) expect(existsSync(path), path).toBe(false);
    await k.expectLogged(at, 'attacker');
    await k.expectServing();
  });

  it('cannot write into a folder it was granted read-only', async () => {
    const at = k.events.length;
    await attack(k, A, 'write-file', { path: join(run.granted, 'pwned'), text: 'pwned' });
    expect(existsSync(join(run.granted, 'pwned'))).toBe(false);
    await k.expectLogged(at, 'attacker');
    await k.expectServing();
  });
});

describe('Unix sockets', () => {
  it('cannot connect to a listener in a host folder: the listener receives nothing', async () => {
    const l = await streamListener({ path: join(run.host, 'l.sock') });
    const at = k.events.length;
    await attack(k, A, 'unix-connect', { path: join(run.host, 'l.sock') });
    await delay(200);
    l.close();
    expect([l.connections, l.bytes]).toEqual([0, 0]);
    await k.expectLogged(at, 'attacker');
    await k.expectServing();
  });

  it('cannot connect to a listener in a folder it may read: the listener receives nothing', async () => {
    const l = await streamListener({ path: join(run.granted, 'l.sock') });
    const at = k.events.length;
    await attack(k, A, 'unix-connect', { path: join(run.granted, 'l.sock') });
    await delay(200);
    l.close();
    expect([l.connections, l.bytes]).toEqual([0, 0]);
    await k.expectLogged(at, 'attacker');
    await k.expectServing();
  });

  it('cannot offer a socket to the host: one bound in its scratch folder cannot be reached', async () => {
    const path = join(A.scratch!, 'offer.sock');
    const at = k.events.length;
    await attack(k, A, 'unix-listen', { path });
    const reached = await new Promise<boolean>((res) => {
      const s = netConnect(path);
      s.on('connect', () => (s.write('host'), s.destroy(), res(true)));
      s.on('error', () => res(false));
    });
    expect(reached).toBe(false);
    const report = await attack(k, A, 'listen-report', { options: { path } });
    expect(report.connections ?? 0).toBe(0);
    await k.expectLogged(at, 'attacker');
    await k.expectServing();
  });

  it('cannot connect to an abstract Unix socket of the host: the listener receives nothing', async () => {
    const name = `hostile-${run.secret.slice(-12)}`;
    const l = await streamListener({ path: `\0${name}` });
    const at = k.events.length;
    await attack(k, A, 'abstract-connect', { name });
    await delay(200);
    l.close();
    expect([l.connections, l.bytes]).toEqual([0, 0]);
    await k.expectLogged(at, 'attacker');
    await k.expectServing();
  });

  it('cannot offer an abstract Unix socket to the host', async () => {
    const name = `hostile-offer-${run.secret.slice(-12)}`;
    const at = k.events.length;
    await attack(k, A, 'abstract-listen', { name });
    const reached = await new Promise<boolean>((res) => {
      const s = netConnect(`\0${name}`);
      s.on('connect', () => (s.destroy(), res(true)));
      s.on('error', () => res(false));
    });
    expect(reached).toBe(false);
    await k.expectLogged(at, 'attacker');
    await k.expectServing();
  });
});

describe('the network (net: false)', () => {
  it('cannot reach a TCP listener on loopback', async () => {
    const l = await streamListener({ host: '127.0.0.1' });
    const at = k.events.length;
    await attack(k, A, 'tcp-connect', { host: '127.0.0.1', port: l.port });
    await delay(200);
    l.close();
    expect([l.connections, l.bytes]).toEqual([0, 0]);
    await k.expectLogged(at, 'attacker');
    await k.expectServing();
  });

  it("cannot reach a TCP listener on the host's own address", async () => {
    const address = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
    expect(address, 'this machine has a non-loopback IPv4 address').toBeTruthy();
    const l = await streamListener({ host: '0.0.0.0' });
    const at = k.events.length;
    await attack(k, A, 'tcp-connect', { host: address, port: l.port });
    await delay(200);
    l.close();
    expect([l.connections, l.bytes]).toEqual([0, 0]);
    await k.expectLogged(at, 'attacker');
    await k.expectServing();
  });

  it('cannot send UDP to a loopback listener', async () => {
    const l = await udpListener();
    const at = k.events.length;
    await attack(k, A, 'udp-send', { host: '127.0.0.1', port: l.port });
    await delay(200);
    l.close();
    expect(l.connections).toBe(0);
    await k.expectLogged(at, 'attacker');
    await k.expectServing();
  });

  it('cannot send a DNS query to a loopback resolver', async () => {
    const l = await udpListener();
    const at = k.events.length;
    await attack(k, A, 'dns-query', { server: `127.0.0.1:${l.port}`, name: 'exfiltrate.example' });
    await delay(200);
    l.close();
    expect(l.connections).toBe(0);
    await k.expectLogged(at, 'attacker');
    await k.expectServing();
  });
});

describe('the bus', () => {
  it('cannot call a method it was not granted (kernel.secret): the handler never runs', async () => {
    const before = k.secretCalls.length;
    const at = k.events.length;
    const r = await attack(k, A, 'call', { method: 'kernel.secret' });
    expect(k.secretCalls.length).toBe(before);
    expectNothingLeaked(r);
    await k.expectLogged(at, 'attacker', /denied.*kernel\.secret/);
    await k.expectServing();
  });

  it('cannot publish on a topic it was not granted: a subscriber receives nothing', async () => {
    const got: unknown[] = [];
    const sub = await k.client.subscribe('kernel.>', (d) => void got.push(d));
    const at = k.events.length;
    await attack(k, A, 'publish', { topic: 'kernel.alarm', data: { forged: true } });
    await delay(300);
    expect(got).toEqual([]);
    await (sub as { dispose?: () => unknown })?.dispose?.();
    await k.expectLogged(at, 'attacker', /denied.*kernel\.alarm/);
    await k.expectServing();
  });
});

describe('the Conductor and the Pool as deputies', () => {
  it('melody.run with a step calling kernel.secret: run with its rights, the secret handler never runs', async () => {
    const before = k.secretCalls.length;
    const at = k.events.length;
    const r = await attack(k, A, 'call', { method: 'melody.run', params: { melody: { melody: 'steal', steps: { grab: { call: 'kernel.secret' } }, outputs: { got: '${steps.grab.output}' } } } });
    expect(k.secretCalls.length).toBe(before);
    expectNothingLeaked(r);
    await k.expectLogged(at, 'attacker', /denied.*kernel\.secret|kernel\.secret.*denied/);
    await k.expectServing();
  });

  it("pool.define { warm: 'kernel.secret' } then pool.allocate: the warm call is made with its rights, and refused", async () => {
    const before = k.secretCalls.length;
    const at = k.events.length;
    const d = await attack(k, A, 'call', { method: 'pool.define', params: { pool: 'steal', warm: 'kernel.secret' } });
    const r = await attack(k, A, 'call', { method: 'pool.allocate', params: { pool: 'steal', key: 'jewels', timeoutMs: 2000 } });
    expect(k.secretCalls.length).toBe(before);
    expectNothingLeaked([d, r]);
    await k.expectLogged(at, 'attacker', /denied.*kernel\.secret|kernel\.secret.*denied|refus/);
    await k.expectServing();
  });

  it("melody.validate { file: '/etc/shadow' }: no line of it appears anywhere", async () => {
    const at = k.events.length;
    const r = await attack(k, A, 'call', { method: 'melody.validate', params: { file: '/etc/shadow' } });
    const shadow = readFileSync('/etc/shadow', 'utf8')
      .split('\n')
      .filter((l) => l.includes(':'));
    const everywhere = `${JSON.stringify(r)}${k.logText(at)}${writableText(A.scratch)}`;
    for (const line of shadow) {
      expect(everywhere).not.toContain(line);
      const hash = line.split(':')[1]!;
      if (hash.length > 4) expect(everywhere).not.toContain(hash);
    }
    await k.expectLogged(at, 'attacker', /denied|refus|not in|outside/i);
    await k.expectServing();
  });

  it('melody.validate of a planted secret file in a host folder: its content appears nowhere', async () => {
    const at = k.events.length;
    const r = await attack(k, A, 'call', { method: 'melody.validate', params: { file: run.melodySecretPath } });
    expectNothingLeaked(r);
    await k.expectLogged(at, 'attacker', /denied|refus|not in|outside/i);
    await k.expectServing();
  });

  it('melody.run of a planted secret file: its content appears nowhere', async () => {
    const at = k.events.length;
    const r = await attack(k, A, 'call', { method: 'melody.run', params: { file: run.melodySecretPath } });
    expectNothingLeaked(r);
    await k.expectLogged(at, 'attacker', /denied|refus|not in|outside/i);
    await k.expectServing();
  });

  it("melody.validate climbing out of the operator's melody folder (../): the secret appears nowhere", async () => {
    const at = k.events.length;
    const r = await attack(k, A, 'call', { method: 'melody.validate', params: { file: join(run.melodies, '..', 'host', 'secret-melody.yaml') } });
    const r2 = await attack(k, A, 'call', { method: 'melody.validate', params: { file: `../host/secret-melody.yaml` } });
    expectNothingLeaked([r, r2]);
    await k.expectLogged(at, 'attacker', /denied|refus|not in|outside/i);
    await k.expectServing();
  });
});

describe('code it may not run', () => {
  it('cannot load a native addon (better-sqlite3): no database file appears on the host', async () => {
    const addon = join(root, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node');
    expect(existsSync(addon)).toBe(true);
    const at = k.events.length;
    const r = await attack(k, A, 'dlopen', { path: addon, createDb: join(A.scratch!, 'pwned.db') });
    expect(r.loaded).toBeUndefined();
    expect(existsSync(join(A.scratch!, 'pwned.db'))).toBe(false);
    await k.expectLogged(at, 'attacker');
    await k.expectServing();
  });

  it('cannot start a worker thread: its code never runs', async () => {
    const at = k.events.length;
    await attack(k, A, 'worker', { path: join(A.scratch!, 'worker-ran') });
    await delay(200);
    expect(existsSync(join(A.scratch!, 'worker-ran'))).toBe(false);
    await k.expectLogged(at, 'attacker');
    await k.expectServing();
  });

  it('cannot start a child process without childProcess: it never runs', async () => {
    const at = k.events.length;
    await attack(k, A, 'spawn', { command: process.execPath, args: ['-e', `require('fs').writeFileSync(${JSON.stringify(join(A.scratch!, 'spawned'))}, 'x')`] });
    expect(existsSync(join(A.scratch!, 'spawned'))).toBe(false);
    await k.expectLogged(at, 'attacker');
    await k.expectServing();
  });

  /** The control: its child processes run (cat reads a granted file), so a failure below is the sandbox's doing. */
  async function expectChildrenRun(): Promise<void> {
    const c = await attack(k, nsjumper, 'spawn', { command: 'cat', args: [join(run.granted, 'readme.txt')] });
    expect([c.status, c.stdout], JSON.stringify(c)).toEqual([0, 'granted to read\n']);
  }

  it("a child process outside Node's permission model cannot write its own folder or a read-only grant (the mount view alone holds): the files are unchanged", async () => {
    await expectChildrenRun();
    // tee, not node: from Node 22 on a child node inherits the permission flags (NODE_OPTIONS), so
    // only a program outside Node leaves the mount view alone in the way. tee opens every file it is
    // given for writing (truncating it) before it reads its empty stdin.
    const targets = [join(nsjumper.dir, 'planted.txt'), join(nsjumper.dir, 'package.json'), join(run.granted, 'readme.txt'), join(run.granted, 'planted.txt')];
    const before = targets.map((t) => (existsSync(t) ? readFileSync(t, 'utf8') : null));
    const r = await attack(k, nsjumper, 'spawn', { command: 'tee', args: targets });
    expect(r.outcome, JSON.stringify(r)).toBe('succeeded');
    expect(r.status, JSON.stringify(r)).not.toBe(0);
    for (const t of targets) expect(r.stderr).toContain(`tee: ${t}: Read-only file system`);
    expect(targets.map((t) => (existsSync(t) ? readFileSync(t, 'utf8') : null))).toEqual(before);
    await k.expectServing();
  });

  // No kernel log line here: the refusal happens inside a program it started (its seccomp filter
  // answers EPERM), which the kernel does not see. The proof is what the program could not do.
  it("setns: with child processes granted, nsenter into pid 1's namespaces does not reach the host's files", async () => {
    await expectChildrenRun();
    const r = await attack(k, nsjumper, 'spawn', { command: 'nsenter', args: ['-t', '1', '-m', '-p', '-U', '--preserve-credentials', 'cat', run.secretPath] });
    const r2 = await attack(k, nsjumper, 'spawn', { command: 'nsenter', args: ['-t', '1', '-a', 'cat', run.secretPath] });
    for (const x of [r, r2]) expect(x.outcome, JSON.stringify(x)).toBe('succeeded'); // nsenter itself ran...
    expect([r.status, r2.status]).not.toContain(0); // ...and failed
    expect(`${r.stderr}${r2.stderr}`).toMatch(/Operation not permitted|Permission denied|No such file/);
    expectNothingLeaked([r, r2]);
    await k.expectServing();
  });

  it('unshare and mount: a new mount namespace with a fresh /proc does not show the kernel', async () => {
    await expectChildrenRun();
    const r = await attack(k, nsjumper, 'spawn', { command: 'unshare', args: ['-Urm', '--mount-proc', '--fork', '--pid', 'cat', `/proc/${k.pid}/environ`] });
    const r2 = await attack(k, nsjumper, 'spawn', { command: 'unshare', args: ['-Urm', 'mount', '--bind', run.host, nsjumper.scratch!] });
    for (const x of [r, r2]) expect(x.outcome, JSON.stringify(x)).toBe('succeeded');
    expect([r.status, r2.status]).not.toContain(0);
    expect(`${r.stderr}${r2.stderr}`).toMatch(/Operation not permitted|Permission denied/);
    expect(writableText(nsjumper.scratch)).not.toContain(run.secret);
    expectNothingLeaked([r, r2]);
    await k.expectServing();
  });
});
