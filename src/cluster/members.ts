import { hostname } from 'node:os';
import type { Msg, Subscription } from '@nats-io/transport-node';
import { decode, encode, type Heartbeat } from './wire.js';
import type { ClusterNode } from './node.js';

export interface Member {
  readonly hb: Heartbeat;
  /** performance.now() of its last heartbeat. */
  lastSeen: number;
}

/** Two nodes under one name: the newer is refused, naming both. */
export class DuplicateNodeError extends Error {
  override name = 'DuplicateNodeError';
}

export function describeNode(hb: Heartbeat): string {
  return `node '${hb.node}' (pid ${hb.pid} on ${hb.host}, joined ${new Date(hb.since).toISOString()})`;
}

/**
 * Who is in the cluster: every node publishes a heartbeat each interval; one silent for four
 * intervals (or that says it leaves) is gone, and what was pending on it fails at once. While this
 * node's own connection is down, nobody is declared gone (the silence is ours).
 */
export class Members {
  readonly nodes = new Map<string, Member>();
  readonly self: Heartbeat;
  #timer: NodeJS.Timeout | undefined;
  #subs: Subscription[] = [];
  #suspended = false;

  constructor(readonly node: ClusterNode) {
    this.self = { node: node.settings.node, nonce: node.nonce, since: Date.now(), pid: process.pid, host: hostname() };
  }

  /** Before joining: a live node with this name answers `PREFIX.name.NODE`, and the boot is refused naming both. */
  async claimName(timeoutMs: number): Promise<void> {
    const { nc, settings } = this.node;
    const subject = `${settings.prefix}.name.${settings.node}`;
    let other: Heartbeat | undefined;
    try {
      // The answer comes back on this node's own reply subject: a node's permissions are its prefix only (no _INBOX).
      const reply = `${settings.prefix}.reply.${settings.node}.${this.node.nonce}.name`;
      other = decode<Heartbeat>((await nc.request(subject, encode(this.self), { timeout: Math.max(100, timeoutMs), noMux: true, reply })).data);
    } catch {
      other = undefined; // nobody answers: the name is free (no responders), or nobody could say (a timeout)
    }
    if (other && other.nonce !== this.self.nonce) {
      throw new DuplicateNodeError(`cluster: the node name '${settings.node}' is taken: ${describeNode(other)} is live; this kernel (pid ${this.self.pid} on ${this.self.host}) is refused: give each node its own cluster.node`);
    }
    this.#subs.push(
      nc.subscribe(subject, {
        callback: (_err, msg) => {
          if (!msg.reply) return;
          try {
            const asker = decode<Heartbeat>(msg.data);
            this.node.log.warn(`refused a second node named '${settings.node}': ${describeNode({ ...asker, since: asker.since })} asked to join under this node's name`);
          } catch {
            // an answer is due even to a malformed question
          }
          msg.respond(encode(this.self));
        },
      }),
    );
  }

  start(): void {
    const { nc, settings } = this.node;
    this.#subs.push(nc.subscribe(`${settings.prefix}.hb`, { callback: (_e, m) => this.#onHeartbeat(m) }));
    this.#subs.push(
      nc.subscribe(`${settings.prefix}.leave`, {
        callback: (_e, m) => {
          const hb = this.#parse(m);
          const member = hb && this.nodes.get(hb.node);
          if (member && member.hb.nonce === hb.nonce) this.#left(hb.node, 'it left the cluster');
        },
      }),
    );
    this.#beat();
    this.#timer = setInterval(() => {
      this.#beat();
      this.#check();
    }, settings.heartbeatMs);
    this.#timer.unref();
  }

  /** Names of the other nodes alive now. */
  others(): string[] {
    return [...this.nodes.keys()];
  }

  /** Our connection is down: silence is not death until it is back. */
  suspend(): void {
    this.#suspended = true;
  }

  resume(): void {
    this.#suspended = false;
    const now = performance.now();
    for (const m of this.nodes.values()) m.lastSeen = now;
    this.#beat();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    const { nc, settings } = this.node;
    if (!nc.isClosed()) nc.publish(`${settings.prefix}.leave`, encode(this.self));
    for (const s of this.#subs) s.unsubscribe();
    this.#subs = [];
  }

  #beat(): void {
    const { nc, settings } = this.node;
    if (!nc.isClosed()) nc.publish(`${settings.prefix}.hb`, encode(this.self));
  }

  #check(): void {
    if (this.#suspended) return;
    const limit = this.node.settings.heartbeatMs * 4;
    const now = performance.now();
    for (const [name, m] of this.nodes) if (now - m.lastSeen > limit) this.#left(name, `no heartbeat for ${Math.round(now - m.lastSeen)}ms`);
  }

  #parse(m: Msg): Heartbeat | undefined {
    try {
      const hb = decode<Heartbeat>(m.data);
      return hb && typeof hb.node === 'string' && typeof hb.nonce === 'string' && typeof hb.since === 'number' ? hb : undefined;
    } catch {
      return undefined;
    }
  }

  #onHeartbeat(m: Msg): void {
    const hb = this.#parse(m);
    if (!hb) return;
    if (hb.node === this.self.node) {
      if (hb.nonce !== this.self.nonce) this.#twin(hb);
      return;
    }
    const member = this.nodes.get(hb.node);
    if (member && member.hb.nonce === hb.nonce) {
      member.lastSeen = performance.now();
      return;
    }
    if (member) this.#left(hb.node, 'it restarted');
    this.nodes.set(hb.node, { hb, lastSeen: performance.now() });
    this.node.joined(hb);
  }

  /** Another process under our name (both booted at once, so neither was refused at boot): the newer one goes. */
  #twin(other: Heartbeat): void {
    const weAreNewer = other.since < this.self.since || (other.since === this.self.since && other.nonce < this.self.nonce);
    const both = `${describeNode(other)} and ${describeNode(this.self)}`;
    if (weAreNewer) this.node.refused(new DuplicateNodeError(`cluster: two nodes are named '${this.self.node}': ${both}; this one, the newer, leaves: give each node its own cluster.node`));
    else this.node.log.warn(`two nodes are named '${this.self.node}': ${both}; the newer one (pid ${other.pid} on ${other.host}) is refused`);
  }

  #left(name: string, reason: string): void {
    const member = this.nodes.get(name);
    if (!member) return;
    this.nodes.delete(name);
    this.node.left(member.hb, reason);
  }
}
