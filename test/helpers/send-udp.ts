// Sends raw UDP datagrams: `send-udp SRC_IP DST_IP PORT HEX [HEX...]` (IPv4 or IPv6 addresses).
// Used inside a namespace to throw malformed frames at a data plane.

import { createSocket } from 'node:dgram';

const [src, dst, port, ...payloads] = process.argv.slice(2);
const sock = createSocket(src!.includes(':') ? 'udp6' : 'udp4');
sock.bind(0, src, async () => {
  for (const hex of payloads) {
    await new Promise<void>((resolve, reject) =>
      sock.send(Buffer.from(hex, 'hex'), Number(port), dst, (err) => (err ? reject(err) : resolve())),
    );
  }
  sock.close();
});
