/**
 * The kernel memory held on a peer's behalf is bounded (maxPeerBytes): a peer in another process
 * sends 1,000 requests of 1 MB each to a method that holds them all; the kernel (this process)
 * accepts what fits in the budget, refuses the rest at once with -32005 naming the budget, and
 * does not grow by anything near 1 GB.
 */
import { spawn } from 'node:child_process';
import { afterEach, expect, it } from 'vitest';
import { Bus } from '../../src/bus/index.js';

const CLIENT = `
import { connect } from 'node:net';
import { once } from 'node:events';
const [path, token, n, size] = process.argv.slice(1);
const s = connect(path);
await once(s, 'connect');
let buf = '';
const codes = {};
let answers = 0, last = Date.now(), message = '';
s.on('data', (d) => {
  buf += d;
  let nl;
  while ((nl = buf.indexOf('\\n')) >= 0) {
    const m = JSON.parse(buf.slice(0, nl));
    buf = buf.slice(nl + 1);
    if (m.id === 'hello') continue;
    answers++;
    last = Date.now();
    const c = m.error ? m.error.code : 'ok';
    codes[c] = (codes[c] ?? 0) + 1;
    if (m.error) message = m.error.message;
  }
});
s.write(JSON.stringify({ jsonrpc: '2.0', id: 'hello', method: 'symphony.hello', params: { protocol: 1, peer: 'hog', token } }) + '\\n');
const body = 'x'.repeat(Number(size));
for (let i = 0; i < Number(n); i++) {
  if (!s.write('{"jsonrpc":"2.0","id":' + i + ',"method":"kernel.hold","params":"' + body + '"}\\n')) await once(s, 'drain');
}
// The refusals come at once; the held ones only when the kernel lets them go.
while (Date.now() - last < 1000) await new Promise((r) => setTimeout(r, 100));
process.stdout.write(JSON.stringify({ answers, codes, message }) + '\\n');
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
`;

let bus: Bus | undefined;
afterEach(async () => bus?.stop());

it('1,000 waiting requests of 1 MB each: those past maxPeerBytes are refused -32005 at once, and the kernel does not grow by 1 GB', { timeout: 120_000 }, async () => {
  bus = new Bus({ maxFrameBytes: 2 * 1024 * 1024 });
  const token = bus.issueToken('operator', undefined, { operator: true });
  const { path } = await bus.listen({ operatorToken: token });
  const held: (() => void)[] = [];
  bus.handle('kernel.hold', () => new Promise<string>((resolve) => held.push(() => resolve('released'))));
  let maxHeld = 0;
  const sampler = setInterval(() => {
    for (const p of bus!.stats().peers) if (p.name === 'hog') maxHeld = Math.max(maxHeld, p.heldBytes);
  }, 5);
  global.gc?.();
  const rss0 = process.memoryUsage().rss;
  let rssMax = rss0;
  const rssSampler = setInterval(() => (rssMax = Math.max(rssMax, process.memoryUsage().rss)), 20);
  const child = spawn(process.execPath, ['--input-type=module', '-e', CLIENT, path, token, '1000', String(1_000_000)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
    child.once('exit', (code) => reject(new Error(`client exited ${code}`)));
  });
  clearInterval(sampler);
  clearInterval(rssSampler);
  const report = JSON.parse(line) as { answers: number; codes: Record<string, number>; message: string };
  const budget = bus.maxPeerBytes;
  // What was held stayed within the budget (plus the one request that crossed it).
  expect(maxHeld).toBeLessThanOrEqual(budget + 1_100_000);
  expect(held.length).toBeLessThanOrEqual(Math.ceil(budget / 1_000_000) + 1);
  expect(held.length).toBeGreaterThan(10);
  expect(report.codes['-32005']).toBe(1000 - held.length);
  expect(report.message).toContain('maxPeerBytes');
  // The kernel grew by far less than the 1 GB the requests would have held.
  expect(rssMax - rss0).toBeLessThan(400 * 1024 * 1024);
  console.log(`budget ${budget} B: held ${held.length} requests (max ${maxHeld} B accounted), refused ${report.codes['-32005']}; kernel RSS +${Math.round((rssMax - rss0) / 1048576)} MB at most`);
  for (const release of held) release();
  child.stdin.end();
  await new Promise((r) => child.once('exit', r));
});
