import { closeSync, existsSync, openSync, readFileSync, renameSync, rmSync, writeSync, mkdirSync, chmodSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';

/**
 * A system's data folder: where it keeps its state (the Pit's databases and artifacts) and, while
 * it runs, `run.json` saying where to reach it. `run.json` is also the folder's lock: one running
 * system per folder, so two systems never share (and corrupt) one artifact index.
 */

/** Where `run.json` says a running system is (never its token: that stays in `<socket>.token`, mode 0600). */
export interface RunInfo {
  pid: number;
  /** `booting` until the bus listens, then `running`. */
  state: 'booting' | 'running';
  /** The config file, or `builtin:default` for the built-in default system. */
  config: string;
  data: string;
  socket: string | null;
  http: string | null;
  startedAt: string;
  version: string;
}

/**
 * The data folder for a system: --data, else the config's `data:` (relative to the config file),
 * else `.symphony/` beside its config file, else (the built-in default) in the working directory.
 */
export function dataFolder(options: { data?: string | undefined; configFile?: string | undefined; configured?: string | undefined }): string {
  if (options.data !== undefined) return resolve(options.data);
  if (options.configFile !== undefined && options.configured !== undefined) return resolve(dirname(resolve(options.configFile)), options.configured);
  if (options.configFile !== undefined) return join(dirname(resolve(options.configFile)), '.symphony');
  return resolve('.symphony');
}

export function runFile(data: string): string {
  return join(data, 'run.json');
}

/** The folder is in use by a live system (exit 1: the data is not ours to touch). */
export class DataFolderInUse extends Error {
  constructor(
    readonly data: string,
    readonly holder: RunInfo,
  ) {
    super(
      `the data folder ${data} is in use by another system (pid ${holder.pid}, ${holder.config === 'builtin:default' ? 'the built-in default system' : holder.config}, since ${holder.startedAt}).\n` +
        `  Stop it first (symphony ps --data ${data} shows it), or give this system its own folder: --data DIR, or run it from another directory.`,
    );
  }
}

export function readRunInfo(data: string): RunInfo | undefined {
  let text: string;
  try {
    text = readFileSync(runFile(data), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const v = JSON.parse(text) as RunInfo;
    return typeof v?.pid === 'number' ? v : undefined;
  } catch {
    return undefined; // half-written by a process killed mid-write: as good as absent
  }
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether something accepts connections on the socket (a dead system's socket file refuses). */
export function socketAnswers(path: string, ms = 1000): Promise<boolean> {
  return new Promise((done) => {
    const c = connect(path);
    const timer = setTimeout(() => (c.destroy(), done(false)), ms);
    c.once('connect', () => (clearTimeout(timer), c.destroy(), done(true)));
    c.once('error', () => (clearTimeout(timer), done(false)));
  });
}

/** A run file left by a system that is gone (its process dead, or its pid reused by another while its socket refuses). */
async function stale(info: RunInfo): Promise<boolean> {
  if (info.pid === process.pid) return false;
  if (!processAlive(info.pid)) return true;
  if (info.state === 'running' && info.socket) return !(await socketAnswers(info.socket));
  return false;
}

/**
 * Takes the data folder for this process: creates it (0700) and `run.json` (0600, exclusively).
 * A run file of a live system refuses at once; one left by a dead system is replaced.
 */
export async function claimDataFolder(data: string, info: Omit<RunInfo, 'pid' | 'state' | 'data' | 'startedAt' | 'socket' | 'http'>): Promise<DataFolderClaim> {
  mkdirSync(data, { recursive: true, mode: 0o700 });
  const file = runFile(data);
  const mine: RunInfo = { pid: process.pid, state: 'booting', data, socket: null, http: null, startedAt: new Date().toISOString(), ...info };
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      try {
        writeSync(fd, `${JSON.stringify(mine, null, 2)}\n`);
      } finally {
        closeSync(fd);
      }
      return new DataFolderClaim(file, mine);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
          const holder = readRunInfo(data);
          if (holder) throw new DataFolderInUse(data, holder);
        }
        throw err;
      }
      const holder = readRunInfo(data);
      if (holder && !(await stale(holder))) throw new DataFolderInUse(data, holder);
      rmSync(file, { force: true }); // left by a system that is gone
    }
  }
}

export class DataFolderClaim {
  #released = false;
  constructor(
    readonly file: string,
    public info: RunInfo,
  ) {}

  /** Records where the running system is reached (renamed into place: a reader never sees half of it). */
  update(patch: Partial<RunInfo>): void {
    if (this.#released) return;
    this.info = { ...this.info, ...patch };
    const tmp = `${this.file}.${process.pid}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, `${JSON.stringify(this.info, null, 2)}\n`);
    } finally {
      closeSync(fd);
    }
    chmodSync(tmp, 0o600);
    renameSync(tmp, this.file);
  }

  /** Removes run.json, if it is still this process's (never another system's that took over a stale one). */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    try {
      if (JSON.parse(readFileSync(this.file, 'utf8')).pid === process.pid) rmSync(this.file, { force: true });
    } catch {
      // gone already
    }
  }
}

/** The `data:` key of a loaded config, as written (the config layer checked it is a non-empty string). */
export function configuredData(source: { value: unknown } | undefined): string | undefined {
  const v = source?.value as { data?: unknown } | null | undefined;
  return v && typeof v === 'object' && typeof v.data === 'string' ? v.data : undefined;
}

export function hasRunFile(data: string): boolean {
  return existsSync(runFile(data));
}
