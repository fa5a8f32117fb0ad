import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { HealthResult, LateHandle, Logger } from '../bootstrap/index.js';
import type { BusApi, Registration } from '../bus/index.js';
import type { PitContext, PitEvent, PitExtension } from './extension.js';
import type { PitSettings } from './settings/index.js';

/**
 * The Pit: Symphony's trusted in-process infrastructure. Starts its extensions concurrently, serves
 * their methods on the bus, publishes their events as `pit.<extension>.<type>`, and reports them to
 * the Conductor through a late handle, buffering until the Conductor is ready.
 */
export class Pit {
  readonly #extensions = new Map<string, PitExtension>();
  readonly #registrations: Registration[] = [];
  readonly #buffer: PitEvent[] = [];
  readonly #dataDir: string;
  readonly #limit: number;
  #conductorReady = false;
  #dropped = 0;
  #reported = 0;
  #flushing: Promise<void> | undefined;
  /** Init time of each extension, for the boot report's picture of the stage. */
  readonly timings: { name: string; startMs: number; readyMs: number }[] = [];

  constructor(
    readonly bus: BusApi,
    extensions: readonly PitExtension[],
    readonly settings: PitSettings,
    readonly log: Logger,
  ) {
    for (const e of extensions) this.#extensions.set(e.name, e);
    this.#dataDir = resolve(settings.dataDir ?? '.symphony/pit');
    this.#limit = settings.bufferEvents ?? 10_000;
  }

  get<T extends PitExtension>(name: string): T {
    const e = this.#extensions.get(name);
    if (!e) throw new Error(`the Pit has no extension '${name}' (it has: ${[...this.#extensions.keys()].join(', ')})`);
    return e as T;
  }

  get extensions(): readonly PitExtension[] {
    return [...this.#extensions.values()];
  }

  get dataDir(): string {
    return this.#dataDir;
  }

  /** Restores each extension's last snapshot, inits all of them concurrently, then serves their methods. */
  async start(part: (name: string) => () => void = () => () => {}): Promise<void> {
    const t0 = performance.now();
    await Promise.all(
      this.extensions.map(async (ext) => {
        const done = part(ext.name);
        const dir = join(this.#dataDir, ext.name);
        await mkdir(dir, { recursive: true });
        const snapshot = await readJson(join(dir, 'snapshot.json'));
        if (snapshot !== undefined) ext.restore(snapshot);
        const startMs = performance.now() - t0;
        await ext.init(this.#context(ext, dir));
        this.timings.push({ name: ext.name, startMs, readyMs: performance.now() - t0 });
        // Reported before the Conductor exists: buffered, then delivered through the late edge.
        this.#emit({ extension: ext.name, type: 'ready', at: Date.now(), data: { initMs: Math.round((performance.now() - t0 - startMs) * 1000) / 1000 } });
        done();
      }),
    );
    for (const ext of this.extensions) {
      for (const [method, handler] of Object.entries(ext.methods)) this.#registrations.push(this.bus.handle(method, handler));
    }
  }

  health(): HealthResult {
    const detail: Record<string, unknown> = {};
    let worst: 'healthy' | 'degraded' | 'unhealthy' = 'healthy';
    for (const ext of this.extensions) {
      let r: HealthResult;
      try {
        r = ext.health();
      } catch (err) {
        r = { status: 'unhealthy', detail: (err as Error).message };
      }
      const status = typeof r === 'boolean' ? (r ? 'healthy' : 'unhealthy') : r.status;
      detail[ext.name] = typeof r === 'boolean' ? status : r;
      if (status === 'unhealthy' || (status === 'degraded' && worst === 'healthy')) worst = status;
    }
    detail.events = { buffered: this.#buffer.length, reported: this.#reported, dropped: this.#dropped };
    return { status: worst, detail };
  }

  /** Released: stops serving, releases the extensions (concurrently) and saves their snapshots. */
  async [Symbol.asyncDispose](): Promise<void> {
    for (const r of this.#registrations.splice(0)) r.unregister();
    await Promise.all(
      this.extensions.map(async (ext) => {
        await ext[Symbol.asyncDispose]();
        await writeJsonAtomic(join(this.#dataDir, ext.name, 'snapshot.json'), ext.snapshot());
      }),
    );
  }

  /** Binds the Conductor: buffered events go to it now, later ones as they happen. */
  bindConductor(handle: LateHandle<unknown>): void {
    handle.ready.then(
      () => {
        this.#conductorReady = true;
        this.log.info(`the Conductor is ready: reporting ${this.#buffer.length} buffered event(s)`);
        void this.#flush();
      },
      () => this.log.warn('the Conductor did not start: Pit events stay on the bus only'),
    );
  }

  /** Events waiting for the Conductor, and counts. */
  eventStats(): { buffered: number; reported: number; dropped: number } {
    return { buffered: this.#buffer.length, reported: this.#reported, dropped: this.#dropped };
  }

  #context(ext: PitExtension, dataDir: string): PitContext {
    const log = prefixed(this.log, ext.name);
    // Each extension's table is the setting of its name.
    const tables: Readonly<Record<string, unknown>> = this.settings;
    return {
      bus: this.bus,
      dataDir,
      log,
      config: (tables[ext.name] ?? {}) as Record<string, unknown>,
      emit: (type, data) => this.#emit({ extension: ext.name, type, at: Date.now(), data }),
      sibling: <T extends PitExtension>(name: string) => this.get<T>(name),
    };
  }

  #emit(event: PitEvent): void {
    try {
      this.bus.publish(`pit.${event.extension}.${event.type}`, event);
    } catch {
      // a topic the bus refuses (odd characters in a type) never breaks the extension
    }
    this.#buffer.push(event);
    if (this.#buffer.length > this.#limit) {
      this.#buffer.shift();
      this.#dropped++;
    }
    if (this.#conductorReady) void this.#flush();
  }

  /** Sends buffered events to `conductor.report`, one batch at a time, keeping them if it fails. */
  #flush(): Promise<void> {
    this.#flushing ??= (async () => {
      try {
        while (this.#buffer.length) {
          const batch = this.#buffer.slice(0, 500);
          try {
            await this.bus.request('conductor.report', { events: batch }, { timeout: 5_000 });
          } catch (err) {
            this.log.warn(`reporting to the Conductor failed (kept for later): ${(err as Error).message}`);
            return;
          }
          this.#buffer.splice(0, batch.length);
          this.#reported += batch.length;
        }
      } finally {
        this.#flushing = undefined;
      }
    })();
    return this.#flushing;
  }
}

function prefixed(log: Logger, name: string): Logger {
  return {
    debug: (m, d) => log.debug(`${name}: ${m}`, d),
    info: (m, d) => log.info(`${name}: ${m}`, d),
    warn: (m, d) => log.warn(`${name}: ${m}`, d),
    error: (m, d) => log.error(`${name}: ${m}`, d),
  };
}

async function readJson(file: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as unknown;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read the Pit snapshot ${file}: ${(err as Error).message}`);
  }
}

/** Write to a temporary file and rename: a crash leaves the old snapshot or the new one, never half of one. */
export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(value));
  await rename(tmp, file);
}
