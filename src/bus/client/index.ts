/**
 * The bus's light sub-face for a peer's side (the extension host, a process peer): the client
 * alone, without the kernel's router, server or spawner.
 */
export { BusClient, connect } from './client.js';
export type { ConnectOptions } from './options.js';
export { BusError, ErrorCode } from '../errors.js';
