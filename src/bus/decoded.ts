/**
 * What the frame decoder yields: a message, or an error about a frame refused unparsed, with
 * what a scan of it found (its id as parsed and as sent, whether it is an answer, and for a batch
 * the same of each element), so the session can still answer the request by its id.
 */
import type { JsonScanner, ScannedObject } from './jsonscan.js';

export type Framing = 'ndjson' | 'content-length';

export type Decoded =
  | {
      kind: 'message';
      message: unknown;
      /** The frame's size, when over SMALL_FRAME (a smaller one counts as SMALL_FRAME): what holding it costs. */
      bytes?: number;
      /** The id's text as sent, when JSON.parse would not give it back (12345678901234567890, 1e3, "\u0041"). */
      rawId?: string;
      /** A batch: each element's rawId (by position), where it differs. */
      rawIds?: (string | undefined)[];
    }
  | {
      kind: 'error';
      error: 'parse' | 'too-large' | 'too-deep' | 'header';
      detail: string;
      /** The frame's id, found by a scan wherever it is in the frame (too-large, too-deep). */
      id?: string | number;
      /** Its text as sent. */
      rawId?: string;
      /** The frame has `result` or `error` and no `method`: an answer, whose id is in the receiver's own space. */
      answer?: boolean;
      /** A batch refused whole (too large, too deep): what the scan found of each object element, so each request in it is still answered with its id. */
      elements?: RefusedElement[];
    };

/** One object element of a batch refused whole: its id (parsed and as sent) and whether it is an answer. */
export interface RefusedElement {
  id?: string | number;
  rawId?: string;
  answer: boolean;
}

/** Frames up to this size are not measured: each counts as this much against its sender's budget. */
export const SMALL_FRAME = 1024;

/**
 * An error for a frame refused unparsed, with what its scan found. `bytes`: the scan read bytes
 * (an oversize frame skipped as it arrived), not text.
 */
export function refusal(error: 'too-large' | 'too-deep' | 'parse', detail: string, scan: JsonScanner | undefined, bytes: boolean): Decoded & { kind: 'error' } {
  const d: Decoded & { kind: 'error' } = { kind: 'error', error, detail };
  if (scan?.top === 0x5b) {
    d.elements = scan.objects.map((found) => scanned(found, bytes));
    return d;
  }
  if (scan?.top !== 0x7b || !scan.first) return d;
  const one = scanned(scan.first, bytes);
  if (one.answer) d.answer = true;
  if (one.id !== undefined) d.id = one.id;
  if (one.rawId !== undefined) d.rawId = one.rawId;
  return d;
}

function scanned(found: ScannedObject, bytes: boolean): RefusedElement {
  const e: RefusedElement = { answer: !found.method && (found.result || found.error) };
  let raw = found.id;
  if (raw === undefined) return e;
  // Scanned from bytes: the id's text was read a byte per character.
  if (bytes) raw = Buffer.from(raw, 'latin1').toString('utf8');
  try {
    const id = JSON.parse(raw) as unknown;
    // `null` is no id: the error about the frame has id null either way.
    if (typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id))) {
      e.id = id;
      if (raw !== JSON.stringify(id)) e.rawId = raw;
    }
  } catch {
    // not a JSON value (007, a raw tab in a string): no id
  }
  return e;
}
