/**
 * Naming the cycles of a component graph, once Kahn's algorithm found there is one: Tarjan's
 * algorithm finds each strongly connected set, and the problem names its shortest cycle.
 */
import type { EdgeKind, GraphNode, GraphProblem } from './graph.js';

/** The problem for one strongly connected set: the shortest cycle through its first-reached member. */
export function cycleProblem(scc: readonly string[], edges: ReadonlyMap<string, readonly string[]>, firstNode: GraphNode): GraphProblem {
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

/** Tarjan's algorithm, iterative (a 10,000-deep chain must not overflow the stack); only the cyclic components. */
export function stronglyConnected(nodes: readonly GraphNode[], edges: ReadonlyMap<string, readonly string[]>): string[][] {
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
