import type { BootReport, KernelEvent } from '../bootstrap/index.js';
import type { BusStats } from '../bus/index.js';
import type { NodeInfo } from '../cluster/index.js';

// What the page receives: the shapes of the model's answers, apart from how they are gathered.

/** One row of the components table (`symphony ps`'s fields, plus the stage and the grant). */
export interface InventoryRow {
  name: string;
  kind: 'component' | 'extension' | 'peer';
  /** The component that runs it (an extension's Orchestra), when it is not the kernel. */
  parent?: string;
  state: string;
  health: string | null;
  pid: number | null;
  restarts: number;
  uptimeMs: number | null;
  rssBytes: number | null;
  isolation: 'sandboxed' | 'degraded' | 'none';
  /** What the operator granted it (extensions), in the grant's own words. */
  grant?: unknown;
}

export interface Inventory {
  system: { state: string; phase: string; isolation: string; pid: number; uptimeMs: number; rssBytes: number; heapUsedBytes: number };
  components: InventoryRow[];
  /** The cluster's nodes, when this kernel is one (a `cluster:` table); absent otherwise. */
  nodes?: NodeInfo[];
}

/** One line of the event log. */
export interface LogEntry {
  seq: number;
  /** Epoch ms. */
  at: number;
  /** Who it is about: a component, `PARENT/NAME` for a part's own (an extension), or `kernel`. */
  component: string;
  level: 'debug' | 'info' | 'warn' | 'error';
  kind: KernelEvent['type'];
  message: string;
}

/** One peer's traffic over the last sample. */
export interface PeerSample {
  name: string;
  kind: 'local' | 'remote';
  state: string;
  /** Requests served per second since the previous sample. */
  rate: number;
  /** Errors (timeouts included) per second since the previous sample. */
  errorRate: number;
  requests: number;
  errors: number;
  timeouts: number;
  inflight: number;
  serving: number;
  /** Latency of the last window (null when nothing was served in it). */
  p50Ms: number | null;
  p99Ms: number | null;
  breaker: string;
  droppedEvents: number;
  heldBytes: number;
}

export interface BusSample {
  at: number;
  peers: PeerSample[];
  methods: number;
  subscriptions: number;
  inflight: number;
  droppedEvents: number;
  protocolErrors: number;
  deniedCalls: number;
  slowConsumers: number;
}

/** A melody run as the DAG Tracker sees it: each step's state. */
export interface MelodyRun {
  run: string;
  melody: string;
  state: string;
  reason: string;
  createdAt: number;
  updatedAt: number;
  steps: Record<string, { state: string; attempts: number }>;
}

/** The boot as far as it went: the report once the boot ended, else what the events said so far. */
export interface BootView {
  done: boolean;
  report: BootReport | null;
  /** While booting: each component's transitions so far. */
  live: { name: string; stage: number; state: string; startMs: number | null; readyMs: number | null; attempts: number }[];
}
