/**
 * The dashboard's event stream against pages that misbehave, on a real `symphony up` whose
 * component floods the log: a page that never reads is dropped and what the kernel holds for it
 * stays bounded; pages that vanish mid-stream leave nothing behind; a page that reads gets the
 * flood aggregated (bounded batches, the rest counted), and keeps its stream.
 */
import { copyFileSync } from 'node:fs';
import { get, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { root, rssOf, startSystem, type RunningSystem } from './system.js';

const fixtures = join(root, 'test', 'dashboard', 'fixtures');
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Reads an event stream, parsing its events. */
function reader(url: string): Promise<{ res: IncomingMessage; events: { type: string; data: any }[]; close(): void }> {
  return new Promise((resolve, reject) => {
    const events: { type: string; data: any }[] = [];
    const req = get(`${url}dashboard/events`, (res) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const type = /^event: (.+)$/m.exec(block)?.[1];
          const data = /^data: (.+)$/m.exec(block)?.[1];
          if (type && data) events.push({ type, data: JSON.parse(data) });
        }
      });
      resolve({ res, events, close: () => req.destroy() });
    });
    req.on('error', reject);
  });
}

describe('the dashboard stream under misbehaving pages and an event flood', () => {
  let sys: RunningSystem;
  let pid: number;

  beforeAll(async () => {
    sys = await startSystem(['-c', 'flood.yaml'], (dir) => {
      copyFileSync(join(fixtures, 'flood.yaml'), join(dir, 'flood.yaml'));
      copyFileSync(join(fixtures, 'flood.mjs'), join(dir, 'flood.mjs'));
    }, { quiet: true });
    pid = sys.ps().system.pid;
    // Fill the system's own bounded log book first, so what grows later is what the pages cost.
    sys.call('flood.start', { lines: 6000, perSecond: 3000, bytes: 4000 });
    await delay(3000);
  }, 60_000);

  afterAll(async () => {
    await sys?.stop();
  });

  it('drops a page that never reads, holding a bounded queue for it meanwhile, while a reading page gets the flood aggregated', async () => {
    const before = rssOf(pid);
    const base = (await sys.status()).dashboard;
    // A page that asks for the stream and then reads nothing at all.
    const stuck: Socket = connect(Number(new URL(sys.url).port), '127.0.0.1');
    await new Promise((r) => stuck.once('connect', r));
    stuck.write(`GET /dashboard/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`);
    stuck.pause();
    const reading = await reader(sys.url);
    await delay(500);
    expect((await sys.status()).dashboard.clients).toBe(2);

    sys.call('flood.start', { lines: 40_000, perSecond: 1500, bytes: 4000 });
    let maxQueued = 0;
    let maxRss = before;
    let board = base;
    const end = Date.now() + 40_000;
    while (Date.now() < end) {
      await delay(400);
      board = (await sys.status()).dashboard;
      maxQueued = Math.max(maxQueued, board.queuedBytes);
      maxRss = Math.max(maxRss, rssOf(pid));
      if (board.droppedClients > base.droppedClients) break;
    }
    // The page that did not read was dropped, for that reason; the one that reads still streams.
    if (process.env.DASHBOARD_FIGURES) console.info({ maxQueued, rssGrowth: maxRss - before, board });
    expect(board.droppedClients).toBe(base.droppedClients + 1);
    expect(board.lastClose).toMatch(/read nothing/);
    expect(board.clients).toBe(1);
    expect(board.droppedBatches).toBeGreaterThan(0);
    // What it held for pages stayed within its bound (256 KiB per page, twice for states, plus one socket's buffer).
    expect(maxQueued).toBeLessThan(1.5 * 1024 * 1024);
    expect(maxRss - before).toBeLessThan(64 * 1024 * 1024);
    stuck.destroy();

    // The reading page: the flood came as bounded batches, the rest counted per component.
    await delay(1000);
    const logs = reading.events.filter((e) => e.type === 'log');
    expect(logs.length).toBeGreaterThan(3);
    expect(Math.max(...logs.map((e) => e.data.lines.length))).toBeLessThanOrEqual(100);
    const counted = logs.reduce((n, e) => n + ((e.data.suppressed as Record<string, number>).flood ?? 0), 0);
    expect(counted).toBeGreaterThan(1000);
    expect(board.suppressedLines).toBeGreaterThan(1000);
    expect(reading.events.some((e) => e.type === 'snapshot')).toBe(true);
    expect(reading.events.some((e) => e.type === 'bus')).toBe(true);
    reading.close();
  }, 60_000);

  it('forgets pages that go away mid-stream: nothing left open, nothing grows', async () => {
    await delay(500);
    const base = (await sys.status()).dashboard;
    expect(base.clients).toBe(0);
    const before = rssOf(pid);
    for (let i = 0; i < 40; i++) {
      const r = await reader(sys.url);
      // Gone while the snapshot (or part of it) is on its way.
      await new Promise((res) => r.res.once('data', res));
      r.close();
    }
    // Also raw sockets cut before a byte of the answer was read.
    for (let i = 0; i < 20; i++) {
      const s = connect(Number(new URL(sys.url).port), '127.0.0.1');
      await new Promise((r) => s.once('connect', r));
      s.write(`GET /dashboard/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      await delay(5);
      s.destroy();
    }
    let board = base;
    for (let i = 0; i < 50; i++) {
      await delay(100);
      board = (await sys.status()).dashboard;
      if (board.clients === 0 && board.closedClients >= base.closedClients + 60) break;
    }
    expect(board.clients).toBe(0);
    expect(board.queuedBytes).toBe(0);
    expect(board.closedClients).toBe(base.closedClients + 60);
    expect(board.droppedClients).toBe(base.droppedClients); // they left; none had to be dropped
    expect(rssOf(pid) - before).toBeLessThan(32 * 1024 * 1024);
  }, 60_000);

  it('refuses a stream past the page limit, keeping the listener for probes', async () => {
    const pages = await Promise.all(Array.from({ length: 16 }, () => reader(sys.url)));
    const extra = await reader(sys.url);
    expect(extra.res.statusCode).toBe(503);
    const probe = await fetch(`${sys.url}readyz`);
    expect(probe.status).toBe(200);
    for (const p of [...pages, extra]) p.close();
    await delay(300);
    expect((await sys.status()).dashboard.refusedStreams).toBeGreaterThanOrEqual(1);
  });
});
