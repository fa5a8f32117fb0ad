/**
 * DASHBOARD section: what the page weighs (bytes, raw and gzip), how soon Chromium shows the system
 * (first contentful paint, and the first render with the system's data), and what serving it costs
 * the kernel: the bus round trip (a request from one socket client to another through the kernel)
 * with the dashboard off (`http: false`), served with no page open, and with one page open;
 * the kernel's CPU and RSS while idle, off and served. Rounds interleaved; medians with spread.
 *
 *   npm run bench -- dashboard
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { connect, type BusClient } from '../src/bus/index.js';
import { browserAvailable, launch } from '../test/dashboard/browser.js';
import { startSystem, type RunningSystem } from '../test/dashboard/system.js';
import { fmtBytes, fmtMs, header, median, percentile, printTable, verdict, writeJson } from './lib.js';

const ROUNDS = 7;
const CALLS = 1500;
const LOADS = 7;

const spread = (xs: number[], f: (v: number) => string) => `${f(median(xs))} (p10 ${f(percentile(xs, 10))}, p90 ${f(percentile(xs, 90))})`;

/** CPU time (ms) a process has used, from /proc. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime + stime, in clock ticks of 10 ms
}
function rss(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
}

/** An echo served by one operator client and called by another: the whole bus path, both ways. */
async function echoPair(sys: RunningSystem): Promise<{ rtt(n: number): Promise<number[]>; close(): Promise<void> }> {
  const run = JSON.parse(readFileSync(join(sys.dir, '.symphony', 'run.json'), 'utf8')) as { socket: string };
  const server: BusClient = await connect({ path: run.socket, token: sys.token, name: 'bench-echo', reconnect: false, exitWithParent: false });
  await server.handle('bench.echo', (p: unknown) => p).ready;
  const caller: BusClient = await connect({ path: run.socket, token: sys.token, name: 'bench-caller', reconnect: false, exitWithParent: false });
  for (let i = 0; i < 300; i++) await caller.request('bench.echo', { i }); // warm
  return {
    async rtt(n) {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const t = performance.now();
        await caller.request('bench.echo', { i, text: 'round trip' });
        out.push(performance.now() - t);
      }
      return out;
    },
    async close() {
      await caller.stop();
      await server.stop();
    },
  };
}

export async function dashboardBench(): Promise<void> {
  header('DASHBOARD: page weight, first render in Chromium, and what serving it costs the kernel', 'npm run bench -- dashboard');
  const bare = (http: string) => (dir: string) => writeFileSync(join(dir, 'symphony.yaml'), `${http}components:\n  bus: { use: builtin:bus }\n`);
  const off = await startSystem(['-c', 'symphony.yaml'], bare('http: false\n'), { quiet: true });
  const on = await startSystem(['-c', 'symphony.yaml'], bare(''), { quiet: true });
  const results: Record<string, unknown> = {};
  try {
    // ---- idle cost with no page, first: both kernels as booted, before any page or call touched them ----
    const offPid = off.ps().system.pid;
    const onPid = on.ps().system.pid;
    const c0 = [cpuMs(offPid), cpuMs(onPid)];
    await new Promise((r) => setTimeout(r, 5000));
    const c1 = [cpuMs(offPid), cpuMs(onPid)];
    const idle = { offCpuMs: c1[0]! - c0[0]!, servedCpuMs: c1[1]! - c0[1]!, offRss: rss(offPid), servedRss: rss(onPid) };
    printTable(['kernel idle for 5 s after boot, no page ever open', 'CPU', 'RSS'], [
      ['dashboard off (http: false)', fmtMs(idle.offCpuMs), fmtBytes(idle.offRss)],
      ['dashboard served', fmtMs(idle.servedCpuMs), fmtBytes(idle.servedRss)],
    ]);
    console.log(`   served minus off: CPU ${fmtMs(idle.servedCpuMs - idle.offCpuMs)}, RSS ${fmtBytes(idle.servedRss - idle.offRss)} (the HTTP listener and the dashboard's code loaded)`);
    console.log('   with no page open the dashboard runs no timer and holds no subscription: its only standing cost is a 300-entry event ring.');
    results.idle = idle;

    // ---- page weight ----
    const files = ['', 'dashboard/app.js', 'dashboard/style.css', 'dashboard/uplot.js', 'dashboard/uplot.css'];
    const weights = await Promise.all(
      files.map(async (f) => {
        const raw = (await (await fetch(`${on.url}${f}`, { headers: { 'accept-encoding': 'identity' } })).arrayBuffer()).byteLength;
        const gz = await fetch(`${on.url}${f}`, { headers: { 'accept-encoding': 'gzip' } });
        return { file: `/${f}`, raw, gzip: Number(gz.headers.get('content-length')) };
      }),
    );
    const total = weights.reduce((a, w) => ({ raw: a.raw + w.raw, gzip: a.gzip + w.gzip }), { raw: 0, gzip: 0 });
    printTable(['file', 'bytes', 'gzip (as served)'], [...weights.map((w) => [w.file, fmtBytes(w.raw), fmtBytes(w.gzip)]), ['the page, all files', fmtBytes(total.raw), fmtBytes(total.gzip)]]);
    results.weights = { files: weights, total };

    const haveBrowser = browserAvailable();
    const browser = haveBrowser ? await launch() : undefined;
    try {
      // ---- first render ----
      if (browser) {
        const fcp: number[] = [];
        const ready: number[] = [];
        for (let i = 0; i < LOADS; i++) {
          const page = await browser.context.newPage();
          await page.goto(on.url);
          await page.waitForSelector('body[data-ready="true"]');
          const m = (await page.evaluate("({ fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN, ready: Number(document.body.dataset.readyAt) })")) as { fcp: number; ready: number };
          fcp.push(m.fcp);
          ready.push(m.ready);
          await page.close();
        }
        printTable(['first render in Chromium (loads: ' + LOADS + ')', 'median (spread)'], [
          ['first contentful paint', spread(fcp, fmtMs)],
          ['first render with the system (snapshot shown)', spread(ready, fmtMs)],
        ]);
        results.render = { fcp, ready };
      } else console.log('   chromium not found: first render and the page-open figures are skipped');

      // ---- the bus round trip: off, served with no page, one page open ----
      const pairs = { off: await echoPair(off), served: await echoPair(on) };
      const rt: Record<'off' | 'served' | 'page', { p50: number[]; p99: number[] }> = { off: { p50: [], p99: [] }, served: { p50: [], p99: [] }, page: { p50: [], p99: [] } };
      const page = browser ? await browser.context.newPage() : undefined;
      const record = (k: keyof typeof rt, xs: number[]) => {
        rt[k].p50.push(median(xs));
        rt[k].p99.push(percentile(xs, 99));
      };
      for (let round = 0; round < ROUNDS; round++) {
        const order: (keyof typeof rt)[] = round % 2 ? ['page', 'served', 'off'] : ['off', 'served', 'page'];
        for (const k of order) {
          if (k === 'page') {
            if (!page) continue;
            await page.goto(on.url);
            await page.waitForSelector('body[data-ready="true"]');
            await page.waitForTimeout(1200); // the stream samples and pushes while we measure
            record('page', await pairs.served.rtt(CALLS));
            await page.goto('about:blank');
          } else record(k, await pairs[k].rtt(CALLS));
        }
      }
      const ratio = (a: number[], b: number[]) => median(a) / median(b);
      const rows = [
        ['dashboard off (http: false)', spread(rt.off.p50, fmtMs), spread(rt.off.p99, fmtMs), '1.00 (reference)'],
        ['served, no page open', spread(rt.served.p50, fmtMs), spread(rt.served.p99, fmtMs), ratio(rt.served.p50, rt.off.p50).toFixed(3)],
      ];
      if (page) rows.push(['one page open', spread(rt.page.p50, fmtMs), spread(rt.page.p99, fmtMs), `${ratio(rt.page.p50, rt.served.p50).toFixed(3)} of no page`]);
      printTable([`bus round trip (${ROUNDS} rounds x ${CALLS} calls)`, 'p50 per round', 'p99 per round', 'ratio of medians'], rows);
      if (page) {
        const r = ratio(rt.page.p50, rt.served.p50);
        console.log(`   one page open vs none: ${((r - 1) * 100).toFixed(1)}% on the median round trip (target: no more than 5% slower) ${verdict(r <= 1.05)}`);
      }
      results.roundTrip = rt;
      await page?.close();
      await pairs.off.close();
      await pairs.served.close();

    } finally {
      await browser?.close();
    }
  } finally {
    await off.stop();
    await on.stop();
  }
  writeJson('dashboard', results);
}
