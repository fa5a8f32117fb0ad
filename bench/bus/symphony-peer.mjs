// A Symphony peer for the bus benchmark: the real client (connect() from dist/bus), spawned by the
// bench's kernel with bus.spawnPeer over stdio or the bus's Unix socket.
//
//   bench.echo   params -> params (the handler under test)
//   bench.hang   never answers (failure detection: the bench SIGKILLs this process)
//   events on $BENCH_EVENTS: answers each with the event bench.ack {seq, t} (t: CLOCK_MONOTONIC
//     in ns, process.hrtime, comparable across processes on one machine)
//   events on $BENCH_COMMANDS {id, mode, n, window}: drives kernel.echo with the shared load
//     generators (the peer -> kernel direction), then reports with kernel.driven {id, ms, lat}
import { connect } from '../../dist/bus/index.js';
import { compact, sequential, windowed } from './drivers.mjs';

const bus = await connect({ name: 'bench-peer' });
const waits = [bus.handle('bench.echo', (params) => params).ready, bus.handle('bench.hang', () => new Promise(() => {})).ready];
if (process.env.BENCH_EVENTS) {
  const sub = bus.subscribe(process.env.BENCH_EVENTS, (data) => bus.publish('bench.ack', { seq: data.seq, t: Number(process.hrtime.bigint()) }));
  waits.push(sub.ready);
}
if (process.env.BENCH_COMMANDS) {
  const call = (params) => bus.request('kernel.echo', params);
  const sub = bus.subscribe(process.env.BENCH_COMMANDS, async ({ id, mode, n, window }) => {
    const lat = [];
    const ms = mode === 'rtt' ? await sequential(call, n, lat) : await windowed(call, n, window, lat);
    await bus.request('kernel.driven', { id, ms, lat: compact(lat) });
  });
  waits.push(sub.ready);
}
await Promise.all(waits);
bus.ready();
