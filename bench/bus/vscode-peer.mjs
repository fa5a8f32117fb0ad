// vscode-jsonrpc (v10) server, written the idiomatic way: createMessageConnection over a
// StreamMessageReader/Writer (its Content-Length framing) on stdio or a Unix socket, one request
// handler. Usage: node vscode-peer.mjs stdio | socket <path>
import { createMessageConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node';
import { openChannel } from './channel.mjs';

const { input, output } = await openChannel();
const connection = createMessageConnection(new StreamMessageReader(input), new StreamMessageWriter(output));
connection.onRequest('echo', (params) => params);
connection.onClose(() => process.exit(0));
connection.listen();
