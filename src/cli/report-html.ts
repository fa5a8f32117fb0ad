import type { BootReport, ComponentReport } from '../bootstrap/index.js';

/**
 * A boot report as a self-contained HTML page (no scripts, no external assets): a waterfall of
 * every component (waiting, then its own start), stage boundaries, the critical path marked,
 * and the failure if there was one.
 */
export function renderReportHtml(report: BootReport, title = 'Symphony boot report'): string {
  const critical = new Set(report.criticalPath);
  const state = report.system;
  const badge = state === 'ready' ? '#188038' : state === 'degraded' ? '#b06000' : '#d93025';
  const failure = report.failure
    ? `<p class="failure"><b>Failed:</b> ${esc(report.failure.component)} (${esc(report.failure.phase)}): ${esc(report.failure.message)}</p>`
    : '';
  const table = report.components
    .map(
      (c) =>
        `<tr class="${critical.has(c.name) ? 'crit' : ''}"><td>${esc(c.name)}</td><td>${esc(c.stage)}</td><td>${esc(c.state)}</td><td>${esc(c.attempts)}</td><td>${fmt(c.waitMs)}</td><td>${fmt(c.ownMs)}</td><td>${fmt(c.readyMs)}</td><td>${esc(c.error ?? '')}</td></tr>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; } .badge { color: #fff; background: ${badge}; padding: 2px 8px; border-radius: 10px; }
.failure { color: #d93025; } table { border-collapse: collapse; margin-top: 16px; font-size: 13px; }
td, th { border-bottom: 1px solid #eee; padding: 4px 10px; text-align: left; } tr.crit td:first-child { color: #b00020; font-weight: bold; }
.muted { color: #777; }
</style></head><body>
<h1>${esc(title)} <span class="badge">${esc(state)}</span></h1>
<p>Ready in <b>${fmt(report.readyMs)}</b> after the kernel was created (process start to kernel: ${fmt(report.processMs)}); kernel overhead ${fmt(report.kernelOverheadMs)};
${report.components.length} components in ${report.stages.length} stages; RSS ${esc((report.memory.rssBytes / 1048576).toFixed(1))} MiB.</p>
<p>Critical path: ${report.criticalPath.map(esc).join(' → ') || '<span class="muted">none</span>'}</p>
${failure}
${renderWaterfall(report, critical)}
<table><thead><tr><th>component</th><th>stage</th><th>state</th><th>attempts</th><th>waited</th><th>own</th><th>ready at</th><th>error</th></tr></thead>
<tbody>
${table}
</tbody></table>
</body></html>
`;
}

/** The waterfall's rows in start order; a component's parts (ctx.part: e.g. the Pit's extensions) get rows of their own under it. */
function waterfallRows(report: BootReport): ComponentReport[] {
  return [...report.components]
    .sort((a, b) => (a.startMs ?? Infinity) - (b.startMs ?? Infinity) || a.stage - b.stage)
    .flatMap((c) => [
      c,
      ...(c.parts ?? []).map((p) => ({ ...c, name: `  ${c.name} › ${p.name}`, startMs: p.startMs, readyMs: p.readyMs, queuedMs: p.startMs, ownMs: p.readyMs === null ? null : p.readyMs - p.startMs, waitMs: 0, attempts: 1, parts: undefined })),
    ]);
}

const rowH = 22;
const labelW = 220;
const chartW = 860;
const top = 34;

/** The SVG waterfall: a time axis, each stage's ready line, and per row its wait and its own start. */
function renderWaterfall(report: BootReport, critical: ReadonlySet<string>): string {
  const rows = waterfallRows(report);
  const end = Math.max(report.readyMs, ...rows.map((r) => r.readyMs ?? 0), 0.001);
  const height = top + rows.length * rowH + 30;
  const x = (ms: number) => labelW + (ms / end) * chartW;
  const svg: string[] = [];
  svg.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${labelW + chartW + 40}" height="${height}" font-family="ui-monospace, Menlo, monospace" font-size="12">`);
  for (let i = 0; i <= 10; i++) {
    const ms = (end * i) / 10;
    svg.push(`<line x1="${x(ms)}" y1="${top - 6}" x2="${x(ms)}" y2="${height - 24}" stroke="#eee"/>`);
    svg.push(`<text x="${x(ms)}" y="${top - 12}" text-anchor="middle" fill="#888">${fmt(ms)}</text>`);
  }
  for (const s of report.stages) {
    if (s.readyMs === null) continue;
    svg.push(`<line x1="${x(s.readyMs)}" y1="${top}" x2="${x(s.readyMs)}" y2="${height - 24}" stroke="#9aa" stroke-dasharray="4 3"><title>stage ${esc(s.index)} ready at ${fmt(s.readyMs)}</title></line>`);
  }
  rows.forEach((c, i) => svg.push(...waterfallRow(c, top + i * rowH, critical.has(c.name), x)));
  svg.push(`<text x="${labelW}" y="${height - 8}" fill="#555">■ own start time   <tspan fill="#b00020">■ critical path</tspan>   <tspan fill="#9aa">┆ stage ready</tspan>   <tspan fill="#aab">▬ waiting on earlier stages</tspan></text>`);
  svg.push('</svg>');
  return svg.join('\n');
}

function waterfallRow(c: ComponentReport, y: number, onPath: boolean, x: (ms: number) => number): string[] {
  const out = [`<text x="${labelW - 8}" y="${y + 15}" text-anchor="end" fill="${onPath ? '#b00020' : '#222'}" font-weight="${onPath ? 'bold' : 'normal'}">${esc(c.name)} <tspan fill="#999">s${esc(c.stage)}</tspan></text>`];
  if (c.queuedMs !== null && c.startMs !== null && c.startMs > c.queuedMs) {
    out.push(`<rect x="${x(c.queuedMs)}" y="${y + 8}" width="${Math.max(0.5, x(c.startMs) - x(c.queuedMs))}" height="6" fill="#dde3ea"><title>${esc(c.name)} waited ${fmt(c.waitMs ?? 0)} for earlier stages</title></rect>`);
  }
  if (c.startMs === null) {
    out.push(`<text x="${labelW + 4}" y="${y + 15}" fill="#999">${esc(c.state)}</text>`);
    return out;
  }
  const endMs = c.readyMs ?? c.startMs;
  const fill = c.state === 'failed' ? '#d93025' : c.state === 'skipped' ? '#bbb' : onPath ? '#b00020' : c.state === 'degraded' ? '#f9ab00' : '#1a73e8';
  out.push(`<rect x="${x(c.startMs)}" y="${y + 4}" width="${Math.max(1.5, x(endMs) - x(c.startMs))}" height="14" rx="2" fill="${fill}"><title>${esc(tooltip(c))}</title></rect>`);
  out.push(`<text x="${x(endMs) + 4}" y="${y + 15}" fill="#555">${fmt(c.ownMs ?? 0)}${c.attempts > 1 ? ` ×${esc(c.attempts)}` : ''}${c.state !== 'ready' ? ` ${esc(c.state)}` : ''}</text>`);
  return out;
}

function tooltip(c: ComponentReport): string {
  return `${c.name}: stage ${c.stage}, ${c.state}, started ${fmt(c.startMs)}, ready ${fmt(c.readyMs)}, own ${fmt(c.ownMs)}, waited ${fmt(c.waitMs)}, attempts ${c.attempts}${c.error ? `, error: ${c.error}` : ''}`;
}

function fmt(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  if (ms < 10) return `${ms.toFixed(2)}ms`;
  if (ms < 1000) return `${ms.toFixed(1)}ms`;
  return `${(ms / 1000).toFixed(2)}s`;
}

function esc(v: string | number): string {
  return String(v).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/**
 * What is wrong with a parsed JSON as a boot report (the first problem, e.g. `components[0].stage
 * must be a number`), or undefined when it has every field the HTML page reads.
 */
export function reportProblem(data: unknown): string | undefined {
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const num = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
  const numOrNull = (v: unknown) => v === null || num(v);
  const str = (v: unknown) => typeof v === 'string';
  const check = (o: Record<string, unknown>, at: string, fields: Record<string, [(v: unknown) => boolean, string]>): string | undefined => {
    for (const [key, [ok, what]] of Object.entries(fields)) if (!ok(o[key])) return `${at}${key} must be ${what} (got ${JSON.stringify(o[key]) ?? 'nothing'})`;
    return undefined;
  };
  if (!isObj(data)) return 'not a boot report: expected a JSON object';
  if (!Array.isArray(data.components)) return `components must be a list (got ${JSON.stringify(data.components) ?? 'nothing'})`;
  const top = check(data, '', {
    stages: [Array.isArray, 'a list'],
    criticalPath: [(v) => Array.isArray(v) && v.every(str), 'a list of names'],
    system: [str, 'a string'],
    readyMs: [num, 'a number'],
    processMs: [num, 'a number'],
    kernelOverheadMs: [num, 'a number'],
    memory: [(v) => isObj(v) && num(v.rssBytes), 'an object with rssBytes'],
    failure: [(v) => v === undefined || v === null || (isObj(v) && str(v.component) && str(v.phase) && str(v.message)), 'null or { component, phase, message }'],
  });
  for (const [i, c] of (data.components as unknown[]).entries()) {
    const at = `components[${i}]`;
    if (!isObj(c)) return `${at} must be an object (got ${JSON.stringify(c)})`;
    const bad = check(c, `${at}.`, {
      name: [str, 'a string'],
      stage: [num, 'a number'],
      state: [str, 'a string'],
      attempts: [num, 'a number'],
      queuedMs: [numOrNull, 'a number or null'],
      startMs: [numOrNull, 'a number or null'],
      readyMs: [numOrNull, 'a number or null'],
      ownMs: [numOrNull, 'a number or null'],
      waitMs: [numOrNull, 'a number or null'],
      error: [(v) => v === undefined || v === null || str(v), 'a string or null'],
      parts: [(v) => v === undefined || (Array.isArray(v) && v.every((p) => isObj(p) && str(p.name) && num(p.startMs) && numOrNull(p.readyMs))), 'a list of { name, startMs, readyMs }'],
    });
    if (bad) return bad;
  }
  if (top) return top;
  for (const [i, st] of (data.stages as unknown[]).entries()) {
    const at = `stages[${i}]`;
    if (!isObj(st)) return `${at} must be an object (got ${JSON.stringify(st)})`;
    const bad = check(st, `${at}.`, { index: [num, 'a number'], readyMs: [numOrNull, 'a number or null'] });
    if (bad) return bad;
  }
  return undefined;
}
