import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { analyzeGraph, type GraphNode } from '../src/index.js';

/** A random graph: each node may need any other node (so cycles happen), or only earlier ones (a DAG). */
const graphArb = (acyclic: boolean) =>
  fc.integer({ min: 1, max: 40 }).chain((n) =>
    fc
      .array(fc.array(fc.integer({ min: 0, max: n - 1 }), { maxLength: 4 }), { minLength: n, maxLength: n })
      .map((edges): GraphNode[] =>
        edges.map((targets, i) => ({
          name: `c${i}`,
          needs: [...new Set(targets.filter((t) => t !== i && (!acyclic || t < i)))].map((t) => `c${t}`),
          wants: [],
          late: [],
        })),
      ),
  );

describe('graph planning (property tests)', () => {
  it('plans every DAG so each component is in a later stage than everything it needs, with no empty stage', () => {
    fc.assert(
      fc.property(graphArb(true), (nodes) => {
        const { plan, problems } = analyzeGraph(nodes);
        expect(problems).toEqual([]);
        for (const n of nodes) for (const d of n.needs) expect(plan!.stageOf.get(d)!).toBeLessThan(plan!.stageOf.get(n.name)!);
        expect(plan!.stages.every((s) => s.length > 0)).toBe(true);
        expect(plan!.order).toHaveLength(nodes.length);
        // Stages are dependency levels: each component sits right after its deepest need.
        for (const n of nodes) {
          const level = Math.max(-1, ...n.needs.map((d) => plan!.stageOf.get(d)!)) + 1;
          expect(plan!.stageOf.get(n.name)).toBe(level);
        }
      }),
      { seed: 20261124, numRuns: 300 },
    );
  });

  it('either plans a graph or reports cycles whose printed paths are real cycles', () => {
    fc.assert(
      fc.property(graphArb(false), (nodes) => {
        const { plan, problems } = analyzeGraph(nodes);
        const byName = new Map(nodes.map((n) => [n.name, n]));
        if (plan) {
          for (const n of nodes) for (const d of n.needs) expect(plan.stageOf.get(d)!).toBeLessThan(plan.stageOf.get(n.name)!);
          return;
        }
        expect(problems.length).toBeGreaterThan(0);
        for (const p of problems) {
          expect(p.kind).toBe('cycle');
          const path = p.cycle!;
          expect(path[0]).toBe(path.at(-1));
          for (let i = 0; i + 1 < path.length; i++) expect(byName.get(path[i]!)!.needs).toContain(path[i + 1]);
          expect(p.message).toContain(`cycle: ${path.join(' -> ')}`);
        }
      }),
      { seed: 20261124, numRuns: 300 },
    );
  });

  it('handles a 10,000-deep chain without overflowing the stack', () => {
    const nodes: GraphNode[] = Array.from({ length: 10_000 }, (_, i) => ({ name: `c${i}`, needs: i ? [`c${i - 1}`] : [], wants: [], late: [] }));
    expect(analyzeGraph(nodes).plan!.stages).toHaveLength(10_000);
    nodes[0] = { ...nodes[0]!, needs: ['c9999'] };
    expect(analyzeGraph(nodes).problems[0]!.cycle).toHaveLength(10_001);
  });
});
