// npm run mutate [part...] [--survivors]
// Runs StrykerJS over each part in turn (stryker/<part>.config.mjs), one part at a time so the
// machine's two cores are not oversubscribed, then prints each part's score from its committed
// incremental file (reports/mutation/<part>.incremental.json). With --survivors it also lists
// every surviving and uncovered mutant by file and line, which is what a new test must kill.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';

const ALL = ['container', 'bootstrap', 'pit', 'pit-arbiter', 'bus', 'bus-calls', 'orchestra'];
const args = process.argv.slice(2);
const survivors = args.includes('--survivors');
const reportOnly = args.includes('--report');
const parts = args.filter((a) => !a.startsWith('--'));
for (const p of parts) {
  if (!ALL.includes(p)) {
    console.error(`mutate: unknown part '${p}'; the parts are ${ALL.join(', ')}`);
    process.exit(2);
  }
}
const chosen = parts.length > 0 ? parts : ALL;
const root = resolve(import.meta.dirname, '..');

/** Counts of one part's mutants by status, read from its incremental report. */
function tally(part) {
  const file = resolve(root, `reports/mutation/${part}.incremental.json`);
  if (!existsSync(file)) return undefined;
  const report = JSON.parse(readFileSync(file, 'utf8'));
  const n = { Killed: 0, Timeout: 0, Survived: 0, NoCoverage: 0, CompileError: 0, RuntimeError: 0, Ignored: 0 };
  const left = [];
  for (const [path, f] of Object.entries(report.files)) {
    for (const m of f.mutants) {
      n[m.status] = (n[m.status] ?? 0) + 1;
      if (m.status === 'Survived' || m.status === 'NoCoverage') {
        left.push(`  ${m.status === 'Survived' ? 'survived' : 'no-cov  '} ${path}:${m.location.start.line}:${m.location.start.column} ${m.mutatorName} -> ${JSON.stringify(m.replacement ?? '').slice(0, 80)}`);
      }
    }
  }
  const detected = n.Killed + n.Timeout;
  const valid = detected + n.Survived + n.NoCoverage;
  return { n, score: valid === 0 ? 100 : (100 * detected) / valid, left };
}

let failed = false;
if (!reportOnly) {
  for (const part of chosen) {
    console.log(`\n=== mutate ${part} ===`);
    const r = spawnSync('npx', ['stryker', 'run', `stryker/${part}.config.mjs`], { cwd: root, stdio: 'inherit' });
    if (r.status !== 0) {
      console.error(`mutate: stryker failed on ${part} (exit ${r.status})`);
      failed = true;
    }
  }
}

console.log('\npart         score   killed timeout survived no-cov ignored');
for (const part of chosen) {
  const t = tally(part);
  if (t === undefined) {
    console.log(`${part.padEnd(11)}  (not run yet: reports/mutation/${part}.incremental.json is missing)`);
    continue;
  }
  const { n, score } = t;
  console.log(`${part.padEnd(11)} ${score.toFixed(2).padStart(6)}% ${String(n.Killed).padStart(7)} ${String(n.Timeout).padStart(7)} ${String(n.Survived).padStart(8)} ${String(n.NoCoverage).padStart(6)} ${String(n.Ignored).padStart(7)}`);
  if (survivors) console.log(t.left.join('\n'));
}
process.exit(failed ? 1 : 0);
