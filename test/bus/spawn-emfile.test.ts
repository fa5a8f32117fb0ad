/**
 * A spawn that fails for want of file descriptors never ends the kernel. Was: with its descriptors
 * exhausted (silent connections past the kernel's limit, the hello bound turned off), restarting
 * an isolated extension failed in spawn with EMFILE; Node emits that as an 'error' event on the
 * next tick, spawnPeer had already thrown on the missing pipes before anyone listened, and the
 * kernel died of the unhandled event. Here a kernel process is given 64 descriptors, fills them,
 * and spawns a peer.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { root, tsxLoader } from './wire-harness.js';

const SCRIPT = `
import { openSync } from 'node:fs';
import { Bus } from ${JSON.stringify(join(root, 'src/bus/index.ts'))};
const bus = new Bus({ heartbeat: 0 });
const held = [];
try { for (;;) held.push(openSync('/dev/null', 'r')); } catch (err) { if (err.code !== 'EMFILE') throw err; }
let thrown;
try { bus.spawnPeer({ name: 'starved', command: process.execPath, args: ['-e', ''] }); } catch (err) { thrown = { name: err.constructor.name, code: err.code, message: err.message }; }
// Past the tick on which Node emits the spawn's 'error': still alive, and still serving.
await new Promise((r) => setTimeout(r, 200));
bus.handle('x.echo', (p) => p);
const echoed = await bus.request('x.echo', 42);
console.log(JSON.stringify({ held: held.length, thrown, echoed }));
process.exit(0);
`;

describe('spawning out of file descriptors', () => {
  it('spawnPeer with every descriptor taken: a typed error to the caller, no unhandled error event, the bus alive and serving', () => {
    const r = spawnSync('prlimit', ['--nofile=64:64', process.execPath, '--import', tsxLoader(), '--input-type=module', '-e', SCRIPT], { encoding: 'utf8', cwd: root, timeout: 60_000 });
    expect(r.status, `exit ${r.status}; stderr: ${r.stderr}`).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(out.held, 'the descriptors were exhausted').toBeGreaterThan(10);
    expect(out.thrown?.code, JSON.stringify(out.thrown)).toBe(-32004);
    expect(out.thrown.message).toMatch(/starved.*out of file descriptors/);
    expect(out.echoed).toBe(42);
  }, 90_000);
});
