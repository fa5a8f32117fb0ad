// The transport baseline: a hand-written minimal NDJSON JSON-RPC echo. Per incoming chunk:
// JSON.parse each line, JSON.stringify the answer, one write of all answers. No validation,
// no ids of its own, no deadlines: the least any JSON-lines RPC has to do.
//
// It can also drive the other direction (the bench process echoing): on a line
// {"drive": {"mode": "rtt"|"pipeline", "n", "window"}} it sends requests with the same load
// generators as the bench process and answers {"driven": {"ms", "lat"}}.
import { compact, sequential, windowed } from './drivers.mjs';
import { onLines, openChannel } from './channel.mjs';

const { input, output } = await openChannel();

let out = '';
const pending = new Map();
let nextId = 0;
let queued = '';
let flushing = false;
const flush = () => {
  flushing = false;
  const data = queued;
  queued = '';
  if (data) output.write(data);
};
/** The driving side's request: batched per tick, like every other client here. */
const call = (params) =>
  new Promise((resolve) => {
    const id = ++nextId;
    pending.set(id, resolve);
    queued += `${JSON.stringify({ jsonrpc: '2.0', id, method: 'echo', params })}\n`;
    if (!flushing) {
      flushing = true;
      process.nextTick(flush);
    }
  });

async function drive({ mode, n, window }) {
  const lat = [];
  const ms = mode === 'rtt' ? await sequential(call, n, lat) : await windowed(call, n, window, lat);
  output.write(`${JSON.stringify({ driven: { ms, lat: compact(lat) } })}\n`);
}

onLines(
  input,
  (line) => {
    const m = JSON.parse(line);
    if (m.method !== undefined) {
      out += `${JSON.stringify({ jsonrpc: '2.0', id: m.id, result: m.params })}\n`;
    } else if (m.drive !== undefined) {
      void drive(m.drive);
    } else {
      const resolve = pending.get(m.id);
      pending.delete(m.id);
      resolve?.(m.result);
    }
  },
  () => {
    if (out) {
      output.write(out);
      out = '';
    }
  },
);
