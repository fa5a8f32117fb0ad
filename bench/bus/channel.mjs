// The byte channel of a baseline helper process: `stdio` (frames on stdin/stdout, as the kernel's
// spawned peers) or `socket <path>` (it connects to a Unix socket the bench process listens on).
// Either way the helper exits when the bench process is gone (stdin EOF) or the connection closes.
import { connect } from 'node:net';

export function openChannel(argv = process.argv.slice(2)) {
  const [mode, path] = argv;
  const bye = () => process.exit(0);
  if (mode === 'socket') {
    if (!path) throw new Error('usage: socket <path>');
    const socket = connect(path);
    socket.setNoDelay(true);
    socket.on('close', bye);
    socket.on('error', bye);
    process.stdin.on('end', bye);
    process.stdin.on('error', bye);
    process.stdin.resume();
    return new Promise((resolve) => socket.once('connect', () => resolve({ input: socket, output: socket })));
  }
  if (mode !== 'stdio') throw new Error(`unknown mode '${mode}' (stdio | socket <path>)`);
  process.stdin.on('end', bye);
  process.stdin.on('error', bye);
  process.stdout.on('error', bye);
  return Promise.resolve({ input: process.stdin, output: process.stdout });
}

/** Calls `onLine(text)` for every newline-terminated line of a byte stream (a minimal NDJSON reader). */
export function onLines(input, onLine, onChunkEnd) {
  input.setEncoding('utf8');
  let buf = '';
  input.on('data', (chunk) => {
    buf += chunk;
    let start = 0;
    let nl;
    while ((nl = buf.indexOf('\n', start)) !== -1) {
      onLine(buf.slice(start, nl));
      start = nl + 1;
    }
    buf = start === buf.length ? '' : buf.slice(start);
    onChunkEnd?.();
  });
}
