/**
 * Preloaded into an isolated extension without `net` when network namespaces are unavailable:
 * Node's network modules refuse to connect. Weaker than a namespace (native code could bypass
 * it, but the permission model already forbids native addons), so the Orchestra says so.
 */
import dgram from 'node:dgram';
import net from 'node:net';

function denied(what: string): never {
  const err = new Error(`network access denied (${what}): this extension's manifest does not grant permissions.net`) as NodeJS.ErrnoException;
  err.code = 'ERR_ACCESS_DENIED';
  throw err;
}

net.Socket.prototype.connect = function connect(): never {
  return denied('net.Socket.connect');
};
net.connect = net.createConnection = (() => denied('net.connect')) as typeof net.connect;
net.Server.prototype.listen = function listen(): never {
  return denied('net.Server.listen');
};
dgram.createSocket = (() => denied('dgram.createSocket')) as typeof dgram.createSocket;
