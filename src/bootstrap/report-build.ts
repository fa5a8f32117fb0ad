/**
 * The boot report: built when a boot ends, from what the slots hold then. The per-component
 * entries are made on first read.
 */
import { describeError } from '../util/errors.js';
import type { KernelCore } from './core.js';
import type { ComponentState, HealthStatus } from './definition.js';
import { criticalPathOf, isolationOf, joinIsolation, onPathState, overallIsolation, type BootFailure, type BootReport, type ComponentReport, type IsolationLevel, type PathFacts } from './report.js';
import type { Slot } from './slot.js';

/** The report of the boot that just ended (`failure` null when it succeeded). */
export function buildReport(k: KernelCore, failure: BootFailure | null): BootReport {
  const order = k.order;
  // What the report says is fixed now, in flat arrays; the parts that cost a pass over every
  // component (the critical path, the stages, the entries) are made from it when first read. Read, written, spread or serialized, each behaves as a plain property.
  const facts = new BootFacts(order);
  const readyMs = k.now();
  const mem = process.memoryUsage();
  const late: BootReport['late'] = [];
  const withLate = facts.withLate;
  for (let j = 0; j < withLate.length; j++) {
    const slot = withLate[j]!;
    const targets = slot.spec.late;
    for (let t = 0; t < targets.length; t++) late.push({ from: slot.name, to: targets[t]!, boundMs: round(k.find(targets[t]!)!.firstReadyAt) });
  }
  // Every key in its place now (the lazy ones are redefined in place below), so the key order is the documented one.
  const report = {
    isolation: facts.isolation,
    ok: failure === null,
    system: failure ? 'failed' : facts.system,
    readyMs: round(readyMs)!,
    processMs: round(k.origin)!,
    stages: undefined,
    components: undefined,
    criticalPath: undefined,
    late,
    failure,
    until: k.options.until ?? null,
    memory: { rssBytes: mem.rss, heapUsedBytes: mem.heapUsed },
    loadMs: round(k.loadMs)!,
    kernelOverheadMs: undefined,
  } as unknown as BootReport;
  let path: number[] | undefined;
  const pathOf = () => (path ??= criticalPathOf(facts));
  lazy(report, 'stages', () => facts.stages(k.plan.stages));
  lazy(report, 'components', () => facts.reports());
  lazy(report, 'criticalPath', () => pathOf().map((i) => order[i]!.name));
  lazy(report, 'kernelOverheadMs', () => {
    let own = 0;
    for (const i of pathOf()) own += facts.ownMs(i) ?? 0;
    return round(Math.max(0, readyMs - k.bootStart - own))!;
  });
  return report;
}

/** The system's isolation now, from what each running instance says of itself. */
export function systemIsolation(slots: readonly Slot[]): IsolationLevel {
  const levels: IsolationLevel[] = [];
  for (let i = 0; i < slots.length; i++) {
    const s = slots[i]!;
    if (s.running) levels.push(isolationOf(s.instance).level);
  }
  return overallIsolation(levels);
}

/** A property computed on first read (then a plain data property); assigning it first replaces it. */
function lazy<K extends keyof BootReport>(report: BootReport, key: K, compute: () => BootReport[K]): void {
  const settle = (value: BootReport[K]) => Object.defineProperty(report, key, { value, writable: true, enumerable: true, configurable: true });
  Object.defineProperty(report, key, {
    enumerable: true,
    configurable: true,
    get: () => {
      const value = compute();
      settle(value);
      return value;
    },
    set: settle,
  });
}

function isolationEntries(instance: unknown): Pick<ComponentReport, 'isolation' | 'isolationParts'> {
  const iso = isolationOf(instance);
  return iso.parts ? { isolation: iso.level, isolationParts: iso.parts } : { isolation: iso.level };
}

/** Milliseconds as the report gives them: to the microsecond. */
function round(v: number | null): number | null {
  return v === null ? null : Math.round(v * 1000) / 1000;
}

/**
 * What a report says of each component, recorded when the boot ends (the slots change after it)
 * in flat arrays. The ComponentReport objects are made from it on demand.
 */
export class BootFacts implements PathFacts {
  readonly count: number;
  readonly stage: Int32Array;
  readonly ready: Float64Array;
  readonly eligible: Uint8Array;
  readonly slots: readonly Slot[];
  readonly state: ComponentState[];
  readonly attempts: Int32Array;
  /** queuedAt, startAt, readyAt of component i at [3i], [3i + 1], [3i + 2]; null where `known` says so. */
  readonly times: Float64Array;
  /** Bit 1: queuedAt, 2: startAt, 4: readyAt is not null. */
  readonly known: Uint8Array;
  readonly healthStatus: (HealthStatus | undefined)[];
  readonly healthDetail: unknown[];
  /** The parts (ctx.part) as the report gives them, for the few components that have any. */
  readonly parts: (ComponentReport['parts'] | undefined)[];
  readonly error: (string | null)[];
  /** The system's state and isolation at the boot's end, found in the same pass as the rest. */
  readonly system: 'ready' | 'degraded';
  readonly isolation: IsolationLevel;
  /** The components with late references, in start order. */
  readonly withLate: Slot[] = [];

  constructor(slots: readonly Slot[]) {
    const n = slots.length;
    this.count = n;
    this.slots = slots;
    this.stage = new Int32Array(n);
    this.ready = new Float64Array(n);
    this.eligible = new Uint8Array(n);
    this.state = new Array(n);
    this.attempts = new Int32Array(n);
    this.times = new Float64Array(3 * n);
    this.known = new Uint8Array(n);
    this.healthStatus = new Array(n);
    this.healthDetail = new Array(n);
    this.parts = new Array(n);
    this.error = new Array(n);
    // One pass over every component: a pass costs most in a cold process, where it runs unoptimized.
    let degraded = false;
    let isolation: IsolationLevel = 'none';
    for (let i = 0; i < n; i++) {
      const s = slots[i]!;
      if (s.degradesSystem) degraded = true;
      if (s.running) isolation = joinIsolation(isolation, isolationOf(s.instance).level); // every instance is still asked
      if (s.spec.late.length) this.withLate.push(s);
      this.stage[i] = s.stageIndex;
      this.state[i] = s.state;
      this.attempts[i] = s.attempts;
      let known = 0;
      if (s.queuedAt !== null) ((known |= 1), (this.times[3 * i] = s.queuedAt));
      if (s.startAt !== null) ((known |= 2), (this.times[3 * i + 1] = s.startAt));
      if (s.readyAt !== null) {
        known |= 4;
        this.times[3 * i + 2] = s.readyAt;
        this.ready[i] = Math.round(s.readyAt * 1000) / 1000;
        if (onPathState(s.state)) this.eligible[i] = 1;
      }
      this.known[i] = known;
      this.healthStatus[i] = s.healthStatus;
      this.healthDetail[i] = s.healthDetail;
      if (s.parts) this.parts[i] = s.parts.map((p) => ({ name: p.name, startMs: round(p.startMs)!, readyMs: round(p.readyMs) }));
      this.error[i] = s.error ? describeError(s.error) : null;
    }
    this.system = degraded ? 'degraded' : 'ready';
    this.isolation = isolation;
  }

  time(i: number, which: 0 | 1 | 2): number | null {
    return this.known[i]! & (1 << which) ? this.times[3 * i + which]! : null;
  }
  name(i: number): string {
    return this.slots[i]!.name;
  }
  dependsOn(i: number, name: string): boolean {
    const spec = this.slots[i]!.spec;
    return spec.needs.includes(name) || spec.wants.includes(name);
  }
  /** readyMs - startMs, rounded. */
  ownMs(i: number): number | null {
    const start = this.time(i, 1);
    const ready = this.time(i, 2);
    return start !== null && ready !== null ? round(ready - start) : null;
  }

  /** Each stage's members and its first start and last ready time (null until all are ready). */
  stages(plan: readonly (readonly string[])[]): BootReport['stages'] {
    const n = plan.length;
    // Counts and plain numbers rather than number | null, which would box every value.
    const starts = new Int32Array(n);
    const readies = new Int32Array(n);
    const startMin = new Float64Array(n);
    const readyMax = new Float64Array(n);
    for (let i = 0; i < this.count; i++) {
      const st = this.stage[i]!;
      const start = this.time(i, 1);
      const ready = this.time(i, 2);
      if (start !== null) startMin[st] = starts[st]!++ === 0 ? start : Math.min(startMin[st]!, start);
      if (ready !== null) readyMax[st] = readies[st]!++ === 0 ? ready : Math.max(readyMax[st]!, ready);
    }
    return plan.map((names, index) => ({
      index,
      components: [...names],
      startMs: starts[index] ? round(startMin[index]!) : null,
      readyMs: readies[index] === names.length ? round(readyMax[index]!) : null,
    }));
  }

  reports(): ComponentReport[] {
    const out: ComponentReport[] = new Array(this.count);
    for (let i = 0; i < this.count; i++) {
      const s = this.slots[i]!;
      const spec = s.spec;
      const queued = this.time(i, 0);
      const start = this.time(i, 1);
      const status = this.healthStatus[i];
      const parts = this.parts[i];
      out[i] = {
        name: s.name,
        stage: s.stageIndex,
        mode: spec.command ? 'command' : spec.mode,
        state: this.state[i]!,
        optional: spec.optional,
        attempts: this.attempts[i]!,
        queuedMs: round(queued),
        startMs: round(start),
        readyMs: round(this.time(i, 2)),
        ownMs: this.ownMs(i),
        waitMs: start !== null && queued !== null ? round(start - queued) : null,
        needs: [...spec.needs],
        wants: [...spec.wants],
        late: [...spec.late],
        health: status === undefined ? null : { status, detail: this.healthDetail[i] },
        ...isolationEntries(s.running ? s.instance : undefined),
        ...(parts ? { parts } : {}),
        error: this.error[i]!,
      };
    }
    return out;
  }
}
