/**
 * The handshake: a connection must say `symphony.hello` with a token the kernel issued before
 * anything else; its identity and rights come from the token, never from the name it claims. A
 * socket connection has helloTimeout to say it, and at most maxPendingHellos wait at once.
 */
import type { PeerConnection } from './connection.js';
import type { BusCore } from './core.js';
import type { Endpoint } from './endpoint.js';
import { OverloadedError, UnauthorizedError } from './errors.js';
import type { IncomingRequest } from './session.js';

export class Handshake {
  /** Socket connections not past hello yet, oldest first. */
  readonly #pending = new Set<Endpoint>();
  /** Who waits for the peer that says hello as a name (connectionFor). */
  readonly #awaiting = new Map<string, ((c: PeerConnection) => void)[]>();
  readonly #core: BusCore;
  constructor(core: BusCore) {
    this.#core = core;
  }

  /**
   * A socket connection must say hello within helloTimeout, and at most maxPendingHellos may be
   * waiting to: one more closes the oldest (a peer that means to talk says hello in its first
   * write; holding the slots open costs an attacker a connection each, and frees them for others).
   */
  bound(ep: Endpoint): void {
    const { maxPendingHellos, helloTimeoutMs } = this.#core.limits;
    if (this.#pending.size >= maxPendingHellos) {
      for (const oldest of this.#pending) {
        this.unbound(oldest);
        oldest.session?.notify('symphony.error', new OverloadedError(`more than ${maxPendingHellos} connections waiting to say hello (maxPendingHellos): the oldest is closed`).toJSON());
        oldest.session?.close(`closed before hello: more than ${maxPendingHellos} connections waiting to say hello`);
        break;
      }
    }
    this.#pending.add(ep);
    ep.helloTimer = setTimeout(() => {
      ep.helloTimer = undefined;
      this.#pending.delete(ep);
      if (ep.state !== 'hello') return;
      ep.session?.notify('symphony.error', new UnauthorizedError(`no symphony.hello within ${helloTimeoutMs}ms (helloTimeout)`).toJSON());
      ep.session?.close('no hello in time');
    }, helloTimeoutMs);
    ep.helloTimer.unref?.();
  }

  /** Past hello, or gone: no longer counted or timed. */
  unbound(ep: Endpoint): void {
    this.#pending.delete(ep);
    if (ep.helloTimer) clearTimeout(ep.helloTimer);
    ep.helloTimer = undefined;
  }

  /** The connection of the peer that says hello as `name` (a socket peer the kernel spawned). */
  connectionFor(name: string): Promise<PeerConnection> {
    const ep = this.#core.endpoints.get(name);
    if (ep?.connection) return Promise.resolve(ep.connection);
    return new Promise((resolve) => {
      const waiters = this.#awaiting.get(name) ?? [];
      waiters.push(resolve);
      this.#awaiting.set(name, waiters);
    });
  }

  /**
   * The first request of a connection: `symphony.hello { protocol: 1, token }`, or it is refused
   * -32001 and closed. The operator's token names the peer as it claims (made unique); any other
   * token is one identity, one live connection (a newer token for it is its successor).
   */
  hello(ep: Endpoint, req: IncomingRequest): void {
    const core = this.#core;
    const session = ep.session!;
    const p = req.params as { protocol?: unknown; peer?: unknown; token?: unknown; framing?: unknown } | undefined;
    const refuse = (why: string) => {
      core.events.deny(ep, 'hello', why);
      session.respondError(req, new UnauthorizedError(why));
      setImmediate(() => session.close(`unauthorized: ${why}`));
    };
    if (req.method !== 'symphony.hello') return refuse(`'${req.method}' before symphony.hello: say hello with a token first`);
    if (p?.protocol !== 1) return refuse(`unsupported protocol ${JSON.stringify(p?.protocol)} (this bus speaks 1)`);
    const identity = typeof p.token === 'string' ? core.tokens.authenticate(p.token) : undefined;
    if (!identity) return refuse('bad token');
    const claimed = typeof p.peer === 'string' && p.peer ? p.peer : 'peer';
    let name = identity.name;
    if (identity.operator) {
      name = claimed;
      for (let i = 2; core.endpoints.has(name); i++) name = `${claimed}#${i}`;
    } else if (core.endpoints.has(name)) {
      // The same token twice is a replay. A newer token the kernel issued for the same identity is
      // its successor (a restart or a swap): it takes the name; the old one serves until it is gone.
      const current = core.endpoints.get(name)!;
      if (current.identity === identity || current.identity === undefined) return refuse(`'${name}' is already connected`);
      current.superseded = true;
    }
    ep.identity = identity;
    ep.name = name;
    ep.grants = identity.grants;
    ep.state = 'open';
    this.unbound(ep);
    session.peerName = name;
    core.endpoints.set(name, ep);
    const { maxFrameBytes, heartbeatMs, maxInFlight } = core.limits;
    const framing = p.framing === 'content-length' ? 'content-length' : (session.transport.framing ?? 'ndjson');
    session.respond(req, { protocol: 1, peer: name, framing, maxFrameBytes, heartbeatMs, maxInFlight });
    if (framing !== session.transport.framing && session.transport.setFraming) {
      const t = session.transport;
      process.nextTick(() => t.setFraming!(framing)); // after the hello answer has been framed the old way
    }
    core.events.emit({ type: 'peer', peer: name, state: 'connected' });
    const waiters = this.#awaiting.get(name);
    if (waiters) {
      this.#awaiting.delete(name);
      for (const w of waiters) w(ep.connection!);
    }
  }
}
