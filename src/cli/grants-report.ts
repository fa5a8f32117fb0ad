import { relative } from 'node:path';
import type { Diagnostic, LoadedSystem } from '../config/index.js';
import type { ExtensionProblem, GrantReview } from '../orchestra/index.js';

/**
 * `symphony check`'s part for extensions: for each builtin:orchestra component, every extension it
 * would find, what its manifest asks against what the config grants, and every problem (manifests
 * and grants together, each at its FILE:LINE:COL).
 */
export async function checkExtensions(system: LoadedSystem, out: NodeJS.WritableStream): Promise<Diagnostic[]> {
  const { planExtensions, symphonyVersion } = await import('../orchestra/index.js');
  const diagnostics: Diagnostic[] = [];
  for (const [name, c] of Object.entries(system.components)) {
    if (c.use !== 'builtin:orchestra') continue;
    const settings = (c.with ?? {}) as { paths?: string[]; grants?: unknown };
    const plan = await planExtensions(settings, system.baseDir, symphonyVersion());
    const loads = new Set(plan.load.map((m) => m.name));
    out.write(`${name} (builtin:orchestra): ${plan.reviews.length} extension${plan.reviews.length === 1 ? '' : 's'} found, ${loads.size} would load\n`);
    for (const r of plan.reviews) out.write(renderReview(r, loads.has(r.name)));
    for (const p of plan.problems) diagnostics.push(asDiagnostic(p));
  }
  return diagnostics;
}

const RIGHTS = ['execution', 'provides', 'calls', 'publishes', 'subscribes', 'fsRead', 'fsWrite', 'net', 'childProcess', 'workers', 'limits'] as const;

/** One extension: a row per right it asks or is granted, asked beside granted, what is not granted marked. */
export function renderReview(r: GrantReview, loads: boolean): string {
  const g = r.grant;
  const lines = [`  ${r.name} ${r.version} (${rel(r.dir)}) ${r.pin}: ${loads ? 'loads' : 'REFUSED'}${g ? '' : ' (no grant)'}`];
  const shown = (xs: readonly unknown[]) => (xs.length ? xs.map((x) => String(x)).join(', ') : '-');
  for (const right of RIGHTS) {
    const asks = r.asks.filter((a) => a.right === right);
    const granted = grantedValue(g, right);
    if (!asks.length && granted === undefined) continue;
    const missing = asks.filter((a) => !a.granted);
    const asked = right === 'execution' ? shown(asks.map((a) => a.value)) : right === 'limits' ? shown(asks.map((a) => `memoryMb ${a.value}`)) : shown(asks.map((a) => a.value));
    lines.push(`    ${right.padEnd(13)} asked ${asked.padEnd(28)} granted ${granted ?? '-'}${missing.length ? `   NOT GRANTED: ${missing.map((a) => String(a.value)).join(', ')}` : ''}`);
  }
  return `${lines.join('\n')}\n`;
}

function grantedValue(g: GrantReview['grant'], right: (typeof RIGHTS)[number]): string | undefined {
  if (!g) return undefined;
  if (right === 'execution') return g.execution ?? 'isolated';
  if (right === 'limits') return g.limits?.memoryMb === undefined ? undefined : `memoryMb ${g.limits.memoryMb}`;
  const v = g[right];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? (v.length ? v.join(', ') : '-') : String(v);
}

function asDiagnostic(p: ExtensionProblem): Diagnostic {
  return { file: p.file, line: p.line, col: p.col, severity: p.severity ?? 'error', message: p.message };
}

function rel(path: string): string {
  const r = relative(process.cwd(), path);
  return r && !r.startsWith('..') ? r : path;
}
