/**
 * The start order of a component graph, by Kahn's algorithm over its integer edges (see Edges in
 * graph.ts).
 */
import type { Edges } from './graph.js';

/**
 * Kahn's algorithm. Ties keep declaration order, so plans are stable: the nodes nothing is waited
 * for come first, in declaration order; each node's dependents follow in declaration order.
 * `ordered` < n: the rest are on or behind a cycle. One loop per function here and below: in a
 * cold process a long loop is compiled while it runs, with the rest of its function, and code
 * after it that has not run yet is compiled blind and thrown away when reached.
 */
export function kahnOrder(n: number, edges: Edges): { order: Int32Array; ordered: number } {
  const dependentStart = prefixSums(countDependents(n, edges.edgeList));
  const dependentList = dependentsOf(n, edges, dependentStart);
  const indegree = indegrees(n, edges.edgeStart);
  const order = new Int32Array(n);
  const roots = rootsOf(indegree, order);
  return { order, ordered: drain(order, roots, indegree, dependentStart, dependentList) };
}

/** counts[t + 1]: how many nodes wait for node t. */
function countDependents(n: number, edgeList: readonly number[]): Int32Array {
  const counts = new Int32Array(n + 1);
  for (let e = 0; e < edgeList.length; e++) counts[edgeList[e]! + 1]!++;
  return counts;
}

function prefixSums(counts: Int32Array): Int32Array {
  for (let i = 1; i < counts.length; i++) counts[i]! += counts[i - 1]!;
  return counts;
}

/** Node t's dependents, in declaration order: dependentList[dependentStart[t] .. dependentStart[t + 1]). */
function dependentsOf(n: number, { edgeStart, edgeList }: Edges, dependentStart: Int32Array): Int32Array {
  const dependentList = new Int32Array(edgeList.length);
  const fill = dependentStart.slice(0, n);
  for (let i = 0; i < n; i++) for (let e = edgeStart[i]!; e < edgeStart[i + 1]!; e++) dependentList[fill[edgeList[e]!]!++] = i;
  return dependentList;
}

function indegrees(n: number, edgeStart: Int32Array): Int32Array {
  const indegree = new Int32Array(n);
  for (let i = 0; i < n; i++) indegree[i] = edgeStart[i + 1]! - edgeStart[i]!;
  return indegree;
}

/** Puts the nodes that wait for nothing first in `order`; returns how many. */
function rootsOf(indegree: Int32Array, order: Int32Array): number {
  let ordered = 0;
  for (let i = 0; i < indegree.length; i++) if (indegree[i] === 0) order[ordered++] = i;
  return ordered;
}

/** Appends each node whose last dependency was ordered; returns how many are ordered in all. */
function drain(order: Int32Array, ordered: number, indegree: Int32Array, dependentStart: Int32Array, dependentList: Int32Array): number {
  for (let k = 0; k < ordered; k++) {
    const v = order[k]!;
    for (let e = dependentStart[v]!; e < dependentStart[v + 1]!; e++) {
      const m = dependentList[e]!;
      if (--indegree[m]! === 0) order[ordered++] = m;
    }
  }
  return ordered;
}
