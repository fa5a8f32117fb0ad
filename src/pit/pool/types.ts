/** The Pool Manager's pools, items, leases and the waiters in its line. */

/** The lifecycle of a pooled resource. */
export type ItemState = 'cold' | 'warming' | 'hot' | 'cooling' | 'failed';

export interface PoolSpec {
  pool: string;
  /** Resources of this pool that may be warm at once. */
  capacity: number;
  /** Leases one resource serves at once. */
  concurrency: number;
  /** Bus methods called to warm, cool and probe an item (optional: without them warming takes `warmupMs`). */
  warm?: string | undefined;
  cool?: string | undefined;
  probe?: string | undefined;
  warmupMs: number;
  /** A hot item idle this long cools down (0: never). */
  idleMs: number;
  /**
   * Who defined it, when not the kernel: warm, cool and probe are called with that identity's
   * rights (a pool cannot be used to call what its definer may not), and only it may redefine it.
   */
  definedBy?: string | undefined;
  /** Liveness probes of hot items (0: none). */
  probeEveryMs: number;
}

export interface Item {
  id: string;
  pool: string;
  key: string;
  state: ItemState;
  reason: string;
  since: number;
  leases: Set<string>;
  lastUsed: number;
  probedAt: number;
  handle: unknown;
  ready: Promise<void> | undefined;
  /** Leases promised to waiters while it warms (they count against concurrency; it is not idle). */
  pending: number;
  history: { from: ItemState; to: ItemState; reason: string; at: number }[];
}

export interface Waiter {
  pool: string;
  key: string;
  holder: string;
  resolve(lease: Lease): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout | undefined;
  /** Answered, timed out or cancelled: nothing more is handed to it. */
  settled: boolean;
  /** True while allocate() first tries to serve it: then it did not wait. */
  immediate: boolean;
  /** The bus call it answers: once that is over (cancelled, its caller gone), nothing is leased to it. */
  caller: { readonly done: boolean } | undefined;
}

export interface Lease {
  lease: string;
  item: string;
  pool: string;
  key: string;
  handle: unknown;
  /** How the lease was served: an already hot item, one warmed for it, or after waiting in the queue. */
  served: 'hot' | 'warmed' | 'queued';
}
