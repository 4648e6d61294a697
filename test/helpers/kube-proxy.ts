// Run inside a test namespace: `node kube-proxy.js IP PORT SOCKET` pipes every
// TCP connection to IP:PORT through to the unix socket of the test API server
// (kube-api-server.ts), bytes unchanged (TLS stays end to end).

import { connect, createServer } from 'node:net';

const [ip, port, socket] = process.argv.slice(2);
if (!ip || !port || !socket) {
  process.stderr.write('usage: kube-proxy IP PORT SOCKET\n');
  process.exit(2);
}
createServer((client) => {
  const upstream = connect(socket);
  client.pipe(upstream).pipe(client);
  const end = (): void => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', end);
  upstream.on('error', end);
  client.on('close', end);
  upstream.on('close', end);
}).listen(Number(port), ip);
