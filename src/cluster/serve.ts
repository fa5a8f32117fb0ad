import type { Msg, Subscription } from '@nats-io/transport-node';
import { ForbiddenError, InvalidRequestError, MessageTooLargeError, subjectMatches, type BusEndpoint, type Rights } from '../bus/index.js';
import { chunks, decode, encode, errorBody, NotServedHere, Reassembly, type CallBody, type ReplyBody } from './wire.js';
import { CallAbort } from './abort.js';
import type { ClusterNode } from './node.js';


/**
 * The serving side: this node subscribes to `PREFIX.call.METHOD` (in the providers' queue group)
 * for each method it serves that some node asked for, and to its own `PREFIX.node.NAME.call.>`.
 * A request is checked again here, whatever its node said: the method must be one this node
 * accepts from others (`cluster.accept`) and one the caller's node admitted the call for. It then
 * runs through an endpoint named CALLER@NODE whose rights are what this node accepts, so the bus
 * checks it once more and a deputy here acting for that caller can do no more. The deadline left
 * when it was sent is its deadline here; a cancel from the caller aborts it; a call still running
 * after a moment is acknowledged, so the caller knows where it runs (and fails it at once if this
 * node dies).
 */
export class Server {
  /** True while a request from another node is being handed to the local bus (synchronously): the forwarder then knows it must not send it on. */
  entering = false;
  denied = 0;
  served = 0;
  readonly #remote = new Map<string, BusEndpoint>();
  readonly #methods = new Map<string, Subscription>();
  /** Methods some node asked for (want): checked each heartbeat, so a provider that starts here later is announced. */
  readonly #wanted = new Set<string>();
  readonly #inflight = new Map<string, CallAbort>();
  readonly #reassembly: Reassembly;
  readonly #rights: Rights;
  #subs: Subscription[] = [];
  #unacked: { reply: string; settled: boolean }[] = [];
  #lastDenial = 0;

  constructor(readonly node: ClusterNode) {
    this.#reassembly = new Reassembly(node.maxFrameBytes + 64 * 1024);
    this.#rights = { provides: [], calls: node.settings.accept, publishes: ['>'], subscribes: [] };
  }

  start(): void {
    const { nc, settings } = this.node;
    const direct = `${settings.prefix}.node.${settings.node}.call.`;
    this.#subs.push(nc.subscribe(`${direct}>`, { callback: (_e, m) => this.#onCall(m, m.subject.slice(direct.length)) }));
    const want = `${settings.prefix}.want.`;
    this.#subs.push(nc.subscribe(`${want}>`, { callback: (_e, m) => void this.#onWant(m, m.subject.slice(want.length)) }));
    // A node that joins asks one of the others what the cluster has wanted so far.
    this.#subs.push(nc.subscribe(`${settings.prefix}.wanted`, { queue: `${settings.prefix}.wanted`, callback: (_e, m) => void (m.reply && m.respond(encode([...this.#wanted]))) }));
    this.#subs.push(
      nc.subscribe(`${settings.prefix}.cancel`, {
        callback: (_e, m) => {
          try {
            const c = decode<{ n: string; i: string }>(m.data);
            this.#inflight.get(`${c.n}/${c.i}`)?.abort(new Error('cancelled by its caller'));
          } catch {
            // a malformed cancel cancels nothing
          }
        },
      }),
    );
  }

  /** Methods this node announces (subscribed to) now. */
  announced(): string[] {
    return [...this.#methods.keys()];
  }

  get inflight(): number {
    return this.#inflight.size;
  }

  /**
   * The local endpoint for CALLER@NODE (events from that node are published through it too). An
   * operator's call runs through CALLER#operator@NODE, which holds this node's operator rights: the
   * nodes trust each other's word on it (they are authenticated to NATS), and cluster.accept still
   * bounds what it may reach here.
   */
  endpointFor(who: string, operator = false): BusEndpoint {
    const at = who.lastIndexOf('@');
    const name = operator ? `${who.slice(0, at)}#operator${who.slice(at)}` : who;
    let ep = this.#remote.get(name);
    if (!ep) {
      ep = operator ? this.node.bus.endpoint(name, undefined, { supersede: true }) : this.node.bus.endpoint(name, this.#rights, { supersede: true });
      this.#remote.set(name, ep);
    }
    return ep;
  }

  isRemote(name: string): boolean {
    return this.#remote.has(name);
  }

  /** At join: what the cluster wanted before this node came (so a restarted provider serves again at once). */
  async learnWanted(timeoutMs: number): Promise<void> {
    const { nc, settings } = this.node;
    try {
      const reply = `${settings.prefix}.reply.${settings.node}.${this.node.nonce}.wanted`;
      const list = decode<unknown>((await nc.request(`${settings.prefix}.wanted`, undefined, { timeout: timeoutMs, noMux: true, reply })).data);
      if (Array.isArray(list)) for (const m of list) if (typeof m === 'string') this.want(m);
    } catch {
      // nobody else yet (no responders), or nobody answered in time: the first calls will ask
    }
    this.tick();
  }

  /** Remembers that someone in the cluster wants `method` (this node's forwarder asking counts too). */
  want(method: string): void {
    if (this.#wanted.size < 10_000) this.#wanted.add(method);
  }

  /** Who serves `method`? This node answers yes if its bus does (subscribing first), no otherwise. */
  async #onWant(m: Msg, method: string): Promise<void> {
    this.want(method);
    if (!m.reply) return;
    let serves = false;
    try {
      serves = this.node.servesLocally([method])[0]!;
      if (serves) {
        this.#announce(method);
        await this.node.nc.flush();
      }
    } catch {
      serves = false;
    }
    if (!this.node.nc.isClosed()) m.respond(encode({ n: this.node.settings.node, s: serves ? 1 : 0 }));
  }

  #announce(method: string): void {
    if (this.#methods.has(method)) return;
    const { nc, settings } = this.node;
    this.#methods.set(method, nc.subscribe(`${settings.prefix}.call.${method}`, { queue: `${settings.prefix}.serve`, callback: (_e, m) => this.#onCall(m, method) }));
  }

  #withdraw(method: string): void {
    this.#methods.get(method)?.unsubscribe();
    this.#methods.delete(method);
  }

  /** Each heartbeat: methods no longer served here are withdrawn, wanted ones served here now are announced. */
  tick(): void {
    const methods = [...this.#wanted];
    if (methods.length === 0) return;
    const serves = this.node.servesLocally(methods);
    methods.forEach((m, i) => (serves[i] ? this.#announce(m) : this.#withdraw(m)));
  }

  #onCall(m: Msg, method: string): void {
    let data = m.data;
    const h = m.headers;
    if (h) {
      const chunk = h.get('Sym-Chunk');
      if (chunk) {
        const [seq, count] = chunk.split('/').map(Number);
        const whole = this.#reassembly.add(`q/${h.get('Sym-Stream')}`, seq!, count!, data);
        if (whole === undefined) return;
        if (whole === 'too-large') return this.#answer(m.reply, { e: errorBody(new MessageTooLargeError(`'${method}': the request is over the ${this.node.maxFrameBytes}-byte frame limit`, { method })) });
        data = whole;
      }
    }
    let body: CallBody;
    try {
      body = decode<CallBody>(data);
    } catch {
      return this.#answer(m.reply, { e: errorBody(new InvalidRequestError(`'${method}': the request from another node is not JSON`)) });
    }
    if (!body || typeof body.m !== 'string' || typeof body.c !== 'string' || typeof body.n !== 'string' || typeof body.i !== 'string' || !Array.isArray(body.r) || typeof body.t !== 'number' || body.m !== method) {
      return this.#answer(m.reply, { e: errorBody(new InvalidRequestError(`'${method}': a malformed request from another node (it needs i, m, t, c, n, r)`)) });
    }
    const who = `${body.c}@${body.n}`;
    if (!this.node.settings.accept.some((p) => subjectMatches(p, method))) {
      return this.#deny(m.reply, who, method, `node '${this.node.settings.node}' does not accept '${method}' from other nodes (not in its cluster.accept)`);
    }
    if (!body.r.some((p) => typeof p === 'string' && subjectMatches(p, method))) {
      return this.#deny(m.reply, who, method, `'${who}' may not call '${method}': its node did not admit the call for it`);
    }
    this.served++;
    const key = `${body.n}/${body.i}`;
    const abort = new CallAbort();
    let ep: BusEndpoint;
    let result: Promise<unknown>;
    this.entering = true;
    try {
      ep = this.endpointFor(who, body.o === 1);
      result = ep.request(method, body.p, { timeout: Math.max(1, body.t), signal: abort.signal, ...(body.tp ? { traceparent: body.tp } : {}) });
    } catch (err) {
      result = Promise.reject(err);
    } finally {
      this.entering = false;
    }
    const reply = m.reply;
    if (!reply) {
      result.catch(() => {});
      return;
    }
    this.#inflight.set(key, abort);
    const state = { reply, settled: false };
    result.then(
      (r) => {
        state.settled = true;
        this.#inflight.delete(key);
        this.#answer(reply, { r });
      },
      (err: unknown) => {
        state.settled = true;
        this.#inflight.delete(key);
        if (err instanceof NotServedHere) {
          this.#withdraw(method);
          return this.#answer(reply, { z: 1 });
        }
        this.#answer(reply, { e: errorBody(err) });
      },
    );
    // Acknowledged only if still running after this turn of the event loop: quick calls cost no extra message.
    if (this.#unacked.push(state) === 1) setImmediate(() => this.#ack());
  }

  #ack(): void {
    const batch = this.#unacked;
    this.#unacked = [];
    const { nc, settings } = this.node;
    if (nc.isClosed()) return;
    let ack: Uint8Array | undefined;
    for (const s of batch) if (!s.settled) nc.publish(s.reply, (ack ??= encode({ a: settings.node })));
  }

  #deny(reply: string | undefined, who: string, method: string, why: string): void {
    this.denied++;
    const now = Date.now();
    // Logged at most a few times a second: a flood of refused calls must not flood the log.
    if (now - this.#lastDenial > 250) {
      this.#lastDenial = now;
      this.node.log.warn(`denied: ${why}`);
    }
    this.#answer(reply, { e: errorBody(new ForbiddenError(why, { method, peer: who })) });
  }

  #answer(reply: string | undefined, body: ReplyBody): void {
    const { nc } = this.node;
    if (!reply || nc.isClosed()) return;
    let bytes: Uint8Array;
    try {
      bytes = encode(body);
    } catch (err) {
      bytes = encode({ e: { code: -32603, message: `the answer cannot cross to another node: ${(err as Error).message}` } });
    }
    if (bytes.length > this.node.maxFrameBytes) {
      bytes = encode({ e: errorBody(new MessageTooLargeError(`the answer is ${bytes.length} bytes, over the ${this.node.maxFrameBytes}-byte frame limit (maxFrameBytes)`, { bytes: bytes.length })) });
    }
    const limit = this.node.chunkBytes();
    if (bytes.length <= limit) return nc.publish(reply, bytes);
    const parts = chunks(bytes, limit);
    parts.forEach((part, seq) => {
      const h = this.node.headers();
      h.set('Sym-Chunk', `${seq}/${parts.length}`);
      nc.publish(reply, part, { headers: h });
    });
  }

  /** A node is gone: its callers' calls here stop (nobody waits for them), and their endpoints close. */
  nodeLeft(name: string): void {
    for (const [key, abort] of this.#inflight) if (key.startsWith(`${name}/`)) abort.abort(new Error(`node '${name}' left`));
    for (const [who, ep] of this.#remote) {
      if (who.endsWith(`@${name}`)) {
        ep.stop(`node '${name}' left the cluster`);
        this.#remote.delete(who);
      }
    }
  }

  stop(reason: string): void {
    for (const s of [...this.#subs, ...this.#methods.values()]) s.unsubscribe();
    this.#subs = [];
    this.#methods.clear();
    for (const abort of this.#inflight.values()) abort.abort(new Error(reason));
    for (const ep of this.#remote.values()) ep.stop(reason);
    this.#remote.clear();
  }
}
