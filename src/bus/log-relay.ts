/**
 * Relays the lines a peer process writes to its stderr into the kernel's log, named. What the peer
 * writes is hostile input: a line is bounded (the rest of a longer one is dropped, never buffered),
 * a JSON line's level is one of a fixed set (anything else is info; never used as a key), its
 * message is escaped so that one relayed line is one log line (a newline or an escape sequence in
 * it cannot forge a kernel line or repaint a terminal), and its data is bounded in size and depth.
 */
import { JsonScanner } from './jsonscan.js';

export type RelayLevel = 'debug' | 'info' | 'warn' | 'error';

/** What the relay writes to (the kernel's logger). */
export interface RelayLog {
  debug(message: string, data?: Record<string, unknown>): void;
  info(message: string, data?: Record<string, unknown>): void;
  warn(message: string, data?: Record<string, unknown>): void;
  error(message: string, data?: Record<string, unknown>): void;
}

export interface LogRelayOptions {
  /** Prefix of every relayed message, naming the peer (e.g. `extension 'word-count': `). */
  prefix: string;
  /** Longest line kept, in bytes (8 KiB); the rest of a longer line is dropped and said so. */
  maxLineBytes?: number;
  /** Longest `data` kept, as JSON characters (2 KiB). */
  maxDataChars?: number;
  /** Told of each relayed line (after escaping), e.g. to remember the last error. */
  onLine?: (level: RelayLevel, message: string) => void;
}

/** The levels a line may name: a Map, so `__proto__` or `constructor` is just not one of them. */
const LEVELS = new Map<string, RelayLevel>([
  ['debug', 'debug'],
  ['trace', 'debug'],
  ['info', 'info'],
  ['warn', 'warn'],
  ['warning', 'warn'],
  ['error', 'error'],
  ['fatal', 'error'],
]);

const DATA_DEPTH = 16;
const ENTRY_DEPTH = 64;
const NL = 0x0a;

/** Reads `stream` to its end, relaying each line; never throws, whatever the stream carries. */
export function relayLog(stream: NodeJS.ReadableStream, log: RelayLog, options: LogRelayOptions): void {
  const max = options.maxLineBytes ?? 8 * 1024;
  const line = Buffer.alloc(max);
  let len = 0;
  let dropped = 0;
  const emit = () => {
    try {
      relayLine(line.toString('utf8', 0, len), dropped, log, options);
    } catch {
      // a logger that throws must not take the relay (or the kernel) down
    }
    len = 0;
    dropped = 0;
  };
  stream.on('data', (chunk: Buffer | string) => {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let start = 0;
    while (start < buf.length) {
      const nl = buf.indexOf(NL, start);
      const end = nl === -1 ? buf.length : nl;
      const room = max - len;
      const take = Math.min(room, end - start);
      buf.copy(line, len, start, start + take);
      len += take;
      dropped += end - start - take;
      if (nl === -1) return;
      emit();
      start = nl + 1;
    }
  });
  stream.on('end', () => {
    if (len || dropped) emit();
  });
  stream.on('error', () => {});
}

/** One line: a JSON log entry `{ level, message, data }` from a Symphony host, or plain text. */
export function relayLine(text: string, dropped: number, log: RelayLog, options: LogRelayOptions): void {
  if (text.endsWith('\r')) text = text.slice(0, -1);
  let level: RelayLevel = 'info';
  let message = text;
  let data: Record<string, unknown> | undefined;
  if (text.startsWith('{') && dropped === 0) {
    const entry = parseEntry(text);
    if (entry) {
      if (typeof entry.level === 'string') level = LEVELS.get(entry.level) ?? 'info';
      if (typeof entry.message === 'string') message = entry.message;
      else if (entry.message !== undefined) message = safeJson(entry.message, 1024) ?? String(entry.message);
      if (entry.data !== undefined) data = boundData(entry.data, options.maxDataChars ?? 2048);
    }
  }
  let escaped = escapeLine(message);
  if (dropped) escaped += ` … [${dropped} more bytes of this line dropped: lines are cut at ${options.maxLineBytes ?? 8192} bytes]`;
  options.onLine?.(level, escaped);
  const out = `${options.prefix}${escaped}`;
  switch (level) {
    case 'debug':
      return data ? log.debug(out, data) : log.debug(out);
    case 'warn':
      return data ? log.warn(out, data) : log.warn(out);
    case 'error':
      return data ? log.error(out, data) : log.error(out);
    default:
      return data ? log.info(out, data) : log.info(out);
  }
}

interface Entry {
  level?: unknown;
  message?: unknown;
  data?: unknown;
}

function parseEntry(text: string): Entry | undefined {
  // Nested past what a log entry needs: plain text (the reviver below recurses).
  const scan = new JsonScanner(ENTRY_DEPTH);
  scan.pushText(text);
  if (scan.tooDeep) return undefined;
  try {
    // `__proto__` keys are dropped as they are read: nothing downstream can be handed one.
    const v = JSON.parse(text, (k, value: unknown) => (k === '__proto__' ? undefined : value)) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Entry) : undefined;
  } catch {
    return undefined;
  }
}

/** `data` as a plain object of bounded size and depth, or a note saying why it was left out. */
function boundData(data: unknown, maxChars: number): Record<string, unknown> {
  const json = safeJson(data, maxChars);
  if (json === undefined) return { dropped: `data over ${maxChars} characters of JSON, or not JSON` };
  const scan = new JsonScanner(DATA_DEPTH);
  scan.pushText(json);
  if (scan.tooDeep) return { dropped: `data nested deeper than ${DATA_DEPTH} levels` };
  const copy = JSON.parse(json, (k, value: unknown) => (k === '__proto__' ? undefined : value)) as unknown;
  return copy !== null && typeof copy === 'object' && !Array.isArray(copy) ? (copy as Record<string, unknown>) : { value: copy };
}

function safeJson(value: unknown, maxChars: number): string | undefined {
  try {
    const json = JSON.stringify(value);
    return json !== undefined && json.length <= maxChars ? json : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Control characters (C0, DEL, C1) and the Unicode line and paragraph separators written as
 * escapes: `\n`, `\r`, `\t`, `\e` for ESC, `\xNN` / `\uNNNN` otherwise. A backslash is doubled, so an
 * escape in the output always means the peer sent that character.
 */
export function escapeLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  if (!/[\x00-\x1f\x7f-\x9f\u2028\u2029\\]/.test(text)) return text;
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029\\]/g, (c) => {
    switch (c) {
      case '\\':
        return '\\\\';
      case '\n':
        return '\\n';
      case '\r':
        return '\\r';
      case '\t':
        return '\\t';
      case '\x1b':
        return '\\e';
      default: {
        const code = c.charCodeAt(0);
        return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
      }
    }
  });
}
