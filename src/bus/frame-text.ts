/**
 * One complete frame's text, decoded: refused when it nests deeper than MAX_DEPTH (before
 * anything parses or re-serialises it: JSON.stringify recurses, and a few thousand levels
 * overflow the stack), parsed, and its id's raw text kept when JSON.parse would not give it back
 * (docs/protocol.md: ids come back exactly as sent).
 */
import { refusal, SMALL_FRAME, type Decoded } from './decoded.js';
import { JsonScanner, mayNestDeeperThan, MAX_DEPTH } from './jsonscan.js';

/** The start of the envelope every Symphony client writes: an id right after it needs no scan. */
const HEAD = '{"jsonrpc":"2.0","id":';

export function decodeText(text: string, out: Decoded[]): void {
  if (mayNestDeeperThan(text)) {
    const scan = new JsonScanner();
    scan.pushText(text);
    if (scan.tooDeep) return void out.push(refusal('too-deep', `nested deeper than ${MAX_DEPTH} levels`, scan, false));
  }
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch (err) {
    if (blank(text)) return;
    // Scanned for what it meant to be: an answer whose id can be read fails its call at once
    // (its caller would otherwise wait its whole deadline for an answer that cannot come).
    const scan = new JsonScanner();
    scan.pushText(text);
    const d = refusal('parse', `not JSON: ${(err as Error).message}`, scan, false);
    d.elements = undefined; // a batch that is not JSON gets the one parse error (JSON-RPC 2.0 section 7)
    return void out.push(d);
  }
  const d: Decoded & { kind: 'message' } = { kind: 'message', message };
  if (text.length > SMALL_FRAME) d.bytes = text.length;
  if (message !== null && typeof message === 'object') {
    if (!Array.isArray(message)) rawIdOfOne(text, message as { id?: unknown }, d);
    else if (message.length && text.includes('"id"')) rawIdsOfBatch(text, message, d);
  }
  out.push(d);
}

function rawIdOfOne(text: string, message: { id?: unknown }, d: Decoded & { kind: 'message' }): void {
  const id = message.id;
  if ((typeof id !== 'number' && typeof id !== 'string') || idAtHead(text, id)) return;
  const scan = new JsonScanner();
  scan.pushText(text);
  const raw = scan.first?.id;
  if (raw !== undefined && raw !== JSON.stringify(id)) d.rawId = raw;
}

function rawIdsOfBatch(text: string, message: unknown[], d: Decoded & { kind: 'message' }): void {
  const scan = new JsonScanner();
  scan.pushText(text);
  const rawIds: (string | undefined)[] = [];
  let any = false;
  for (let i = 0; i < scan.objects.length; i++) {
    const el = message[scan.elementOf[i]!] as { id?: unknown } | undefined;
    const raw = scan.objects[i]!.id;
    if (raw === undefined || !el || typeof el !== 'object') continue;
    const id = el.id;
    if ((typeof id === 'number' || typeof id === 'string') && raw !== JSON.stringify(id)) {
      rawIds[scan.elementOf[i]!] = raw;
      any = true;
    }
  }
  if (any) d.rawIds = rawIds;
}

/** True when `text` starts with the usual envelope and this id, written as JSON.stringify writes it: its raw text is known without a scan. */
function idAtHead(text: string, id: string | number): boolean {
  if (!text.startsWith(HEAD)) return false;
  const written = typeof id === 'number' ? String(id) : JSON.stringify(id);
  if (!text.startsWith(written, HEAD.length)) return false;
  const c = text.charCodeAt(HEAD.length + written.length);
  return c === 0x2c || c === 0x7d;
}

/** A line that is only JSON whitespace (a CR inside, say) is blank, not an error: empty lines are ignored. */
function blank(text: string): boolean {
  return /^[ \t\r\n]*$/.test(text);
}
