/**
 * A/B of the kernel's cold start between two built checkouts, to tell whether a change helps:
 *
 *   node bench/cold/ab.mjs DIR_A DIR_B [SIZE=10000] [ROUNDS=9]
 *
 * Each round runs, in a shuffled order, `node DIR/bench/cold/child.mjs symphony SIZE` for A and B
 * and the floor once; each child imports its own checkout's dist/ (both must be built). Prints
 * the median CPU time (user + system of the child) of each and the median per-round ratio to that
 * round's floor, and B / A per round: on a shared machine only same-round ratios mean anything.
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const [dirA, dirB, sizeArg = '10000', roundsArg = '9'] = process.argv.slice(2);
if (!dirA || !dirB) {
  console.error('usage: node bench/cold/ab.mjs DIR_A DIR_B [SIZE] [ROUNDS]');
  process.exit(2);
}

async function sample(dir, candidate) {
  const { stdout } = await run(process.execPath, [resolve(dir, 'bench/cold/child.mjs'), candidate, sizeArg], { cwd: resolve(dir), maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim().split('\n').pop());
}

const median = (v) => {
  const s = [...v].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const jobs = [
  ['floor', dirA, 'floor'],
  ['A', dirA, 'symphony'],
  ['B', dirB, 'symphony'],
];
const cpu = { floor: [], A: [], B: [] };
const stop = { floor: [], A: [], B: [] };
const ratio = { A: [], B: [], stopA: [], stopB: [], BA: [] };
for (let r = 0; r < Number(roundsArg); r++) {
  const got = {};
  for (const [name, dir, candidate] of [...jobs].sort(() => Math.random() - 0.5)) got[name] = await sample(dir, candidate);
  for (const name of Object.keys(cpu)) {
    cpu[name].push(got[name].startCpuMs);
    stop[name].push(got[name].stopMs);
  }
  ratio.A.push(got.A.startCpuMs / got.floor.startCpuMs);
  ratio.B.push(got.B.startCpuMs / got.floor.startCpuMs);
  ratio.stopA.push(got.A.stopMs / got.floor.stopMs);
  ratio.stopB.push(got.B.stopMs / got.floor.stopMs);
  ratio.BA.push(got.B.startCpuMs / got.A.startCpuMs);
}
const f = (x) => x.toFixed(2);
console.log(`size ${sizeArg}, ${roundsArg} rounds; CPU ms of the start (median), x floor (median per round), stop x floor`);
console.log(`  floor  ${f(median(cpu.floor))} ms`);
console.log(`  A      ${f(median(cpu.A))} ms  ${f(median(ratio.A))}x  stop ${f(median(ratio.stopA))}x   (${dirA})`);
console.log(`  B      ${f(median(cpu.B))} ms  ${f(median(ratio.B))}x  stop ${f(median(ratio.stopB))}x   (${dirB})`);
console.log(`  B / A  ${f(median(ratio.BA))} (per round: ${ratio.BA.map(f).join(' ')})`);
