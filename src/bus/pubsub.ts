/**
 * Pub/sub: subscriptions by pattern (`*` one segment, `>` the rest), a publish delivered once per
 * subscriber, in-process listeners fed from bounded queues in order (async ones awaited), peers
 * sent `symphony.event` unless they stopped reading.
 */
import type { EventListener, SlowConsumerPolicy, SubscribeOptions, Subscription } from './api.js';
import type { BusCore } from './core.js';
import type { Endpoint } from './endpoint.js';
import { ForbiddenError } from './errors.js';
import { assertPattern, assertSubject, SubjectIndex } from './subjects.js';

/** Past this much unsent output, a peer's events are dropped (it is not reading). */
const EVENT_HIGH_WATER = 1024 * 1024;

export class Sub {
  readonly queue: [topic: string, data: unknown, from: string][] = [];
  dropped = 0;
  draining = false;
  closed = false;
  constructor(
    readonly pattern: string,
    readonly endpoint: Endpoint,
    readonly listener: EventListener | undefined,
    readonly max: number,
    readonly policy: SlowConsumerPolicy,
  ) {}
}

export class PubSub {
  readonly #subs = new SubjectIndex<Sub>();
  readonly #core: BusCore;
  constructor(core: BusCore) {
    this.#core = core;
  }

  get size(): number {
    return this.#subs.size;
  }

  publish(from: Endpoint, topic: string, data: unknown): void {
    assertSubject(topic);
    if (!from.grants.all && !from.grants.allows('publishes', topic)) {
      this.#core.events.deny(from, 'publishes', topic);
      throw new ForbiddenError(`'${from.name}' may not publish '${topic}' (not in its manifest's publishes)`, { topic, peer: from.name });
    }
    // A peer gets one event per publish however many of its patterns match (it fans out locally).
    let notified: Set<Endpoint> | undefined;
    for (const sub of this.#subs.match(topic)) {
      if (!sub.listener) {
        if (notified?.has(sub.endpoint)) continue;
        (notified ??= new Set()).add(sub.endpoint);
      }
      this.#deliver(sub, topic, data, from.name);
    }
  }

  subscribe(ep: Endpoint, pattern: string, listener: EventListener | undefined, options: SubscribeOptions = {}): Subscription {
    assertPattern(pattern);
    if (!ep.grants.all && !ep.grants.allows('subscribes', pattern)) {
      this.#core.events.deny(ep, 'subscribes', pattern);
      throw new ForbiddenError(`'${ep.name}' may not subscribe to '${pattern}' (not in its manifest's subscribes)`, { pattern, peer: ep.name });
    }
    const sub = new Sub(pattern, ep, listener, options.queue ?? 1024, options.policy ?? 'drop-oldest');
    this.#subs.add(pattern, sub);
    ep.subscriptions.add(sub);
    const self = this;
    return {
      pattern,
      ready: Promise.resolve(),
      get dropped() {
        return sub.dropped;
      },
      unsubscribe: () => self.unsubscribe(sub),
    };
  }

  unsubscribe(sub: Sub): void {
    sub.closed = true;
    sub.queue.length = 0;
    this.#subs.delete(sub.pattern, sub);
    sub.endpoint.subscriptions.delete(sub);
  }

  #deliver(sub: Sub, topic: string, data: unknown, from: string): void {
    if (sub.closed) return;
    if (!sub.listener) {
      const session = sub.endpoint.session!;
      if (session.transport.bufferedBytes > EVENT_HIGH_WATER) {
        sub.dropped++;
        if (sub.dropped === 1 || sub.dropped % 1000 === 0) this.#core.events.emit({ type: 'slow-consumer', peer: sub.endpoint.name, detail: `${sub.dropped} event(s) dropped: it is not reading` });
        return;
      }
      session.notify('symphony.event', { topic, data });
      return;
    }
    if (sub.queue.length >= sub.max) {
      sub.dropped++;
      if (sub.policy === 'drop-newest') return;
      if (sub.policy === 'unsubscribe') {
        this.#core.events.emit({ type: 'slow-consumer', peer: sub.endpoint.name, detail: `unsubscribed from '${sub.pattern}': its queue of ${sub.max} was full` });
        return this.unsubscribe(sub);
      }
      sub.queue.shift();
    }
    sub.queue.push([topic, data, from]);
    if (!sub.draining) {
      sub.draining = true;
      queueMicrotask(() => void this.#drain(sub));
    }
  }

  /** Delivers a subscriber's queue in order, one event at a time (async listeners are awaited). */
  async #drain(sub: Sub): Promise<void> {
    while (sub.queue.length && !sub.closed) {
      const [topic, data, from] = sub.queue.shift()!;
      try {
        const r = sub.listener!(data, { topic, from });
        if (r && typeof (r as PromiseLike<unknown>).then === 'function') await r;
      } catch (err) {
        this.#core.events.emit({ type: 'handler-error', peer: sub.endpoint.name, method: `event ${topic}`, error: err instanceof Error ? err.message : String(err) });
      }
    }
    sub.draining = false;
  }

}
