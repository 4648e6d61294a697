// A checked TCP transfer: `serve IP PORT` accepts one connection, hashes
// what it receives and sends back "<sha256> <bytes>\n"; `send IP PORT BYTES
// [LOCAL_IP]` streams random bytes, hashes them and prints one JSON line with
// both ends' hashes and byte counts and the throughput it saw.

import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer } from 'node:net';

const [mode, host, portText, bytesText, localAddress] = process.argv.slice(2);
const port = Number(portText);

if (mode === 'serve') {
  const server = createServer((sock) => {
    const hash = createHash('sha256');
    let bytes = 0;
    sock.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
    });
    sock.on('end', () => {
      const digest = hash.digest('hex');
      sock.end(`${digest} ${bytes}\n`);
      process.stdout.write(JSON.stringify({ sha256: digest, bytes }) + '\n');
      server.close();
    });
  });
  server.listen(port, host, () => process.stdout.write('listening\n'));
} else if (mode === 'send') {
  const total = Number(bytesText);
  const hash = createHash('sha256');
  const chunk = 1 << 20;
  let sent = 0;
  const started = process.hrtime.bigint();
  const sock = connect({ host: host!, port, ...(localAddress ? { localAddress } : {}) }, () => {
    const pump = (): void => {
      while (sent < total) {
        const buf = randomBytes(Math.min(chunk, total - sent));
        hash.update(buf);
        sent += buf.length;
        if (!sock.write(buf)) {
          sock.once('drain', pump);
          return;
        }
      }
      sock.end();
    };
    pump();
  });
  let reply = '';
  sock.on('data', (d: Buffer) => (reply += d.toString()));
  sock.on('end', () => {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const [serverSha256, serverBytes] = reply.trim().split(' ');
    process.stdout.write(
      JSON.stringify({
        sha256: hash.digest('hex'),
        bytes: sent,
        serverSha256,
        serverBytes: Number(serverBytes),
        seconds,
        gbps: (sent * 8) / seconds / 1e9,
      }) + '\n',
    );
  });
  sock.on('error', (e) => {
    process.stderr.write(`transfer: ${e.message}\n`);
    process.exit(1);
  });
} else {
  process.stderr.write('usage: transfer serve IP PORT | send IP PORT BYTES [LOCAL_IP]\n');
  process.exit(2);
}
