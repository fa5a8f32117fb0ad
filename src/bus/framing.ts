/**
 * Byte stream <-> JSON messages: the face of the framing. NDJSON (one message per line) by
 * default; LSP's Content-Length framing when a connection's first bytes say `Content-Length:`
 * (or hello negotiates it). Decoding is FrameDecoder's (frame-decoder.ts), with a frame's text in
 * frame-text.ts and LSP's headers in lsp-headers.ts; encoding is here.
 */
export { FrameDecoder } from './frame-decoder.js';
export { SMALL_FRAME, type Decoded, type Framing, type RefusedElement } from './decoded.js';
import type { Framing } from './decoded.js';

/** One message as bytes in the given framing. */
export function encodeFrame(message: unknown, framing: Framing): string {
  return frameJson(JSON.stringify(message), framing);
}

/** One message already encoded as JSON, as bytes in the given framing. */
export function frameJson(json: string, framing: Framing): string {
  return framing === 'ndjson' ? `${json}\n` : `Content-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`;
}
