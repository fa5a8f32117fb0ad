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
  // DOT: a plain name stays bare unless it is a keyword; any other is quoted with \ and " escaped.
  const id = (n: string) => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(n) && !DOT_KEYWORDS.has(n.toLowerCase()) ? n : `"${n.replace(/[\\"]/g, (c) => `\\${c}`)}"`);
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
  const mid = mermaidIds([...plan.order, ...edges.flatMap((e) => [e.from, e.to])], plan.stages.map((_, i) => `stage_${i}`));
  const lines = ['flowchart LR'];
  plan.stages.forEach((names, i) => {
    lines.push(`  subgraph stage_${i}["stage ${i}"]`);
    for (const n of names) lines.push(`    ${mid(n)}["${mermaidLabel(n)}${components[n]!.optional ? ' (optional)' : ''}"]`);
    lines.push('  end');
  });
  for (const e of edges) {
    const arrow = e.kind === 'late' ? '-. late .->' : e.kind === 'wants' ? '-. wants .->' : '-->';
    lines.push(`  ${mid(e.from)} ${arrow} ${mid(e.to)}`);
  }
  return lines.join('\n');
}

const DOT_KEYWORDS = new Set(['node', 'edge', 'graph', 'digraph', 'subgraph', 'strict']);
const MERMAID_RESERVED = new Set(['end', 'graph', 'flowchart', 'subgraph', 'style', 'class', 'classdef', 'click', 'linkstyle', 'direction', 'default']);

/**
 * A distinct mermaid node id per component name: a plain name (letters, digits, _) is its own id;
 * any other (or a reserved word) becomes a sanitized id with a suffix when that is taken, so `a-b`
 * and `a_b` stay two nodes.
 */
function mermaidIds(names: readonly string[], taken: readonly string[]): (n: string) => string {
  const plain = (n: string) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(n) && !MERMAID_RESERVED.has(n.toLowerCase());
  const ids = new Map<string, string>();
  const used = new Set(taken.map((t) => t.toLowerCase()));
  for (const n of names) if (plain(n)) (ids.set(n, n), used.add(n.toLowerCase()));
  const assign = (n: string) => {
    const base = `${/^[A-Za-z_]/.test(n) ? '' : 'n_'}${n.replace(/[^A-Za-z0-9_]/g, '_')}`;
    let id = base;
    for (let k = 2; used.has(id.toLowerCase()) || MERMAID_RESERVED.has(id.toLowerCase()); k++) id = `${base}_${k}`;
    used.add(id.toLowerCase());
    ids.set(n, id);
    return id;
  };
  for (const n of names) if (!ids.has(n)) assign(n);
  return (n) => ids.get(n) ?? assign(n);
}

/** Text inside a mermaid ["..."] label: quotes, # and angle brackets as entity codes. */
function mermaidLabel(n: string): string {
  return n.replace(/[#"<>&\\]/g, (c) => `#${c.charCodeAt(0)};`).replace(/\r?\n/g, ' ');
}
