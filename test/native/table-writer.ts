// Child process for test/native/table.test.ts, so that the table's writer
// and its readers live in different processes.
//
//   table-writer torture PATH COUNT   opens PATH as the writer, seeds the torture
//                                     entries, prints {"ready":true}, waits for a
//                                     line on stdin, rewrites entries COUNT times,
//                                     prints {"writes":N,"ms":T} and exits
//   table-writer dump PATH            opens PATH read-only and prints its entries
//
// Torture invariant (shared with native/test/core_test.cc): the entry written
// with counter c has publicIp = c and vtepMac = 02:<prefixLen>:<~c, 4 bytes>.

import { once } from 'node:events';
import { BackendId, loadAddon, type NativeTable } from '../../src/dataplane/native';

export const kTortureGeometry = { network: 0x0af40000, networkPrefixLen: 16, subnetLen: 24, backend: BackendId.vxlan };

/** 64 direct /24s and 16 overflow /25s inside some of them. */
export const kTortureKeys: [number, number][] = [
  ...Array.from({ length: 64 }, (_, i): [number, number] => [(0x0af40000 | ((i * 4) << 8)) >>> 0, 24]),
  ...Array.from({ length: 16 }, (_, i): [number, number] => [(0x0af40000 | ((i * 16) << 8) | 0x80) >>> 0, 25]),
];

export function tortureSet(t: NativeTable, subnet: number, prefixLen: number, c: number): void {
  const ip = Buffer.alloc(4);
  ip.writeUInt32BE(c >>> 0);
  const mac = Buffer.from([0x02, prefixLen, 0, 0, 0, 0]);
  mac.writeUInt32BE(~c >>> 0, 2);
  t.set(subnet, prefixLen, ip, mac, BackendId.vxlan);
}

async function main(): Promise<void> {
  const [mode, path, count] = process.argv.slice(2);
  const { NativeTable } = loadAddon();
  if (mode === 'dump') {
    const t = new NativeTable(path!, null);
    const entries = t.entries().map((e) => ({ ...e, publicIp: e.publicIp.toString('hex'), vtepMac: e.vtepMac?.toString('hex') }));
    process.stdout.write(`${JSON.stringify(entries)}\n`);
    t.close();
    return;
  }
  if (mode !== 'torture') throw new Error(`unknown mode ${mode}`);
  const t = new NativeTable(path!, kTortureGeometry);
  let c = 1;
  for (const [s, l] of kTortureKeys) tortureSet(t, s, l, c++);
  process.stdout.write('{"ready":true}\n');
  await once(process.stdin, 'data');
  const n = Number(count);
  const t0 = performance.now();
  let x = 12345;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const [s, l] = kTortureKeys[(x >>> 8) % kTortureKeys.length]!;
    c = c === 0xffffffff ? 1 : c + 1;
    tortureSet(t, s, l, c);
  }
  process.stdout.write(`${JSON.stringify({ writes: n, ms: Math.round(performance.now() - t0), generation: t.header().generation })}\n`);
  t.close();
  process.stdin.destroy();
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${String((err as Error).stack ?? err)}\n`);
    process.exit(1);
  });
}
