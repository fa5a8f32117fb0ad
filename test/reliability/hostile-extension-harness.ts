/**
 * The hostile-extension suite's harness: a run folder with planted secrets, extension instances
 * copied from test/fixtures/hostile, ONE place that writes the kernel's config (grants included:
 * kernelConfig), a real kernel booted as its own process (`symphony up --log json`, in its own
 * process group), the operator's connection to it, and the checks every case makes: denied (by
 * what did not happen), logged (naming the extension), serving (a probe answered afterwards).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { connect, type BusClient } from '../../src/bus/index.js';
import * as v from 'valibot';
import { BusSettingsSchema } from '../../src/bus/settings/index.js';
import { ConductorSettingsSchema } from '../../src/conductor/settings/index.js';
import { OrchestraSettingsSchema } from '../../src/orchestra/settings/index.js';
import { PitSettingsSchema } from '../../src/pit/settings/index.js';
import type { SettingsSchema } from '../../src/util/settings.js';

/** The settings schema of each builtin, where its part declares it. */
const BuiltinSettingsSchemas: Record<string, SettingsSchema | undefined> = { bus: BusSettingsSchema, orchestra: OrchestraSettingsSchema, conductor: ConductorSettingsSchema, pit: PitSettingsSchema };

export const root = resolve(import.meta.dirname, '../..');
const bin = join(root, 'dist/cli/main.js');
const fixtures = join(root, 'test/fixtures/hostile');
export const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rand = (n = 16) => randomBytes(n).toString('hex');

/** One run's folders and secrets: everything under a fresh /var/tmp folder (short: socket paths are limited to 108 bytes). */
export interface Run {
  dir: string;
  /** Extension instances (each a copy of a fixture). */
  ext: string;
  /** A host folder nothing is granted: planted secrets, the marker, the test's own listeners. */
  host: string;
  /** A folder granted read-only to the attackers. */
  granted: string;
  /** The operator's melody folder (the only one melody.* may read). */
  melodies: string;
  pit: string;
  socket: string;
  /** Random bytes planted in host files; must appear nowhere an extension could have put it. */
  secret: string;
  secretPath: string;
  /** A melody file in the host folder that carries the secret where a parser would echo it. */
  melodySecretPath: string;
  /** Random-named file on the host; a confined process must not see it. */
  marker: string;
  /** Put in the kernel's environment; must never reach an extension. */
  envSecret: string;
}

/**
 * Not under /tmp: inside the sandbox /tmp is the extension's private scratch (its permission model
 * may use it), so host folders there would be judged by another layer than the one a case means.
 */
export function newRun(): Run {
  const dir = mkdtempSync('/var/tmp/shx-');
  const r: Run = {
    dir,
    ext: join(dir, 'ext'),
    host: join(dir, 'host'),
    granted: join(dir, 'granted'),
    melodies: join(dir, 'melodies'),
    pit: join(dir, 'pit'),
    socket: join(dir, 'bus', 'bus.sock'),
    secret: `SECRET-${rand()}`,
    secretPath: '',
    melodySecretPath: '',
    marker: '',
    envSecret: `ENVSECRET-${rand()}`,
  };
  for (const d of [r.ext, r.host, r.granted, r.melodies, r.pit, dirname(r.socket)]) mkdirSync(d, { recursive: true });
  chmodSync(dirname(r.socket), 0o700);
  r.secretPath = join(r.host, 'secret.txt');
  writeFileSync(r.secretPath, `${r.secret}\n`, { mode: 0o600 });
  r.melodySecretPath = join(r.host, 'secret-melody.yaml');
  writeFileSync(r.melodySecretPath, `melody: ${r.secret}\nsteps: { ${r.secret}: [ }\n`, { mode: 0o600 });
  r.marker = join(r.host, `marker-${rand(8)}`);
  writeFileSync(r.marker, 'the host is here\n');
  writeFileSync(join(r.granted, 'readme.txt'), 'granted to read\n');
  writeFileSync(join(r.melodies, 'ok.yaml'), 'melody: ok\nsteps:\n  one: { call: orchestra.status }\n');
  return r;
}

export interface InstanceSpec {
  /** Package name (and grant key). Lowercase letters and digits. */
  name: string;
  from: 'attacker' | 'victim' | 'greedy';
  /** First is the method the test calls (`<name>.run` by default; `attack.run` for the main attacker). */
  provides?: string[];
  calls?: string[];
  publishes?: string[];
  permissions?: { fsRead?: string[]; fsWrite?: string[]; net?: boolean; childProcess?: boolean; workers?: boolean };
  /** The manifest's limits (memoryMb is the one every version knows). */
  limits?: Record<string, number>;
  /** Limits only the operator sets, in the grant (CPU, processes, scratch size...). */
  grantLimits?: Record<string, number>;
  activation?: string[];
  /** What the operator grants; default: what the manifest asks. `false`: no grant at all. */
  grant?: Partial<Grant> | false;
  /** Pin the grant to a different manifest text (a manifest changed after it was granted). */
  pinTo?: string;
  /** Symlinks planted in the instance's folder before boot: relative path -> target. */
  symlinks?: Record<string, string>;
  /** An fsWrite scratch folder on the host, granted (default true for attackers). */
  scratch?: boolean;
}

export interface Grant {
  manifest: string;
  provides: string[];
  calls: string[];
  publishes: string[];
  subscribes: string[];
  fsRead: string[];
  fsWrite: string[];
  net: boolean;
  childProcess: boolean;
  limits: Record<string, number>;
}

export interface Instance {
  spec: InstanceSpec;
  name: string;
  dir: string;
  method: string;
  scratch?: string;
  manifestText: string;
  grant?: Grant;
}

/** Copies a fixture into the run as an extension instance with the given manifest. */
export function instance(run: Run, spec: InstanceSpec): Instance {
  const dir = join(run.ext, spec.name);
  cpSync(join(fixtures, spec.from), dir, { recursive: true });
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  pkg.name = spec.name;
  const s = pkg.symphony;
  const provides = spec.provides ?? (spec.from === 'attacker' ? [`${spec.name}.run`] : s.provides);
  const scratch = spec.scratch ?? spec.from === 'attacker' ? join(run.dir, `scratch-${spec.name}`) : undefined;
  if (scratch) mkdirSync(scratch, { recursive: true });
  s.provides = spec.from === 'greedy' ? [] : provides;
  if (spec.from === 'greedy') s.provides = provides;
  s.calls = spec.calls ?? s.calls;
  s.publishes = spec.publishes ?? s.publishes ?? [];
  s.permissions = { ...s.permissions, fsRead: [], fsWrite: scratch ? [scratch] : [], ...spec.permissions };
  if (spec.limits) s.limits = spec.limits;
  if (spec.activation) s.activation = spec.activation;
  const manifestText = `${JSON.stringify(pkg, null, 2)}\n`;
  writeFileSync(join(dir, 'package.json'), manifestText);
  writeFileSync(join(dir, 'hostile.json'), JSON.stringify({ plantedSecretPath: run.secretPath, marker: `marker-of-${spec.name}-${basenameOf(run.dir)}`, provides: spec.from === 'greedy' ? provides : [] }));
  for (const [at, target] of Object.entries(spec.symlinks ?? {})) {
    mkdirSync(dirname(join(dir, at)), { recursive: true });
    symlinkSync(target, join(dir, at));
  }
  const asked: Grant = {
    manifest: manifestPin(JSON.parse(spec.pinTo ?? manifestText)),
    provides: s.provides,
    calls: s.calls,
    publishes: s.publishes,
    subscribes: s.subscribes ?? [],
    fsRead: s.permissions.fsRead,
    fsWrite: s.permissions.fsWrite,
    net: !!s.permissions.net,
    childProcess: !!s.permissions.childProcess,
    limits: s.limits ?? {},
  };
  return { spec, name: spec.name, dir, method: provides[0] ?? '', scratch, manifestText, grant: spec.grant === false ? undefined : { ...asked, ...spec.grant, limits: { ...asked.limits, ...spec.grantLimits, ...spec.grant?.limits } } };
}

const basenameOf = (p: string) => p.split('/').at(-1)!;

/** JSON with every object's keys sorted (arrays keep their order). */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
/** The pin a grant names its manifest by: sha256 of the canonical JSON of { name, version, symphony }. */
export const manifestPin = (pkg: { name: unknown; version: unknown; symphony: unknown }) => `sha256:${sha256(canonicalJson({ name: pkg.name, version: pkg.version, symphony: pkg.symphony }))}`;
export const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** Keys builtin:NAME's settings accept in the code under test (a key it does not know fails the config). */
const known = (builtin: string) => Object.keys(BuiltinSettingsSchemas[builtin]?.entries ?? {});
/** Settings this suite wants but the code under test does not accept yet: printed once, so a failure says why. */
export const configGaps = new Set<string>();

/**
 * A grant cut down to what the code under test's grant schema accepts (each key it refuses is
 * dropped and noted in configGaps): so a limit nobody implements yet fails its own case, not the boot.
 */
function acceptedGrant(name: string, grant: Record<string, any>): Record<string, unknown> {
  const schema = BuiltinSettingsSchemas.orchestra;
  if (!schema || !known('orchestra').includes('grants')) return grant;
  const g = structuredClone(grant);
  for (let tries = 0; tries < 20; tries++) {
    const r = v.safeParse(schema, { grants: { [name]: g } });
    if (r.success) return g;
    const path = (r.issues[0]!.path ?? []).map((p) => String(p.key)).slice(2);
    if (!path.length) return g;
    let at: any = g;
    for (const key of path.slice(0, -1)) at = at?.[key];
    if (!at || !(path.at(-1)! in at)) return g;
    configGaps.add(`a grant has no '${path.join('.')}' yet`);
    delete at[path.at(-1)!];
  }
  return g;
}

export interface KernelOptions {
  watch?: boolean;
  isolation?: 'auto' | 'strict';
  /** Artifact Store quota per extension, in bytes, set by each grant (the store's own default for other callers is 8 times it). */
  artifactQuotaBytes?: number;
}

/**
 * THE config of every kernel in this suite, grants included: the one place to adapt when the
 * grant, melody-folder or quota format changes. Per extension the operator grants what the
 * instance says (default: what its manifest asks), pinned to the manifest's sha256.
 */
export function kernelConfig(run: Run, instances: Instance[], o: KernelOptions = {}): Record<string, unknown> {
  const grants: Record<string, unknown> = {};
  for (const i of instances) if (i.grant) grants[i.name] = acceptedGrant(i.name, { ...i.grant, ...(o.artifactQuotaBytes ? { limits: { ...i.grant.limits, artifactsBytes: o.artifactQuotaBytes } } : {}) });
  const want = <T extends Record<string, unknown>>(builtin: string, settings: T): Partial<T> => {
    const keys = known(builtin);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(settings)) {
      if (v === undefined) continue;
      if (keys.includes(k)) out[k] = v;
      else configGaps.add(`builtin:${builtin} has no '${k}' setting yet`);
    }
    return out as Partial<T>;
  };
  return {
    ...(o.isolation ? { isolation: o.isolation } : {}),
    components: {
      bus: { use: 'builtin:bus', with: { listen: run.socket } },
      pit: { use: 'builtin:pit', needs: ['bus'], late: ['conductor'], with: want('pit', { dataDir: run.pit, artifacts: o.artifactQuotaBytes ? { quotaBytes: 8 * o.artifactQuotaBytes } : undefined }) },
      orchestra: {
        use: 'builtin:orchestra',
        needs: ['bus', 'pit'],
        with: want('orchestra', { paths: instances.map((i) => i.dir), watch: o.watch, grants }),
      },
      conductor: { use: 'builtin:conductor', needs: ['orchestra'], with: want('conductor', { melodies: [run.melodies] }) },
    },
  };
}

export interface LogEvent {
  type: string;
  component?: string;
  level?: string;
  message?: string;
  [k: string]: unknown;
}

/** A kernel process booted from a config, with the operator's connection. */
export class KernelProcess {
  readonly events: LogEvent[] = [];
  stderr = '';
  client!: BusClient;
  /** Calls to kernel.secret (served by the operator: nobody but the operator may reach it). */
  secretCalls: unknown[] = [];
  /** What kernel.witness was told (a refused extension never tells it anything). */
  witnessed: unknown[] = [];
  readonly child: ChildProcess;
  exited: { code: number | null; signal: string | null } | undefined;
  readonly #exit: Promise<void>;

  constructor(
    readonly run: Run,
    readonly instances: Instance[],
    readonly options: KernelOptions = {},
  ) {
    const config = join(run.dir, `symphony-${rand(4)}.json`);
    writeFileSync(config, JSON.stringify(kernelConfig(run, instances, options), null, 2));
    this.child = spawn(process.execPath, [bin, 'up', '-c', config, '--log', 'json'], {
      cwd: run.dir,
      detached: true, // its own process group: a kill(0) that escapes must not reach the test runner
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', HOSTILE_ENV_SECRET: run.envSecret, ...(process.env.CI ? { CI: process.env.CI } : {}) },
    });
    let buf = '';
    this.child.stdout!.on('data', (d: Buffer) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          this.events.push(JSON.parse(line) as LogEvent);
        } catch {
          this.events.push({ type: 'raw', message: line });
        }
      }
    });
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d));
    this.#exit = new Promise((res) => this.child.on('exit', (code, signal) => ((this.exited = { code, signal }), res())));
  }

  get pid(): number {
    return this.child.pid!;
  }

  static async boot(run: Run, instances: Instance[], options: KernelOptions = {}): Promise<KernelProcess> {
    const k = new KernelProcess(run, instances, options);
    const end = Date.now() + 25_000;
    while (!k.events.some((e) => e.type === 'system' && (e.state === 'ready' || e.state === 'degraded'))) {
      const failed = k.events.find((e) => e.type === 'system' && e.state !== 'booting' && e.state !== 'starting');
      if (failed) throw new Error(`the kernel did not boot (system ${String(failed.state)}):\n${k.stderr}\n${k.logText().slice(-6000)}`);
      if (k.exited) throw new Error(`the kernel exited while booting (${JSON.stringify(k.exited)}):\n${k.stderr}\n${k.logText()}`);
      if (Date.now() > end) throw new Error(`the kernel did not boot in 25 s:\n${k.stderr}\n${k.logText()}`);
      await delay(20);
    }
    k.client = await connect({ path: run.socket, token: readFileSync(`${run.socket}.token`, 'utf8').trim(), name: 'operator', reconnect: false, exitWithParent: false, timeout: '10s' });
    await k.client.handle('kernel.secret', () => (k.secretCalls.push(Date.now()), { secret: run.secret })).ready;
    await k.client.handle('kernel.witness', (p) => (k.witnessed.push(p), { seen: true })).ready;
    return k;
  }

  logText(from = 0): string {
    return this.events
      .slice(from)
      .map((e) => JSON.stringify(e))
      .join('\n');
  }

  /** Waits for a log line after `from` that names `who` and matches `re`. */
  async expectLogged(from: number, who: string, re: RegExp = /denied|refus/i, ms = 4000): Promise<string> {
    const end = Date.now() + ms;
    for (;;) {
      const hit = this.events.slice(from).find((e) => {
        const s = JSON.stringify(e);
        return s.includes(who) && re.test(s);
      });
      if (hit) return JSON.stringify(hit);
      if (Date.now() > end) throw new Error(`no log line naming '${who}' and matching ${re} after the attempt; the log since:\n${this.logText(from).slice(-4000)}`);
      await delay(25);
    }
  }

  alive(): boolean {
    return !this.exited && processState(this.pid) !== undefined && processState(this.pid) !== 'T' && processState(this.pid) !== 'Z';
  }

  /** The kernel still serves: alive, not stopped, and answers the operator within 3 s. */
  async expectServing(extra: (() => Promise<void>)[] = []): Promise<void> {
    if (!this.alive()) throw new Error(`the kernel is not serving: ${this.exited ? `exited ${JSON.stringify(this.exited)}` : `state ${processState(this.pid)}`}`);
    const status = (await this.client.request('orchestra.status', {}, { timeout: '3s' })) as unknown;
    if (!Array.isArray(status) && typeof status !== 'object') throw new Error('orchestra.status gave no answer');
    for (const e of extra) await e();
  }

  /** Resident memory of the kernel, bytes. */
  rss(): number {
    return Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
  }

  /** Host pid of an extension's process, from orchestra.status (what the operator sees). */
  async pidOf(name: string): Promise<number | undefined> {
    const s = (await this.client.request('orchestra.status', {}, { timeout: '3s' })) as { name: string; pid?: number }[] | { extensions?: { name: string; pid?: number }[] };
    const list = Array.isArray(s) ? s : (s.extensions ?? []);
    return list.find((e) => e.name === name)?.pid;
  }

  async stop(): Promise<void> {
    this.client?.stop?.();
    if (this.exited) return;
    try {
      process.kill(this.pid, 'SIGTERM');
    } catch {}
    await Promise.race([this.#exit, delay(5000)]);
    if (!this.exited) this.kill();
    await Promise.race([this.#exit, delay(2000)]);
  }

  kill(): void {
    try {
      process.kill(this.pid, 'SIGKILL');
    } catch {}
  }

  waitExit(): Promise<void> {
    return this.#exit;
  }
}

/** The `state` letter of a host process (R, S, T, Z...), or undefined when it does not exist. */
export function processState(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[0];
  } catch {
    return undefined;
  }
}

/** Host processes whose command line or working folder names `needle` (other than zombies). */
export function hostProcessesMentioning(needle: string): { pid: number; cmdline: string }[] {
  const out: { pid: number; cmdline: string }[] = [];
  for (const p of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const cmdline = readFileSync(`/proc/${p}/cmdline`, 'utf8').replaceAll('\0', ' ');
      let cwd = '';
      try {
        cwd = readlinkSync(`/proc/${p}/cwd`);
      } catch {}
      if ((cmdline.includes(needle) || cwd.includes(needle)) && processState(Number(p)) !== 'Z') out.push({ pid: Number(p), cmdline });
    } catch {}
  }
  return out.filter((p) => p.pid !== process.pid);
}

/** Everything an extension could have written to, as text: its scratch folders' files. */
export function writableText(...dirs: (string | undefined)[]): string {
  let out = '';
  const walk = (d: string) => {
    let entries: string[] = [];
    try {
      entries = readdirSync(d);
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e);
      try {
        const st = statSync(p);
        if (st.isDirectory()) walk(p);
        else if (st.isFile() && st.size < 4 << 20) out += readFileSync(p, 'latin1');
      } catch {}
    }
  };
  for (const d of dirs) if (d) walk(d);
  return out;
}

/** Total bytes of the files under a folder. */
export function folderBytes(dir: string): number {
  let n = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) n += statSync(p).size;
    }
  };
  if (existsSync(dir)) walk(dir);
  return n;
}

/** The gate a harmful case must pass inside its sandbox: the host pids it must not see and the host's marker. */
export const gateOf = (run: Run, k: KernelProcess) => ({ testPid: process.pid, kernelPid: k.pid, marker: run.marker });

export function cleanup(run: Run): void {
  for (const p of hostProcessesMentioning(run.dir)) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {}
  }
  rmSync(run.dir, { recursive: true, force: true });
}

/** One attempt by an instance: its answer, or the bus error it got (code and message). */
export async function attack(k: KernelProcess, inst: Instance | string, name: string, args: Record<string, unknown> = {}, timeout = '20s'): Promise<Record<string, any>> {
  const method = typeof inst === 'string' ? inst : inst.method;
  try {
    return (await k.client.request(method, { case: name, args }, { timeout })) as Record<string, any>;
  } catch (err) {
    return { outcome: 'bus-error', code: (err as { code?: number }).code, message: (err as Error).message };
  }
}
