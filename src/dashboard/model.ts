import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Kernel, type BootReport, type KernelEvent } from '../bootstrap/index.js';
import type { Bus, BusStats } from '../bus/index.js';
import type { NodeInfo } from '../cluster/index.js';
import type { BootView, BusSample, Inventory, InventoryRow, LogEntry, MelodyRun, PeerSample } from './views.js';

/**
 * What the page shows, gathered from the kernel, its parts' own kernels (an Orchestra runs its
 * extensions under one) and the bus. Only the event ring listens all the time (kernel events are
 * few, and it is bounded); everything else is read when a page asks or while one is open.
 */

export interface ModelSources {
  kernel: Kernel;
  /** The bus (the component running builtin:bus), when there is one and it runs. */
  bus: () => Bus | undefined;
  /** The operator's grant of each extension by name, as configured. */
  grants?: Record<string, unknown>;
  /** Which components are `command:` peers (their kind in the table). */
  peers?: ReadonlySet<string>;
}

const PROCESS_ID = Symbol.for('symphony.pid');
const RING = 300;
const MAX_RUNS = 12;

export class DashboardModel {
  readonly #s: ModelSources;
  readonly #ring: (LogEntry | undefined)[] = new Array(RING);
  #seq = 0;
  readonly #boot = new Map<string, BootView['live'][number]>();
  readonly #watched = new WeakSet<Kernel>();
  readonly #offs: (() => void)[] = [];
  readonly #listeners = new Set<(e: LogEntry, raw: KernelEvent) => void>();
  #previous = new Map<string, { requests: number; errors: number; at: number }>();
  readonly #runs = new Map<string, MelodyRun>();
  /** When each part last became ready (uptime where the bus's `system.ps` is not there). */
  readonly #since = new Map<string, number>();

  constructor(sources: ModelSources) {
    this.#s = sources;
    this.#watch(sources.kernel, undefined);
  }

  /** Every kernel event of the system and of its parts' kernels, as a log entry. */
  onEntry(fn: (e: LogEntry, raw: KernelEvent) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  #watch(k: Kernel, parent: string | undefined): void {
    if (this.#watched.has(k)) return;
    this.#watched.add(k);
    this.#offs.push(k.on('event', (e) => this.#record(e, parent)));
  }

  /** Parts that run a kernel of their own (the Orchestra's extensions): watched once they are up. */
  #watchParts(): void {
    for (const s of this.#s.kernel.states()) {
      const inner = this.#innerKernel(s.name);
      if (inner) this.#watch(inner, s.name);
    }
  }

  #innerKernel(name: string): Kernel | undefined {
    const inst = this.#instance(this.#s.kernel, name) as { kernel?: unknown } | undefined;
    const inner = inst && typeof inst === 'object' ? inst.kernel : undefined;
    return inner instanceof Kernel ? inner : undefined;
  }

  #instance(k: Kernel, name: string): unknown {
    try {
      return k.get(name);
    } catch {
      return undefined;
    }
  }

  #record(e: KernelEvent, parent: string | undefined): void {
    let component: string;
    let level: LogEntry['level'] = 'info';
    let message: string;
    switch (e.type) {
      case 'log':
        component = e.component;
        level = e.level;
        message = e.message;
        break;
      case 'component': {
        component = e.component;
        level = e.state === 'failed' ? 'error' : e.state === 'degraded' ? 'warn' : 'info';
        message = `${e.state}${e.reason ? ` (${e.reason})` : ''}${e.error ? `: ${e.error.name}: ${e.error.message}` : ''}`;
        const key = parent === undefined ? e.component : `${parent}/${e.component}`;
        if (e.state === 'ready') this.#since.set(key, performance.now());
        if (parent === undefined) {
          if (e.state === 'ready') this.#watchParts();
          if (this.#s.kernel.report === undefined) this.#trackBoot(e);
        }
        break;
      }
      case 'stage':
        component = 'kernel';
        level = e.state === 'failed' ? 'error' : 'info';
        message = `stage ${e.stage} ${e.state} (${e.components.join(', ')})`;
        break;
      case 'system':
        component = 'kernel';
        level = e.state === 'failed' ? 'error' : e.state === 'degraded' ? 'warn' : 'info';
        message = `system ${e.state}${e.reason ? ` (${e.reason})` : ''}`;
        break;
    }
    const entry: LogEntry = { seq: ++this.#seq, at: Date.now(), component: parent !== undefined && component !== 'kernel' ? `${parent}/${component}` : parent !== undefined ? parent : component, level, kind: e.type, message };
    this.#ring[entry.seq % RING] = entry;
    for (const fn of this.#listeners) fn(entry, e);
  }

  #trackBoot(e: Extract<KernelEvent, { type: 'component' }>): void {
    const row = this.#boot.get(e.component) ?? { name: e.component, stage: e.stage, state: e.state, startMs: null, readyMs: null, attempts: 0 };
    row.state = e.state;
    row.attempts = Math.max(row.attempts, e.attempt);
    if (e.state === 'starting' && row.startMs === null) row.startMs = e.elapsedMs;
    if (e.state === 'ready' || e.state === 'degraded' || e.state === 'failed') row.readyMs = e.elapsedMs;
    this.#boot.set(e.component, row);
  }

  /** The last events, oldest first. */
  recent(limit = RING): LogEntry[] {
    const out: LogEntry[] = [];
    for (let s = Math.max(1, this.#seq - Math.min(limit, RING) + 1); s <= this.#seq; s++) {
      const e = this.#ring[s % RING];
      if (e && e.seq === s) out.push(e);
    }
    return out;
  }

  boot(): BootView {
    const report = this.#s.kernel.report ?? null;
    return { done: report !== null, report, live: report ? [] : [...this.#boot.values()] };
  }

  /** The components table: the bus's `system.ps` when it serves it (the same figures as `symphony ps`), else the kernel's states. */
  async inventory(): Promise<Inventory> {
    this.#watchParts();
    const k = this.#s.kernel;
    const bus = this.#s.bus();
    const mem = process.memoryUsage();
    let system: Inventory['system'] = { state: k.system ?? k.phase, phase: k.phase, isolation: k.isolation(), pid: process.pid, uptimeMs: Math.round(k.now()), rssBytes: mem.rss, heapUsedBytes: mem.heapUsed };
    let rows: InventoryRow[] | undefined;
    if (bus?.serves('system.ps')) {
      try {
        const ps = (await bus.request('system.ps', {}, { timeout: '2s' })) as { system: { state: string; isolation: string; uptimeMs: number }; components: InventoryRow[] };
        rows = ps.components.map((r) => ({ ...r }));
        system = { ...system, state: ps.system.state, isolation: ps.system.isolation };
      } catch {
        rows = undefined; // stopping, or busy: the kernel's own view below
      }
    }
    rows ??= this.#fromKernel();
    // Which component runs each extension, and what it was granted.
    const owners = new Map<string, string>();
    for (const s of k.states()) for (const x of this.#innerKernel(s.name)?.states() ?? []) owners.set(x.name, s.name);
    for (const r of rows) {
      if (r.kind === 'extension') {
        const owner = owners.get(r.name);
        if (owner) r.parent = owner;
        const grant = this.#s.grants?.[r.name];
        if (grant !== undefined) r.grant = grant;
      }
    }
    const nodes = await this.#nodes(k);
    return nodes ? { system, components: rows, nodes } : { system, components: rows };
  }

  /** The cluster's nodes, asked of this node's cluster part when the system has one. */
  async #nodes(k: Kernel): Promise<NodeInfo[] | undefined> {
    const bus = this.#s.bus();
    if (!bus || !k.states().some((s) => s.name === 'cluster' && s.state === 'ready')) return undefined;
    try {
      const nodes = (await bus.request('cluster.nodes', {}, { timeout: '2s' })) as NodeInfo[];
      return Array.isArray(nodes) ? nodes : undefined;
    } catch {
      return undefined; // leaving, or its NATS connection is down: the page keeps the last list
    }
  }

  #fromKernel(): InventoryRow[] {
    const k = this.#s.kernel;
    const now = performance.now();
    const rows: InventoryRow[] = [];
    const pidOf = (inst: unknown): number | null => {
      const f = inst && typeof inst === 'object' ? (inst as Record<symbol, unknown>)[PROCESS_ID] : undefined;
      const pid = typeof f === 'function' ? (f as () => unknown)() : (inst as { pid?: unknown } | undefined)?.pid;
      return typeof pid === 'number' ? pid : null;
    };
    const up = (key: string, state: string) => (state === 'ready' || state === 'degraded') && this.#since.has(key) ? Math.round(now - this.#since.get(key)!) : null;
    for (const s of k.states()) {
      const pid = pidOf(this.#instance(k, s.name));
      rows.push({ name: s.name, kind: this.#s.peers?.has(s.name) ? 'peer' : 'component', state: s.state, health: s.health, pid, restarts: s.restarts, uptimeMs: up(s.name, s.state), rssBytes: rssOf(pid), isolation: s.isolation });
      const inner = this.#innerKernel(s.name);
      for (const x of inner?.states() ?? []) {
        const xpid = pidOf(this.#instance(inner!, x.name));
        rows.push({ name: x.name, kind: 'extension', parent: s.name, state: x.state, health: x.health, pid: xpid, restarts: x.restarts, uptimeMs: up(`${s.name}/${x.name}`, x.state), rssBytes: rssOf(xpid), isolation: x.isolation });
      }
    }
    return rows;
  }

  /** Per-peer traffic since the previous sample (rates from the counters' differences). */
  busSample(): BusSample | null {
    const bus = this.#s.bus();
    if (!bus) return null;
    let stats: BusStats;
    try {
      stats = bus.stats();
    } catch {
      return null;
    }
    const at = performance.now();
    const next = new Map<string, { requests: number; errors: number; at: number }>();
    const peers: PeerSample[] = stats.peers.map((p) => {
      const before = this.#previous.get(p.name);
      const errors = p.errors + p.timeouts;
      next.set(p.name, { requests: p.requests, errors, at });
      const dt = before ? (at - before.at) / 1000 : 0;
      const recent = p.latency.recent;
      return {
        name: p.name,
        kind: p.kind,
        state: p.state,
        rate: dt > 0 ? Math.max(0, (p.requests - before!.requests) / dt) : 0,
        errorRate: dt > 0 ? Math.max(0, (errors - before!.errors) / dt) : 0,
        requests: p.requests,
        errors: p.errors,
        timeouts: p.timeouts,
        inflight: p.inflight,
        serving: p.serving,
        p50Ms: recent && recent.count > 0 ? recent.p50Ms : null,
        p99Ms: recent && recent.count > 0 ? recent.p99Ms : null,
        breaker: p.breaker,
        droppedEvents: p.droppedEvents,
        heldBytes: p.heldBytes,
      };
    });
    this.#previous = next;
    const { methods, subscriptions, inflight, droppedEvents, protocolErrors, deniedCalls, slowConsumers } = stats;
    return { at: Date.now(), peers, methods, subscriptions, inflight, droppedEvents, protocolErrors, deniedCalls, slowConsumers };
  }

  /** The latest melody runs with each step's state, from the DAG Tracker (`dag.runs`, `dag.status`). */
  async melodies(): Promise<MelodyRun[]> {
    const bus = this.#s.bus();
    if (bus?.serves('dag.runs')) {
      try {
        const { runs } = (await bus.request('dag.runs', { limit: MAX_RUNS }, { timeout: '2s' })) as { runs: { run: string }[] };
        for (const r of runs.slice(0, MAX_RUNS)) if (!this.#runs.has(r.run) || this.#runs.get(r.run)!.state === 'running') await this.#refreshRun(bus, r.run);
      } catch {
        // the tracker is busy or stopping: what is known already is shown
      }
    }
    return this.runs();
  }

  runs(): MelodyRun[] {
    return [...this.#runs.values()].sort((a, b) => b.createdAt - a.createdAt);
  }

  async #refreshRun(bus: Bus, run: string): Promise<MelodyRun | undefined> {
    const st = (await bus.request('dag.status', { run }, { timeout: '2s' })) as { run: string; workflow: string; state: string; reason: string; createdAt: number; updatedAt: number; nodes: Record<string, { state: string; attempts: number }> };
    const steps: MelodyRun['steps'] = {};
    for (const [id, n] of Object.entries(st.nodes)) steps[id] = { state: n.state, attempts: n.attempts };
    const out: MelodyRun = { run: st.run, melody: st.workflow, state: st.state, reason: st.reason, createdAt: st.createdAt, updatedAt: st.updatedAt, steps };
    this.#keepRun(out);
    return out;
  }

  #keepRun(r: MelodyRun): void {
    this.#runs.set(r.run, r);
    if (this.#runs.size > MAX_RUNS) {
      const oldest = this.runs().at(-1);
      if (oldest) this.#runs.delete(oldest.run);
    }
  }

  /**
   * A DAG Tracker event (`pit.dag.run` / `pit.dag.node`): the run it changes, updated; a run not
   * known yet is read whole from the tracker.
   */
  async onDagEvent(event: unknown): Promise<MelodyRun | undefined> {
    const e = event as { type?: string; at?: number; data?: { run?: string; workflow?: string; node?: string; to?: string; reason?: string; attempt?: number } } | null;
    const d = e?.data;
    if (!d || typeof d.run !== 'string' || typeof d.to !== 'string') return undefined;
    const known = this.#runs.get(d.run);
    const bus = this.#s.bus();
    if (!known) {
      if (!bus) return undefined;
      try {
        return await this.#refreshRun(bus, d.run);
      } catch {
        return undefined;
      }
    }
    known.updatedAt = e?.at ?? Date.now();
    if (e!.type === 'run') {
      known.state = d.to;
      if (d.reason) known.reason = d.reason;
    } else if (e!.type === 'node' && typeof d.node === 'string') {
      known.steps[d.node] = { state: d.to, attempts: d.attempt ?? known.steps[d.node]?.attempts ?? 0 };
    }
    return known;
  }

  close(): void {
    for (const off of this.#offs.splice(0)) off();
    this.#listeners.clear();
  }
}

function rssOf(pid: number | null): number | null {
  if (pid === null) return null;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}
