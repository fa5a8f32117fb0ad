import type { HealthResult, Logger } from '../bootstrap/index.js';
import type { BusApi, Handler } from '../bus/index.js';

/** Something a Pit extension reports: published on the bus as `pit.<extension>.<type>` and relayed to the Conductor. */
export interface PitEvent {
  extension: string;
  type: string;
  /** Epoch milliseconds. */
  at: number;
  data: Record<string, unknown>;
}

/** What a Pit extension gets at init. */
export interface PitContext {
  /** The bus, as the Pit (full rights: the Pit is trusted infrastructure). */
  readonly bus: BusApi;
  /** A folder of its own for durable state (created before init). */
  readonly dataDir: string;
  readonly log: Logger;
  /** Its settings: the Pit's `with.<extension name>`. */
  readonly config: Record<string, unknown>;
  /** Reports an event (see PitEvent). */
  emit(type: string, data: Record<string, unknown>): void;
  /** The other Pit extensions, for privileged in-process cooperation (the Stale Manager reads the Artifact Store). */
  sibling<T extends PitExtension>(name: string): T;
}

/**
 * One of the Pit's five in-process infrastructure extensions: init, health, snapshot/restore, its
 * release (`Symbol.asyncDispose`, as every resource's), and the bus methods it serves.
 */
export interface PitExtension<State = unknown> {
  readonly name: string;
  init(ctx: PitContext): Promise<void>;
  health(): HealthResult;
  /** JSON-serialisable state, taken at shutdown (and on demand) so a restart or a swap resumes from it. */
  snapshot(): State;
  /** Called before init with the last snapshot, if any. */
  restore(state: State): void;
  /** Releases it (stops serving, closes its stores), as every resource in Symphony is released. */
  [Symbol.asyncDispose](): Promise<void>;
  /** The bus methods it serves: name -> handler (params, ctx). */
  readonly methods: Readonly<Record<string, Handler>>;
}
