import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Kernel } from '../bootstrap/index.js';
import { BusError, ErrorCode, type Bus, type Subscription } from '../bus/index.js';
import { ActionRefused, OperatorActions } from './actions.js';
import { asset, ASSET_PATHS, assetFile } from './assets.js';
import { listMelodies, type MelodyFile } from './melody-files.js';
import { DashboardModel } from './model.js';
import type { LogEntry } from './views.js';
import { DEFAULT_STREAM_LIMITS, frame, SseClient, type StreamLimits } from './stream.js';

/**
 * The live dashboard: the page and its files, the event stream that keeps it current (Server-Sent
 * Events), and the operator's actions. Served by the HTTP listener of `symphony up`, beside the
 * health endpoints. With no page open it costs one bounded event ring and nothing else: no timer
 * runs, no bus subscription exists, no file is read.
 */

export interface DashboardOptions {
  kernel: Kernel;
  /** The bus (the component running builtin:bus), when it runs. */
  bus: () => Bus | undefined;
  /** The operator's grant of each extension, by name (shown in the table). */
  grants?: Record<string, unknown>;
  /** `command:` peers among the components. */
  peers?: ReadonlySet<string>;
  /** The Conductor's melody folders (absolute): the melodies the page may run. */
  melodyFolders?: readonly string[];
  limits?: Partial<DashboardLimits>;
}

export interface DashboardLimits extends StreamLimits {
  /** How often the traffic is sampled while a page is open (ms). */
  sampleMs: number;
  /** How often the log is sent while a page is open (ms): a flood becomes one batch per period. */
  logFlushMs: number;
  /** Lines in one batch at most; the rest are counted per component. */
  logBatchLines: number;
}

export const DEFAULT_DASHBOARD_LIMITS: Readonly<DashboardLimits> = Object.freeze({ ...DEFAULT_STREAM_LIMITS, sampleMs: 1000, logFlushMs: 250, logBatchLines: 100 });

/** What the dashboard holds now (in `/status`, for operators and tests). */
export interface DashboardStats {
  clients: number;
  /** Bytes waiting for pages, all together. */
  queuedBytes: number;
  /** Streams closed since the start, and why the last one was. */
  closedClients: number;
  droppedClients: number;
  lastClose: string | null;
  /** Log batches dropped for pages that did not read. */
  droppedBatches: number;
  /** Log lines counted instead of sent (a flood). */
  suppressedLines: number;
  refusedStreams: number;
}

const PAGE_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
};

export class Dashboard {
  readonly #o: DashboardOptions;
  readonly #limits: DashboardLimits;
  readonly #model: DashboardModel;
  readonly #actions: OperatorActions;
  readonly #clients = new Set<SseClient>();
  #sampler: NodeJS.Timeout | undefined;
  #logTimer: NodeJS.Timeout | undefined;
  #inventoryTimer: NodeJS.Timeout | undefined;
  #offEntries: (() => void) | undefined;
  #dag: Subscription | undefined;
  #pending: LogEntry[] = [];
  #suppressed: Record<string, number> = {};
  #ticks = 0;
  #draining: string | undefined;
  readonly #stats = { closedClients: 0, droppedClients: 0, lastClose: null as string | null, droppedBatches: 0, suppressedLines: 0, refusedStreams: 0 };
  #closed = false;

  constructor(options: DashboardOptions) {
    this.#o = options;
    this.#limits = { ...DEFAULT_DASHBOARD_LIMITS, ...options.limits };
    this.#model = new DashboardModel({ kernel: options.kernel, bus: options.bus, grants: options.grants, peers: options.peers });
    this.#actions = new OperatorActions(() => options.bus()?.socketPath);
  }

  /** Whether `path` is the dashboard's (the listener sends it here). */
  serves(path: string): boolean {
    return path === '/' || path === '/index.html' || path.startsWith('/dashboard/');
  }

  stats(): DashboardStats {
    let queued = 0;
    for (const c of this.#clients) queued += c.queuedBytes;
    return { clients: this.#clients.size, queuedBytes: queued, ...this.#stats };
  }

  drain(reason: string): void {
    this.#draining ??= reason;
    this.#broadcast('notice', { level: 'warn', message: `the system is draining (${reason})` });
  }

  /** Handles a request the listener found to be ours (Host and body size already checked). */
  async handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const method = req.method ?? 'GET';
    if (path.startsWith('/dashboard/actions/')) {
      if (method !== 'POST') return json(res, 405, { error: `method not allowed: ${path} answers POST` }, { allow: 'POST' });
      return this.#action(req, res, path.slice('/dashboard/actions/'.length));
    }
    if (method !== 'GET' && method !== 'HEAD') return json(res, 405, { error: `method not allowed: ${path} answers GET and HEAD` }, { allow: 'GET, HEAD' });
    if (path === '/dashboard/events') return this.#stream(req, res);
    if (path === '/dashboard/state') return json(res, 200, await this.#snapshot());
    const key = path === '/index.html' ? '/' : path;
    const a = asset(key);
    if (!a) {
      if (ASSET_PATHS.includes(key)) return json(res, 500, { error: `the dashboard's file is missing: ${assetFile(key) ?? 'uplot (npm package)'}; reinstall the package (npm ci) or rebuild it (npm run build)` });
      return json(res, 404, { error: `not found: ${path.slice(0, 200)}`, paths: ['/', ...ASSET_PATHS.slice(1), '/dashboard/events', '/dashboard/state', '/dashboard/actions/{verify,restart,melody}'] });
    }
    const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    const body = gzip ? a.gzip : a.body;
    res.writeHead(200, {
      'content-type': a.type,
      'content-length': String(body.length),
      'cache-control': 'no-cache',
      vary: 'accept-encoding',
      ...(gzip ? { 'content-encoding': 'gzip' } : {}),
      ...PAGE_HEADERS,
    });
    res.end(method === 'HEAD' ? undefined : body);
  }

  // ---- the event stream ----------------------------------------------------------------------------

  async #stream(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.#closed) return json(res, 503, { error: 'the dashboard is stopping' });
    if (this.#clients.size >= this.#limits.maxClients) {
      this.#stats.refusedStreams++;
      return json(res, 503, { error: `too many dashboard pages open (${this.#limits.maxClients}, the limit): close one and reload` }, { 'retry-after': '5' });
    }
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no', 'x-content-type-options': 'nosniff' });
    req.socket.setNoDelay(true);
    const client = new SseClient(res, this.#limits, (c, reason) => this.#gone(c, reason));
    this.#clients.add(client);
    if (this.#clients.size === 1) this.#wake();
    res.write('retry: 2000\n\n');
    const snapshot = await this.#snapshot();
    client.send('snapshot', snapshot, 'snapshot');
  }

  #gone(client: SseClient, reason: string): void {
    if (!this.#clients.delete(client)) return;
    this.#stats.closedClients++;
    this.#stats.lastClose = reason;
    this.#stats.droppedBatches += client.droppedTotal;
    if (!reason.startsWith('the page went away') && !reason.startsWith('the dashboard')) this.#stats.droppedClients++;
    if (this.#clients.size === 0) this.#sleep();
  }

  /** The first page opened: start sampling, listening and following the melody runs. */
  #wake(): void {
    this.#offEntries = this.#model.onEntry((e, raw) => {
      if (this.#pending.length < this.#limits.logBatchLines) this.#pending.push(e);
      else {
        this.#suppressed[e.component] = (this.#suppressed[e.component] ?? 0) + 1;
        this.#stats.suppressedLines++;
      }
      this.#logTimer ??= setTimeout(() => this.#flushLog(), this.#limits.logFlushMs);
      if (raw.type === 'component' || raw.type === 'system') this.#inventorySoon();
      if (raw.type === 'system' && raw.state !== 'booting') this.#broadcast('boot', this.#model.boot(), 'boot');
      if (raw.type === 'component' && this.#o.kernel.report === undefined) this.#broadcast('boot', this.#model.boot(), 'boot');
    });
    this.#sampler = setInterval(() => this.#tick(), this.#limits.sampleMs);
    this.#sampler.unref();
    this.#model.busSample(); // the baseline the first rates are measured from
    this.#subscribeDag();
  }

  #subscribeDag(): void {
    const bus = this.#o.bus();
    if (!bus || this.#dag) return;
    try {
      this.#dag = bus.subscribe(
        'pit.dag.>',
        (event) => {
          void this.#model.onDagEvent(event).then((run) => {
            if (run) this.#broadcast('melody', run, `melody:${run.run}`);
          });
        },
        { queue: 256, policy: 'drop-oldest' },
      );
    } catch {
      this.#dag = undefined; // a bus that is closing: the runs are read on the next snapshot
    }
  }

  /** The last page closed: nothing runs any more. */
  #sleep(): void {
    this.#offEntries?.();
    this.#offEntries = undefined;
    clearInterval(this.#sampler);
    clearTimeout(this.#logTimer);
    clearTimeout(this.#inventoryTimer);
    this.#sampler = this.#logTimer = this.#inventoryTimer = undefined;
    this.#dag?.unsubscribe();
    this.#dag = undefined;
    this.#pending = [];
    this.#suppressed = {};
  }

  #tick(): void {
    this.#ticks++;
    // A page whose socket takes nothing is found here too, not only when there is something to send.
    for (const c of this.#clients) c.ping();
    if (!this.#clients.size) return;
    const sample = this.#model.busSample();
    if (sample) this.#broadcast('bus', sample, 'bus');
    if (!this.#dag) this.#subscribeDag(); // the bus came up after the page opened
    if (this.#ticks % 2 === 0) this.#inventorySoon(0);
  }

  #flushLog(): void {
    this.#logTimer = undefined;
    if (!this.#pending.length && !Object.keys(this.#suppressed).length) return;
    const batch = { lines: this.#pending, suppressed: this.#suppressed };
    this.#pending = [];
    this.#suppressed = {};
    this.#broadcast('log', batch);
  }

  #inventorySoon(ms = 50): void {
    if (this.#inventoryTimer || !this.#clients.size) return;
    this.#inventoryTimer = setTimeout(() => {
      this.#inventoryTimer = undefined;
      if (!this.#clients.size) return;
      void this.#model.inventory().then(
        (inv) => this.#broadcast('inventory', inv, 'inventory'),
        () => {},
      );
    }, ms);
  }

  /** One serialization for every page; `key` marks a state a newer one replaces in a page's queue. */
  #broadcast(type: string, data: unknown, key?: string): void {
    if (!this.#clients.size) return;
    const text = frame(type, data);
    for (const c of this.#clients) c.sendText(text, key);
  }

  async #snapshot(): Promise<Record<string, unknown>> {
    const [inventory, melodies] = await Promise.all([this.#model.inventory(), this.#model.melodies()]);
    return {
      boot: this.#model.boot(),
      inventory,
      melodies,
      melodyFiles: (await this.#melodyFiles()).map((m) => ({ id: m.id, melody: m.melody, description: m.description, inputs: m.inputs })),
      log: this.#model.recent(),
      actions: this.#actions.availability(),
      draining: this.#draining ?? null,
      limits: { sampleMs: this.#limits.sampleMs, logFlushMs: this.#limits.logFlushMs, logBatchLines: this.#limits.logBatchLines, maxQueuedBytes: this.#limits.maxQueuedBytes },
    };
  }

  async #melodyFiles(): Promise<MelodyFile[]> {
    return this.#o.melodyFolders ? listMelodies(this.#o.melodyFolders) : [];
  }

  // ---- actions -------------------------------------------------------------------------------------

  async #action(req: IncomingMessage, res: ServerResponse, name: string): Promise<void> {
    // A page of another origin may send a POST here (a form, fetch no-cors): the browser says whose it is.
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${req.headers.host}`) return json(res, 403, { error: `refused: a request from another origin (${origin.slice(0, 100)})` });
    const auth = String(req.headers.authorization ?? '');
    const token = /^Bearer ([A-Za-z0-9._~+/=-]{1,512})$/.exec(auth)?.[1];
    let body: Record<string, unknown>;
    try {
      body = await readJson(req);
    } catch (err) {
      return json(res, 400, { error: (err as Error).message });
    }
    try {
      switch (name) {
        case 'verify': {
          await this.#actions.call(token, 'system.ps', {}, 5000).catch((err: unknown) => {
            // The hello passed (the token is the operator's): a system without the console still verifies.
            if (err instanceof BusError && err.code === ErrorCode.MethodNotFound) return null;
            throw err;
          });
          return json(res, 200, { ok: true });
        }
        case 'restart': {
          const target = body.name;
          if (typeof target !== 'string' || !target || target.length > 200) return json(res, 400, { error: 'restart needs { "name": COMPONENT_OR_EXTENSION }' });
          const result = await this.#actions.call(token, 'system.restart', { name: target }, 12_000);
          this.#inventorySoon(0);
          this.#broadcast('notice', { level: 'info', message: `restarted '${target}' from the dashboard` });
          return json(res, 200, result);
        }
        case 'melody': {
          const files = await this.#melodyFiles();
          const file = files.find((m) => m.id === body.file);
          if (!file) return json(res, 400, { error: `melody needs { "file": ONE_OF_THE_LISTED } (known: ${files.map((m) => m.id).join(', ') || 'none'})` });
          const inputs = body.inputs ?? {};
          if (typeof inputs !== 'object' || inputs === null || Array.isArray(inputs)) return json(res, 400, { error: 'melody inputs must be an object { NAME: VALUE }' });
          // A melody may run for long: answered when it ends within a moment, else at once (its progress comes on the stream).
          const running = this.#actions.call(token, 'melody.run', { file: file.path, inputs }, 30 * 60_000);
          const outcome = await Promise.race([running.then((r) => ({ done: true as const, r })), new Promise<{ done: false }>((r) => setTimeout(() => r({ done: false }), 1500).unref())]);
          if (outcome.done) return json(res, 200, outcome.r);
          running.then(
            (r) => this.#broadcast('notice', { level: (r as { state?: string }).state === 'succeeded' ? 'info' : 'warn', message: `melody '${file.melody}' ${(r as { state?: string }).state ?? 'ended'}` }),
            (err: Error) => this.#broadcast('notice', { level: 'error', message: `melody '${file.melody}' failed: ${err.message}` }),
          );
          return json(res, 202, { started: file.melody });
        }
        default:
          return json(res, 404, { error: `no action '${name.slice(0, 100)}' (actions: verify, restart, melody)` });
      }
    } catch (err) {
      if (err instanceof ActionRefused) return json(res, err.status, { error: err.message });
      if (err instanceof BusError) return json(res, 502, { error: err.message, code: err.code });
      return json(res, 500, { error: (err as Error).message });
    }
  }

  /** Ends every stream (the listener is closing) and stops what runs. */
  close(): void {
    this.#closed = true;
    for (const c of [...this.#clients]) c.close('the dashboard is stopping');
    this.#sleep();
    this.#model.close();
  }
}

function json(res: ServerResponse, code: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers });
  res.end(text);
}

/** The action's small JSON body (the listener has bounded its size); none is `{}`. */
function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= 4096) chunks.push(c);
    });
    req.on('error', reject);
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8').trim();
      if (!text) return resolve({});
      try {
        const v = JSON.parse(text) as unknown;
        if (typeof v !== 'object' || v === null || Array.isArray(v)) return reject(new Error('the body must be a JSON object'));
        resolve(v as Record<string, unknown>);
      } catch {
        reject(new Error('the body is not JSON'));
      }
    });
  });
}
