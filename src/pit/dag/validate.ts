import { InvalidParamsError } from '../../bus/index.js';
import { parseParams, v } from '../params.js';
import type { NormalizedRecovery, NormalizedWorkflow, NormalizedNode, RecoverySpec, Workflow } from './types.js';

/** Defaults of a recovery spec (documented in dag/index.ts). */
export const RECOVERY_DEFAULTS = { retries: 3, backoff: 'exponential', delayMs: 1000, maxDelayMs: 60_000 } as const;

const MAX_TIMER_MS = 2_147_483_647;
const Id = v.pipe(v.string(), v.minLength(1), v.maxLength(256));

/** Error text for a strict object: an unknown field lists the known ones (the usual cause is a typo). */
function strictMessage(what: string, fields: string) {
  return (issue: { expected: string | null; received: string }): string =>
    issue.expected === 'never'
      ? `unknown field ${issue.received} (${what} has: ${fields})`
      : issue.expected === 'Object'
        ? `${what} must be an object, got ${issue.received}`
        : `missing field ${issue.expected}`;
}

const RecoverySchema = v.strictObject({
  strategy: v.picklist(['retry', 'fallback', 'skip', 'fail']),
  retries: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(10_000))),
  backoff: v.optional(v.picklist(['constant', 'linear', 'exponential'])),
  // Timers cannot wait longer than 2^31-1 ms (about 24.8 days); longer would fire at once.
  delayMs: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(MAX_TIMER_MS))),
  maxDelayMs: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(MAX_TIMER_MS))),
  fallback: v.optional(Id),
  then: v.optional(v.picklist(['fallback', 'skip', 'fail'])),
}, strictMessage('a recovery', 'strategy, retries, backoff, delayMs, maxDelayMs, fallback, then'));

// Strict objects: a typo such as `need:` must be an error, not a silently missing dependency.
// Anything else the caller wants to keep with a node goes in `data`.
const NodeSchema = v.strictObject({
  id: Id,
  needs: v.optional(v.array(Id)),
  after: v.optional(v.array(Id)),
  optional: v.optional(v.boolean()),
  recovery: v.optional(RecoverySchema),
  data: v.optional(v.unknown()),
}, strictMessage('a node', 'id, needs, after, optional, recovery, data'));

export const WorkflowSchema = v.strictObject({
  id: v.optional(Id),
  nodes: v.pipe(v.array(NodeSchema), v.minLength(1, 'a workflow needs at least one node')),
}, strictMessage('a workflow', 'id, nodes'));

function invalid(method: string, index: number, node: string, field: string, message: string): InvalidParamsError {
  const path = `workflow.nodes.${index}${field ? `.${field}` : ''}`;
  return new InvalidParamsError(`${method}: ${path} (node '${node}'): ${message}`, { method, field: path, node });
}

function normalizeRecovery(r: RecoverySpec | undefined): NormalizedRecovery {
  const out: NormalizedRecovery = {
    strategy: r?.strategy ?? 'fail',
    retries: r?.retries ?? RECOVERY_DEFAULTS.retries,
    backoff: r?.backoff ?? RECOVERY_DEFAULTS.backoff,
    delayMs: r?.delayMs ?? RECOVERY_DEFAULTS.delayMs,
    maxDelayMs: r?.maxDelayMs ?? RECOVERY_DEFAULTS.maxDelayMs,
    then: r?.then ?? 'fail',
  };
  if (r?.fallback !== undefined) out.fallback = r.fallback;
  return out;
}

/** Whether a recovery spec ever hands over to its fallback. */
export function usesFallback(r: NormalizedRecovery): boolean {
  return r.strategy === 'fallback' || (r.strategy === 'retry' && r.then === 'fallback');
}

/**
 * Validates a workflow (shape, then meaning) and fills in defaults. Every error is an
 * InvalidParamsError naming the node and the field: unknown ids, duplicates, a fallback that is not
 * a node (or serves two primaries), and cycles, printed as `a -> b -> a`.
 */
export function validateWorkflow(method: string, input: unknown): NormalizedWorkflow {
  const wf = parseParams(method, v.object({ workflow: WorkflowSchema }), { workflow: input }).workflow as Workflow;
  const index = new Map<string, number>();
  wf.nodes.forEach((n, i) => {
    const first = index.get(n.id);
    if (first !== undefined) throw invalid(method, i, n.id, 'id', `duplicate node id (first declared at workflow.nodes.${first})`);
    index.set(n.id, i);
  });
  const nodes: NormalizedNode[] = wf.nodes.map((n, i) => {
    for (const field of ['needs', 'after'] as const) {
      (n[field] ?? []).forEach((dep, j) => {
        if (!index.has(dep)) throw invalid(method, i, n.id, `${field}.${j}`, `unknown node '${dep}'`);
      });
    }
    // A node named in both lists is a hard dependency: `needs` is the stronger promise.
    const needs = [...new Set(n.needs ?? [])];
    const after = [...new Set(n.after ?? [])].filter((d) => !needs.includes(d));
    const recovery = normalizeRecovery(n.recovery);
    if (usesFallback(recovery)) {
      if (recovery.fallback === undefined) throw invalid(method, i, n.id, 'recovery.fallback', `strategy '${recovery.strategy}'${recovery.strategy === 'retry' ? " with then 'fallback'" : ''} needs a fallback node`);
      if (!index.has(recovery.fallback)) throw invalid(method, i, n.id, 'recovery.fallback', `unknown node '${recovery.fallback}'`);
    } else if (recovery.fallback !== undefined) {
      throw invalid(method, i, n.id, 'recovery.fallback', `fallback '${recovery.fallback}' is set but never used (strategy is '${recovery.strategy}'${recovery.strategy === 'retry' ? `, then '${recovery.then}'` : ''})`);
    }
    const out: NormalizedNode = { id: n.id, needs, after, optional: n.optional ?? false, recovery };
    if (n.data !== undefined) out.data = n.data;
    return out;
  });
  // One primary per fallback: a fallback stands in for one node, whose dependents then follow it.
  const primaryOf = new Map<string, string>();
  nodes.forEach((n, i) => {
    const f = usesFallback(n.recovery) ? n.recovery.fallback : undefined;
    if (f === undefined) return;
    const other = primaryOf.get(f);
    if (other !== undefined) throw invalid(method, i, n.id, 'recovery.fallback', `node '${f}' is already the fallback of '${other}' (a fallback serves one node)`);
    primaryOf.set(f, n.id);
  });
  const cycle = findCycle(nodes, index);
  if (cycle) {
    const { path, from, field } = cycle;
    throw invalid(method, index.get(from)!, from, field, `dependency cycle ${path.join(' -> ')} (x -> y: x waits for y through needs, after or a fallback)`);
  }
  return { id: wf.id ?? 'workflow', nodes };
}

/**
 * Finds a cycle, if any. Each node is two vertices, so that fallbacks are checked too:
 * run(x) (x executes) and res(x) (x's outcome is known to its dependents).
 *   run(x) -> res(d)  for d in x.needs and x.after (x starts once d is settled)
 *   res(x) -> run(x)  (x settles after it ran)
 *   res(p) -> res(f)  p's fallback f (p's dependents follow f's outcome)
 *   run(f) -> run(p)  (f only runs once p failed)
 * e.g. "p needs its own fallback f" is run(p) -> res(f) -> run(f) -> run(p): a deadlock a plain
 * needs-graph would not show.
 */
function findCycle(nodes: NormalizedNode[], index: Map<string, number>): { path: string[]; from: string; field: string } | undefined {
  const n = nodes.length;
  const edges: number[][] = Array.from({ length: 2 * n }, () => []);
  nodes.forEach((node, i) => {
    for (const d of [...node.needs, ...node.after]) edges[2 * i]!.push(2 * index.get(d)! + 1);
    edges[2 * i + 1]!.push(2 * i);
    if (usesFallback(node.recovery)) {
      const f = index.get(node.recovery.fallback!)!;
      edges[2 * i + 1]!.push(2 * f + 1);
      edges[2 * f]!.push(2 * i);
    }
  });
  const color = new Uint8Array(2 * n); // 0 new, 1 on the stack, 2 done
  for (let root = 0; root < 2 * n; root++) {
    if (color[root] !== 0) continue;
    // Iterative DFS: deep chains (thousands of nodes) must not overflow the JS stack.
    const stack: number[] = [root];
    const next: number[] = [0];
    color[root] = 1;
    while (stack.length) {
      const top = stack.length - 1;
      const u = stack[top]!;
      const out = edges[u]!;
      if (next[top]! < out.length) {
        const w = out[next[top]!++]!;
        if (color[w] === 0) {
          color[w] = 1;
          stack.push(w);
          next.push(0);
        } else if (color[w] === 1) {
          return describe(stack.slice(stack.indexOf(w)), nodes);
        }
      } else {
        color[u] = 2;
        stack.pop();
        next.pop();
      }
    }
  }
  return undefined;
}

function describe(vertices: number[], nodes: NormalizedNode[]): { path: string[]; from: string; field: string } {
  // Vertices to node ids, merging run(x)/res(x) pairs into one step.
  const ids: number[] = [];
  for (const vtx of vertices) {
    const id = vtx >> 1;
    if (ids[ids.length - 1] !== id) ids.push(id);
  }
  if (ids.length > 1 && ids[0] === ids[ids.length - 1]) ids.pop();
  // Start the printed cycle at a node whose next step is a needs/after edge, so the error names a field the author wrote.
  const fieldOf = (a: NormalizedNode, b: NormalizedNode): string | undefined =>
    a.needs.includes(b.id) ? 'needs' : a.after.includes(b.id) ? 'after' : a.recovery.fallback === b.id ? 'recovery.fallback' : undefined;
  let start = 0;
  for (let k = 0; k < ids.length; k++) {
    const f = fieldOf(nodes[ids[k]!]!, nodes[ids[(k + 1) % ids.length]!]!);
    if (f === 'needs' || f === 'after') {
      start = k;
      break;
    }
  }
  const rotated = [...ids.slice(start), ...ids.slice(0, start)];
  const path = [...rotated, rotated[0]!].map((i) => nodes[i]!.id);
  const a = nodes[rotated[0]!]!;
  const b = nodes[rotated[1 % rotated.length]!]!;
  // A step f -> p where f is p's fallback has no field on f: name p's recovery.fallback then.
  const field = fieldOf(a, b) ?? 'recovery.fallback';
  const from = fieldOf(a, b) === undefined ? b.id : a.id;
  return { path, from, field };
}

/** The delay before retry number `retry` (1-based): constant d, linear d*retry, exponential d*2^(retry-1), capped by maxDelayMs. */
export function backoffDelay(r: Pick<NormalizedRecovery, 'backoff' | 'delayMs' | 'maxDelayMs'>, retry: number): number {
  const d = r.delayMs;
  const raw = r.backoff === 'constant' ? d : r.backoff === 'linear' ? d * retry : d * 2 ** (retry - 1);
  return Math.min(raw, r.maxDelayMs);
}

export function backoffFormula(r: Pick<NormalizedRecovery, 'backoff' | 'delayMs' | 'maxDelayMs'>, retry: number): string {
  const d = r.delayMs;
  const f = r.backoff === 'constant' ? `constant ${d}ms` : r.backoff === 'linear' ? `linear ${d}ms x ${retry}` : `exponential ${d}ms x 2^${retry - 1}`;
  const raw = r.backoff === 'constant' ? d : r.backoff === 'linear' ? d * retry : d * 2 ** (retry - 1);
  return raw > r.maxDelayMs ? `${f}, capped at ${r.maxDelayMs}ms` : f;
}
