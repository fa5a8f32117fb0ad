import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Kernel } from '../bootstrap/index.js';
import type { Dashboard, DashboardStats } from '../dashboard/index.js';
import type { HttpLimits } from './health.js';
import type { HostAllowList } from './http-hosts.js';

/** One named check of /livez or /readyz. */
interface Check {
  name: string;
  ok: boolean;
  /** Why it failed, or a remark on a passing one (an optional component that is down). */
  detail?: string;
}

type Send = (code: number, body: unknown, headers?: Record<string, string>) => void;

const ALLOW = 'GET, HEAD';
const PATHS = ['/livez', '/readyz', '/status', '/healthz'];
const READY_STATES = new Set(['ready', 'degraded', 'skipped']);

/**
 * What the health listener answers (see health.ts): the request's target and Host checked, then
 * the dashboard's paths, `/status`, or the checks of `/livez` and `/readyz`.
 */
export class HealthEndpoints {
  #draining: string | undefined;

  constructor(
    readonly kernel: Kernel,
    readonly settings: { optional: ReadonlySet<string>; busName: string | undefined; hosts: HostAllowList; limits: HttpLimits },
    readonly dashboard: Dashboard | undefined,
  ) {}

  /** From now on `/readyz` fails its `shutdown` check; the first reason given stays. */
  drain(reason: string): void {
    this.#draining ??= reason;
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    const send = this.#sender(req, res);
    const { limits, hosts } = this.settings;
    const parsed = targetOf(req);
    if (!parsed) return send(400, { error: 'bad request target: use /livez, /readyz or /status (or http://HOST:PORT/livez)' }, { connection: 'close' });
    const { target, authority } = parsed;
    // Nothing about the system reaches a name that is not ours: the answer carries no data.
    if (!hosts.allows(authority)) return send(421, { error: 'misdirected request: this server does not answer for that Host; list the name in http.hosts to allow it' }, { connection: 'close' });
    // The endpoints take no body; a large or open-ended one is not read (nor its connection kept).
    const length = Number(req.headers['content-length'] ?? 0);
    if (req.headers['transfer-encoding'] !== undefined || !(length <= limits.maxBodyBytes)) {
      return send(413, { error: `request body not accepted (the endpoints take none; at most ${limits.maxBodyBytes} bytes are ignored)` }, { connection: 'close' });
    }

    const path = target.pathname;
    const dashboard = this.dashboard;
    if (dashboard?.serves(path)) {
      void dashboard.handle(req, res, path).catch((err: Error) => {
        if (!res.headersSent) send(500, { error: `dashboard: ${err.message}` });
        else res.destroy();
      });
      return;
    }
    const [base, ...rest] = path.split('/').slice(1);
    const endpoint = `/${base ?? ''}`;
    if (!PATHS.includes(endpoint) || (rest.length > 0 && (endpoint === '/status' || rest.join('') === ''))) {
      return send(404, { error: `not found: ${path.length > 200 ? `${path.slice(0, 200)}...` : path}`, paths: dashboard ? [...PATHS, '/'] : PATHS });
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, { error: `method not allowed: ${endpoint} answers GET and HEAD` }, { allow: ALLOW });
    if (endpoint === '/status') return send(200, this.#status());
    this.#answerChecks(send, endpoint === '/readyz' ? 'readyz' : 'livez', rest, target.searchParams);
  }

  /** Writes one whole answer: JSON, or text for a string. */
  #sender(req: IncomingMessage, res: ServerResponse): Send {
    const head = req.method === 'HEAD';
    return (code, body, headers = {}) => {
      const text = typeof body === 'string' ? `${body}\n` : `${JSON.stringify(body, null, 2)}\n`;
      res.writeHead(code, {
        'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json',
        'content-length': String(Buffer.byteLength(text)),
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        // While draining, clients reconnect (to another replica) instead of keeping this connection.
        ...(this.#draining !== undefined ? { connection: 'close' } : {}),
        ...headers,
      });
      res.end(head ? undefined : text);
    };
  }

  /** `/livez` or `/readyz`: all its checks, one (`/readyz/NAME`), `?verbose`, `?exclude=NAME`. */
  #answerChecks(send: Send, kind: 'livez' | 'readyz', rest: string[], query: URLSearchParams): void {
    const k = this.kernel;
    const checks = kind === 'readyz' ? this.#readyz() : this.#livez();
    if (rest.length > 0) {
      // One check, as /readyz/NAME does in Kubernetes.
      const name = rest.join('/');
      const one = checks.find((c) => c.name === name);
      if (!one) return send(404, { error: `no ${kind} check named '${name.length > 100 ? `${name.slice(0, 100)}...` : name}'`, checks: checks.map((c) => c.name) });
      return send(one.ok ? 200 : 503, one.ok ? 'ok' : `${one.name} failed: ${one.detail}`);
    }
    const exclude = new Set(query.getAll('exclude'));
    const unknown = [...exclude].filter((n) => !checks.some((c) => c.name === n));
    const counted = checks.filter((c) => !exclude.has(c.name));
    const ok = counted.every((c) => c.ok);
    if (query.has('verbose')) {
      const lines = checks.map((c) => (exclude.has(c.name) ? `[+]${c.name} excluded: ok` : c.ok ? `[+]${c.name} ok${c.detail && kind === 'readyz' && c.name.startsWith('component/') ? ` (${c.detail})` : ''}` : `[-]${c.name} failed: ${c.detail}`));
      if (unknown.length) lines.push(`warn: some health checks cannot be excluded: no matches for ${unknown.map((n) => JSON.stringify(n.slice(0, 100))).join(',')}`);
      lines.push(`${kind} check ${ok ? 'passed' : 'failed'}`);
      return send(ok ? 200 : 503, lines.join('\n'));
    }
    if (kind === 'livez') return ok ? send(200, 'ok') : send(503, 'stopped');
    if (ok) return send(200, { ready: true, system: k.system });
    const failed = counted.filter((c) => !c.ok);
    const down = failed.filter((c) => c.name.startsWith('component/'));
    const first = failed.find((c) => !c.name.startsWith('component/'));
    return send(503, {
      ready: false,
      reason: first ? first.detail : 'required components are down',
      ...(down.length ? { components: down.map((c) => `${c.name.slice('component/'.length)}: ${c.detail}`) } : {}),
    });
  }

  #livez(): Check[] {
    return [
      { name: 'ping', ok: true },
      { name: 'kernel', ok: this.kernel.phase !== 'stopped', detail: 'the kernel has stopped' },
    ];
  }

  #readyz(): Check[] {
    const k = this.kernel;
    return [
      { name: 'ping', ok: true },
      { name: 'phase', ok: k.phase === 'running', detail: `the system is ${k.phase}` },
      { name: 'shutdown', ok: this.#draining === undefined, detail: `draining (${this.#draining})` },
      ...k.states().map((c) => {
        const up = READY_STATES.has(c.state);
        return this.settings.optional.has(c.name)
          ? { name: `component/${c.name}`, ok: true, ...(up ? {} : { detail: `optional, ${c.state}` }) }
          : { name: `component/${c.name}`, ok: up, detail: c.state };
      }),
    ];
  }

  #status() {
    const k = this.kernel;
    const { busName } = this.settings;
    // The bus is the component running builtin:bus, whatever its name.
    let bus: unknown;
    if (busName !== undefined) {
      try {
        const instance = k.get(busName) as { stats?: () => unknown };
        if (typeof instance?.stats === 'function') bus = instance.stats();
      } catch {
        // not running
      }
    }
    const board: DashboardStats | undefined = this.dashboard?.stats();
    return { isolation: k.isolation(), phase: k.phase, system: k.system ?? null, uptimeMs: Math.round(k.now()), components: k.states(), bus: bus ?? null, ...(board ? { dashboard: board } : {}) };
  }
}

/**
 * The target: origin-form (/path?query), or absolute-form (http://host/path), whose authority
 * then stands for Host (RFC 9112 section 3.2.2). Undefined when it is neither.
 */
function targetOf(req: IncomingMessage): { target: URL; authority: string | undefined } | undefined {
  const raw = req.url ?? '';
  try {
    if (raw.startsWith('/')) return { target: new URL(`http://origin${raw}`), authority: req.headers.host };
    const target = new URL(raw);
    if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new Error('scheme');
    return { target, authority: target.host };
  } catch {
    return undefined;
  }
}
