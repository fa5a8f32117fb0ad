import type { BootReport, Kernel, KernelEvent } from '../bootstrap/index.js';
import { formatMs } from '../util/duration.js';

export type LogFormat = 'pretty' | 'plain' | 'json';

const color = (code: number) => (s: string) => `\x1b[${code}m${s}\x1b[0m`;
const plainText = (s: string) => s;

/**
 * Prints kernel events: one line per transition (plain), JSON lines (json), or on a TTY a live
 * stage view redrawn in place, with logs printed above it (pretty).
 */
export class EventPrinter {
  readonly #out: NodeJS.WriteStream;
  readonly #format: LogFormat;
  readonly #paint: { dim(s: string): string; red(s: string): string; green(s: string): string; yellow(s: string): string; bold(s: string): string };
  #live: LiveView | undefined;

  constructor(out: NodeJS.WriteStream, format: LogFormat) {
    this.#out = out;
    this.#format = format;
    const useColor = format === 'pretty' && out.isTTY && !process.env.NO_COLOR;
    this.#paint = useColor
      ? { dim: color(2), red: color(31), green: color(32), yellow: color(33), bold: color(1) }
      : { dim: plainText, red: plainText, green: plainText, yellow: plainText, bold: plainText };
    if (format === 'pretty' && out.isTTY) this.#live = new LiveView(out, this.#paint);
  }

  attach(k: Kernel): () => void {
    return k.on('event', (e) => this.print(e));
  }

  print(e: KernelEvent): void {
    if (this.#format === 'json') return void this.#out.write(`${JSON.stringify(e)}\n`);
    if (this.#live && this.#live.handles(e)) return;
    const line = this.#line(e);
    if (line === undefined) return;
    if (this.#live) this.#live.above(line);
    else this.#out.write(`${line}\n`);
  }

  /** The end-of-boot summary; with --log json, the report itself as one line. */
  summary(report: BootReport): void {
    this.#live?.finish();
    if (this.#format === 'json') return void this.#out.write(`${JSON.stringify({ type: 'report', report })}\n`);
    const p = this.#paint;
    const counts = `${report.components.length} components, ${report.stages.length} stages`;
    const state = report.system === 'ready' ? p.green('ready') : report.system === 'degraded' ? p.yellow('degraded') : p.red('failed');
    const lines = [`symphony: system ${state} in ${formatMs(report.readyMs)} (${counts}; kernel overhead ${formatMs(report.kernelOverheadMs)})`];
    if (report.criticalPath.length) {
      const own = new Map(report.components.map((c) => [c.name, c.ownMs]));
      lines.push(`  critical path: ${report.criticalPath.map((n) => `${n} ${p.dim(`(${formatMs(own.get(n) ?? 0)})`)}`).join(' -> ')}`);
    }
    for (const l of report.late) lines.push(`  late: ${l.from} -> ${l.to} ${l.boundMs === null ? p.yellow('unbound') : p.dim(`bound at ${formatMs(l.boundMs)}`)}`);
    if (report.failure) lines.push(p.red(`  failed: '${report.failure.component}' (${report.failure.phase}): ${report.failure.message}`));
    for (const c of report.components) {
      if (c.state !== 'failed' || c.name === report.failure?.component) continue;
      lines.push(c.optional === true ? p.yellow(`  ${c.name}: failed (optional): ${c.error}`) : p.red(`  ${c.name}: failed: ${c.error}`));
    }
    // Degraded says why: each component whose health said degraded, with what its health named.
    for (const c of report.components) {
      if (c.state !== 'degraded') continue;
      const why = degradedWhy(c.health);
      if (why.length === 1) lines.push(p.yellow(`  ${c.name}: degraded: ${why[0]}`));
      else lines.push(p.yellow(`  ${c.name}: degraded${why.length ? ':' : ' (its health check said so, without a reason)'}`), ...why.map((w) => p.yellow(`    ${w}`)));
    }
    if (report.components.some((c) => c.state === 'degraded')) lines.push(p.dim('  symphony check lists every problem of the config, its extensions and their grants, each at FILE:LINE:COL'));
    this.#out.write(`${lines.join('\n')}\n`);
  }

  finish(): void {
    this.#live?.finish();
  }

  /** Components whose last start failed, for the stage lines. */
  readonly #failed = new Set<string>();

  #line(e: KernelEvent): string | undefined {
    const p = this.#paint;
    const t = p.dim(formatMs(e.elapsedMs).padStart(8));
    switch (e.type) {
      case 'component': {
        if (e.state === 'failed') this.#failed.add(e.component);
        else if (e.state === 'starting' || e.state === 'ready') this.#failed.delete(e.component);
        const state = e.state === 'failed' ? p.red(e.state) : e.state === 'ready' ? p.green(e.state) : e.state === 'degraded' ? p.yellow(e.state) : e.state;
        const attempt = e.state === 'starting' && !e.reason && e.attempt > 1 ? ` attempt ${e.attempt}` : '';
        const reason = e.reason ? p.dim(` (${e.reason})`) : '';
        const error = e.error ? `: ${p.red(`${e.error.name}: ${e.error.message}`)}` : '';
        return `${t}  stage ${e.stage}  ${e.component.padEnd(14)} ${state}${attempt}${reason}${error}`;
      }
      case 'stage': {
        // A stage is ready when its required members are: say which of the others did not make it.
        const members = e.components.map((c) => (this.#failed.has(c) ? p.red(`${c} (failed)`) : c));
        return `${t}  stage ${e.stage}  ${p.bold(e.state)} ${p.dim('[')}${members.join(p.dim(', '))}${p.dim(']')}`;
      }
      case 'system':
        return `${t}  system ${p.bold(e.state)}${e.reason ? p.dim(` (${e.reason})`) : ''}`;
      case 'log': {
        const level = e.level === 'error' ? p.red(e.level) : e.level === 'warn' ? p.yellow(e.level) : p.dim(e.level);
        return `${t}  ${e.component}: ${level} ${e.message}${e.data ? p.dim(` ${JSON.stringify(e.data)}`) : ''}`;
      }
    }
  }
}

/** The TTY view: one line per stage with each component's state, redrawn in place (at most every 33ms). */
class LiveView {
  readonly #stages = new Map<number, Map<string, { state: string; attempt: number; at: number }>>();
  #drawn = 0;
  #timer: NodeJS.Timeout | undefined;
  #done = false;
  constructor(
    readonly out: NodeJS.WriteStream,
    readonly p: { dim(s: string): string; red(s: string): string; green(s: string): string; yellow(s: string): string; bold(s: string): string },
  ) {}

  handles(e: KernelEvent): boolean {
    if (this.#done) return false;
    if (e.type === 'stage' && e.state === 'starting') {
      const m = new Map(e.components.map((c) => [c, { state: 'pending', attempt: 0, at: e.elapsedMs }]));
      this.#stages.set(e.stage, m);
      this.#schedule();
      return true;
    }
    if (e.type === 'component' && !e.error && this.#stages.get(e.stage)?.has(e.component)) {
      this.#stages.get(e.stage)!.set(e.component, { state: e.state, attempt: e.attempt, at: e.elapsedMs });
      this.#schedule();
      return true;
    }
    return e.type === 'stage';
  }

  above(line: string): void {
    if (this.#done) return void this.out.write(`${line}\n`);
    this.#erase();
    this.out.write(`${line}\n`);
    this.#draw();
  }

  finish(): void {
    if (this.#done) return;
    clearTimeout(this.#timer);
    this.#erase();
    this.#draw();
    this.#drawn = 0; // the final view stays on screen; later lines go below it
    this.#done = true;
  }

  #schedule(): void {
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.#erase();
      this.#draw();
    }, 33);
  }

  #erase(): void {
    if (this.#drawn) this.out.write(`\x1b[${this.#drawn}A\x1b[0J`);
    this.#drawn = 0;
  }

  #draw(): void {
    const { p } = this;
    const width = this.out.columns || 100;
    const lines: string[] = [];
    for (const [stage, members] of [...this.#stages].sort((a, b) => a[0] - b[0])) {
      const parts = [...members].map(([name, s]) => {
        const mark = s.state === 'ready' ? p.green('✓') : s.state === 'failed' ? p.red('✗') : s.state === 'degraded' ? p.yellow('!') : s.state === 'starting' ? p.yellow('…') : s.state === 'skipped' ? p.dim('-') : p.dim('·');
        return `${mark} ${name}${s.attempt > 1 ? p.dim(`#${s.attempt}`) : ''}`;
      });
      lines.push(truncate(`${p.bold(`stage ${stage}`)}  ${parts.join('  ')}`, width));
    }
    if (lines.length) this.out.write(`${lines.join('\n')}\n`);
    this.#drawn = lines.length;
  }
}

function truncate(s: string, width: number): string {
  // Count visible characters only (escape codes take no room).
  let visible = 0;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\x1b') {
      const end = s.indexOf('m', i);
      out += s.slice(i, end + 1);
      i = end;
      continue;
    }
    if (visible >= width - 1) return `${out}…\x1b[0m`;
    out += s[i];
    visible++;
  }
  return out;
}

/** What a degraded health result names, one short line each: its `down` list, else its detail. */
export function degradedWhy(health: unknown): string[] {
  const detail = (health as { detail?: unknown } | null | undefined)?.detail;
  const firstLine = (x: unknown) => {
    const line = String(x).split('\n')[0]!;
    return line.length > 240 ? `${line.slice(0, 239)}…` : line;
  };
  if (detail && typeof detail === 'object' && Array.isArray((detail as { down?: unknown }).down)) return ((detail as { down: unknown[] }).down).map(firstLine);
  if (typeof detail === 'string' && detail) return [firstLine(detail)];
  if (detail && typeof detail === 'object') return [firstLine(JSON.stringify(detail))];
  return [];
}
