/**
 * The IPC bus: in-process router (request/reply, notifications, pub/sub with wildcards), the
 * JSON-RPC wire protocol (docs/protocol.md) over stdio, Unix sockets and worker ports, the client
 * for other Node processes, and `builtin:bus`.
 */
export { Bus } from './bus.js';
export { PeerConnection } from './connection.js';
export { ALL_RIGHTS, type Rights } from './rights.js';
export type {
  BusApi,
  BusEvent,
  BusOptions,
  BusStats,
  EventListener,
  Handler,
  HandlerContext,
  PeerStats,
  Registration,
  RequestOptions,
  SlowConsumerPolicy,
  SubscribeOptions,
  Subscription,
} from './api.js';
export { BusClient, connect, type ConnectOptions } from './client/index.js';
export { busComponent } from './component.js';
export { BusSettingsSchema, type BusSettings } from './settings/index.js';
export {
  BusError,
  ErrorCode,
  ForbiddenError,
  fromWire,
  InternalError,
  InvalidParamsError,
  InvalidRequestError,
  MessageTooLargeError,
  MethodNotFoundError,
  OverloadedError,
  ParseError,
  PeerGoneError,
  RequestCancelledError,
  TimeoutError,
  UnauthorizedError,
  type ErrorCodeValue,
} from './errors.js';
export { encodeFrame, FrameDecoder, type Decoded, type Framing } from './framing.js';
export { escapeLine, relayLog, type LogRelayOptions, type RelayLevel, type RelayLog } from './log-relay.js';
export { listenUnix, type ListenOptions, type SocketServer } from './server.js';
export { PeerProcess, spawnPeer, spawnWorker, type SpawnPeerOptions } from './spawn.js';
export { modeAdapters, remoteProxy, REMOTE } from './modes.js';
export { assertPattern, assertSubject, matches as subjectMatches } from './subjects.js';
