/**
 * LSP's header block (`Content-Length: N`, then a blank line): the body length it declares, or
 * what is wrong with it; and, before the block has ended, whether a line already in it cannot be
 * a header (a body sent with no blank line before it), so the decoder need not wait for more.
 */

/** The blank line must begin within this many bytes of the block's start. */
export const HEADER_LIMIT = 8 * 1024;
/** One header line, `Name: value` (RFC 9110 token characters in the name). */
const HEADER_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/;
const TOKEN_START = /[!#$%&'*+.^_`|~0-9A-Za-z\r-]/;

/** A header block's body length, or what is wrong with it. */
export function contentLength(headers: string): number | string {
  let length: number | undefined;
  for (const line of headers.split('\r\n')) {
    if (line === '') continue; // blank lines between frames
    const m = HEADER_LINE.exec(line);
    if (!m) return malformed(line);
    if (m[1]!.toLowerCase() !== 'content-length') continue;
    if (length !== undefined) return 'more than one Content-Length header';
    if (!/^\d+$/.test(m[2]!)) return `Content-Length must be a non-negative integer, got ${JSON.stringify(m[2]!.slice(0, 40))}`;
    // Past 15 digits no frame could have it: Infinity, refused as far over the limit.
    length = m[2]!.length > 15 ? Infinity : Number(m[2]);
  }
  return length ?? `no Content-Length header in ${JSON.stringify(headers.slice(0, 80))}`;
}

/** Names the line by its first character only: the same error however the stream was cut (a line may be judged before it ends). */
const malformed = (line: string) => `malformed header line starting ${JSON.stringify(line.slice(0, 1))} (a header is \`Name: value\`; a blank line ends them, then the body)`;

/** Header bytes not ended yet that hold a complete line that is no header (a body with no blank line before it): what is wrong. */
export function badHeaderLine(text: string): string | undefined {
  let start = 0;
  for (let nl = text.indexOf('\r\n'); nl !== -1; nl = text.indexOf('\r\n', start)) {
    const line = text.slice(start, nl);
    if (nl > start && !HEADER_LINE.test(line)) return malformed(line);
    start = nl + 2;
  }
  // The line begun: a header name starts with a token character (a body's `{` or `[` does not).
  if (start < text.length && !TOKEN_START.test(text[start]!)) return malformed(text.slice(start));
  return undefined;
}
