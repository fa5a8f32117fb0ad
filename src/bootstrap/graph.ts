/**
 * The component graph: checks (missing dependencies, cycles, stages) and the boot plan (stages by
 * dependency level). Pure functions over names, shared by the kernel and by `symphony check`,
 * so a config file and a programmatic kernel are held to the same rules.
 */
import { cycleProblem, stronglyConnected } from './cycles.js';
import { kahnOrder } from './kahn.js';

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
 * when Kahn's leaves nodes over, to name the cycles. Each step is its own small function: in a
 * cold process a loop over every node is compiled on its own, and a small one compiles quickly.
 */
export function planGraph(
  nodes: readonly GraphNode[],
  stageLabels: readonly string[] = [],
): { problems: GraphProblem[]; warnings: GraphWarning[]; plan?: BootPlan; indexed?: IndexedPlan } {
  const problems: GraphProblem[] = [];
  const warnings: GraphWarning[] = [];
  const index = indexNodes(nodes);
  const edges = resolveEdges(nodes, index, problems, warnings);
  const { order, ordered } = kahnOrder(nodes.length, edges);
  if (ordered < nodes.length) problems.push(...cycleProblems(nodes, index, edges));
  if (problems.length) return { problems, warnings };
  const { level, explicit } = levels(nodes, order, edges, stageLabels, problems);
  if (problems.length) return { problems, warnings };
  const { stageOf, stageCount } = denseStages(level, explicit);
  const { refStart, refs } = edges;
  return { problems, warnings, plan: namedPlan(nodes, order, stageOf, stageCount), indexed: { index, order, stageOf, stageCount, refStart, refs } };
}

/** Name to declaration index (the last node of that name, should names repeat). */
function indexNodes(nodes: readonly GraphNode[]): Map<string, number> {
  const index = new Map<string, number>();
  for (let i = 0; i < nodes.length; i++) index.set(nodes[i]!.name, i);
  return index;
}

/**
 * Every node's references, checked and resolved. Order edges (needs + wants that are present,
 * each target once): node i's are edgeList[edgeStart[i] .. edgeStart[i + 1]). `refs`: as
 * IndexedPlan's.
 */
export interface Edges {
  readonly edgeStart: Int32Array;
  readonly edgeList: readonly number[];
  readonly refStart: Int32Array;
  readonly refs: Int32Array;
}

function resolveEdges(nodes: readonly GraphNode[], index: ReadonlyMap<string, number>, problems: GraphProblem[], warnings: GraphWarning[]): Edges {
  const n = nodes.length;
  const edgeStart = new Int32Array(n + 1);
  const edgeList: number[] = [];
  const lastSource = new Int32Array(n).fill(-1); // lastSource[t] === i: i already has an edge to t
  const refStart = new Int32Array(n + 1);
  const refs = new Int32Array(refCount(nodes));
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
  return { edgeStart, edgeList, refStart, refs };
}

/** How many needs and wants the nodes list in all. */
function refCount(nodes: readonly GraphNode[]): number {
  let count = 0;
  for (let i = 0; i < nodes.length; i++) count += nodes[i]!.needs.length + nodes[i]!.wants.length;
  return count;
}

/** Kahn's algorithm could not order everything: there is a cycle. Names each one (rare, so by name). */
function cycleProblems(nodes: readonly GraphNode[], index: ReadonlyMap<string, number>, { edgeStart, edgeList }: Edges): GraphProblem[] {
  const edges = new Map<string, string[]>();
  for (let i = 0; i < nodes.length; i++) {
    const out: string[] = [];
    for (let e = edgeStart[i]!; e < edgeStart[i + 1]!; e++) out.push(nodes[edgeList[e]!]!.name);
    edges.set(nodes[i]!.name, out);
  }
  return stronglyConnected(nodes, edges).map((scc) => cycleProblem(scc, edges, nodes[index.get(scc[scc.length - 1]!)!]!));
}

/**
 * Each node's stage by dependency level: one after its deepest dependency, unless placed later
 * explicitly (`explicit`: some node was). A stage that is no stage, or too early, is a problem.
 */
function levels(
  nodes: readonly GraphNode[],
  order: Int32Array,
  { edgeStart, edgeList }: Edges,
  stageLabels: readonly string[],
  problems: GraphProblem[],
): { level: Int32Array; explicit: boolean } {
  const n = nodes.length;
  const level = new Int32Array(n);
  let explicit = false;
  for (let k = 0; k < n; k++) {
    const i = order[k]!;
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
    const node = nodes[i]!;
    if (node.stage === undefined) {
      level[i] = required;
      continue;
    }
    const placed = explicitStage(node, required, blocker < 0 ? undefined : nodes[blocker]!.name, stageLabels, problems);
    level[i] = placed < 0 ? required : placed;
    if (placed >= 0) explicit = true;
  }
  return { level, explicit };
}

/** The stage a node is explicitly placed in, or -1 with a problem when that is no stage or before `required`. */
function explicitStage(node: GraphNode, required: number, blocker: string | undefined, stageLabels: readonly string[], problems: GraphProblem[]): number {
  const name = node.name;
  const explicit = typeof node.stage === 'number' ? node.stage : stageLabels.indexOf(node.stage!);
  if (explicit < 0 || !Number.isInteger(explicit)) {
    problems.push({
      kind: 'stage',
      component: name,
      field: 'stage',
      message: `stage ${JSON.stringify(node.stage)} of '${name}' is not ${stageLabels.length ? `one of the stages (${stageLabels.join(', ')})` : 'a stage index (no stage labels are declared)'}`,
    });
    return -1;
  }
  if (explicit < required) {
    problems.push({
      kind: 'stage',
      component: name,
      field: 'stage',
      message: `'${name}' is placed in stage ${JSON.stringify(node.stage)}, before '${blocker}', which it depends on (earliest possible stage: ${required})`,
    });
    return -1;
  }
  return explicit;
}

/**
 * Dense stage indexes. Levels are dense already (a node at level L > 0 waits for one at L - 1);
 * explicit stages may leave gaps, which are closed up.
 */
function denseStages(level: Int32Array, explicit: boolean): { stageOf: Int32Array; stageCount: number } {
  if (explicit) {
    const distinct = [...new Set(level)].sort((a, b) => a - b);
    const dense = new Map(distinct.map((l, s) => [l, s]));
    return { stageOf: level.map((l) => dense.get(l)!), stageCount: distinct.length };
  }
  let stageCount = 0;
  for (let i = 0; i < level.length; i++) if (level[i]! + 1 > stageCount) stageCount = level[i]! + 1;
  return { stageOf: level, stageCount };
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
