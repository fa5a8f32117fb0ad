import { BusError, ErrorCode, ForbiddenError, RequestCancelledError, TimeoutError } from '../../bus/index.js';
import type { HealthResult } from '../../bootstrap/index.js';
import type { PitContext, PitExtension } from '../extension.js';
import { method, parseParams, serve, v } from '../params.js';
import type { Item, ItemState, Lease, PoolSpec, Waiter } from './types.js';

/** setTimeout's ceiling: a longer timeout would fire at once. */
const MAX_TIMEOUT_MS = 2_147_483_647;

const DefineSchema = v.object({
  pool: v.pipe(v.string(), v.minLength(1)),
  capacity: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 4),
  concurrency: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 1),
  warm: v.optional(v.string()),
  cool: v.optional(v.string()),
  probe: v.optional(v.string()),
  warmupMs: v.optional(v.pipe(v.number(), v.minValue(0)), 0),
  idleMs: v.optional(v.pipe(v.number(), v.minValue(0)), 60_000),
  probeEveryMs: v.optional(v.pipe(v.number(), v.minValue(0)), 0),
});
const AllocateSchema = v.object({
  pool: v.string(),
  key: v.pipe(v.string(), v.minLength(1)),
  holder: v.optional(v.string()),
  timeoutMs: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(MAX_TIMEOUT_MS)), 30_000),
});
const ReleaseSchema = v.object({ lease: v.string() });
const PoolOnly = v.object({ pool: v.optional(v.string()) });
const EvictSchema = v.object({ pool: v.string(), key: v.string() });

interface Snapshot {
  pools: PoolSpec[];
}

/** The Pool Manager as a Pit extension (what it does: pool/index.ts). */
export class PoolManager implements PitExtension<Snapshot> {
  readonly name = 'pool';
  #ctx!: PitContext;
  readonly #pools = new Map<string, PoolSpec>();
  readonly #items = new Map<string, Item>();
  readonly #leases = new Map<string, Item>();
  readonly #queue: Waiter[] = [];
  readonly #serving = new Set<string>();
  readonly #again = new Set<string>();
  /** Per pool: rooms being freed by an eviction for a waiter (counted as active until it cools). */
  readonly #evicting = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #seq = 0;
  #stats = { allocations: 0, fromHot: 0, warmed: 0, queued: 0, evictions: 0, failures: 0, timeouts: 0 };

  readonly methods = serve({
    /** `pool.define { pool, capacity?, concurrency?, warm?, cool?, probe?, warmupMs?, idleMs?, probeEveryMs? }` -> `{ pool }`; only its definer (or the kernel) may redefine it. */
    'pool.define': method(DefineSchema, (spec, ctx) => {
      const by = ctx && ctx.peer !== this.#ctx.bus.name ? ctx.peer : undefined;
      const existing = this.#pools.get(spec.pool);
      if (existing && by !== undefined && existing.definedBy !== by) {
        throw new ForbiddenError(`'${by}' may not redefine pool '${spec.pool}': it was defined by ${existing.definedBy ? `'${existing.definedBy}'` : 'the system'}`, { pool: spec.pool, peer: by });
      }
      return this.define({ ...spec, definedBy: by });
    }),
    /** `pool.allocate { pool, key, holder?, timeoutMs? }` -> Lease (waits in the pool's line). */
    'pool.allocate': method(AllocateSchema, (a, ctx) =>
      // A caller that gives up (its deadline, a cancel) stops waiting here too: nothing is leased to a caller who is gone.
      this.allocate(a.pool, a.key, a.holder ?? 'anonymous', ctx ? Math.min(a.timeoutMs, ctx.remainingMs()) : a.timeoutMs, ctx),
    ),
    /** `pool.release { lease }` -> `{ released }`. */
    'pool.release': method(ReleaseSchema, (a) => this.release(a.lease)),
    /** `pool.status { pool? }` -> pools, items, waiting, counters. */
    'pool.status': method(PoolOnly, (a) => this.status(a.pool)),
    /** `pool.evict { pool, key }` -> `{ evicted }`: cools the key's idle hot items. */
    'pool.evict': method(EvictSchema, (a) => this.evict(a.pool, a.key, 'evicted on request')),
  });

  async init(ctx: PitContext): Promise<void> {
    this.#ctx = ctx;
    const pools = (ctx.config.pools ?? []) as unknown[];
    for (const p of pools) this.define(parseParams('pit.pool.pools', DefineSchema, p));
    this.#timer = setInterval(() => this.#sweep(), 250).unref();
  }

  restore(state: Snapshot): void {
    for (const p of state.pools ?? []) this.#pools.set(p.pool, p);
  }

  snapshot(): Snapshot {
    return { pools: [...this.#pools.values()] };
  }

  health(): HealthResult {
    const failed = [...this.#items.values()].filter((i) => i.state === 'failed').length;
    return { status: 'healthy', detail: { pools: this.#pools.size, items: this.#items.size, failed, waiting: this.#queue.length } };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    clearInterval(this.#timer);
    for (const w of this.#queue.splice(0)) this.#giveUp(w, new BusError(ErrorCode.PeerGone, 'the Pool Manager is stopping'));
    await Promise.all([...this.#items.values()].filter((i) => i.state === 'hot').map((i) => this.#cool(i, 'the Pit is stopping')));
  }

  define(spec: PoolSpec): { pool: string } {
    const existing = this.#pools.get(spec.pool);
    this.#pools.set(spec.pool, { ...existing, ...spec });
    this.#serveQueue(spec.pool); // more capacity or concurrency: waiters may go now
    return { pool: spec.pool };
  }

  /**
   * Leases an item for `key`: a hot one with room, else one warming for it, else warms one (evicting
   * the least recently used idle item if the pool is full), else waits in line (FIFO per pool,
   * within `timeoutMs`; a cancel through `signal` leaves the line).
   */
  allocate(pool: string, key: string, holder: string, timeoutMs = 30_000, caller?: { readonly done: boolean }): Promise<Lease> {
    const spec = this.#spec(pool);
    this.#stats.allocations++;
    return new Promise<Lease>((resolve, reject) => {
      const w: Waiter = { pool, key, holder, resolve, reject, timer: undefined, settled: false, immediate: true, caller };
      this.#queue.push(w);
      this.#serveQueue(pool);
      w.immediate = false;
      if (w.settled || !this.#queue.includes(w)) return; // served (or being warmed for) at once
      this.#stats.queued++;
      const ms = Math.min(timeoutMs, MAX_TIMEOUT_MS);
      w.timer = setTimeout(() => {
        this.#stats.timeouts++;
        this.#giveUp(w, new TimeoutError(`no '${key}' in pool '${pool}' became free within ${Math.round(ms)}ms (capacity ${this.#pools.get(pool)?.capacity ?? spec.capacity}, all busy)`, { pool, key }));
      }, ms);
    });
  }

  /** The waiter leaves the line with `err` (timeout, cancel, shutdown). */
  #giveUp(w: Waiter, err: Error): void {
    if (w.settled) return;
    this.#settle(w);
    const i = this.#queue.indexOf(w);
    if (i >= 0) this.#queue.splice(i, 1);
    w.reject(err);
  }

  #settle(w: Waiter): void {
    w.settled = true;
    clearTimeout(w.timer);
  }

  /** Its bus call is over (cancelled, its caller gone): it leaves the line instead of taking a lease. */
  #gone(w: Waiter): boolean {
    if (w.settled) return true;
    if (!w.caller?.done) return false;
    this.#giveUp(w, new RequestCancelledError(`pool.allocate of '${w.key}' is over`));
    return true;
  }

  /** Hands `item` to the waiter, or back to the pool if the waiter is gone. */
  #grant(w: Waiter, item: Item, served: Lease['served']): void {
    if (this.#gone(w)) return this.#serveQueue(item.pool);
    this.#settle(w);
    if (served === 'hot') this.#stats.fromHot++;
    w.resolve(this.#lease(item, w.holder, served));
  }

  release(lease: string): { released: boolean } {
    const item = this.#leases.get(lease);
    if (!item) return { released: false };
    this.#leases.delete(lease);
    item.leases.delete(lease);
    item.lastUsed = performance.now();
    this.#serveQueue(item.pool); // now, before any new request: the line goes first
    return { released: true };
  }

  status(pool?: string): { pools: { pool: string; capacity: number; items: { id: string; key: string; state: ItemState; reason: string; leases: number; idleMs: number }[] }[]; waiting: number; stats: PoolManager['stats'] } {
    const pools = [...this.#pools.values()].filter((p) => pool === undefined || p.pool === pool);
    const now = performance.now();
    return {
      pools: pools.map((p) => ({
        pool: p.pool,
        capacity: p.capacity,
        items: [...this.#items.values()].filter((i) => i.pool === p.pool).map((i) => ({ id: i.id, key: i.key, state: i.state, reason: i.reason, leases: i.leases.size, idleMs: i.leases.size ? 0 : Math.round(now - i.lastUsed) })),
      })),
      waiting: this.#queue.filter((w) => pool === undefined || w.pool === pool).length,
      stats: this.stats,
    };
  }

  get stats(): { allocations: number; fromHot: number; warmed: number; queued: number; evictions: number; failures: number; timeouts: number } {
    return { ...this.#stats };
  }

  /** The transitions of an item, oldest first (for tests and the status page). */
  history(itemId: string): Item['history'] {
    return this.#items.get(itemId)?.history ?? [];
  }

  async evict(pool: string, key: string, reason: string): Promise<{ evicted: number }> {
    const victims = [...this.#items.values()].filter((i) => i.pool === pool && i.key === key && i.state === 'hot' && i.leases.size === 0);
    await Promise.all(victims.map((i) => this.#cool(i, reason)));
    return { evicted: victims.length };
  }

  #spec(pool: string): PoolSpec {
    const spec = this.#pools.get(pool);
    if (!spec) throw new BusError(ErrorCode.InvalidParams, `no pool named '${pool}' (define it with pool.define)`, { pool });
    return spec;
  }

  #find(pool: string, key: string, pred: (i: Item) => boolean): Item | undefined {
    for (const i of this.#items.values()) if (i.pool === pool && i.key === key && pred(i)) return i;
    return undefined;
  }

  #active(pool: string): number {
    let n = 0;
    for (const i of this.#items.values()) if (i.pool === pool && (i.state === 'hot' || i.state === 'warming' || i.state === 'cooling')) n++;
    return n + (this.#evicting.get(pool) ?? 0);
  }

  #lruIdle(pool: string): Item | undefined {
    let victim: Item | undefined;
    for (const i of this.#items.values()) {
      if (i.pool === pool && i.state === 'hot' && i.leases.size === 0 && i.pending === 0 && (!victim || i.lastUsed < victim.lastUsed)) victim = i;
    }
    return victim;
  }

  #newItem(pool: string, key: string): Item {
    const item: Item = { id: `${pool}/${key}#${++this.#seq}`, pool, key, state: 'cold', reason: 'created', since: Date.now(), leases: new Set(), lastUsed: performance.now(), probedAt: performance.now(), handle: undefined, ready: undefined, pending: 0, history: [] };
    this.#items.set(item.id, item);
    return item;
  }

  #lease(item: Item, holder: string, served: Lease['served']): Lease {
    const lease = `${item.id}:${++this.#seq}`;
    item.leases.add(lease);
    item.lastUsed = performance.now();
    this.#leases.set(lease, item);
    return { lease, item: item.id, pool: item.pool, key: item.key, handle: item.handle, served };
  }

  #move(item: Item, to: ItemState, reason: string): void {
    const from = item.state;
    item.history.push({ from, to, reason, at: Date.now() });
    if (item.history.length > 32) item.history.shift();
    item.state = to;
    item.reason = reason;
    item.since = Date.now();
    this.#ctx.emit('transition', { item: item.id, pool: item.pool, key: item.key, from, to, reason });
  }

  #warm(item: Item, spec: PoolSpec, reason: string): Promise<void> {
    this.#move(item, 'warming', reason);
    item.ready = (async () => {
      try {
        if (spec.warm) item.handle = await this.#ctx.bus.request(spec.warm, { pool: item.pool, key: item.key, item: item.id }, { timeout: 60_000, onBehalfOf: spec.definedBy });
        else if (spec.warmupMs) await new Promise((r) => setTimeout(r, spec.warmupMs));
        this.#move(item, 'hot', 'warmed up');
      } catch (err) {
        this.#stats.failures++;
        this.#move(item, 'failed', `warming failed: ${(err as Error).message}`);
        this.#items.delete(item.id);
      }
    })();
    return item.ready;
  }

  async #cool(item: Item, reason: string): Promise<void> {
    if (item.state !== 'hot') return;
    this.#stats.evictions++;
    this.#move(item, 'cooling', reason);
    const spec = this.#pools.get(item.pool);
    try {
      if (spec?.cool) await this.#ctx.bus.request(spec.cool, { pool: item.pool, key: item.key, item: item.id, handle: item.handle }, { timeout: 30_000, onBehalfOf: spec.definedBy });
      this.#move(item, 'cold', 'cooled down');
    } catch (err) {
      this.#move(item, 'failed', `cooling failed: ${(err as Error).message}`);
    }
    this.#items.delete(item.id);
    this.#serveQueue(item.pool);
  }

  /**
   * Serves the line of `pool` in order: each waiter gets a hot item with room, a share of one
   * warming, a new one (capacity permitting, or after evicting the least recently used idle item),
   * or keeps its place. Never re-entered: a call while it runs makes it go round again.
   */
  #serveQueue(pool: string): void {
    if (this.#serving.has(pool)) {
      this.#again.add(pool);
      return;
    }
    this.#serving.add(pool);
    try {
      do {
        this.#again.delete(pool);
        const spec = this.#pools.get(pool);
        if (!spec) return;
        for (let i = 0; i < this.#queue.length; i++) {
          const w = this.#queue[i]!;
          if (w.pool !== pool) continue;
          if (this.#gone(w)) {
            const at = this.#queue.indexOf(w);
            if (at >= 0) this.#queue.splice(at, 1);
            i--;
            continue;
          }
          const served: Lease['served'] = w.immediate ? 'hot' : 'queued';
          const hot = this.#find(pool, w.key, (it) => it.state === 'hot' && it.leases.size + it.pending < spec.concurrency);
          if (hot) {
            this.#queue.splice(i--, 1);
            this.#grant(w, hot, served);
            continue;
          }
          const warming = this.#find(pool, w.key, (it) => it.state === 'warming' && it.leases.size + it.pending < spec.concurrency);
          if (warming) {
            this.#queue.splice(i--, 1);
            this.#await(w, warming, w.immediate ? 'warmed' : 'queued');
            continue;
          }
          if (this.#active(pool) < spec.capacity) {
            this.#queue.splice(i--, 1);
            this.#warmFor(w, spec, w.immediate ? 'warmed' : 'queued');
            continue;
          }
          const victim = this.#lruIdle(pool);
          if (victim) {
            this.#queue.splice(i--, 1);
            // The victim's room is this waiter's: held (counted active) until it has cooled.
            this.#evicting.set(pool, (this.#evicting.get(pool) ?? 0) + 1);
            const label = w.immediate ? 'warmed' : 'queued';
            void this.#cool(victim, `evicted (least recently used) to make room for '${w.key}'`).then(() => {
              this.#evicting.set(pool, this.#evicting.get(pool)! - 1);
              this.#warmFor(w, spec, label);
            });
          }
          // Otherwise it keeps its place; a later waiter for another key may still fit.
        }
      } while (this.#again.has(pool));
    } finally {
      this.#serving.delete(pool);
    }
  }

  /** A waiter sharing an item that is warming: its lease is promised (pending) until the item is hot. */
  #await(w: Waiter, item: Item, served: Lease['served']): void {
    item.pending++;
    void item.ready!.then(() => {
      item.pending--;
      if (item.state === 'hot') return this.#grant(w, item, served);
      if (!w.settled) {
        this.#settle(w);
        w.reject(new BusError(ErrorCode.InternalError, `'${w.key}' in pool '${w.pool}' failed to warm: ${item.reason}`, { pool: w.pool, key: w.key }));
      }
      this.#serveQueue(w.pool);
    });
  }

  /** Warms a new item for the waiter (who may give up meanwhile: the item then stays hot for the next). */
  #warmFor(w: Waiter, spec: PoolSpec, served: Lease['served']): void {
    if (this.#gone(w)) return this.#serveQueue(w.pool);
    const item = this.#newItem(w.pool, w.key);
    void this.#warm(item, spec, `requested by '${w.holder}'`);
    if (item.state === 'hot' || item.state === 'warming') {
      if (item.state === 'hot') this.#stats.warmed++;
      else void item.ready!.then(() => item.state === 'hot' && this.#stats.warmed++);
      this.#await(w, item, served);
    }
  }

  /** Cools idle items and probes hot ones. */
  #sweep(): void {
    const now = performance.now();
    for (const item of this.#items.values()) {
      const spec = this.#pools.get(item.pool);
      if (!spec || item.state !== 'hot') continue;
      if (spec.idleMs > 0 && item.leases.size === 0 && item.pending === 0 && now - item.lastUsed > spec.idleMs) void this.#cool(item, `idle for ${Math.round(now - item.lastUsed)}ms`);
      else if (spec.probe && spec.probeEveryMs > 0 && now - item.probedAt > spec.probeEveryMs) void this.#probe(item, spec);
    }
  }

  async #probe(item: Item, spec: PoolSpec): Promise<void> {
    item.probedAt = performance.now();
    try {
      const ok = await this.#ctx.bus.request(spec.probe!, { pool: item.pool, key: item.key, item: item.id, handle: item.handle }, { timeout: 5_000, onBehalfOf: spec.definedBy });
      if (ok === false) throw new Error('probe returned false');
    } catch (err) {
      this.#stats.failures++;
      this.#move(item, 'failed', `health probe failed: ${(err as Error).message}`);
      for (const l of item.leases) this.#leases.delete(l);
      this.#items.delete(item.id);
      this.#serveQueue(item.pool);
    }
  }
}

