/**
 * What the socket server and the spawner need of the bus: to issue and revoke a peer's token, to
 * attach a transport, to find a spawned socket peer's connection, to report a listener's error.
 * They are given the bus as this, and the bus imports them, never the other way round.
 */
import type { PeerConnection } from './connection.js';
import type { Rights } from './rights.js';
import type { MessageTransport } from './transport.js';

export interface PeerHost {
  readonly maxFrameBytes: number;
  issueToken(name: string, rights?: Rights, options?: { operator?: boolean; token?: string }): string;
  revokeToken(token: string): void;
  attach(transport: MessageTransport, options?: { label?: string; boundedHello?: boolean }): PeerConnection;
  connectionFor(name: string): Promise<PeerConnection>;
  listenerError(err: Error): void;
}
