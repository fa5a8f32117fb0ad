import { randomBytes } from 'node:crypto';
import type { NatsConnection, MsgHdrs } from '@nats-io/transport-node';
import type { Logger } from '../bootstrap/index.js';
import type { Bus, BusEndpoint, HandlerContext, Registration } from '../bus/index.js';
import { ForbiddenError } from '../bus/index.js';
import { Forwarder } from './forward.js';
import { describeNode, Members } from './members.js';
import { Server } from './serve.js';
import { Topics } from './topics.js';
import type { ResolvedSettings } from './settings.js';
import type { Heartbeat } from './wire.js';

/** What the NATS client module gives this part (loaded only when a config has `cluster:`). */
export interface NatsModule {
  connect: typeof import('@nats-io/transport-node').connect;
  headers: typeof import('@nats-io/transport-node').headers;
  nkeyAuthenticator: typeof import('@nats-io/transport-node').nkeyAuthenticator;
}

export interface NodeInfo {
  node: string;
  self: boolean;
  pid: number;
  host: string;
  since: string;
  /** Milliseconds since its last heartbeat (0 for this node). */
  lastSeenMs: number;
}

/** `cluster.ps`: every node's `system.ps`, or why it could not be had. */
export interface ClusterPs {
  nodes: ({ node: string } & ({ system: unknown; components: unknown[] } | { error: { code: number; message: string } }))[];
}

/**
 * This kernel as a node of a cluster: its NATS connection, the other nodes (heartbeats), the
 * forwarder (calls it does not serve go to the node that does), the server (calls other nodes
 * send here), events both ways, and the cluster's own methods (`cluster.nodes`, `cluster.ps`).
 */
export class ClusterNode {
  readonly nonce = randomBytes(8).toString('hex');
  readonly members: Members;
  readonly forwarder: Forwarder;
  readonly server: Server;
  readonly topics: Topics;
  readonly maxFrameBytes: number;
  readonly ep: BusEndpoint;
  #catchAll: Registration | undefined;
  #own: Registration[] = [];
  #tick: NodeJS.Timeout | undefined;
  #stopped = false;
  #connected = true;

  constructor(
    readonly bus: Bus,
    readonly nc: NatsConnection,
    readonly settings: ResolvedSettings,
    readonly nats: NatsModule,
    readonly log: Logger,
    readonly fail: (error: Error) => void,
    endpointName: string,
  ) {
    this.maxFrameBytes = bus.maxFrameBytes;
    this.ep = bus.endpoint(endpointName);
    this.members = new Members(this);
    this.forwarder = new Forwarder(this);
    this.server = new Server(this);
    this.topics = new Topics(this);
  }

  /** The largest body one NATS message carries here (the server's max_payload, less room for headers). */
  chunkBytes(): number {
    return Math.max(1024, (this.nc.info?.max_payload ?? 1024 * 1024) - 4096);
  }

  headers(): MsgHdrs {
    return this.nats.headers();
  }

  /** Joins: refuses a taken name, then serves, forwards, beats and bridges events. */
  async join(timeoutMs: number): Promise<void> {
    await this.members.claimName(Math.min(timeoutMs, Math.max(250, this.settings.heartbeatMs * 2)));
    this.forwarder.start();
    this.server.start();
    this.members.start();
    this.topics.start();
    this.#serveOwn();
    this.#catchAll = this.ep.handle('>', this.forwarder.handler);
    await this.server.learnWanted(Math.max(250, this.settings.heartbeatMs * 2));
    this.#tick = setInterval(() => this.server.tick(), this.settings.heartbeatMs);
    this.#tick.unref();
    await this.nc.flush();
    void this.#watch();
  }

  /**
   * Whether the local bus serves each method (a provider, a reservation, a held restart) other than
   * through this node's forwarder: its `>` route is lifted for the question and put back at once
   * (synchronously: no call can be routed in between).
   */
  servesLocally(methods: readonly string[]): boolean[] {
    if (this.#stopped) return methods.map(() => false);
    this.#catchAll?.unregister();
    try {
      return methods.map((m) => this.bus.serves(m));
    } finally {
      this.#catchAll = this.ep.handle('>', this.forwarder.handler);
    }
  }

  joined(hb: Heartbeat): void {
    this.log.info(`node '${hb.node}' joined (pid ${hb.pid} on ${hb.host})`);
    this.#publish('cluster.joined', { node: hb.node, pid: hb.pid, host: hb.host, since: new Date(hb.since).toISOString() });
  }

  left(hb: Heartbeat, reason: string): void {
    this.log.info(`node '${hb.node}' left: ${reason}`);
    this.forwarder.nodeLeft(hb.node, reason);
    this.server.nodeLeft(hb.node);
    this.#publish('cluster.left', { node: hb.node, reason });
  }

  /** This node may not stay (another one owns its name): it leaves, and its component fails. */
  refused(error: Error): void {
    this.log.error(error.message);
    void this.leave(error.message).finally(() => this.fail(error));
  }

  nodes(): NodeInfo[] {
    const now = performance.now();
    const self = this.members.self;
    const out: NodeInfo[] = [{ node: self.node, self: true, pid: self.pid, host: self.host, since: new Date(self.since).toISOString(), lastSeenMs: 0 }];
    for (const [name, m] of this.members.nodes) out.push({ node: name, self: false, pid: m.hb.pid, host: m.hb.host, since: new Date(m.hb.since).toISOString(), lastSeenMs: Math.round(now - m.lastSeen) });
    return out.sort((a, b) => a.node.localeCompare(b.node));
  }

  health(): { status: 'healthy' | 'degraded'; detail: Record<string, unknown> } {
    const detail = {
      node: this.settings.node,
      server: this.#connected ? this.nc.getServer() : null,
      nodes: [this.settings.node, ...this.members.others()].sort(),
      announced: this.server.announced().length,
      pending: this.forwarder.pending,
      serving: this.server.inflight,
      denied: this.server.denied,
    };
    return { status: this.#connected ? 'healthy' : 'degraded', detail };
  }

  #serveOwn(): void {
    const ep = this.ep;
    this.#own.push(ep.handle('cluster.nodes', () => this.nodes()));
    this.#own.push(ep.handle('cluster.ps', (_p: unknown, ctx: HandlerContext) => this.#ps(ctx)));
    this.#own.push(ep.handle('cluster.status', () => ({ ...this.health().detail, stats: { served: this.server.served, eventsSent: this.topics.sent, eventsReceived: this.topics.received, eventsTooLarge: this.topics.tooLarge } })));
  }

  /** Every node's `system.ps`: the operator's, as `system.ps` is on each node. */
  async #ps(ctx: HandlerContext): Promise<ClusterPs> {
    if (!ctx.operator) throw new ForbiddenError(`'cluster.ps' is the operator's: '${ctx.peer}' does not hold the operator's token`, { method: 'cluster.ps', peer: ctx.peer });
    const names = [this.settings.node, ...this.members.others()].sort();
    const timeout = Math.max(1, Math.min(ctx.remainingMs() - 50, 5000));
    const nodes = await Promise.all(
      names.map(async (node) => {
        try {
          const r = (await this.bus.request(`cluster.on.${node}.system.ps`, {}, { timeout, traceparent: ctx.traceparent })) as { system: unknown; components: unknown[] };
          return { node, system: r.system, components: r.components };
        } catch (err) {
          const e = err as { code?: number; message?: string };
          return { node, error: { code: typeof e.code === 'number' ? e.code : -32603, message: String(e.message ?? err) } };
        }
      }),
    );
    return { nodes };
  }

  #publish(topic: string, data: unknown): void {
    try {
      this.ep.publish(topic, data);
    } catch {
      // an event nobody may hear is not worth failing over
    }
  }

  /** The connection's ups and downs: a drop fails what is pending (answers to it are lost) and pauses the death watch. */
  async #watch(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (this.#stopped) return;
      if (s.type === 'disconnect') {
        this.#connected = false;
        this.members.suspend();
        this.forwarder.connectionLost(`server ${String((s as { server?: string }).server ?? '?')} lost`);
        this.log.warn(`lost the NATS server ${String((s as { server?: string }).server ?? '')}: reconnecting to another of ${this.settings.servers.join(', ')}`);
      } else if (s.type === 'reconnect') {
        this.#connected = true;
        this.members.resume();
        this.log.info(`reconnected to NATS at ${this.nc.getServer()}`);
      }
    }
  }

  /** Leaves the cluster: the others are told (not left to notice the silence), calls pending here fail -32004. */
  async leave(reason: string): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#tick);
    this.#catchAll?.unregister();
    for (const r of this.#own) r.unregister();
    this.topics.stop();
    await this.members.stop();
    this.server.stop(reason);
    this.forwarder.stop(reason);
    this.ep.stop(reason);
    try {
      await this.nc.flush();
    } catch {
      // the connection may be gone already
    }
    await this.nc.close().catch(() => {});
  }

  describe(): string {
    return describeNode(this.members.self);
  }
}
