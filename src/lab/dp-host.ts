// A data plane in a child process, for end-to-end tests: started inside a
// network namespace (`ip netns exec NS node dp-host.js '<options json>'`),
// driven by JSON lines on stdin, answering with JSON lines on stdout.
//
//   -> {"id":1,"op":"set","arg":{"subnet":"10.244.2.0/24","publicIp":"198.18.0.2","vtepMac":"…"}}
//   <- {"id":1,"ok":true,"result":null}
//
// The first line it prints is {"ready":true,"vtepMac":…,"vtepMacV6":…} or {"ready":false,"error":…}.
//
// With a second argument, a unix socket path, it takes the data plane over
// from a predecessor listening there (if any), then listens there itself
// and hands its data plane to the next dp-host that connects, and exits.

import { existsSync, unlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { DataPlane } from '../index';
import { handOff, kReleased, takeOver, type HandedOver } from '../dataplane/handoff';

type Op = 'set' | 'delete' | 'stats' | 'entries' | 'health' | 'close';

async function main(): Promise<void> {
  let dp: DataPlane;
  const handoffPath = process.argv[3];
  try {
    let adopted: HandedOver<unknown> | undefined;
    if (handoffPath && existsSync(handoffPath)) adopted = takeOver<unknown>(handoffPath);
    dp = await DataPlane.open(JSON.parse(process.argv[2] ?? '{}'), adopted?.fds);
  } catch (e) {
    const err = e as { code?: string; message?: string; option?: string };
    process.stdout.write(JSON.stringify({ ready: false, error: { code: err.code, message: err.message, option: err.option } }) + '\n');
    process.exit(2);
  }
  process.stdout.write(
    JSON.stringify({ ready: true, vtepMac: dp.vtepMac ?? null, vtepMacV6: dp.vtepMacV6 ?? null, reattached: dp.reattached }) + '\n',
  );
  if (handoffPath) {
    if (existsSync(handoffPath)) unlinkSync(handoffPath);
    const server = createServer({ pauseOnConnect: true }, (socket) => {
      const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
      if (typeof fd !== 'number') {
        socket.destroy();
        return;
      }
      handOff(fd, dp, { pid: process.pid });
      socket.end(kReleased, () => process.exit(0));
    });
    await new Promise<void>((resolve) => server.listen(handoffPath, resolve));
    server.unref();
  }
  const shutdown = async (): Promise<void> => {
    await dp.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown());
  const lines = createInterface({ input: process.stdin });
  lines.on('close', () => void shutdown());
  for await (const line of lines) {
    const { id, op, arg } = JSON.parse(line) as { id: number; op: Op; arg: unknown };
    try {
      let result: unknown = null;
      if (op === 'set') dp.table.set(arg as Parameters<typeof dp.table.set>[0]);
      else if (op === 'delete') result = dp.table.delete(arg as string);
      else if (op === 'stats') result = dp.stats();
      else if (op === 'entries') result = dp.table.entries();
      else if (op === 'health') result = { pid: process.pid, fatalErrno: dp.fatalErrno(), closed: dp.closed };
      else if (op === 'close') {
        await dp.close();
        process.stdout.write(JSON.stringify({ id, ok: true, result }) + '\n');
        process.exit(0);
      }
      process.stdout.write(JSON.stringify({ id, ok: true, result }) + '\n');
    } catch (e) {
      const err = e as { code?: string; message?: string };
      process.stdout.write(JSON.stringify({ id, ok: false, error: { code: err.code, message: err.message } }) + '\n');
    }
  }
}

void main();
