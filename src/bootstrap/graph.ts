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

/**
 * The plan in integer form, for the kernel: nodes are their declaration indexes. `order` and
 * `stageOf` hold the same plan as the BootPlan, without a name lookup per node.
 */
export interface IndexedPlan {
  /** Name to declaration index (the last node of that name, should names repeat). */
  readonly index: ReadonlyMap<string, number>;
  /** Declaration indexes in start order. */
  readonly order: Int32Array;
  /** Dense stage of each node, by declaration index. */
  readonly stageOf: Int32Array;
  readonly stageCount: number;
  /**
   * Each node's needs then wants, resolved to declaration indexes in list order (-1 for a want
   * that is not configured): node i's are refs[refStart[i] .. refStart[i + 1]), its needs the
   * first `needs.length` of them. The kernel links its slots from these, without a name lookup.
   */
  readonly refStart: Int32Array;
  readonly refs: Int32Array;
}

/** Checks the graph and, when it is sound, plans its stages. */
export function analyzeGraph(nodes: readonly GraphNode[], stageLabels: readonly string[] = []): GraphAnalysis {
  const { problems, warnings, plan } = planGraph(nodes, stageLabels);
  return plan ? { problems, warnings, plan } : { problems, warnings };
}

/**
 * analyzeGraph, plus the plan in integer form (present when `plan` is). One pass of Kahn's
 * algorithm gives the start order and tells whether there is a cycle; Tarjan's algorithm runs only
 * when Kahn's leaves nodes over, to name the cycles.
 */
export function planGraph(
  nodes: readonly GraphNode[],
  stageLabels: readonly string[] = [],
): { problems: GraphProblem[]; warnings: GraphWarning[]; plan?: BootPlan; indexed?: IndexedPlan } {
  const problems: GraphProblem[] = [];
  const warnings: GraphWarning[] = [];
  const n = nodes.length;
  const index = new Map<string, number>();
  for (let i = 0; i < n; i++) index.set(nodes[i]!.name, i);

  // Order edges (needs + wants that are present, each target once), after checking each reference.
  // Node i's edges are edgeList[edgeStart[i] .. edgeStart[i + 1]).
  const edgeStart = new Int32Array(n + 1);
  const edgeList: number[] = [];
  const lastSource = new Int32Array(n).fill(-1); // lastSource[t] === i: i already has an edge to t
  const refStart = new Int32Array(n + 1);
  let refCount = 0;
  for (let i = 0; i < n; i++) refCount += nodes[i]!.needs.length + nodes[i]!.wants.length;
  const refs = new Int32Array(refCount);
  let ref = 0;
  for (let i = 0; i < n; i++) {
    const node = nodes[i]!;
    edgeStart[i] = edgeList.length;
    refStart[i] = ref;
    if (node.needs.length) ref = checkEdges(node, node.needs, 'needs', i, index, lastSource, edgeList, problems, warnings, refs, ref);
    if (node.wants.length) ref = checkEdges(node, node.wants, 'wants', i, index, lastSource, edgeList, problems, warnings, refs, ref);
    if (node.late.length) checkEdges(node, node.late, 'late', i, index, lastSource, edgeList, problems, warnings, refs, ref);
  }
  edgeStart[n] = edgeList.length;
  refStart[n] = ref;

  // Kahn's algorithm. Ties keep declaration order, so plans are stable: the nodes nothing is
  // waited for come first, in declaration order; each node's dependents follow in declaration order.
  const dependentStart = new Int32Array(n + 1);
  for (const t of edgeList) dependentStart[t + 1]!++;
  for (let i = 0; i < n; i++) dependentStart[i + 1]! += dependentStart[i]!;
  const dependentList = new Int32Array(edgeList.length);
  const fill = dependentStart.slice(0, n);
  const indegree = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    indegree[i] = edgeStart[i + 1]! - edgeStart[i]!;
    for (let e = edgeStart[i]!; e < edgeStart[i + 1]!; e++) dependentList[fill[edgeList[e]!]!++] = i;
  }
  const order = new Int32Array(n);
  let ordered = 0;
  for (let i = 0; i < n; i++) if (indegree[i] === 0) order[ordered++] = i;
  for (let k = 0; k < ordered; k++) {
    const v = order[k]!;
    for (let e = dependentStart[v]!; e < dependentStart[v + 1]!; e++) {
      const m = dependentList[e]!;
      if (--indegree[m]! === 0) order[ordered++] = m;
    }
  }

  if (ordered < n) {
    // Kahn's algorithm could not order everything: there is a cycle. Name each one (rare, so by name).
    const edges = new Map<string, string[]>();
    for (let i = 0; i < n; i++) {
      const out: string[] = [];
      for (let e = edgeStart[i]!; e < edgeStart[i + 1]!; e++) out.push(nodes[edgeList[e]!]!.name);
      edges.set(nodes[i]!.name, out);
    }
    for (const scc of stronglyConnected(nodes, edges)) problems.push(cycleProblem(scc, edges, nodes[index.get(scc[scc.length - 1]!)!]!));
  }
  if (problems.length) return { problems, warnings };

  // Stages by dependency level: one after the deepest dependency, unless placed later explicitly.
  const level = new Int32Array(n);
  let explicitStages = false;
  for (let k = 0; k < n; k++) {
    const i = order[k]!;
    const node = nodes[i]!;
    let required = 0;
    let blocker = -1;
    for (let e = edgeStart[i]!; e < edgeStart[i + 1]!; e++) {
      const d = edgeList[e]!;
      const l = level[d]! + 1;
      if (l > required) {
        required = l;
        blocker = d;
      }
    }
    let lv = required;
    if (node.stage !== undefined) {
      const name = node.name;
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
          message: `'${name}' is placed in stage ${JSON.stringify(node.stage)}, before '${blocker < 0 ? undefined : nodes[blocker]!.name}', which it depends on (earliest possible stage: ${required})`,
        });
      } else {
        lv = explicit;
        explicitStages = true;
      }
    }
    level[i] = lv;
  }
  if (problems.length) return { problems, warnings };

  // Dense stage indexes. Levels are dense already (a node at level L > 0 waits for one at L - 1);
  // explicit stages may leave gaps, which are closed up.
  let stageOf = level;
  let stageCount = 0;
  for (let i = 0; i < n; i++) if (level[i]! + 1 > stageCount) stageCount = level[i]! + 1;
  if (explicitStages) {
    const distinct = [...new Set(level)].sort((a, b) => a - b);
    const dense = new Map(distinct.map((l, s) => [l, s]));
    stageOf = level.map((l) => dense.get(l)!);
    stageCount = distinct.length;
  }
  return { problems, warnings, plan: namedPlan(nodes, order, stageOf, stageCount), indexed: { index, order, stageOf, stageCount, refStart, refs } };
}

/**
 * The plan by name. Its lists are made on first read: the kernel works from the integer plan, and
 * a boot of many components need never spell them out. Each reads as a plain property.
 */
function namedPlan(nodes: readonly GraphNode[], order: Int32Array, stageOf: Int32Array, stageCount: number): BootPlan {
  const n = order.length;
  let names: string[] | undefined;
  let stages: string[][] | undefined;
  let byName: Map<string, number> | undefined;
  const orderNames = (): string[] => {
    if (!names) {
      names = new Array(n);
      for (let k = 0; k < n; k++) names[k] = nodes[order[k]!]!.name;
    }
    return names;
  };
  return {
    get order(): readonly string[] {
      return orderNames();
    },
    get stages(): readonly (readonly string[])[] {
      if (!stages) {
        const list = orderNames();
        stages = [];
        for (let s = 0; s < stageCount; s++) stages.push([]);
        for (let k = 0; k < n; k++) stages[stageOf[order[k]!]!]!.push(list[k]!);
      }
      return stages;
    },
    get stageOf(): ReadonlyMap<string, number> {
      if (!byName) {
        const list = orderNames();
        byName = new Map();
        for (let k = 0; k < n; k++) byName.set(list[k]!, stageOf[order[k]!]!);
      }
      return byName;
    },
  };
}

/** Checks node i's list `field`; appends its order edges (needs, present wants) to `edgeList` and, for needs and wants, each entry's index to `refs`. */
function checkEdges(
  node: GraphNode,
  list: readonly string[],
  field: EdgeKind,
  i: number,
  index: ReadonlyMap<string, number>,
  lastSource: Int32Array,
  edgeList: number[],
  problems: GraphProblem[],
  warnings: GraphWarning[],
  refs: Int32Array,
  ref: number,
): number {
  const resolved = field !== 'late';
  for (let k = 0; k < list.length; k++) {
    const target = list[k]!;
    const t = target === node.name ? -1 : index.get(target);
    if (resolved) refs[ref++] = t ?? -1;
    if (t === -1) {
      problems.push({ kind: 'self', component: node.name, field, index: k, message: `'${node.name}' lists itself in ${field}` });
    } else if (t === undefined) {
      if (field === 'wants') {
        warnings.push({ component: node.name, field, index: k, message: `'${node.name}' wants '${target}', which is not configured (ignored)` });
      } else {
        const what = field === 'late' ? 'late target' : 'dependency';
        problems.push({
          kind: 'missing',
          component: node.name,
          field,
          index: k,
          message: `missing ${what} '${target}' of '${node.name}'${suggest(target, index.keys())}`,
        });
      }
    } else if (resolved && lastSource[t] !== i) {
      lastSource[t] = i;
      edgeList.push(t);
    }
  }
  return ref;
}

/** The problem for one strongly connected set: the shortest cycle through its first-reached member. */
function cycleProblem(scc: readonly string[], edges: ReadonlyMap<string, readonly string[]>, firstNode: GraphNode): GraphProblem {
  const cycle = cycleThrough(scc, edges);
  const first = cycle[0]!;
  const next = cycle[1]!;
  const field: EdgeKind = firstNode.needs.includes(next) ? 'needs' : 'wants';
  const pairs = cycle.slice(0, -1).map((from, i) => `${from} -> ${cycle[i + 1]}`);
  return {
    kind: 'cycle',
    component: first,
    field,
    index: firstNode[field].indexOf(next),
    cycle,
    message: `cycle: ${cycle.join(' -> ')}; a cycle can only be closed by a late edge: make one of these late (${pairs.join(', ')}), the one whose target is first used after start`,
  };
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
