/**
 * The health endpoints as an operator, a prober and an attacker meet them: real kernels, real
 * sockets (raw bytes where a stock client would tidy the request up), and a real `symphony up`
 * child for the drain on SIGTERM.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveHealth, type HealthServer, type HttpLimits } from '../../src/cli/health.js';
import { HostAllowList } from '../../src/cli/http-hosts.js';
import { ConfigError, formatDiagnostic, loadSystemText } from '../../src/system/index.js';
import { createKernel, type Kernel } from '../../src/index.js';
import { mulberry32 } from '../random.mjs';
import { until } from '../helpers.js';

const root = resolve(import.meta.dirname, '../..');
const cli = join(root, 'dist/cli/main.js');
const noop = join(root, 'test/fixtures/cli/noop.mjs');
const tmp = mkdtempSync(join(tmpdir(), 'symphony-http-'));

/** Component names unusual enough that finding one in a response means the response carried system data. */
const NAMES = ['zebra-store', 'quokka-cache'];

interface Raw {
  data: string;
  /** The server closed the connection (rather than the test giving up). */
  closed: boolean;
  ms: number;
}

/** Writes `chunks` on a fresh connection and collects what comes back until the server closes or `ms` passes. */
function raw(port: number, chunks: (string | Buffer)[] | string, ms = 3000, halfClose = false): Promise<Raw> {
  return new Promise((res) => {
    const t0 = performance.now();
    const s = connect(port, '127.0.0.1');
    let data = '';
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      res({ data, closed, ms: performance.now() - t0 });
    };
    const timer = setTimeout(() => finish(false), ms);
    s.on('data', (d) => (data += d.toString('latin1')));
    s.on('error', () => finish(true));
    s.on('close', () => finish(true));
    s.on('connect', () => {
      for (const c of typeof chunks === 'string' ? [chunks] : chunks) s.write(c);
      if (halfClose) s.end();
    });
  });
}

/** The status code of each response in `data`, in order. */
const codes = (data: string) => [...data.matchAll(/^HTTP\/1\.[01] (\d{3})/gm)].map((m) => Number(m[1]));
const body = (data: string) => data.slice(data.indexOf('\r\n\r\n') + 4);
const header = (data: string, name: string) => new RegExp(`^${name}: *(.*?)\r$`, 'im').exec(data)?.[1];

async function system(limits: Partial<HttpLimits> = {}, hosts: string[] = []): Promise<{ k: Kernel; h: HealthServer; port: number }> {
  const k = createKernel({
    components: {
      'zebra-store': { use: { async start() { return {}; } } },
      'quokka-cache': { use: { async start() { throw new Error('no cache today'); } }, optional: true },
    },
  });
  const h = await serveHealth(k, { listen: '127.0.0.1:0', hosts, optional: new Set(['quokka-cache']), limits });
  await k.start().catch(() => {});
  return { k, h, port: Number(new URL(h.url).port) };
}

describe('health endpoints: HTTP conventions', () => {
  let s: Awaited<ReturnType<typeof system>>;
  let base: string;
  beforeAll(async () => {
    s = await system({}, ['symphony.internal', '*.svc.cluster.local', `dash.example:4444`]);
    base = s.h.url;
  });
  afterAll(async () => {
    await s.h.stop();
    await s.k.stop();
  });

  it('GET and HEAD on /livez, /healthz, /readyz and /status; HEAD sends the headers of GET and no body', async () => {
    for (const path of ['/livez', '/healthz', '/readyz', '/status']) {
      const get = await fetch(`${base}${path}`);
      const text = await get.text();
      expect(get.status, path).toBe(200);
      expect(get.headers.get('cache-control')).toBe('no-store');
      const r = await raw(s.port, `HEAD ${path} HTTP/1.1\r\nHost: localhost\r\n\r\nGET /livez HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
      // Two responses on one connection: the HEAD's ends right after its headers, so the next
      // bytes are the second status line.
      expect(codes(r.data), path).toEqual([200, 200]);
      const [first, second] = r.data.split(/(?=HTTP\/1\.1 200)/);
      expect(first!.endsWith('\r\n\r\n'), path).toBe(true);
      // /status carries live figures (memory, uptime): its length may move by a digit between two requests.
      const length = Number(header(first!, 'content-length'));
      if (path === '/status') expect(Math.abs(length - Buffer.byteLength(text)), path).toBeLessThanOrEqual(16);
      else expect(length, path).toBe(Buffer.byteLength(text));
      expect(body(second!)).toBe('ok\n');
    }
    expect(await (await fetch(`${base}/livez`)).text()).toBe('ok\n');
    expect(await (await fetch(`${base}/readyz`)).json()).toEqual({ ready: true, system: 'degraded' });
    const status = await (await fetch(`${base}/status`)).json();
    expect(status).toMatchObject({ phase: 'running', system: 'degraded', bus: null });
    expect((status as { components: { name: string }[] }).components.map((c: { name: string }) => c.name)).toEqual(NAMES);
  });

  it('other methods get 405 with Allow: GET, HEAD; an unknown path 404 as JSON; an unparsable method 400', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'PROPFIND']) {
      const r = await raw(s.port, `${method} /readyz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      expect(codes(r.data), method).toEqual([405]);
      expect(header(r.data, 'allow')).toBe('GET, HEAD');
      expect(JSON.parse(body(r.data)).error).toContain('GET and HEAD');
    }
    for (const path of ['/', '/readyz/', '/status/zebra-store', '/nope', '/livez.json', '/status%2F']) {
      const r = await fetch(`${base}${path}`);
      expect(r.status, path).toBe(404);
      expect(r.headers.get('content-type')).toBe('application/json');
      expect(await r.json()).toMatchObject({ error: expect.stringContaining('not found'), paths: ['/livez', '/readyz', '/status', '/healthz'] });
    }
    const brew = await raw(s.port, 'BREW /livez HTTP/1.1\r\nHost: localhost\r\n\r\n');
    expect(codes(brew.data)).toEqual([400]);
    expect(brew.closed).toBe(true);
  });

  it('accepts the absolute form of the target, whose authority stands for Host; odd schemes get 400 and no data', async () => {
    let r = await raw(s.port, `GET http://127.0.0.1:${s.port}/readyz HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\nConnection: close\r\n\r\n`);
    expect(codes(r.data)).toEqual([200]);
    expect(JSON.parse(body(r.data))).toEqual({ ready: true, system: 'degraded' });
    r = await raw(s.port, `GET http://localhost:${s.port}/status?x=1 HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n`);
    expect(codes(r.data)).toEqual([200]); // the authority wins over Host (RFC 9112 section 3.2.2)
    r = await raw(s.port, `GET http://evil.example:${s.port}/status HTTP/1.1\r\nHost: localhost:${s.port}\r\nConnection: close\r\n\r\n`);
    expect(codes(r.data)).toEqual([421]);
    for (const name of NAMES) expect(r.data).not.toContain(name);
    for (const target of ['ftp://127.0.0.1/status', 'file:///status', 'javascript:alert(1)', 'gopher://localhost:70/status', 'http://', 'status', '*']) {
      r = await raw(s.port, `GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
      expect(codes(r.data), target).toEqual([400]);
      for (const name of NAMES) expect(r.data, target).not.toContain(name);
    }
  });

  it('ignores the query string except ?verbose (checks listed as Kubernetes does) and ?exclude=NAME', async () => {
    expect(await (await fetch(`${base}/readyz?foo=bar&verbose_not=1`)).json()).toEqual({ ready: true, system: 'degraded' });
    let r = await fetch(`${base}/readyz?verbose`);
    expect(r.status).toBe(200);
    expect(await r.text()).toBe(['[+]ping ok', '[+]phase ok', '[+]shutdown ok', '[+]component/zebra-store ok (ready)', '[+]component/quokka-cache ok (optional, failed)', 'readyz check passed', ''].join('\n'));
    r = await fetch(`${base}/livez?verbose=1`);
    expect(await r.text()).toBe('[+]ping ok\n[+]kernel ok\nlivez check passed\n');
    expect((await fetch(`${base}/readyz/component/zebra-store`)).status).toBe(200);
    expect(await (await fetch(`${base}/livez/ping`)).text()).toBe('ok\n');
    const none = await fetch(`${base}/readyz/no-such-check`);
    expect(none.status).toBe(404);
    expect(((await none.json()) as { checks: string[] }).checks).toContain('shutdown');
  });

  it('answers only under a Host that cannot be rebound: loopback names, IP literals and http.hosts; anything else gets 421 and no data', async () => {
    const allowed = [`localhost:${s.port}`, `127.0.0.1:${s.port}`, `[::1]:${s.port}`, 'LOCALHOST.', `app.localhost:${s.port}`, `10.1.2.3:${s.port}`, `localhost:8080`, 'symphony.internal', `Symphony.Internal:${s.port}`, `probe.ns.svc.cluster.local:${s.port}`, 'dash.example:4444'];
    for (const host of allowed) {
      const r = await raw(s.port, `GET /status HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      expect(codes(r.data), host).toEqual([200]);
      expect(r.data, host).toContain('zebra-store');
    }
    const denied = [`evil.example:${s.port}`, 'evil.example', `127.0.0.1.evil.example:${s.port}`, `localhost.evil.example:${s.port}`, 'svc.cluster.local', `dash.example:${s.port}`, 'dash.example', `localhost@evil.example:${s.port}`, 'symphony.internal.evil', `[::ffff:zz]:${s.port}`, '*.localhost', 'x y'];
    for (const host of denied) {
      for (const target of ['/status', '/readyz?verbose', '/livez', '/readyz/component/zebra-store', '/nope']) {
        const r = await raw(s.port, `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
        expect(codes(r.data), `${host} ${target}`).toEqual([421]);
        for (const word of [...NAMES, 'phase', 'ready', 'ping', 'components']) expect(r.data, `${host} ${target}`).not.toContain(word);
      }
    }
    // A stock client naming the rebound host (what a browser sends after the rebinding) gets nothing either.
    const evil = await new Promise<{ status: number; text: string }>((res, rej) =>
      httpGet({ host: '127.0.0.1', port: s.port, path: '/status', headers: { host: `evil.example:${s.port}` } }, (r) => {
        let text = '';
        r.on('data', (d) => (text += d));
        r.on('end', () => res({ status: r.statusCode!, text }));
      }).on('error', rej),
    );
    expect(evil.status).toBe(421);
    expect(evil.text).not.toContain('zebra-store');
    // HTTP/1.0 without Host: no browser sends it, so it cannot be a rebinding; HTTP/1.1 without Host is a bad request.
    let r = await raw(s.port, 'GET /readyz HTTP/1.0\r\n\r\n');
    expect(codes(r.data)).toEqual([200]);
    r = await raw(s.port, 'GET /status HTTP/1.1\r\nConnection: close\r\n\r\n');
    expect(codes(r.data)).toEqual([400]);
    expect(r.data).not.toContain('zebra-store');
  });

  it('bounds the head (431), refuses bodies it would have to read (413, connection closed) and ignores a small one', async () => {
    let r = await raw(s.port, `GET /status HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(codes(r.data)).toEqual([431]);
    expect(r.closed).toBe(true);
    r = await raw(s.port, `GET /status HTTP/1.1\r\nHost: localhost\r\n${Array.from({ length: 3000 }, (_, i) => `X-${i}: 1\r\n`).join('')}\r\n`);
    expect(codes(r.data)).toEqual([431]);
    r = await raw(s.port, `GET /${'a'.repeat(40_000)} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
    expect(codes(r.data)).toEqual([431]);
    // A 10 MB body announced and never sent: answered at once, the connection closed, nothing waited for.
    r = await raw(s.port, 'POST /status HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10000000\r\n\r\n');
    expect(codes(r.data)).toEqual([413]);
    expect(r.closed).toBe(true);
    expect(r.ms).toBeLessThan(1000);
    r = await raw(s.port, 'GET /status HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nffffff\r\n');
    expect(codes(r.data)).toEqual([413]);
    expect(r.closed).toBe(true);
    for (const name of NAMES) expect(r.data).not.toContain(name);
    r = await raw(s.port, 'GET /livez HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhelloGET /livez HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    expect(codes(r.data)).toEqual([200, 200]);
    r = await raw(s.port, 'GET /livez HTTP/1.1\r\nHost: localhost\r\nContent-Length: 99999999999999999999\r\n\r\n');
    expect(codes(r.data)[0]).toBeGreaterThanOrEqual(400);
    expect(r.closed).toBe(true);
  });

  it('answers pipelined requests in order, on one connection', async () => {
    const paths = ['/livez', '/nope', '/readyz', '/status', '/livez'];
    const r = await raw(s.port, paths.map((p, i) => `GET ${p} HTTP/1.1\r\nHost: localhost\r\n${i === paths.length - 1 ? 'Connection: close\r\n' : ''}\r\n`).join(''));
    expect(codes(r.data)).toEqual([200, 404, 200, 200, 200]);
  });
});

describe('health endpoints: no client holds them', () => {
  it('drops a slowloris connection (head dribbled a byte at a time) after headersTimeout', async () => {
    const s = await system({ headersTimeoutMs: 500, requestTimeoutMs: 1000 });
    try {
      const socket = connect(s.port, '127.0.0.1');
      const t0 = performance.now();
      let data = '';
      socket.on('data', (d) => (data += d));
      socket.on('error', () => {});
      const closed = new Promise<number>((r) => socket.on('close', () => r(performance.now() - t0)));
      await new Promise((r) => socket.on('connect', r));
      socket.write('GET /status HTTP/1.1\r\nHost: localhost\r\nX-Slow: ');
      const drip = setInterval(() => socket.writable && socket.write('a'), 50);
      const ms = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(Number.POSITIVE_INFINITY), 5000))]);
      clearInterval(drip);
      socket.destroy();
      expect(ms).toBeLessThan(2000); // 500ms, checked every 125ms
      expect(data).not.toContain('zebra-store');
      expect((await fetch(`${s.h.url}/livez`)).status).toBe(200);
    } finally {
      await s.h.stop();
      await s.k.stop();
    }
  });

  it('caps open connections: past maxConnections one is closed unanswered; once the idle ones are dropped, probes are answered again', async () => {
    const s = await system({ maxConnections: 8, headersTimeoutMs: 400, requestTimeoutMs: 800, idleTimeoutMs: 800 });
    try {
      const idle: Socket[] = [];
      for (let i = 0; i < 8; i++) {
        const c = connect(s.port, '127.0.0.1');
        c.on('error', () => {});
        c.resume(); // read, so the server's close is seen
        await new Promise((r) => c.on('connect', r));
        c.write('GET /status HTTP/1.1\r\n'); // never finished
        idle.push(c);
      }
      await new Promise((r) => setTimeout(r, 50));
      const extra = await raw(s.port, 'GET /status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n', 1000);
      expect(extra.closed).toBe(true);
      expect(extra.data).toBe(''); // refused at accept: not a byte of an answer
      const gone = await Promise.all(idle.map((c) => new Promise<boolean>((r) => (c.destroyed ? r(true) : c.on('close', () => r(true))))));
      expect(gone.every(Boolean)).toBe(true);
      expect((await fetch(`${s.h.url}/readyz`)).status).toBe(200);
    } finally {
      await s.h.stop();
      await s.k.stop();
    }
  });

  it('drops a connection that opens and says nothing, and one half-closed mid-request', async () => {
    const s = await system({ headersTimeoutMs: 400, requestTimeoutMs: 800, idleTimeoutMs: 800 });
    try {
      const silent = await raw(s.port, [], 5000);
      expect(silent.closed).toBe(true);
      expect(silent.ms).toBeLessThan(2500);
      const half = await raw(s.port, 'GET /status HTTP/1.1\r\nHost: local', 5000, true);
      expect(half.closed).toBe(true);
      expect(half.data).not.toContain('zebra-store');
      // A complete request then a half-close is still answered (the peer only stopped writing).
      const done = await raw(s.port, 'GET /livez HTTP/1.1\r\nHost: localhost\r\n\r\n', 5000, true);
      expect(codes(done.data)).toEqual([200]);
    } finally {
      await s.h.stop();
      await s.k.stop();
    }
  });

  it('survives a little fuzzing from raw sockets: garbage, odd methods and targets, broken framing, pipelining, half-open sockets', async () => {
    const s = await system({ headersTimeoutMs: 500, requestTimeoutMs: 1000, idleTimeoutMs: 1000 });
    const rand = mulberry32(11);
    const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const methods = ['GET', 'HEAD', 'POST', 'get', 'G\u0000T', 'BREW', 'M-SEARCH', 'PRI', 'CONNECT', '', 'GET GET'];
    const targets = ['/livez', '/readyz?verbose&exclude=', '/status', 'http://127.0.0.1/status', 'https://[::1]:1/readyz', 'ftp://x/', '*', '//evil/status', '/%00', '/\u00ff\u0100', '/readyz/component/' + 'x'.repeat(500), 'http://evil.example/status', '/?' + '&'.repeat(3000)];
    const hosts = ['localhost', 'evil.example', '', '[::1', '127.0.0.1:99999', 'a'.repeat(300), 'localhost\u0000'];
    const versions = ['HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/9', 'HTCPCP/1.0', ''];
    const request = () => {
      const kind = rand();
      if (kind < 0.15) return Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 400) }, () => Math.floor(rand() * 256)));
      let head = `${pick(methods)} ${pick(targets)} ${pick(versions)}\r\n`;
      if (rand() < 0.8) head += `Host: ${pick(hosts)}\r\n`;
      if (rand() < 0.2) head += `Content-Length: ${pick(['0', '5', '-1', '1e3', '99999999999999999999', ' 3', '2, 2'])}\r\n`;
      if (rand() < 0.1) head += `Transfer-Encoding: ${pick(['chunked', 'gzip, chunked', 'identity'])}\r\n`;
      if (rand() < 0.1) head += `X-${'h'.repeat(Math.floor(rand() * 20_000))}: 1\r\n`;
      if (rand() < 0.1) head += 'Bad Header Line\r\n';
      if (rand() < 0.05) head += 'Connection: Upgrade\r\nUpgrade: websocket\r\n';
      if (rand() < 0.05) head += 'Expect: 100-continue\r\n';
      head += rand() < 0.1 ? '\n' : '\r\n';
      return head + (rand() < 0.3 ? 'hello' : '');
    };
    try {
      const inputs = 300;
      let answered = 0;
      for (let batch = 0; batch < inputs / 20; batch++) {
        const runs = Array.from({ length: 20 }, () => {
          const parts = Array.from({ length: 1 + Math.floor(rand() * 3) }, request); // sometimes pipelined
          // Split at random points: partial writes.
          const bytes = Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : p)));
          const cut = Math.floor(rand() * bytes.length);
          return raw(s.port, [bytes.subarray(0, cut), bytes.subarray(cut)], 3000, rand() < 0.3);
        });
        for (const r of await Promise.all(runs)) {
          if (codes(r.data).length) answered++;
          // Whatever came back, nothing of the system reached a Host that is not ours.
          if (/evil\.example/.test(r.data)) throw new Error('echoed an attacker Host');
        }
      }
      expect(answered).toBeGreaterThan(50);
      expect((await fetch(`${s.h.url}/readyz`)).status).toBe(200);
      expect(s.k.phase).toBe('running');
    } finally {
      await s.h.stop();
      await s.k.stop();
    }
  }, 30_000);
});

describe('HostAllowList', () => {
  it('matches names case-insensitively, *.DOMAIN only below the domain, and :PORT exactly', () => {
    const list = new HostAllowList(['a.example', '*.b.example', 'c.example:8443']);
    expect(list.allows('A.EXAMPLE:1')).toBe(true);
    expect(list.allows('x.y.b.example')).toBe(true);
    expect(list.allows('b.example')).toBe(false);
    expect(list.allows('xb.example')).toBe(false);
    expect(list.allows('c.example:8443')).toBe(true);
    expect(list.allows('c.example')).toBe(false);
    expect(new HostAllowList(['*']).allows('anything.example')).toBe(true);
  });
});

describe('http.hosts and http.drain in the config', () => {
  const problems = async (name: string, text: string) => {
    try {
      await loadSystemText(join(tmp, name), text);
      return [];
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      return err.diagnostics.map((d) => formatDiagnostic(d));
    }
  };
  it('are checked where they are written', async () => {
    const ok = await loadSystemText(join(tmp, 'ok.yaml'), `http: { listen: 127.0.0.1:0, hosts: [symphony.internal, "*.svc.cluster.local", "dash.example:8443"], drain: 5s }\ncomponents:\n  a: { use: ${noop} }\n`);
    expect(ok.http).toEqual({ listen: '127.0.0.1:0', hosts: ['symphony.internal', '*.svc.cluster.local', 'dash.example:8443'], drain: '5s' });
    expect(await problems('h1.yaml', `http: { listen: 127.0.0.1:0, hosts: [ok.example, "http://evil"] }\ncomponents:\n  a: { use: ${noop} }\n`)).toEqual([
      expect.stringMatching(/^.*h1\.yaml:1:50: each entry of http\.hosts must be a host name, \*\.DOMAIN or \*, optionally with :PORT/),
    ]);
    expect(await problems('h2.yaml', `http: { listen: 127.0.0.1:0, hosts: evil }\ncomponents:\n  a: { use: ${noop} }\n`)).toEqual([expect.stringMatching(/h2\.yaml:1:37: http\.hosts must be a list of host names/)]);
    expect(await problems('h3.yaml', `http:\n  listen: 127.0.0.1:0\n  drain: forever\ncomponents:\n  a: { use: ${noop} }\n`)).toEqual([expect.stringMatching(/h3\.yaml:3:10: must be a duration/)]);
    expect((await problems('h4.yaml', `http: { listen: 127.0.0.1:0, drian: 1s }\ncomponents:\n  a: { use: ${noop} }\n`))[0]).toMatch(/h4\.yaml:1:30: .*drian/);
    const toml = await loadSystemText(join(tmp, 't.toml'), `[http]\nlisten = "127.0.0.1:0"\nhosts = ["x.example"]\ndrain = 250\n[components.a]\nuse = "${noop}"\n`);
    expect(toml.http).toEqual({ listen: '127.0.0.1:0', hosts: ['x.example'], drain: 250 });
  });
});

/** `symphony up` as a child process; resolves the health base URL once it is printed. */
function up(config: string) {
  const child = spawn(process.execPath, [cli, 'up', '-c', config], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  const ready = new Promise<string>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`not ready:\n${out}`)), 15_000);
    const look = () => {
      const m = /health endpoints on (http:\/\/\S+)/.exec(out);
      if (m && out.includes('system ready')) (clearTimeout(timer), res(m[1]!));
    };
    child.stdout.on('data', look);
    child.stderr.on('data', look);
  });
  return { child, exited, ready, output: () => out };
}

/** The status of GET url, or 'refused' when nothing listens. */
async function probe(url: string): Promise<number | 'refused'> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(2000) })).status;
  } catch {
    return 'refused';
  }
}

describe('draining on SIGTERM (symphony up)', () => {
  it('answers /readyz 503 for http.drain while /livez and the listener stay up, then stops: exit 0', async () => {
    const config = join(tmp, 'drain.yaml');
    writeFileSync(config, `http: { listen: 127.0.0.1:0, drain: 1200ms }\ncomponents:\n  a: { use: ${noop} }\n`);
    const p = up(config);
    const base = await p.ready;
    expect(await probe(`${base}/readyz`)).toBe(200);
    const t0 = performance.now();
    p.child.kill('SIGTERM');
    const seen: { at: number; readyz: number | 'refused'; livez: number | 'refused' }[] = [];
    for (;;) {
      const [readyz, livez] = await Promise.all([probe(`${base}/readyz`), probe(`${base}/livez`)]);
      seen.push({ at: performance.now() - t0, readyz, livez });
      if (readyz === 'refused' || performance.now() - t0 > 8000) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await p.exited).toBe(0);
    const refusedAt = seen.findIndex((x) => x.readyz === 'refused');
    expect(refusedAt).toBeGreaterThan(0);
    // The signal takes a moment to arrive; from the first 503 on, never a 200 again until the listener closes.
    const first503 = seen.findIndex((x) => x.readyz === 503);
    expect(first503).toBeGreaterThanOrEqual(0);
    expect(seen.slice(0, first503).every((x) => x.readyz === 200 && x.at < 1000)).toBe(true);
    const before = seen.slice(first503, refusedAt);
    expect(before.every((x) => x.readyz === 503)).toBe(true);
    expect(before.length).toBeGreaterThan(5);
    expect(before.filter((x) => x.livez === 200).length).toBeGreaterThan(5);
    expect(seen[refusedAt]!.at).toBeGreaterThan(1200);
    expect(p.output()).toContain('SIGTERM received, draining for 1.20s');
    expect(p.output()).toMatch(/system stopped \(SIGTERM received\)/);
  }, 20_000);

  it('says why in ?verbose while draining, and a second SIGTERM exits at once with 143', async () => {
    const config = join(tmp, 'drain-twice.yaml');
    writeFileSync(config, `http: { listen: 127.0.0.1:0, drain: 30s }\ncomponents:\n  a: { use: ${noop} }\n`);
    const p = up(config);
    const base = await p.ready;
    p.child.kill('SIGTERM');
    let text = '';
    for (let i = 0; i < 40 && !text.includes('[-]shutdown'); i++) {
      text = await (await fetch(`${base}/readyz?verbose`)).text();
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(text).toContain('[-]shutdown failed: draining (SIGTERM received)');
    expect(text).toContain('[+]phase ok');
    expect(text.trim().split('\n').at(-1)).toBe('readyz check failed');
    // Kubernetes' way to keep a probe green through a drain it knows about.
    expect((await fetch(`${base}/readyz?exclude=shutdown`)).status).toBe(200);
    const t0 = performance.now();
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(143);
    expect(performance.now() - t0).toBeLessThan(2000);
  }, 20_000);

  it('a connection flood at the descriptor limit does not take symphony up down; it serves once the flood ends', async () => {
    const config = join(tmp, 'emfile.yaml');
    writeFileSync(config, `http: { listen: 127.0.0.1:0 }\ncomponents:\n  a: { use: ${noop} }\n`);
    const child = spawn('sh', ['-c', `ulimit -n 60 && exec "${process.execPath}" "${cli}" up -c "${config}"`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    await until(() => out.includes('system ready'), 15_000, 'the system to be ready');
    const base = /health endpoints on (http:\/\/\S+)/.exec(out)![1]!;
    const port = Number(new URL(base).port);
    const flood = Array.from({ length: 150 }, () => {
      const c = connect(port, '127.0.0.1');
      c.on('error', () => {});
      c.resume();
      return c;
    });
    await until(() => readdirSync(`/proc/${child.pid}/fd`).length >= 58, 5000, 'the descriptors to run out');
    await new Promise((r) => setTimeout(r, 300));
    expect(child.exitCode).toBeNull();
    for (const c of flood) c.destroy();
    await until(async () => (await probe(`${base}/livez`)) === 200, 5000, '/livez to answer after the flood');
    expect(await probe(`${base}/readyz`)).toBe(200);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out).not.toContain('internal error');
  }, 30_000);

  it('Ctrl-C (SIGINT) does not wait for the drain', async () => {
    const config = join(tmp, 'drain-int.yaml');
    writeFileSync(config, `http: { listen: 127.0.0.1:0, drain: 30s }\ncomponents:\n  a: { use: ${noop} }\n`);
    const p = up(config);
    await p.ready;
    const t0 = performance.now();
    p.child.kill('SIGINT');
    expect(await p.exited).toBe(0);
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(p.output()).not.toContain('draining');
  }, 20_000);

  it('without http.drain, stops at once; /status never carries the bus token', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'symphony-http-bus-'));
    const config = join(dir, 'bus.yaml');
    writeFileSync(config, `http: { listen: 127.0.0.1:0 }\ncomponents:\n  bus: { use: builtin:bus, with: { listen: auto, token: auto } }\n  a: { use: ${noop}, needs: [bus] }\n`);
    const p = up(config);
    const base = await p.ready;
    const status = await (await fetch(`${base}/status`)).text();
    expect(JSON.parse(status).bus).not.toBeNull();
    const tokens = findTokenFiles(p.child.pid!);
    expect(tokens.length).toBeGreaterThan(0);
    for (const file of tokens) {
      const token = readFileSync(file, 'utf8').trim();
      expect(token.length).toBeGreaterThan(10);
      expect(status).not.toContain(token);
      for (const path of ['/readyz?verbose', '/livez?verbose']) expect(await (await fetch(`${base}${path}`)).text()).not.toContain(token);
    }
    const t0 = performance.now();
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    expect(performance.now() - t0).toBeLessThan(3000);
  }, 20_000);
});

/** The `<socket>.token` files of the bus run by `pid`: found through the Unix sockets it listens on. */
function findTokenFiles(pid: number): string[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    const m = /^socket:\[(\d+)\]$/.exec(safeReadlink(`/proc/${pid}/fd/${fd}`));
    if (m) inodes.add(m[1]!);
  }
  const files = new Set<string>();
  for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols[7]?.startsWith('/') && inodes.has(cols[6]!) && statSync(`${cols[7]}.token`, { throwIfNoEntry: false })) files.add(`${cols[7]}.token`);
  }
  return [...files];
}

function safeReadlink(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return '';
  }
}
