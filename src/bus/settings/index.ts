import * as v from 'valibot';
import { duration, positive } from '../../util/schemas.js';

/**
 * `with:` of `builtin:bus` (docs/bus.md): the one declaration of its settings. The config loader
 * checks a file's `with:` against it (each mistake at its position), the component parses its
 * settings with it, and BusSettings is inferred from it. A light face: the system reads it
 * without loading the bus.
 */
export const BusSettingsSchema = v.strictObject(
  {
    /** `auto` (a private directory under the temp dir), a socket path, or `none` (in-process only). Default auto. */
    listen: v.optional(v.string('listen must be auto, none or a socket path')),
    /** The operator's token: `auto` (generated, written beside the socket), `env:NAME` or `file:PATH`. Default auto. */
    token: v.optional(v.string('token must be auto, env:NAME or file:PATH')),
    maxFrameBytes: v.optional(positive('maxFrameBytes')),
    maxInFlight: v.optional(positive('maxInFlight')),
    /** A peer's unsent output: past half of it the peer is not read until it drains; past it, it is dropped as a slow consumer. Default 16 MiB. */
    maxOutputBytes: v.optional(positive('maxOutputBytes')),
    heartbeat: v.optional(duration),
    defaultTimeout: v.optional(duration),
    /** Memory the kernel may hold for one peer (its waiting requests, its unsent output); past it, its new requests get -32005. Default 64 MiB. */
    maxPeerBytes: v.optional(positive('maxPeerBytes')),
    /** Socket connections waiting to say hello, at most (default 64); one more closes the oldest. */
    maxPendingHellos: v.optional(positive('maxPendingHellos')),
    /** Time a socket connection has to say hello (default twice the heartbeat, 10s). */
    helloTimeout: v.optional(duration),
  },
  'the settings of builtin:bus must be a table',
);

/** The settings of `builtin:bus`, as checked. */
export type BusSettings = v.InferOutput<typeof BusSettingsSchema>;
