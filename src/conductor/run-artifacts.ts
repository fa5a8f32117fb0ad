import { BusError, ErrorCode, MethodNotFoundError, type Bus } from '../bus/index.js';
import { expressionsIn } from './expressions.js';
import { request } from './methods.js';

/**
 * A run's view of the Artifact Store: what `${artifacts.<name>…}` reads (loaded on first use, kept
 * for the rest of the run until a step stores a new version), read and stored with the rights of
 * whoever asked for the run.
 */
export class RunArtifacts {
  /** The scope's `artifacts`: name -> content (null prototype: names are the melody's). */
  readonly values: Record<string, unknown> = Object.create(null);
  /** The artifact names known not to exist. */
  readonly #absent = new Set<string>();

  constructor(
    readonly bus: Bus,
    /** Who asked for the run: the identity its reads and stores carry. */
    readonly principal: string | undefined,
  ) {}

  /**
   * The latest version of each artifact the given settings read, parsed as JSON when it is. A name
   * may contain dots (`melody.x.run`): of `artifacts.a.b.c`, the longest prefix that names an
   * existing artifact is the name (`a.b` if it exists, else `a`), the rest a path into its content;
   * `artifacts["a.b"].c` says it outright.
   */
  async load(values: unknown[]): Promise<void> {
    for (const e of expressionsIn(values)) {
      for (const ref of e.refs) {
        if (ref[0] !== 'artifacts' || ref.length < 2) continue;
        const candidates = ref.slice(1).map((_, i) => ref.slice(1, ref.length - i).join('.'));
        if (!(await this.#loadFirst(candidates))) throw new BusError(ErrorCode.InvalidParams, `\${${e.source}}: no artifact named ${candidates.map((c) => `'${c}'`).join(' or ')}`, { reason: 'not-found', name: ref[1] });
      }
    }
  }

  /** The first candidate name that exists, loaded (or already there); false when none does. */
  async #loadFirst(candidates: string[]): Promise<boolean> {
    for (const name of candidates) {
      if (Object.hasOwn(this.values, name)) return true;
      if (this.#absent.has(name)) continue;
      const content = await this.#read(name);
      if (content === undefined) {
        this.#absent.add(name);
        continue;
      }
      try {
        this.values[name] = JSON.parse(content);
      } catch {
        this.values[name] = content;
      }
      return true;
    }
    return false;
  }

  /** An artifact's latest version as text; undefined when there is no such artifact. */
  async #read(name: string): Promise<string | undefined> {
    if (!this.bus.serves('artifacts.read')) throw new MethodNotFoundError('artifacts.read');
    const chunks: Buffer[] = [];
    for (let offset = 0; ; ) {
      let chunk;
      try {
        chunk = await request(this.bus, 'artifacts.read', { name, offset, length: 512 * 1024 }, { onBehalfOf: this.principal });
      } catch (err) {
        if (offset === 0 && err instanceof BusError && isNotFound(err.data)) return undefined;
        throw err;
      }
      const bytes = Buffer.from(chunk.dataBase64, 'base64');
      chunks.push(bytes);
      offset += bytes.length;
      if (chunk.eof || bytes.length === 0) break;
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  /** A step's output kept as a new version of `name` (`store:`): what the run read of it before is stale. */
  async store(name: string, output: unknown, metadata: Record<string, unknown>): Promise<void> {
    delete this.values[name];
    this.#absent.delete(name);
    await request(this.bus, 'artifacts.put', { name, data: JSON.stringify(output), metadata, tags: ['melody-output'] }, { onBehalfOf: this.principal });
  }
}

/** The Artifact Store's "no such artifact" (data.reason `not-found`). */
function isNotFound(data: unknown): boolean {
  return typeof data === 'object' && data !== null && (data as { reason?: unknown }).reason === 'not-found';
}
