import type { BootPlan, ComponentOptions } from '../bootstrap/index.js';

export type GraphFormat = 'mermaid' | 'dot' | 'json';

interface Edge {
  from: string;
  to: string;
  kind: 'needs' | 'wants' | 'late';
}

/** The boot plan as a picture: stages as groups, dependency edges pointing to what starts later, late edges dashed. */
export function renderGraph(plan: BootPlan, components: Record<string, ComponentOptions>, format: GraphFormat): string {
  const edges: Edge[] = [];
  for (const [name, c] of Object.entries(components)) {
    for (const d of c.needs ?? []) edges.push({ from: d, to: name, kind: 'needs' });
    for (const d of c.wants ?? []) if (d in components) edges.push({ from: d, to: name, kind: 'wants' });
    for (const d of c.late ?? []) edges.push({ from: name, to: d, kind: 'late' });
  }
  if (format === 'json') {
    return JSON.stringify(
      {
        stages: plan.stages.map((components, index) => ({ index, components })),
        components: plan.order.map((name) => ({
          name,
          stage: plan.stageOf.get(name),
          needs: components[name]!.needs ?? [],
          wants: components[name]!.wants ?? [],
          late: components[name]!.late ?? [],
          optional: components[name]!.optional === true,
        })),
        edges,
      },
      null,
      2,
    );
  }
  const id = (n: string) => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(n) ? n : `"${n.replace(/"/g, '\\"')}"`);
  if (format === 'dot') {
    const lines = ['digraph symphony {', '  rankdir=LR;', '  node [shape=box, style=rounded];'];
    plan.stages.forEach((names, i) => {
      lines.push(`  subgraph cluster_stage_${i} {`, `    label="stage ${i}";`, `    style=dashed;`);
      for (const n of names) lines.push(`    ${id(n)}${components[n]!.optional ? ' [style="rounded,dashed"]' : ''};`);
      lines.push('  }');
    });
    for (const e of edges) {
      const style = e.kind === 'late' ? ' [style=dashed, label="late", constraint=false]' : e.kind === 'wants' ? ' [style=dotted, label="wants"]' : '';
      lines.push(`  ${id(e.from)} -> ${id(e.to)}${style};`);
    }
    lines.push('}');
    return lines.join('\n');
  }
  const mid = (n: string) => n.replace(/[^A-Za-z0-9_]/g, '_');
  const lines = ['flowchart LR'];
  plan.stages.forEach((names, i) => {
    lines.push(`  subgraph stage_${i}["stage ${i}"]`);
    for (const n of names) lines.push(`    ${mid(n)}["${n}${components[n]!.optional ? ' (optional)' : ''}"]`);
    lines.push('  end');
  });
  for (const e of edges) {
    const arrow = e.kind === 'late' ? '-. late .->' : e.kind === 'wants' ? '-. wants .->' : '-->';
    lines.push(`  ${mid(e.from)} ${arrow} ${mid(e.to)}`);
  }
  return lines.join('\n');
}
