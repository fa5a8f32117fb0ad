// birpc (v4) server, idiomatic: createBirpc with `post`/`on` over NDJSON lines (serialize
// JSON.stringify, deserialize JSON.parse), on stdio or a Unix socket.
// Usage: node birpc-peer.mjs stdio | socket <path>
import { createBirpc } from 'birpc';
import { onLines, openChannel } from './channel.mjs';

const { input, output } = await openChannel();
let deliver = () => {};
createBirpc(
  { echo: (params) => params },
  {
    post: (data) => void output.write(`${data}\n`),
    on: (fn) => void (deliver = fn),
    serialize: JSON.stringify,
    deserialize: JSON.parse,
  },
);
onLines(input, (line) => deliver(line));
