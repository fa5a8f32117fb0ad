import type { Subscription as NatsSubscription } from '@nats-io/transport-node';
import type { Subscription } from '../bus/index.js';
import { decode, encode } from './wire.js';
import type { ClusterNode } from './node.js';

interface EventBody {
  /** The publisher's identity on its node. */
  f: string;
  n: string;
  d?: unknown;
}

/**
 * Pub/sub across nodes: every event published on this node's bus (the publisher's rights were
 * checked there) goes out as `PREFIX.ev.TOPIC`; every event from another node is published on this
 * bus by PUBLISHER@NODE, so local subscribers' patterns (`*`, `>`) match it as they match a local
 * one, and it is not sent back out. An event larger than the servers' max_payload stays on its node
 * (counted and logged): events are not chunked.
 */
export class Topics {
  sent = 0;
  received = 0;
  tooLarge = 0;
  #local: Subscription | undefined;
  #remote: NatsSubscription | undefined;
  #lastWarning = 0;

  constructor(readonly node: ClusterNode) {}

  start(): void {
    const { nc, settings, ep, server } = this.node;
    const prefix = `${settings.prefix}.ev.`;
    this.#local = ep.subscribe(
      '>',
      (data, { topic, from }) => {
        if (from === ep.name || server.isRemote(from) || nc.isClosed()) return;
        let bytes: Uint8Array;
        try {
          bytes = encode({ f: from, n: settings.node, d: data } satisfies EventBody);
        } catch {
          return;
        }
        if (bytes.length > this.node.chunkBytes()) {
          this.tooLarge++;
          const now = Date.now();
          if (now - this.#lastWarning > 1000) {
            this.#lastWarning = now;
            this.node.log.warn(`event '${topic}' (${bytes.length} bytes) is larger than NATS's max_payload: it stays on this node`);
          }
          return;
        }
        this.sent++;
        nc.publish(prefix + topic, bytes);
      },
      { queue: 65_536, policy: 'drop-oldest' },
    );
    this.#remote = nc.subscribe(`${prefix}>`, {
      callback: (_e, m) => {
        let body: EventBody;
        try {
          body = decode<EventBody>(m.data);
        } catch {
          return;
        }
        if (!body || typeof body.f !== 'string' || typeof body.n !== 'string' || body.n === settings.node) return;
        this.received++;
        try {
          server.endpointFor(`${body.f}@${body.n}`).publish(m.subject.slice(prefix.length), body.d);
        } catch {
          // a topic this bus refuses (not a subject) is dropped
        }
      },
    });
  }

  stop(): void {
    this.#local?.unsubscribe();
    this.#remote?.unsubscribe();
  }
}
