// Child process for the etcd soak: runs inside the namespace that holds
// etcd (the test process in the root namespace cannot reach it), writes
// the initial fake leases, prints "ready", and on "go" on stdin churns at
// the given rate (alternating adds and deletes) for the given time, then
// prints one JSON line: { ops, ms, live } (live = the subnets left).
// argv: endpoint initial rate durationMs

import { createInterface } from 'node:readline';
import { parseCidr } from '../../src/net/cidr';
import { EtcdStore } from '../../src/store/etcd-store';
import { leaseAttrsFor } from '../../src/store/lease-json';

const [endpoint, initialArg, rateArg, msArg] = process.argv.slice(2);
const initial = Number(initialArg);
const rate = Number(rateArg);
const durationMs = Number(msArg);
const store = new EtcdStore({ endpoints: [endpoint!] });
const macOf = (i: number): string =>
  `0e:5a:${[(i >> 16) & 255, (i >> 8) & 255, i & 255, 0].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
const subnetOf = (i: number): string => `10.${100 + (i >> 8)}.${i & 255}.0/24`;
const live = new Set<string>();
let next = 0;

async function add(): Promise<void> {
  const i = next++;
  await store.put(
    parseCidr(subnetOf(i), { strict: true })!,
    leaseAttrsFor('vxlan', `198.18.0.${200 + (i % 50)}`, { vni: 1, vtepMac: macOf(i) }),
    null,
  );
  live.add(subnetOf(i));
}
async function removeOne(): Promise<void> {
  const victim = live.values().next().value as string | undefined;
  if (!victim) return;
  live.delete(victim);
  await store.delete(parseCidr(victim, { strict: true })!);
}

async function main(): Promise<void> {
  for (let i = 0; i < initial; i++) await add();
  process.stdout.write('ready\n');
  await new Promise<void>((r) => createInterface({ input: process.stdin }).once('line', () => r()));
  const t0 = Date.now();
  let ops = 0;
  while (Date.now() - t0 < durationMs) {
    const due = Math.floor(((Date.now() - t0) / 1000) * rate);
    while (ops < due) {
      if (ops % 2 === 0) await add();
      else await removeOne();
      ops++;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  process.stdout.write(`${JSON.stringify({ ops, ms: Date.now() - t0, live: [...live] })}\n`);
  await store.close();
}

main().catch((err: Error) => {
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
});
