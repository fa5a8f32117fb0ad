/**
 * The peer protocol: a connection's session wired to the bus (its requests, notifications,
 * batches, protocol errors, flow control, output bound), and the `symphony.*` methods a peer
 * calls after hello (ping, register, subscribe, publish, ready, ...).
 */
import { PeerConnection } from './connection.js';
import type { BusCore } from './core.js';
import { Endpoint } from './endpoint.js';
import { BusError, InvalidParamsError, MethodNotFoundError, UnauthorizedError } from './errors.js';
import type { Handshake } from './handshake.js';
import { ALL_GRANTS } from './rights.js';
import { RpcSession, type IncomingRequest } from './session.js';
import type { MessageTransport } from './transport.js';

export class PeerProtocol {
  readonly #core: BusCore;
  readonly #handshake: Handshake;
  constructor(core: BusCore, handshake: Handshake) {
    this.#core = core;
    this.#handshake = handshake;
  }

  /**
   * Serves a connection: the peer must say `symphony.hello` with a valid token first. Returns a
   * handle to wait for its readiness (`symphony.ready`) or to close it.
   */
  attach(transport: MessageTransport, options: { label?: string; boundedHello?: boolean } = {}): PeerConnection {
    const core = this.#core;
    const { defaultTimeoutMs, maxOutputBytes, maxInFlight } = core.limits;
    const ep = new Endpoint(options.label ?? 'unauthenticated peer', ALL_GRANTS, 'remote');
    ep.state = 'hello';
    const session = new RpcSession(transport, { wheel: core.wheel, defaultTimeoutMs, peerName: ep.name });
    ep.session = session;
    core.connections.add(ep);
    if (options.boundedHello) this.#handshake.bound(ep);
    session.onBatch = () => {
      if (ep.state !== 'hello') return true;
      core.events.deny(ep, 'hello', 'a batch before hello');
      session.notify('symphony.error', new UnauthorizedError('a batch before symphony.hello: say hello with a token first, alone').toJSON());
      session.close('unauthorized: a batch before hello');
      return false;
    };
    const closed = new Promise<string>((resolve) => {
      session.onClose = (reason) => {
        core.drop(ep, reason);
        resolve(reason);
      };
    });
    session.onRequest = (req) => this.#onRequest(ep, req);
    session.onNotification = (method, params) => this.#onNotification(ep, method, params);
    session.onProtocolError = (detail) => core.events.protocolError(ep.name, detail);
    // Checked by the transport as it writes, so one burst cannot queue more than about maxOutputBytes.
    transport.limitOutput?.(maxOutputBytes, (bytes) => this.slowConsumer(ep, `disconnected: ${bytes} bytes unsent (maxOutputBytes ${maxOutputBytes})`));
    session.onInflight = (n) => {
      if (!ep.paused && n >= maxInFlight) {
        ep.paused = true;
        transport.pause();
      } else if (ep.paused && n <= maxInFlight >> 1) {
        ep.paused = false;
        transport.resume();
      }
    };
    return (ep.connection = new PeerConnection(ep, closed, (reason) => session.close(reason)));
  }

  /** A peer that does not read its output: disconnected (calls pending to it fail with -32004, its own are cancelled). */
  slowConsumer(ep: Endpoint, detail: string): void {
    const session = ep.session!;
    if (session.closed) return;
    const events = this.#core.events;
    events.slowConsumers++;
    events.emit({ type: 'slow-consumer', peer: ep.name, detail });
    session.close('it stopped reading (slow consumer)');
  }

  #onRequest(ep: Endpoint, req: IncomingRequest): void {
    if (ep.state === 'hello') return this.#handshake.hello(ep, req);
    if (req.method.startsWith('symphony.')) return this.#protocolRequest(ep, req);
    this.#core.calls.fromPeer(ep, req);
  }

  #protocolRequest(ep: Endpoint, req: IncomingRequest): void {
    const core = this.#core;
    const session = ep.session!;
    const p = (req.params ?? {}) as Record<string, unknown>;
    try {
      switch (req.method) {
        case 'symphony.ping':
          return session.respond(req, {});
        case 'symphony.hello':
          throw new InvalidParamsError('already said hello');
        case 'symphony.register':
        case 'symphony.unregister': {
          const methods = p.methods;
          if (!Array.isArray(methods) || !methods.every((m) => typeof m === 'string')) throw new InvalidParamsError(`${req.method} needs { methods: [string, …] }`);
          if (req.method === 'symphony.register') for (const m of methods as string[]) core.calls.serve(ep, m, undefined);
          else for (const r of [...ep.routes]) if ((methods as string[]).includes(r.method)) core.routes.remove(r);
          return session.respond(req, { methods });
        }
        case 'symphony.subscribe': {
          if (typeof p.pattern !== 'string') throw new InvalidParamsError('symphony.subscribe needs { pattern }');
          if ([...ep.subscriptions].some((s) => s.pattern === p.pattern)) return session.respond(req, {});
          core.pubsub.subscribe(ep, p.pattern, undefined);
          return session.respond(req, {});
        }
        case 'symphony.unsubscribe': {
          for (const s of [...ep.subscriptions]) if (s.pattern === p.pattern) core.pubsub.unsubscribe(s);
          return session.respond(req, {});
        }
        case 'symphony.publish': {
          if (typeof p.topic !== 'string') throw new InvalidParamsError('symphony.publish needs { topic, data }');
          core.pubsub.publish(ep, p.topic, p.data);
          return session.respond(req, {});
        }
        case 'symphony.ready':
          this.#markReady(ep);
          return session.respond(req, {});
        default:
          throw new MethodNotFoundError(req.method);
      }
    } catch (err) {
      session.respondError(req, err instanceof BusError ? err : new InvalidParamsError(err instanceof Error ? err.message : String(err)));
    }
  }

  #onNotification(ep: Endpoint, method: string, params: unknown): void {
    const core = this.#core;
    if (ep.state === 'hello') {
      core.events.deny(ep, 'hello', `notification '${method}' before hello`);
      ep.session!.notify('symphony.error', new UnauthorizedError().toJSON());
      return ep.session!.close('unauthorized: notification before hello');
    }
    try {
      if (method === 'symphony.ready') return this.#markReady(ep);
      if (method === 'symphony.publish') {
        const p = params as { topic?: unknown; data?: unknown } | undefined;
        if (typeof p?.topic !== 'string') throw new InvalidParamsError('symphony.publish needs { topic, data }');
        return core.pubsub.publish(ep, p.topic, p.data);
      }
      if (method.startsWith('symphony.')) return;
      core.calls.notify(ep, method, params);
    } catch (err) {
      // A notification has no answer: tell the peer what went wrong without closing it.
      const e = err instanceof BusError ? err : new InvalidParamsError(err instanceof Error ? err.message : String(err));
      ep.session!.notify('symphony.error', e.toJSON());
    }
  }

  #markReady(ep: Endpoint): void {
    if (ep.state !== 'open') return;
    ep.state = 'ready';
    this.#core.activation.back(ep.name);
    for (const w of ep.readyWaiters.splice(0)) w();
    this.#core.events.emit({ type: 'peer', peer: ep.name, state: 'ready' });
  }
}
