// Load generators shared by the bench process (bench/bus.ts) and the helper processes that drive
// the reverse direction (raw-echo.mjs, symphony-peer.mjs): every candidate is driven by the same
// code, with the same payloads. `call(params)` sends one request and resolves with its result.

/** The payload of request i (the same for every candidate). */
export function payload(i) {
  return { n: i, text: 'hello' };
}

function check(result, i) {
  if (result === null || typeof result !== 'object' || result.n !== i) {
    throw new Error(`bad echo for request ${i}: ${JSON.stringify(result)?.slice(0, 200)}`);
  }
}

/**
 * `n` requests one at a time (request/response round trips). Pushes each round trip's latency in
 * microseconds to `lat`; resolves with the total milliseconds.
 */
export async function sequential(call, n, lat) {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    const r = await call(payload(i));
    lat.push((performance.now() - s) * 1000);
    check(r, i);
  }
  return performance.now() - t0;
}

/**
 * `n` requests with `window` of them outstanding at all times (a new one goes out as each answer
 * arrives). Pushes each request's latency (send to answer, microseconds) to `lat`; resolves with
 * the total milliseconds.
 */
export function windowed(call, n, window, lat) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let sent = 0;
    let done = 0;
    let failed = false;
    const one = () => {
      const i = sent++;
      const s = performance.now();
      call(payload(i)).then(
        (r) => {
          if (failed) return;
          lat.push((performance.now() - s) * 1000);
          try {
            check(r, i);
          } catch (err) {
            failed = true;
            return reject(err);
          }
          done++;
          if (sent < n) one();
          else if (done === n) resolve(performance.now() - t0);
        },
        (err) => {
          if (failed) return;
          failed = true;
          reject(err);
        },
      );
    };
    for (let k = 0; k < Math.min(window, n); k++) one();
  });
}

/** Latencies rounded to 0.1 µs for the trip back to the bench process. */
export function compact(lat) {
  return lat.map((v) => Math.round(v * 10) / 10);
}
