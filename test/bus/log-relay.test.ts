/**
 * The stderr relay against what a hostile peer writes: a level that is no level (`__proto__`,
 * `constructor`), a line that never ends, a newline or an escape sequence inside a message,
 * data too deep or too large. Each is relayed as one bounded, escaped, named log line.
 */
import { spawn } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { relayLog, type RelayLog } from '../../src/bus/index.js';
import { until } from '../helpers.js';

function recorder(): { log: RelayLog; lines: { level: string; message: string; data?: Record<string, unknown> }[] } {
  const lines: { level: string; message: string; data?: Record<string, unknown> }[] = [];
  const at = (level: string) => (message: string, data?: Record<string, unknown>) => void lines.push({ level, message, ...(data ? { data } : {}) });
  return { log: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, lines };
}

describe('relayLog', () => {
  it('a level that is not one of the fixed set is info; never looked up on an object', async () => {
    const { log, lines } = recorder();
    const s = new PassThrough();
    relayLog(s, log, { prefix: "extension 'x': " });
    for (const level of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'warn', 42]) s.write(`${JSON.stringify({ level, message: `m-${String(level)}` })}\n`);
    s.end();
    await until(() => lines.length === 6);
    expect(lines.map((l) => l.level)).toEqual(['info', 'info', 'info', 'info', 'warn', 'info']);
    expect(lines[0]!.message).toBe("extension 'x': m-__proto__");
  });

  it('a line that never ends is cut at 8 KiB, the rest dropped as it arrives (not buffered), and said so', async () => {
    const { log, lines } = recorder();
    const s = new PassThrough();
    relayLog(s, log, { prefix: 'p: ' });
    const chunk = 'y'.repeat(64 * 1024);
    for (let i = 0; i < 160; i++) s.write(chunk); // 10 MiB, no newline
    s.write('\nnext line\n');
    s.end();
    await until(() => lines.length === 2);
    expect(lines[0]!.message.length).toBeLessThan(8 * 1024 + 200);
    expect(lines[0]!.message).toContain(`${160 * 64 * 1024 - 8192} more bytes of this line dropped`);
    expect(lines[1]!.message).toBe('p: next line');
  });

  it('a newline, a carriage return or an escape sequence in a message cannot start a line of its own', async () => {
    const { log, lines } = recorder();
    const s = new PassThrough();
    relayLog(s, log, { prefix: "extension 'x': " });
    s.write(`${JSON.stringify({ level: 'error', message: 'a\n2026-12-07T00:00:00.000Z INFO [kernel] forged\r\x1b[2Kb\u2028c' })}\n`);
    s.end();
    await until(() => lines.length === 1);
    const m = lines[0]!.message;
    expect(m).not.toMatch(/[\n\r\x1b\u2028]/);
    expect(m).toBe("extension 'x': a\\n2026-12-07T00:00:00.000Z INFO [kernel] forged\\r\\e[2Kb\\u2028c");
  });

  it('data is bounded in size and depth, and a __proto__ key in it is dropped', async () => {
    const { log, lines } = recorder();
    const s = new PassThrough();
    relayLog(s, log, { prefix: '' });
    s.write(`{"message":"deep","data":{"a":${'['.repeat(40)}${']'.repeat(40)}}}\n`);
    s.write(`${JSON.stringify({ message: 'big', data: { a: 'z'.repeat(5000) } })}\n`);
    s.write('{"message":"proto","data":{"__proto__":{"polluted":true},"ok":1}}\n');
    s.write(`{"message":"deeper","data":${'['.repeat(3000)}${']'.repeat(3000)}}\n`);
    await until(() => lines.length === 4);
    expect(lines[0]!.data).toEqual({ dropped: 'data nested deeper than 16 levels' });
    expect(lines[1]!.data).toEqual({ dropped: expect.stringContaining('2048') });
    expect(lines[2]!.data).toEqual({ ok: 1 });
    // Nested past any log entry: relayed as the text it is.
    expect(lines[3]!.data).toBeUndefined();
    expect(lines[3]!.message.startsWith('{"message":"deeper","data":[[[')).toBe(true);
    s.end();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("relays a real child process's stderr flood without holding it", async () => {
    const { log, lines } = recorder();
    const child = spawn(process.execPath, ['-e', "const c='q'.repeat(1<<20); for (let i=0;i<64;i++) process.stderr.write(c); process.stderr.write('\\n' + JSON.stringify({level:'__proto__',message:'end'}) + '\\n')"], { stdio: ['ignore', 'ignore', 'pipe'] });
    relayLog(child.stderr!, log, { prefix: 'child: ' });
    await new Promise((r) => child.once('close', r));
    expect(lines).toHaveLength(2);
    expect(lines[0]!.message.length).toBeLessThan(8500);
    expect(lines[1]).toEqual({ level: 'info', message: 'child: end' });
  });
});
