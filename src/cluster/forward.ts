import type { Msg, Subscription } from '@nats-io/transport-node';
import { fromWire, InvalidParamsError, MessageTooLargeError, MethodNotFoundError, PeerGoneError, type HandlerContext } from '../bus/index.js';
import { chunks, decode, encode, NotServedHere, Reassembly, type CallBody, type ReplyBody } from './wire.js';
import type { ClusterNode } from './node.js';

interface Pending {
  readonly id: string;
  readonly method: string;
  readonly body: Uint8Array;
  /** A node the call must go to (`cluster.on.NODE.…`, or a chunked request), else its queue group picks one. */
  target: string | undefined;
  /** Named by the caller (`cluster.on.NODE.…`): never sent elsewhere. */
  readonly pinned: boolean;
  /** The node that acknowledged it (it runs there). */
  node: string | undefined;
  sentAt: number;
  /** Asked again after nobody answered (or the one that did no longer serves it). */
  tries: number;
  readonly deadline: number;
  resolve(value: unknown): void;
  reject(error: Error): void;
}

interface Want {
  readonly expected: number;
  readonly serving: Set<string>;
  answers: number;
  done(serving: string[]): void;
}

/** `cluster.on.NODE.METHOD`: METHOD on the node NODE. */
export function parseOn(method: string): { node: string; method: string } | undefined {
  if (!method.startsWith('cluster.on.')) return undefined;
  const rest = method.slice('cluster.on.'.length);
  const dot = rest.indexOf('.');
  return dot > 0 && dot < rest.length - 1 ? { node: rest.slice(0, dot), method: rest.slice(dot + 1) } : undefined;
}

// A method name must be a NATS subject too: no whitespace, no wildcard characters, no empty token.
const SUBJECT = /^[^\s*>.]+(?:\.[^\s*>.]+)*$/;

/**
 * The caller's side: what the local bus does not serve reaches this node's forwarder (a `>`
 * route, which every local provider outranks), which sends it to the method's queue group on NATS
 * and waits for the answer. Nobody subscribed (no responders) means the providers are asked
 * (`want`): one that serves the method subscribes and says so, and the call is sent again; if none
 * does, -32601 at once. Answers, acknowledgements and errors come back on this node's reply
 * subjects; a node that leaves fails what it acknowledged with -32004, and so does a lost
 * connection to NATS for everything pending.
 */
export class Forwarder {
  readonly #pending = new Map<string, Pending>();
  readonly #wants = new Map<string, Want>();
  readonly #providers = new Map<string, string[]>();
  readonly #replyPrefix: string;
  readonly #reassembly: Reassembly;
  #seq = 0;
  #sub: Subscription | undefined;
  #roundRobin = 0;

  constructor(readonly node: ClusterNode) {
    this.#replyPrefix = `${node.settings.prefix}.reply.${node.settings.node}.${node.nonce}.`;
    this.#reassembly = new Reassembly(node.maxFrameBytes + 64 * 1024);
  }

  start(): void {
    this.#sub = this.node.nc.subscribe(`${this.#replyPrefix}>`, { callback: (_e, m) => this.#onReply(m) });
  }

  get pending(): number {
    return this.#pending.size;
  }

  /** The `>` route's handler: every call the local bus has no provider for. */
  readonly handler = (params: unknown, ctx: HandlerContext): unknown => {
    const node = this.node;
    // A call that came from another node and found no provider here: that node asks again.
    if (node.server.entering) throw new NotServedHere(ctx.method);
    const on = parseOn(ctx.method);
    if (on && on.node === node.settings.node) {
      // The operator's call stays the operator's (a deputy's call never is: the bus refuses system.* to it).
      const as = ctx.operator ? {} : { onBehalfOf: ctx.peer };
      return node.bus.request(on.method, params, { ...as, timeout: Math.max(1, ctx.remainingMs()), signal: ctx.signal, traceparent: ctx.traceparent });
    }
    return this.call(on ? on.method : ctx.method, params, ctx, on?.node);
  };

  call(method: string, params: unknown, ctx: HandlerContext, target: string | undefined): Promise<unknown> {
    if (!SUBJECT.test(method)) return Promise.reject(new InvalidParamsError(`'${method}' cannot cross to another node: a method name there is dot-separated words without spaces, * or >`, { method }));
    const id = (++this.#seq).toString(36);
    const body: CallBody = { i: id, m: method, t: Math.max(1, Math.floor(ctx.remainingMs())), c: ctx.peer, n: this.node.settings.node, r: [method] };
    if (params !== undefined) body.p = params;
    if (ctx.traceparent) body.tp = ctx.traceparent;
    if (ctx.operator) body.o = 1;
    let bytes: Uint8Array;
    try {
      bytes = encode(body);
    } catch (err) {
      return Promise.reject(new InvalidParamsError(`the params of '${method}' cannot cross to another node: ${(err as Error).message}`, { method }));
    }
    if (bytes.length > this.node.maxFrameBytes) {
      return Promise.reject(new MessageTooLargeError(`'${method}': the request is ${bytes.length} bytes, over the ${this.node.maxFrameBytes}-byte frame limit (maxFrameBytes)`, { method, bytes: bytes.length }));
    }
    return new Promise((resolve, reject) => {
      const p: Pending = { id, method, body: bytes, target, pinned: target !== undefined, node: undefined, sentAt: performance.now(), tries: 0, deadline: ctx.deadline, resolve, reject };
      this.#pending.set(id, p);
      if (ctx.done) return this.#abandon(p);
      ctx.signal.addEventListener('abort', () => this.#abandon(p), { once: true });
      this.#send(p);
    });
  }

  #send(p: Pending): void {
    const { nc, settings } = this.node;
    p.sentAt = performance.now();
    const reply = this.#replyPrefix + p.id;
    const limit = this.node.chunkBytes();
    if (p.body.length <= limit) {
      const subject = p.target ? `${settings.prefix}.node.${p.target}.call.${p.method}` : `${settings.prefix}.call.${p.method}`;
      nc.publish(subject, p.body, { reply });
      return;
    }
    // Chunks must all reach one node: a queue group would deal them out. Pick a provider by name.
    if (!p.target) {
      const known = this.#providers.get(p.method);
      if (!known?.length) {
        void this.#want(p.method, p.deadline).then((serving) => {
          if (!this.#pending.has(p.id)) return;
          if (serving.length === 0) return this.#settle(p, undefined, new MethodNotFoundError(p.method));
          this.#send(p);
        });
        return;
      }
      p.target = known[this.#roundRobin++ % known.length];
    }
    const subject = `${settings.prefix}.node.${p.target}.call.${p.method}`;
    const parts = chunks(p.body, limit);
    const stream = `${settings.node}.${this.node.nonce}.${p.id}`;
    parts.forEach((part, seq) => {
      const h = this.node.headers();
      h.set('Sym-Chunk', `${seq}/${parts.length}`);
      h.set('Sym-Stream', stream);
      nc.publish(subject, part, { reply, headers: h });
    });
  }

  #onReply(m: Msg): void {
    const id = m.subject.slice(this.#replyPrefix.length);
    if (id.startsWith('W')) return this.#onWant(id, m);
    const p = this.#pending.get(id);
    if (!p) return;
    let data = m.data;
    const h = m.headers;
    if (h) {
      if (h.code === 503) return this.#nobody(p);
      const chunk = h.get('Sym-Chunk');
      if (chunk) {
        const [seq, count] = chunk.split('/').map(Number);
        const whole = this.#reassembly.add(`r/${id}`, seq!, count!, data);
        if (whole === undefined) return;
        if (whole === 'too-large') return this.#settle(p, undefined, new MessageTooLargeError(`the answer of '${p.method}' is over the frame limit`, { method: p.method }));
        data = whole;
      }
    }
    let body: ReplyBody;
    try {
      body = decode<ReplyBody>(data);
    } catch {
      return this.#settle(p, undefined, new PeerGoneError(`'${p.method}': the answer from another node was not JSON`, { method: p.method }));
    }
    if (body.a !== undefined) {
      p.node = String(body.a);
      return;
    }
    if (body.z) return this.#nobody(p, true);
    if (body.e) this.#settle(p, undefined, fromWire(body.e));
    else this.#settle(p, body.r);
  }

  /** Nobody subscribed to the method (or the one picked no longer serves it): ask who does, then send it again. */
  #nobody(p: Pending, notHere = false): void {
    if (p.pinned) {
      if (notHere) {
        const e = new MethodNotFoundError(p.method);
        e.message = `'${p.method}' is not served on node '${p.target}'`;
        return this.#settle(p, undefined, e);
      }
      return this.#settle(p, undefined, new PeerGoneError(`node '${p.target}' is not in the cluster (nodes: ${[this.node.settings.node, ...this.node.members.others()].join(', ')})`, { method: p.method, node: p.target }));
    }
    this.#forget(p.method, p.target);
    p.target = undefined;
    if (p.tries >= 2) return this.#settle(p, undefined, new MethodNotFoundError(p.method));
    p.tries++;
    void this.#want(p.method, p.deadline).then((serving) => {
      if (!this.#pending.has(p.id)) return;
      if (serving.length === 0) return this.#settle(p, undefined, new MethodNotFoundError(p.method));
      this.#send(p);
    });
  }

  /** Asks every node whether it serves `method`; resolves with those that do, once all live nodes answered (or shortly). */
  #want(method: string, deadline: number): Promise<string[]> {
    const expected = this.node.members.others().length;
    this.node.server.want(method);
    return new Promise((resolve) => {
      // Upper case: a call's id (base 36) never has one.
      const id = `W${(++this.#seq).toString(36)}`;
      const wait = Math.max(10, Math.min(deadline - performance.now(), Math.max(100, this.node.settings.heartbeatMs * 2)));
      const timer = setTimeout(() => want.done([...want.serving]), wait);
      const want: Want = {
        expected,
        serving: new Set(),
        answers: 0,
        done: (serving) => {
          clearTimeout(timer);
          this.#wants.delete(id);
          if (serving.length) this.#providers.set(method, serving);
          resolve(serving);
        },
      };
      this.#wants.set(id, want);
      this.node.nc.publish(`${this.node.settings.prefix}.want.${method}`, encode({ n: this.node.settings.node }), { reply: this.#replyPrefix + id });
    });
  }

  #onWant(id: string, m: Msg): void {
    const want = this.#wants.get(id);
    if (!want || m.headers?.code === 503) return want?.done([]);
    try {
      const a = decode<{ n: string; s: 0 | 1 }>(m.data);
      want.answers++;
      if (a.s) want.serving.add(a.n);
    } catch {
      return;
    }
    // Every node answered: no need to wait longer (the usual case: no timer spent).
    if (want.answers >= want.expected) want.done([...want.serving]);
  }

  #forget(method: string, node: string | undefined): void {
    if (!node) return void this.#providers.delete(method);
    const known = this.#providers.get(method);
    if (known) this.#providers.set(method, known.filter((n) => n !== node));
  }

  #settle(p: Pending, value: unknown, error?: Error): void {
    if (!this.#pending.delete(p.id)) return;
    if (error) p.reject(error);
    else p.resolve(value);
  }

  /** The caller gave up (cancelled, past its deadline, gone): the serving node is told, so its handler stops. */
  #abandon(p: Pending): void {
    if (!this.#pending.delete(p.id)) return;
    const { nc, settings } = this.node;
    if (!nc.isClosed()) nc.publish(`${settings.prefix}.cancel`, encode({ n: settings.node, i: p.id }));
  }

  /** A node is gone: what it acknowledged fails -32004 at once, and so does what no node acknowledged before (it may have been lost with it). */
  nodeLeft(name: string, reason: string): void {
    const now = performance.now();
    const grace = this.node.settings.heartbeatMs;
    for (const p of [...this.#pending.values()]) {
      if (p.node === name || (p.node === undefined && (p.target === name || now - p.sentAt > grace))) {
        const how = p.node === name ? 'running there' : 'not acknowledged by any node';
        this.#settle(p, undefined, new PeerGoneError(`node '${name}' left (${reason}) with '${p.method}' unanswered (${how})`, { method: p.method, node: name }));
      }
    }
    for (const [method, nodes] of this.#providers) this.#providers.set(method, nodes.filter((n) => n !== name));
  }

  /** This node's connection to NATS dropped: answers sent to it meanwhile are lost, so everything pending fails -32004 now. */
  connectionLost(why: string): void {
    for (const p of [...this.#pending.values()]) this.#settle(p, undefined, new PeerGoneError(`the connection to NATS was lost (${why}) with '${p.method}' unanswered`, { method: p.method }));
  }

  stop(reason: string): void {
    for (const p of [...this.#pending.values()]) this.#settle(p, undefined, new PeerGoneError(`node '${this.node.settings.node}' left the cluster (${reason}) with '${p.method}' unanswered`, { method: p.method }));
    this.#sub?.unsubscribe();
  }
}
