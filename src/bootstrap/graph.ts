/**
 * The component graph: checks (missing dependencies, cycles, stages) and the boot plan (stages by
 * dependency level). Pure functions over names, shared by the kernel and by `symphony check`,
 * so a config file and a programmatic kernel are held to the same rules.
 */

export interface GraphNode {
  readonly name: string;
  readonly needs: readonly string[];
  readonly wants: readonly string[];
  readonly late: readonly string[];
  readonly stage?: number | string | undefined;
}

export type EdgeKind = 'needs' | 'wants' | 'late';

export interface GraphProblem {
  readonly kind: 'missing' | 'cycle' | 'stage' | 'self';
  /** The component whose declaration is at fault. */
  readonly component: string;
  /** The field at fault and, for lists, the entry's index. */
  readonly field: EdgeKind | 'stage';
  readonly index?: number;
  readonly message: string;
  /** For cycles: the path, first name repeated at the end, in `needs` direction. */
  readonly cycle?: readonly string[];
}

/** A warning does not stop the boot (e.g. `wants` naming a component that is not configured). */
export interface GraphWarning {
  readonly component: string;
  readonly field: EdgeKind;
  readonly index: number;
  readonly message: string;
}

export interface BootPlan {
  /** Components in a valid start order (dependencies first; declaration order breaks ties). */
  readonly order: readonly string[];
  /** Components per stage, in start order. */
  readonly stages: readonly (readonly string[])[];
  readonly stageOf: ReadonlyMap<string, number>;
}

export interface GraphAnalysis {
  readonly problems: readonly GraphProblem[];
  readonly warnings: readonly GraphWarning[];
  /** Present when there are no problems. */
  readonly plan?: BootPlan;
}

/** Checks the graph and, when it is sound, plans its stages. */
export function analyzeGraph(nodes: readonly GraphNode[], stageLabels: readonly string[] = []): GraphAnalysis {
  const problems: GraphProblem[] = [];
  const warnings: GraphWarning[] = [];
  const byName = new Map<string, GraphNode>();
  for (const n of nodes) byName.set(n.name, n);

  // Order edges (needs + wants that are present), after checking each reference.
  const edges = new Map<string, string[]>();
  for (const n of nodes) {
    const out: string[] = [];
    for (const field of ['needs', 'wants', 'late'] as const) {
      n[field].forEach((target, index) => {
        if (target === n.name) {
          problems.push({ kind: 'self', component: n.name, field, index, message: `'${n.name}' lists itself in ${field}` });
        } else if (!byName.has(target)) {
          if (field === 'wants') {
            warnings.push({ component: n.name, field, index, message: `'${n.name}' wants '${target}', which is not configured (ignored)` });
          } else {
            const what = field === 'late' ? 'late target' : 'dependency';
            problems.push({
              kind: 'missing',
              component: n.name,
              field,
              index,
              message: `missing ${what} '${target}' of '${n.name}'${suggest(target, byName.keys())}`,
            });
          }
        } else if (field !== 'late' && !out.includes(target)) {
          out.push(target);
        }
      });
    }
    edges.set(n.name, out);
  }

  for (const scc of stronglyConnected(nodes, edges)) {
    const cycle = cycleThrough(scc, edges);
    const first = cycle[0]!;
    const firstNode = byName.get(first)!;
    const next = cycle[1]!;
    const field: EdgeKind = firstNode.needs.includes(next) ? 'needs' : 'wants';
    const pairs = cycle.slice(0, -1).map((from, i) => `${from} -> ${cycle[i + 1]}`);
    problems.push({
      kind: 'cycle',
      component: first,
      field,
      index: firstNode[field].indexOf(next),
      cycle,
      message: `cycle: ${cycle.join(' -> ')}; a cycle can only be closed by a late edge: make one of these late (${pairs.join(', ')}), the one whose target is first used after start`,
    });
  }
  if (problems.length) return { problems, warnings };

  const order = topologicalOrder(nodes, edges);
  const level = new Map<string, number>();
  for (const name of order) {
    const node = byName.get(name)!;
    let required = 0;
    let blocker: string | undefined;
    for (const d of edges.get(name)!) {
      const l = level.get(d)! + 1;
      if (l > required) {
        required = l;
        blocker = d;
      }
    }
    let lv = required;
    if (node.stage !== undefined) {
      const explicit = typeof node.stage === 'number' ? node.stage : stageLabels.indexOf(node.stage);
      if (explicit < 0 || !Number.isInteger(explicit)) {
        problems.push({
          kind: 'stage',
          component: name,
          field: 'stage',
          message: `stage ${JSON.stringify(node.stage)} of '${name}' is not ${stageLabels.length ? `one of the stages (${stageLabels.join(', ')})` : 'a stage index (no stage labels are declared)'}`,
        });
      } else if (explicit < required) {
        problems.push({
          kind: 'stage',
          component: name,
          field: 'stage',
          message: `'${name}' is placed in stage ${JSON.stringify(node.stage)}, before '${blocker}', which it depends on (earliest possible stage: ${required})`,
        });
      } else {
        lv = explicit;
      }
    }
    level.set(name, lv);
  }
  if (problems.length) return { problems, warnings };

  // Dense stage indexes (explicit stages may leave gaps).
  const distinct = [...new Set(level.values())].sort((a, b) => a - b);
  const dense = new Map(distinct.map((l, i) => [l, i]));
  const stages: string[][] = distinct.map(() => []);
  const stageOf = new Map<string, number>();
  for (const name of order) {
    const s = dense.get(level.get(name)!)!;
    stageOf.set(name, s);
    stages[s]!.push(name);
  }
  return { problems, warnings, plan: { order, stages, stageOf } };
}

/** `name` and everything it needs, transitively (what `--until NAME` boots). */
export function needsClosure(nodes: readonly GraphNode[], name: string): Set<string> {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const seen = new Set<string>();
  const stack = [name];
  while (stack.length) {
    const n = stack.pop()!;
    if (seen.has(n) || !byName.has(n)) continue;
    seen.add(n);
    stack.push(...byName.get(n)!.needs);
  }
  return seen;
}

/** Every component that depends on `name` through needs or wants, directly or not (not `name` itself). */
export function dependentsClosure(nodes: readonly GraphNode[], name: string): Set<string> {
  const dependents = new Map<string, string[]>();
  for (const n of nodes) {
    for (const d of [...n.needs, ...n.wants]) {
      if (!dependents.has(d)) dependents.set(d, []);
      dependents.get(d)!.push(n.name);
    }
  }
  const seen = new Set<string>();
  const stack = [...(dependents.get(name) ?? [])];
  while (stack.length) {
    const n = stack.pop()!;
    if (seen.has(n) || n === name) continue;
    seen.add(n);
    stack.push(...(dependents.get(n) ?? []));
  }
  return seen;
}

/** Kahn's algorithm; ties keep declaration order, so plans are stable. */
function topologicalOrder(nodes: readonly GraphNode[], edges: ReadonlyMap<string, readonly string[]>): string[] {
  const indegree = new Map<string, number>();
  const dependents = new Map<string, string[]>();
  for (const n of nodes) {
    indegree.set(n.name, edges.get(n.name)!.length);
    for (const d of edges.get(n.name)!) {
      if (!dependents.has(d)) dependents.set(d, []);
      dependents.get(d)!.push(n.name);
    }
  }
  const order: string[] = [];
  for (const n of nodes) if (indegree.get(n.name) === 0) order.push(n.name);
  for (let i = 0; i < order.length; i++) {
    for (const m of dependents.get(order[i]!) ?? []) {
      const left = indegree.get(m)! - 1;
      indegree.set(m, left);
      if (left === 0) order.push(m);
    }
  }
  return order;
}

/** Tarjan's algorithm, iterative (a 10,000-deep chain must not overflow the stack); only the cyclic components. */
function stronglyConnected(nodes: readonly GraphNode[], edges: ReadonlyMap<string, readonly string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const result: string[][] = [];
  let counter = 0;
  for (const root of nodes) {
    if (index.has(root.name)) continue;
    const work: [string, number][] = [[root.name, 0]];
    index.set(root.name, counter);
    low.set(root.name, counter++);
    stack.push(root.name);
    onStack.add(root.name);
    while (work.length) {
      const frame = work[work.length - 1]!;
      const [v, i] = frame;
      const out = edges.get(v)!;
      if (i < out.length) {
        frame[1]++;
        const w = out[i]!;
        if (!index.has(w)) {
          index.set(w, counter);
          low.set(w, counter++);
          stack.push(w);
          onStack.add(w);
          work.push([w, 0]);
        } else if (onStack.has(w)) {
          low.set(v, Math.min(low.get(v)!, index.get(w)!));
        }
        continue;
      }
      work.pop();
      if (work.length) {
        const parent = work[work.length - 1]![0];
        low.set(parent, Math.min(low.get(parent)!, low.get(v)!));
      }
      if (low.get(v) === index.get(v)) {
        const scc: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          scc.push(w);
        } while (w !== v);
        if (scc.length > 1) result.push(scc);
      }
    }
  }
  return result;
}

/** The shortest cycle through the strongly connected set's first-declared member, as a path `a, b, …, a`. */
function cycleThrough(scc: readonly string[], edges: ReadonlyMap<string, readonly string[]>): string[] {
  const members = new Set(scc);
  const start = scc[scc.length - 1]!; // Tarjan pops the root last: the first one the walk reached
  const parent = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const v = queue[i]!;
    for (const w of edges.get(v)!) {
      if (!members.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let at: string | undefined = v; at !== start && at !== undefined; at = parent.get(at)) path.splice(1, 0, at);
        path.push(start);
        return path;
      }
      if (!parent.has(w)) {
        parent.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}

/** ` (did you mean 'x'?)` for a near miss among the known names. */
export function suggest(name: string, known: Iterable<string>): string {
  let best: string | undefined;
  // Short names get little slack ('zz' is no typo of 'a'); longer ones allow a transposition.
  let bestDistance = (name.length <= 3 ? 1 : Math.floor(name.length / 3) + 1) + 1;
  for (const k of known) {
    const d = editDistance(name, k);
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best === undefined ? '' : ` (did you mean '${best}'?)`;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}
