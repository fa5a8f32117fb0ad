/**
 * What the bus's parts share: its limits, its tables (endpoints, connections, routes, tokens), its
 * deadline wheel and events, and each other. The Bus (bus.ts) builds one and hands it to each
 * part; no part holds state of its own that another part reads.
 */
import type { Activation } from './activation.js';
import type { Calls } from './calls.js';
import type { DeadlineWheel } from './deadlines.js';
import type { Endpoint } from './endpoint.js';
import type { BusEvents } from './events.js';
import type { PubSub } from './pubsub.js';
import type { RouteTable } from './routes.js';
import type { Tokens } from './tokens.js';

/** The bus's options, resolved to numbers (BusOptions says what each means). */
export interface BusLimits {
  readonly defaultTimeoutMs: number;
  readonly heartbeatMs: number;
  readonly maxFrameBytes: number;
  readonly maxInFlight: number;
  readonly maxOutputBytes: number;
  readonly maxPeerBytes: number;
  readonly maxPendingHellos: number;
  readonly helloTimeoutMs: number;
}

export interface BusCore {
  readonly limits: BusLimits;
  readonly wheel: DeadlineWheel;
  /** The kernel's own endpoint (the Bus's request, handle, ...). */
  readonly self: Endpoint;
  /** Endpoints by name (in-process ones, and connections past hello). */
  readonly endpoints: Map<string, Endpoint>;
  /** Every connection, before hello and after. */
  readonly connections: Set<Endpoint>;
  readonly events: BusEvents;
  readonly tokens: Tokens;
  readonly routes: RouteTable;
  readonly calls: Calls;
  readonly pubsub: PubSub;
  readonly activation: Activation;
  readonly closed: boolean;
  /** Removes an endpoint: calls pending to it fail with -32004 at once; its own calls are cancelled. */
  drop(ep: Endpoint, reason: string): void;
}
