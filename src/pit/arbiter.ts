import { BusError, ErrorCode, RequestCancelledError, TimeoutError } from '../bus/index.js';
import type { HealthResult } from '../bootstrap/index.js';
import type { PitContext, PitExtension } from './extension.js';
import { method, parseParams, serve, v } from './params.js';

/** Named priorities; any number works too. */
export const PRIORITY = { CRITICAL: 1000, HIGH: 100, NORMAL: 0, LOW: -100 } as const;
export type Strategy = 'priority' | 'round-robin' | 'weighted' | 'queue';

interface ResourceSpec {
  resource: string;
  strategy: Strategy;
  /** Grants held at once. */
  capacity: number;
  /** priority: a waiting request gains one priority point per `agingMs` waited (0: no aging), so LOW is never starved forever. */
  agingMs: number;
}

interface Pending {
  id: number;
  requester: string;
  priority: number;
  weight: number;
  at: number;
  resolve(g: Grant): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout | undefined;
  /** The bus call it answers: once that is over (cancelled, its caller gone), it gets no grant. */
  caller: { readonly done: boolean } | undefined;
}

/** setTimeout's ceiling: a longer timeout would fire at once. */
const MAX_TIMEOUT_MS = 2_147_483_647;

export interface Grant {
  grant: string;
  resource: string;
  requester: string;
  waitedMs: number;
  rationale: string;
}

export interface Decision {
  at: number;
  resource: string;
  strategy: Strategy;
  grantedTo: string;
  rationale: string;
  contenders: number;
}

interface ResourceState {
  spec: ResourceSpec;
  held: Map<string, string>;
  waiting: Pending[];
  /** round-robin: the order requesters were first seen, and whose turn was last. */
  ring: string[];
  lastTurn: number;
  /** Service per requester: grants and total wait, for weighted fairness and the fairness index. */
  served: Map<string, { grants: number; waitMs: number; weight: number }>;
  decisions: Decision[];
}

const DefineSchema = v.object({
  resource: v.pipe(v.string(), v.minLength(1)),
  strategy: v.optional(v.picklist(['priority', 'round-robin', 'weighted', 'queue']), 'priority'),
  capacity: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 1),
  agingMs: v.optional(v.pipe(v.number(), v.minValue(0)), 0),
});
const PrioritySchema = v.union([v.picklist(['CRITICAL', 'HIGH', 'NORMAL', 'LOW']), v.number()]);
const RequestSchema = v.object({
  resource: v.string(),
  requester: v.pipe(v.string(), v.minLength(1)),
  priority: v.optional(PrioritySchema, 'NORMAL'),
  weight: v.optional(v.pipe(v.number(), v.minValue(0.001)), 1),
  timeoutMs: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(MAX_TIMEOUT_MS)), 30_000),
});
const ReleaseSchema = v.object({ grant: v.string() });
const ResourceOnly = v.object({ resource: v.string(), limit: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 50) });

/**
 * Arbitration Engine: contended resources granted by strategy — priority (CRITICAL 1000, HIGH 100,
 * NORMAL 0, LOW -100, FIFO among equals, optional aging), round-robin among requesters, weighted
 * fair share (least service per unit of weight first), or a plain queue. Every decision is
 * recorded with its rationale; fairness is measured with Jain's index over service per weight.
 */
export class ArbitrationEngine implements PitExtension<{ resources: ResourceSpec[] }> {
  readonly name = 'arbiter';
  #ctx!: PitContext;
  readonly #resources = new Map<string, ResourceState>();
  readonly #grants = new Map<string, ResourceState>();
  #seq = 0;

  readonly methods = serve({
    /** `arbiter.define { resource, strategy?, capacity?, agingMs? }` -> `{ resource }` (a redefinition with more capacity wakes waiters). */
    'arbiter.define': method(DefineSchema, (spec) => this.define(spec)),
    /** `arbiter.request { resource, requester, priority?, weight?, timeoutMs? }` -> Grant, once granted. */
    'arbiter.request': method(RequestSchema, (r, ctx) =>
      // A caller that gives up (its deadline, a cancel) leaves the line: no grant to a caller who is gone.
      this.request(r.resource, r.requester, { priority: r.priority, weight: r.weight, timeoutMs: ctx ? Math.min(r.timeoutMs, ctx.remainingMs()) : r.timeoutMs, caller: ctx }),
    ),
    /** `arbiter.release { grant }` -> `{ released }`. */
    'arbiter.release': method(ReleaseSchema, (a) => this.release(a.grant)),
    /** `arbiter.decisions { resource, limit? = 50 }` -> the latest decisions, oldest first. */
    'arbiter.decisions': method(ResourceOnly, (r) => this.decisions(r.resource, r.limit)),
    /** `arbiter.stats { resource }` -> service per requester and the fairness index. */
    'arbiter.stats': method(ResourceOnly, (r) => this.stats(r.resource)),
  });

  async init(ctx: PitContext): Promise<void> {
    this.#ctx = ctx;
    for (const r of (ctx.config.resources ?? []) as unknown[]) this.define(parseParams('pit.arbiter.resources', DefineSchema, r));
  }

  restore(state: { resources: ResourceSpec[] }): void {
    for (const spec of state.resources ?? []) this.#resources.set(spec.resource, this.#state(spec));
  }

  snapshot(): { resources: ResourceSpec[] } {
    return { resources: [...this.#resources.values()].map((r) => r.spec) };
  }

  health(): HealthResult {
    let waiting = 0;
    for (const r of this.#resources.values()) waiting += r.waiting.length;
    return { status: 'healthy', detail: { resources: this.#resources.size, held: this.#grants.size, waiting } };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const r of this.#resources.values()) {
      for (const p of r.waiting.splice(0)) {
        this.#unwait(p);
        p.reject(new BusError(ErrorCode.PeerGone, 'the Arbitration Engine is stopping'));
      }
    }
  }

  define(spec: ResourceSpec): { resource: string } {
    const existing = this.#resources.get(spec.resource);
    if (existing) {
      existing.spec = spec;
      this.#decide(existing); // more capacity: waiters may go now
    } else this.#resources.set(spec.resource, this.#state(spec));
    return { resource: spec.resource };
  }

  /** Waits for a grant on `resource`; resolves with it and the rationale of the decision. */
  request(resource: string, requester: string, options: { priority?: keyof typeof PRIORITY | number; weight?: number; timeoutMs?: number; caller?: { readonly done: boolean } | undefined } = {}): Promise<Grant> {
    const r = this.#resource(resource);
    const priority = typeof options.priority === 'number' ? options.priority : PRIORITY[options.priority ?? 'NORMAL'];
    const weight = options.weight ?? 1;
    if (!r.ring.includes(requester)) r.ring.push(requester);
    const s = r.served.get(requester);
    if (s) s.weight = weight;
    else r.served.set(requester, { grants: 0, waitMs: 0, weight });
    return new Promise<Grant>((resolve, reject) => {
      const p: Pending = { id: ++this.#seq, requester, priority, weight, at: performance.now(), resolve, reject, timer: undefined, caller: options.caller };
      r.waiting.push(p);
      this.#decide(r);
      if (!r.waiting.includes(p)) return;
      const leave = (err: Error) => {
        const i = r.waiting.indexOf(p);
        if (i < 0) return;
        r.waiting.splice(i, 1);
        this.#unwait(p);
        reject(err);
      };
      if (options.timeoutMs !== undefined) {
        const ms = Math.min(options.timeoutMs, MAX_TIMEOUT_MS);
        p.timer = setTimeout(() => leave(new TimeoutError(`'${requester}' got no grant on '${resource}' within ${Math.round(ms)}ms (${r.held.size}/${r.spec.capacity} held, ${r.waiting.length - 1} waiting)`, { resource, requester })), ms);
      }
    });
  }

  #unwait(p: Pending): void {
    clearTimeout(p.timer);
  }

  release(grant: string): { released: boolean } {
    const r = this.#grants.get(grant);
    if (!r) return { released: false };
    this.#grants.delete(grant);
    r.held.delete(grant);
    this.#decide(r);
    return { released: true };
  }

  decisions(resource: string, limit = 50): Decision[] {
    return this.#resource(resource).decisions.slice(-limit);
  }

  /**
   * Service per requester and Jain's fairness index over grants per unit of weight
   * (1 = perfectly fair for the weights; 1/n = one requester got everything).
   */
  stats(resource: string): { resource: string; strategy: Strategy; held: number; waiting: number; requesters: { requester: string; grants: number; weight: number; meanWaitMs: number }[]; fairness: number } {
    const r = this.#resource(resource);
    const requesters = [...r.served].map(([requester, s]) => ({ requester, grants: s.grants, weight: s.weight, meanWaitMs: s.grants ? Math.round((s.waitMs / s.grants) * 1000) / 1000 : 0 }));
    const x = requesters.map((q) => q.grants / q.weight);
    const sum = x.reduce((a, b) => a + b, 0);
    const sumSq = x.reduce((a, b) => a + b * b, 0);
    const fairness = sumSq === 0 ? 1 : Math.round(((sum * sum) / (x.length * sumSq)) * 10_000) / 10_000;
    return { resource, strategy: r.spec.strategy, held: r.held.size, waiting: r.waiting.length, requesters, fairness };
  }

  #resource(resource: string): ResourceState {
    const r = this.#resources.get(resource);
    if (!r) throw new BusError(ErrorCode.InvalidParams, `no resource named '${resource}' (define it with arbiter.define)`, { resource });
    return r;
  }

  #state(spec: ResourceSpec): ResourceState {
    return { spec, held: new Map(), waiting: [], ring: [], lastTurn: -1, served: new Map(), decisions: [] };
  }

  /** Grants while there is capacity and someone waits. */
  #decide(r: ResourceState): void {
    // Waiters whose bus call is over (cancelled, their caller gone) leave the line first: no grant to nobody.
    for (let i = r.waiting.length - 1; i >= 0; i--) {
      const p = r.waiting[i]!;
      if (!p.caller?.done) continue;
      r.waiting.splice(i, 1);
      this.#unwait(p);
      p.reject(new RequestCancelledError(`arbiter.request of '${p.requester}' is over`));
    }
    while (r.held.size < r.spec.capacity && r.waiting.length) {
      const { index, rationale } = this.#choose(r);
      const p = r.waiting.splice(index, 1)[0]!;
      this.#unwait(p);
      const waitedMs = performance.now() - p.at;
      const grant = `${r.spec.resource}:${p.id}`;
      r.held.set(grant, p.requester);
      this.#grants.set(grant, r);
      const s = r.served.get(p.requester)!;
      s.grants++;
      s.waitMs += waitedMs;
      const decision: Decision = { at: Date.now(), resource: r.spec.resource, strategy: r.spec.strategy, grantedTo: p.requester, rationale, contenders: r.waiting.length + 1 };
      r.decisions.push(decision);
      if (r.decisions.length > 1000) r.decisions.shift();
      this.#ctx?.emit('decision', { ...decision });
      p.resolve({ grant, resource: r.spec.resource, requester: p.requester, waitedMs: Math.round(waitedMs * 1000) / 1000, rationale });
    }
  }

  /** Picks the next waiter by the resource's strategy, and says why. */
  #choose(r: ResourceState): { index: number; rationale: string } {
    const w = r.waiting;
    const others = (i: number) => (w.length > 1 ? ` over ${w.length - 1} other waiter(s)` : ' (no contention)');
    switch (r.spec.strategy) {
      case 'queue':
        return { index: 0, rationale: `first in line${others(0)}` };
      case 'priority': {
        const now = performance.now();
        const effective = (p: Pending) => p.priority + (r.spec.agingMs > 0 ? (now - p.at) / r.spec.agingMs : 0);
        let best = 0;
        for (let i = 1; i < w.length; i++) if (effective(w[i]!) > effective(w[best]!)) best = i;
        const p = w[best]!;
        const runnerUp = w.filter((_, i) => i !== best).reduce<Pending | undefined>((a, b) => (!a || effective(b) > effective(a) ? b : a), undefined);
        const aged = r.spec.agingMs > 0 && effective(p) !== p.priority ? ` (aged to ${effective(p).toFixed(1)})` : '';
        return {
          index: best,
          rationale: runnerUp
            ? `priority ${label(p.priority)}${aged} beats ${label(runnerUp.priority)} of '${runnerUp.requester}'${effective(runnerUp) === effective(p) ? ' (equal: first come, first served)' : ''}${others(best)}`
            : `priority ${label(p.priority)}${others(best)}`,
        };
      }
      case 'round-robin': {
        // The next requester in the ring after the last one served that is waiting.
        for (let step = 1; step <= r.ring.length; step++) {
          const turn = (r.lastTurn + step) % r.ring.length;
          const index = w.findIndex((p) => p.requester === r.ring[turn]);
          if (index >= 0) {
            const previous = r.lastTurn >= 0 ? r.ring[r.lastTurn] : undefined;
            r.lastTurn = turn;
            return { index, rationale: `its turn in the round-robin${previous ? ` after '${previous}'` : ''}${others(index)}` };
          }
        }
        return { index: 0, rationale: 'first in line' };
      }
      case 'weighted': {
        // Weighted fair share: the waiter whose requester has had the least service per unit of weight.
        const share = (p: Pending) => r.served.get(p.requester)!.grants / p.weight;
        let best = 0;
        for (let i = 1; i < w.length; i++) if (share(w[i]!) < share(w[best]!)) best = i;
        const p = w[best]!;
        return { index: best, rationale: `least served for its weight: ${r.served.get(p.requester)!.grants} grant(s) at weight ${p.weight} (${share(p).toFixed(2)} per unit)${others(best)}` };
      }
    }
  }
}

function label(priority: number): string {
  const name = (Object.keys(PRIORITY) as (keyof typeof PRIORITY)[]).find((k) => PRIORITY[k] === priority);
  return name ? `${name} (${priority})` : String(priority);
}
