/**
 * The CLI, driven as a user would: real processes, real config files, real signals.
 * Runs the compiled bin (npm test builds first).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BootReport } from '../src/index.js';
import { until } from './helpers.js';
import { start as startIn, type Started } from './cli/running.js';

const root = resolve(import.meta.dirname, '..');
const fx = (name: string) => join(root, 'test/fixtures/cli', name);
const basic = (name: string) => join(root, 'test/fixtures/cli/basic', name);
const tmp = mkdtempSync(join(tmpdir(), 'symphony-cli-'));

/** `symphony ARGS` in `cwd` (the operator's driver), waiting for output 10 s at the most unless told. */
function start(args: string[], cwd = root): Started {
  const s = startIn(args, cwd);
  return { ...s, waitFor: (text, ms = 10_000) => s.waitFor(text, ms) };
}

const run = (args: string[], cwd?: string) => start(args, cwd).result;
const readReport = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as BootReport;

describe('symphony check', () => {
  it('accepts a valid config', async () => {
    const r = await run(['check', '-c', fx('system.yaml')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('ok (5 components)');
  });

  it('rejects a cycle with exit 2 and prints its path', async () => {
    const r = await run(['check', '-c', basic('cycle.yaml')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cycle\.yaml:2:33: cycle: a -> c -> b -> a/);
  });

  it('reports an unknown key at FILE:LINE:COL', async () => {
    const r = await run(['check', '-c', basic('unknown-key.yaml')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown-key\.yaml:3:25: unknown key 'needz' in component 'b'/);
  });

  it('accepts the seed cycle closed by a late edge', async () => {
    expect((await run(['check', '-c', basic('late.yaml')])).code).toBe(0);
  });

  it('exits 2 on usage errors', async () => {
    const r = await run(['up', '--no-such-flag']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Unknown option '--no-such-flag'");
    expect((await run(['frobnicate'])).code).toBe(2);
  });
});

describe('symphony up', () => {
  it('boots with --once, prints one line per transition, and writes the report', async () => {
    const file = join(tmp, 'ok.json');
    const r = await run(['up', '--once', '-c', fx('system.yaml'), '--report', file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/stage 0 +a +starting/);
    expect(r.stdout).toMatch(/symphony: system ready in/);
    const report = readReport(file);
    expect(report).toMatchObject({ ok: true, system: 'ready', failure: null });
    const stage = Object.fromEntries(report.components.map((c) => [c.name, c.stage]));
    expect(stage).toEqual({ a: 0, b: 1, c: 2, d: 3, side: 1 });
    expect(report.late).toEqual([{ from: 'c', to: 'd', boundMs: report.components.find((c) => c.name === 'd')!.readyMs }]);
    // Under stage gating, c waited for the slower of b and side (stage 1): that one is on the path.
    expect(report.criticalPath).toEqual(['a', expect.stringMatching(/^(b|side)$/), 'c', 'd']);
    // Stops in reverse order after --once.
    const stops = [...r.stdout.matchAll(/stage \d +(\w+) +stopped/g)].map((m) => m[1]!);
    const at = (n: string) => stops.indexOf(n);
    expect(stops).toHaveLength(5);
    expect(at('d')).toBeLessThan(at('c'));
    expect(at('c')).toBeLessThan(at('b'));
    expect(at('b')).toBeLessThan(at('a'));
    expect(at('side')).toBeLessThan(at('a'));
  });

  it('boots a TOML system with retries: attempts 3', async () => {
    const file = join(tmp, 'toml.json');
    const r = await run(['up', '--once', '-c', fx('system.toml'), '--report', file]);
    expect(r.code).toBe(0);
    expect(readReport(file).components.find((c) => c.name === 'c')).toMatchObject({ attempts: 3, state: 'ready' });
    expect(r.stdout).toContain('attempt 1 of 3 failed; retry in');
  });

  it('fails with exit 1 and names the component at fault in the report', async () => {
    const file = join(tmp, 'fails.json');
    const r = await run(['up', '--once', '-c', basic('fails.yaml'), '--report', file]);
    expect(r.code).toBe(1);
    const report = readReport(file);
    expect(report).toMatchObject({ ok: false, system: 'failed', failure: { component: 'broken', phase: 'start', message: 'Error: broken on purpose' } });
    expect(Object.fromEntries(report.components.map((c) => [c.name, c.state]))).toEqual({ a: 'stopped', broken: 'failed', after: 'pending' });
  });

  it('times out a hanging component, names it, and rolls back in reverse order', async () => {
    const file = join(tmp, 'hang.json');
    const r = await run(['up', '--once', '-c', fx('hang.yaml'), '--report', file]);
    expect(r.code).toBe(1);
    expect(readReport(file).failure).toEqual({ component: 'hang', phase: 'timeout', message: "StartTimeoutError: 'hang' did not start within 300ms" });
    const stops = [...r.stdout.matchAll(/stage \d +(\w+) +stopped/g)].map((m) => m[1]);
    expect(stops).toEqual(['b', 'a']);
  });

  it('prints JSON lines with --log json', async () => {
    const r = await run(['up', '--once', '-c', fx('system.yaml'), '--log', 'json']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; state?: string; component?: string });
    expect(lines.filter((l) => l.type === 'component' && l.component === 'a').map((l) => l.state)).toEqual(['starting', 'ready', 'stopping', 'stopped']);
    expect(lines.find((l) => l.type === 'report')).toMatchObject({ report: { system: 'ready' } });
  });

  it('--log accepts plain, and its error and the help name pretty, plain and json', async () => {
    const bad = await run(['up', '--once', '-c', fx('system.yaml'), '--log', 'fancy']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--log must be pretty, plain or json (got 'fancy')");
    expect((await run(['--help'])).stdout).toContain('--log pretty|plain|json');
    const plain = await run(['up', '--once', '-c', fx('system.yaml'), '--log', 'plain']);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/stage 0 +a +starting/);
  });

  it('boots part of the graph with --until', async () => {
    const file = join(tmp, 'until.json');
    const r = await run(['up', '--once', '-c', fx('system.yaml'), '--until', 'b', '--report', file]);
    expect(r.code).toBe(0);
    const states = Object.fromEntries(readReport(file).components.map((c) => [c.name, c.state]));
    expect(states).toEqual({ a: 'ready', b: 'ready', c: 'skipped', d: 'skipped', side: 'skipped' });
  });

  it('rolls back and exits 143 on SIGTERM during the boot, with phase "signal"', async () => {
    const file = join(tmp, 'sigterm.json');
    const p = start(['up', '-c', fx('slow.yaml'), '--report', file]);
    await p.waitFor(/slow +starting/);
    p.child.kill('SIGTERM');
    const r = await p.result;
    expect(r.code).toBe(143);
    const report = readReport(file);
    expect(report.failure).toMatchObject({ phase: 'signal', message: 'BootAbandonedError: boot interrupted by SIGTERM' });
    expect(report.components.find((c) => c.name === 'a')!.state).toBe('stopped');
  });

  it('serves until SIGINT, then stops in reverse order and exits 0', async () => {
    const p = start(['up', '-c', fx('system.yaml')]);
    await p.waitFor('system ready');
    p.child.kill('SIGINT');
    const r = await p.result;
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/system stopped/);
    const stops = [...r.stdout.matchAll(/stage \d +(\w+) +stopped/g)].map((m) => m[1]);
    expect(stops.at(-1)).toBe('a');
  });

  it('a second signal forces the exit while a stop hangs', async () => {
    const p = start(['up', '-c', fx('stop-hangs.yaml')]);
    await p.waitFor('system ready');
    p.child.kill('SIGINT');
    await p.waitFor(/stuck +stopping/);
    const t0 = performance.now();
    p.child.kill('SIGINT');
    const r = await p.result;
    expect(r.code).toBe(130);
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(r.stderr).toContain('second SIGINT, exiting now');
  });

  it('boots the example system with a small kernel overhead', async () => {
    const file = join(tmp, 'example.json');
    const r = await run(['up', '--once', '-c', join(root, 'examples/default/symphony.yaml'), '--report', file]);
    expect(r.code).toBe(0);
    const report = readReport(file);
    expect(report.system).toBe('ready');
    // The bound is 10ms (see `npm run bench`); the test leaves room for a busy CI machine.
    expect(report.kernelOverheadMs).toBeLessThan(50);
  });
});

describe('the boot summary', () => {
  it('labels a failed component (optional) only when it is optional', async () => {
    const { writeFileSync } = await import('node:fs');
    const config = join(tmp, 'two-fail.yaml');
    writeFileSync(config, ['components:', `  a: { use: ${fx('throws.mjs')} }`, `  b: { use: ${fx('throws.mjs')} }`, `  o: { use: ${fx('throws.mjs')}, optional: true }`].join('\n'));
    const file = join(tmp, 'two-fail.json');
    const r = await run(['up', '--once', '-c', config, '--report', file]);
    expect(r.code).toBe(1);
    const report = readReport(file);
    const failed = report.components.filter((c) => c.state === 'failed' && c.name !== report.failure!.component);
    expect(failed.map((c) => c.name)).toContain('o');
    for (const c of failed) {
      if (c.optional) expect(r.stdout).toContain(`  ${c.name}: failed (optional): Error: broken on purpose`);
      else {
        expect(r.stdout).toContain(`  ${c.name}: failed: Error: broken on purpose`);
        expect(r.stdout).not.toContain(`  ${c.name}: failed (optional)`);
      }
    }
    expect(failed.some((c) => !c.optional)).toBe(true); // a and b both fail at once: one is the failure, the other is required too
  });
});

describe('symphony graph and report', () => {
  it('prints the plan as mermaid, dot and json, late edges dashed', async () => {
    const mermaid = await run(['graph', '-c', basic('late.yaml')]);
    expect(mermaid.code).toBe(0);
    expect(mermaid.stdout).toContain('flowchart LR');
    expect(mermaid.stdout).toContain('pit -. late .-> conductor');
    expect(mermaid.stdout).toContain('bus --> pit');
    const dot = await run(['graph', '-c', basic('late.yaml'), '--format', 'dot']);
    expect(dot.stdout).toContain('digraph symphony');
    expect(dot.stdout).toContain('pit -> conductor [style=dashed');
    const json = JSON.parse((await run(['graph', '-c', basic('late.yaml'), '--format', 'json'])).stdout);
    expect(json.stages).toEqual([
      { index: 0, components: ['bus'] },
      { index: 1, components: ['pit'] },
      { index: 2, components: ['orchestra'] },
      { index: 3, components: ['conductor'] },
    ]);
    expect(json.edges).toContainEqual({ from: 'pit', to: 'conductor', kind: 'late' });
    expect((await run(['graph', '-c', basic('cycle.yaml')])).code).toBe(2);
  });

  it('renders a report as a self-contained HTML timeline with the critical path', async () => {
    const file = join(tmp, 'for-html.json');
    await run(['up', '--once', '-c', fx('system.yaml'), '--report', file]);
    const out = join(tmp, 'report.html');
    const r = await run(['report', file, '-o', out]);
    expect(r.code).toBe(0);
    const html = readFileSync(out, 'utf8');
    expect(html).toContain('<svg');
    expect(html).toMatch(/Critical path: a → (b|side) → c → d/);
    expect(html).not.toMatch(/<script|<link|\ssrc=/); // self-contained
    expect((await run(['report', join(tmp, 'nope.json')])).code).toBe(2);
  });
});

describe('symphony graph with unusual names', () => {
  const names = async () => {
    const { writeFileSync } = await import('node:fs');
    const config = join(tmp, 'names.yaml');
    const use = fx('noop.mjs');
    writeFileSync(config, ['components:', `  a-b: { use: ${use} }`, `  a_b: { use: ${use}, needs: [a-b] }`, `  'x"y': { use: ${use} }`, `  'p\\': { use: ${use} }`, `  end: { use: ${use}, needs: [a_b] }`, `  node: { use: ${use} }`].join('\n'));
    return config;
  };

  it('mermaid: one node per name (a-b and a_b stay apart), labels escaped', async () => {
    const r = await run(['graph', '-c', await names()]);
    expect(r.code).toBe(0);
    const nodes = [...r.stdout.matchAll(/^ {4}(\S+)\["([^"]*)"\]$/gm)].map((m) => ({ id: m[1]!, label: m[2]! }));
    expect(nodes.map((n) => n.label).sort()).toEqual(['a-b', 'a_b', 'end', 'node', 'p#92;', 'x#34;y']);
    const ids = nodes.map((n) => n.id);
    expect(new Set(ids).size).toBe(6);
    expect(ids).not.toContain('end');
    const idOf = (label: string) => nodes.find((n) => n.label === label)!.id;
    expect(r.stdout).toContain(`  ${idOf('a-b')} --> ${idOf('a_b')}\n`);
    expect(r.stdout).toContain(`  ${idOf('a_b')} --> ${idOf('end')}`);
    expect(idOf('a-b')).not.toBe(idOf('a_b'));
  });

  it('dot: names with \\ and " are quoted and escaped, keywords quoted', async () => {
    const r = await run(['graph', '-c', await names(), '--format', 'dot']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('    "x\\"y";\n');
    expect(r.stdout).toContain('    "p\\\\";\n');
    expect(r.stdout).toContain('    "node";\n');
    expect(r.stdout).toContain('  "a-b" -> a_b;\n');
    // Every node statement is one well-formed ID.
    for (const line of r.stdout.split('\n').filter((l) => /^ {4}[^ ]/.test(l) && !/^ {4}(label|style)=/.test(l))) expect(line).toMatch(/^ {4}("(?:[^"\\]|\\.)*"|[A-Za-z_]\w*)( \[[^\]]*\])?;$/);
  });
});

describe('symphony report on a bad input or output', () => {
  it('a JSON that is not a boot report exits 2 naming the file and the first thing wrong', async () => {
    const { writeFileSync } = await import('node:fs');
    const noStage = join(tmp, 'not-a-report.json');
    writeFileSync(noStage, '{"components":[{"name":"x"}],"readyMs":5}');
    let r = await run(['report', noStage, '-o', join(tmp, 'not-a-report.html')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${noStage}: not a boot report: components[0].stage must be a number`);
    expect(r.stderr).not.toContain('internal error');
    const nullEntry = join(tmp, 'null-entry.json');
    writeFileSync(nullEntry, '{"components":[null],"readyMs":5}');
    r = await run(['report', nullEntry, '-o', join(tmp, 'null-entry.html')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${nullEntry}: not a boot report: components[0] must be an object (got null)`);
    expect(existsSync(join(tmp, 'null-entry.html'))).toBe(false);
  });

  it('an output it cannot write exits 2 naming the path', async () => {
    const file = join(tmp, 'for-bad-out.json');
    await run(['up', '--once', '-c', fx('system.yaml'), '--report', file]);
    const out = join(tmp, 'no/such/dir/x.html');
    const r = await run(['report', file, '-o', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${out}: cannot write the HTML report: no such directory (ENOENT)`);
    expect(r.stderr).not.toContain('internal error');
  });

  it('escapes every field of the report in the HTML', async () => {
    const { writeFileSync } = await import('node:fs');
    const file = join(tmp, 'xss.json');
    await run(['up', '--once', '-c', fx('system.yaml'), '--report', file]);
    const report = readReport(file);
    const evil = '<script>alert(1)</script>';
    report.components[0]!.state = evil as never;
    report.components[1]!.state = evil as never;
    report.components[1]!.startMs = null;
    report.components[2]!.name = `<img src=x onerror=alert(1)>`;
    report.components[2]!.error = evil;
    report.system = evil as never;
    report.failure = { component: evil, phase: evil as never, message: evil };
    writeFileSync(file, JSON.stringify(report));
    const out = join(tmp, 'xss.html');
    const r = await run(['report', file, '-o', out]);
    expect(r.code).toBe(0);
    const html = readFileSync(out, 'utf8');
    expect(html).not.toMatch(/<script|<img/);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });
});

describe('health endpoints', () => {
  it('serves /livez, /readyz (not ready during the boot, nor while a required component restarts) and /status', async () => {
    const { writeFileSync } = await import('node:fs');
    const flag = join(tmp, 'unhealthy.flag');
    const config = join(tmp, 'health.yaml');
    writeFileSync(
      config,
      [
        'http: { listen: 127.0.0.1:0 }',
        'components:',
        `  slow: { use: ${fx('slow.mjs')}, with: { ms: 600 } }`,
        `  svc: { use: ${fx('restartable.mjs')}, needs: [slow], health: { interval: 50ms, threshold: 1 }, restart: { strategy: one_for_one, max: 5, within: 1m }, with: { flag: ${flag}, ms: 800 } }`,
      ].join('\n'),
    );
    const p = start(['up', '-c', config, '--report', join(tmp, 'health.json')]);
    const base = await p.waitFor(/health endpoints on (http:\/\/\S+)/).then(() => /health endpoints on (http:\/\/\S+)/.exec(p.output())![1]!);
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const get = async (path: string) => {
      const r = await fetch(`${base}${path}`);
      return { status: r.status, body: await r.text() };
    };
    expect((await get('/livez')).status).toBe(200);
    expect((await get('/readyz')).status).toBe(503); // booting (slow takes 600ms)
    await p.waitFor('system ready');
    expect(await get('/readyz')).toMatchObject({ status: 200 });
    const status = JSON.parse((await get('/status')).body);
    expect(status).toMatchObject({ phase: 'running', system: 'ready' });
    expect(status.components.map((c: { name: string }) => c.name)).toEqual(['slow', 'svc']);
    // The report is written right after the boot ends (just after 'system ready' is printed).
    await until(() => existsSync(join(tmp, 'health.json')), 5000, 'the report');
    expect(readReport(join(tmp, 'health.json')).http).toBe(base);
    writeFileSync(flag, 'down');
    await until(async () => (await get('/readyz')).status === 503, 5000, '/readyz to flip to 503');
    await until(async () => (await get('/readyz')).status === 200, 5000, '/readyz to come back');
    p.child.kill('SIGTERM');
    expect((await p.result).code).toBe(0);
  }, 20_000);
});

describe('http.listen problems', () => {
  it('a bad http.listen (no port, a port above 65535, an address in use) exits 2 naming the file and the value', async () => {
    const { writeFileSync } = await import('node:fs');
    const { createServer } = await import('node:net');
    const config = (name: string, listen: string) => {
      const file = join(tmp, name);
      writeFileSync(file, [`http: { listen: "${listen}" }`, 'components:', `  a: { use: ${fx('noop.mjs')} }`].join('\n'));
      return file;
    };
    const noPort = config('listen-noport.yaml', 'localhost');
    let r = await run(['up', '--once', '-c', noPort]);
    // Refused by the config loader, at its position (symphony check says the same).
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('listen-noport.yaml:1:17: http.listen must be HOST:PORT');
    expect(r.stderr).toContain('"localhost"');
    expect(r.stderr).not.toContain('internal error');
    const big = config('listen-big.yaml', '127.0.0.1:99999');
    r = await run(['up', '--once', '-c', big]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('listen-big.yaml:1:17: http.listen must be HOST:PORT with a port 0 to 65535');
    expect(r.stderr).toContain('"127.0.0.1:99999"');
    expect(r.stdout).not.toContain('starting'); // nothing booted
    const server = createServer();
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    const port = (server.address() as { port: number }).port;
    try {
      const busy = config('listen-busy.yaml', `127.0.0.1:${port}`);
      r = await run(['up', '--once', '-c', busy]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`${busy}: http.listen '127.0.0.1:${port}': cannot listen: address in use (EADDRINUSE)`);
      expect(r.stderr).not.toContain('internal error');
    } finally {
      server.close();
    }
  });
});

describe('/status and the bus', () => {
  it('reports the statistics of the builtin:bus component whatever its name', async () => {
    const { writeFileSync } = await import('node:fs');
    const config = join(tmp, 'named-bus.yaml');
    writeFileSync(config, ['http: { listen: 127.0.0.1:0 }', 'components:', '  mq: { use: builtin:bus, with: { listen: none } }', `  bus: { use: ${fx('noop.mjs')} }`].join('\n'));
    const p = start(['up', '-c', config]);
    try {
      await p.waitFor('system ready');
      const base = /health endpoints on (http:\/\/\S+)/.exec(p.output())![1]!;
      const status = JSON.parse(await (await fetch(`${base}/status`)).text());
      expect(status.bus).not.toBeNull();
      expect(status.bus).toMatchObject({ methods: expect.any(Number), inflight: 0 });
    } finally {
      p.child.kill('SIGTERM');
    }
    expect((await p.result).code).toBe(0);
  }, 20_000);
});

describe('the whole system from the command line', () => {
  it('boots the embedded default system with up --once (what npm start boots)', async () => {
    const file = join(tmp, 'default.json');
    const r = await run(['up', '--once', '--report', file], tmp);
    expect(r.code).toBe(0);
    const report = readReport(file);
    expect(report.system).toBe('ready');
    expect(report.stages.map((s) => s.components)).toEqual([['bus'], ['pit'], ['orchestra'], ['conductor']]);
    expect(report.late[0]).toMatchObject({ from: 'pit', to: 'conductor' });
    expect(report.late[0]!.boundMs).not.toBeNull();
    expect(report.http).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  }, 30_000);

  it('runs a melody with symphony run: exit 0 and its outputs; a bad melody exits 2 naming the problem', async () => {
    const ok = await run(['run', join(root, 'examples/melodies/word-stats.yaml'), '-i', 'text=one two three four', '--json'], tmp);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ state: 'succeeded', outputs: { words: 4 } });
    const bad = await run(['run', join(root, 'test/fixtures/conductor/unknown-method.yaml')], tmp);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("unknown-method.yaml:3:14: step 'a' calls 'text.nonsense', which nobody serves (unknown method)");
    const missing = await run(['run', join(root, 'examples/melodies/word-stats.yaml')], tmp);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("word-stats.yaml:5:3: missing input 'text' of melody 'word-stats'"); // at its declaration
  }, 30_000);

  it('python3 -m symphony_conductor up --once starts the same system the other way round', async () => {
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync('python3', ['-m', 'symphony_conductor', 'up', '--once', '--report', join(tmp, 'py.json')], { cwd: tmp, env: { ...process.env, PYTHONPATH: join(root, 'python') }, encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(0);
    const report = readReport(join(tmp, 'py.json'));
    expect(report.system).toBe('ready');
    expect(report.components.find((c) => c.name === 'conductor')).toMatchObject({ mode: 'command', state: 'ready' });
  }, 60_000);

  it('Ctrl-C on python3 -m symphony_conductor up stops everything in order', async () => {
    const child = spawn('python3', ['-m', 'symphony_conductor', 'up'], { cwd: tmp, env: { ...process.env, PYTHONPATH: join(root, 'python'), NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    await until(() => out.includes('system ready'), 30_000, 'the system to be ready');
    child.kill('SIGINT');
    const code = await new Promise((r) => child.on('close', r));
    expect(code).toBe(0);
    const stops = [...out.matchAll(/stage \d +(\w+) +stopped/g)].map((m) => m[1]);
    expect(stops).toEqual(['melodies', 'conductor', 'orchestra', 'pit', 'bus']);
  }, 60_000);
});
