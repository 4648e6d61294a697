// One scenario for the etcd-cluster fault tests (leader killed, member
// partitioned away): agents on a 3-member etcd, a 10 ms ping stream between
// two of their pods, /readyz polled every 100 ms; the fault is injected,
// then a lease is added and one deleted through the members still in the
// quorum. Measured: when the write was accepted, when each agent applied
// both changes (an event not applied within 20 s counts as missed), how long
// /readyz was not 200, the ping stream's loss and longest gap.

import { EtcdCluster } from './etcd-cluster';
import { PingStream, type PingStreamResult } from './ping-stream';
import { tableSubnets } from './table-equals-store';
import { httpGet, until } from './weft-agent';
import { Cluster, type Node } from './weft-cluster';

export const kPrefix = '/coreos.com/network';
export const kAdded = '10.244.201.0/24';
export const kDeleted = '10.244.200.0/24';

export const fakeLease = (ip: string, mac: string): string =>
  `{"PublicIP":"${ip}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${mac}"}}`;
const keyOf = (subnet: string): string => `${kPrefix}/subnets/${subnet.replace('/', '-')}`;

/** Writes the lease the scenario deletes; call before the agents start. */
export function seedLeases(etcd: EtcdCluster): void {
  etcd.ctl('put', keyOf(kDeleted), fakeLease('198.18.0.201', '0e:5a:00:00:00:c8'));
}

const kVxlanConfig = '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":1}}';

/**
 * The scenario's lab: two `weft run` vxlan agents (health on 127.0.0.1:8081)
 * given every endpoint of a 3-member etcd holding the config and the seeded
 * lease, both ready and with their pod addresses. Namespaces `e2-…<label>`.
 */
export async function faultLab(label: string): Promise<{ c: Cluster; etcd: EtcdCluster }> {
  const c = new Cluster(label, 2, kVxlanConfig, { prefix: 'e2' });
  const etcd = new EtcdCluster(c.sw, { size: 3, prefix: 'e2', label: `${label}m` });
  try {
    await etcd.start();
    etcd.ctl('put', `${kPrefix}/config`, kVxlanConfig);
    seedLeases(etcd);
    for (const n of c.nodes) c.start(n, [...etcd.agentArgs(), '--healthz-ip', '127.0.0.1', '--healthz-port', '8081']);
    for (const n of c.nodes) {
      await n.agent!.waitReady(30_000);
      c.learn(n);
    }
  } catch (err) {
    await c.destroy();
    await etcd.destroy();
    throw err;
  }
  return { c, etcd };
}

export interface FaultFigures {
  /** From the fault to the add being accepted by the quorum. */
  writeMs: number;
  /** Per agent: from the fault to both changes in its table (undefined: not within 20 s). */
  appliedMs: (number | undefined)[];
  /** Changes not applied by some agent (2 per agent at most). */
  eventsMissed: number;
  /** Longest stretch /readyz was not 200 on any agent, and when the last one ended (from the fault). */
  notReadyMs: number;
  readyAgainMs: number;
  pings: PingStreamResult;
  /** When the longest ping gap began, ms from the fault (negative: before it). */
  gapAtMs: number;
  /** The sequence numbers either side of the longest gap (a burst after it: packets held, not ping starved). */
  gapSeqs: string;
  /** The same ping stream on the underlay, beside weft: its gap is the machine's, not the overlay's. */
  control: PingStreamResult;
  controlGapAtMs: number;
  /** The subnets keys in the store afterwards. */
  keys: string[];
}

export async function changesDuringFault(etcd: EtcdCluster, agents: Node[], fault: () => Promise<void> | void): Promise<FaultFigures> {
  const [a, b] = agents as [Node, Node];
  for (const n of agents) await until(() => tableSubnets(n).has(kDeleted), 10_000, `${kDeleted} in the table of ${n.ip}`);
  const stream = new PingStream(a.ns, b.pod!, { src: a.pod! });
  // The control: the same ping on the underlay (not through weft), to tell a stalled machine from a stalled overlay.
  const control = new PingStream(a.ns, b.ip);
  await until(() => stream.replies >= 20 && control.replies >= 20, 5000, 'pings flowing');

  // /readyz of every agent every 100 ms, in the background.
  let polling = true;
  const bad = agents.map(() => ({ first: 0, last: 0, longest: 0, runStart: 0 }));
  let t0 = Date.now();
  const poller = (async () => {
    while (polling) {
      const now = Date.now();
      agents.forEach((n, i) => {
        const s = bad[i]!;
        if (httpGet(n.ns, 'http://127.0.0.1:8081/readyz').status !== 200) {
          if (!s.runStart) s.runStart = now;
          if (!s.first) s.first = now;
          s.last = now;
          s.longest = Math.max(s.longest, now - s.runStart + 100);
        } else s.runStart = 0;
      });
      await new Promise((r) => setTimeout(r, Math.max(0, 100 - (Date.now() - now))));
    }
  })();

  t0 = Date.now();
  await fault();
  const writeMs = await etcd.write('put', keyOf(kAdded), fakeLease('198.18.0.202', '0e:5a:00:00:00:c9'));
  await etcd.write('del', keyOf(kDeleted));
  const appliedMs = await Promise.all(
    agents.map(async (n) => {
      try {
        await until(
          () => {
            const s = tableSubnets(n);
            return s.has(kAdded) && !s.has(kDeleted);
          },
          20_000,
          'both changes applied',
        );
        return Date.now() - t0;
      } catch {
        return undefined;
      }
    }),
  );
  let eventsMissed = 0;
  for (const n of agents) {
    const s = tableSubnets(n);
    if (!s.has(kAdded)) eventsMissed++;
    if (s.has(kDeleted)) eventsMissed++;
  }
  await until(() => agents.every((n) => httpGet(n.ns, 'http://127.0.0.1:8081/readyz').status === 200), 30_000, 'every agent ready');
  await new Promise((r) => setTimeout(r, 1000));
  polling = false;
  await poller;
  const pings = await stream.stop();
  const controlPings = await control.stop();
  const keys = etcd
    .ctl('get', '--prefix', `${kPrefix}/subnets/`, '--keys-only')
    .split('\n')
    .filter((l) => l !== '')
    .sort();
  const readyAgainMs = Math.max(0, ...bad.map((s) => (s.last ? s.last - t0 + 100 : 0)));
  const c = controlPings.replies;
  let controlGapAtMs = 0;
  for (let i = 1; i < c.length; i++)
    if (Math.round((c[i]!.t - c[i - 1]!.t) * 1000) === controlPings.longestGapMs) controlGapAtMs = Math.round(c[i - 1]!.t * 1000 - t0);
  let gapAtMs = 0;
  let gapSeqs = '';
  const r = pings.replies;
  for (let i = 1; i < r.length; i++) {
    if (Math.round((r[i]!.t - r[i - 1]!.t) * 1000) === pings.longestGapMs) {
      gapAtMs = Math.round(r[i - 1]!.t * 1000 - t0);
      const burst = r.slice(i).filter((x) => x.t - r[i]!.t < 0.05).length;
      gapSeqs = `seq ${r[i - 1]!.seq} → ${r[i]!.seq}, then ${burst} replies within 50 ms`;
    }
  }
  return {
    writeMs,
    appliedMs,
    eventsMissed,
    notReadyMs: Math.max(...bad.map((s) => s.longest)),
    readyAgainMs,
    pings,
    gapAtMs,
    gapSeqs,
    control: controlPings,
    controlGapAtMs,
    keys,
  };
}

/** The keys the store must hold afterwards: every agent's lease and the added one. */
export function expectedKeys(agents: Node[]): string[] {
  return [...agents.map((n) => keyOf(n.subnet!)), keyOf(kAdded)].sort();
}

export function describeFigures(what: string, f: FaultFigures): string {
  return (
    `# ${what}: write accepted ${f.writeMs} ms after the fault; add+delete applied by the agents after ` +
    `${f.appliedMs.map((x) => (x === undefined ? 'never' : `${x} ms`)).join(', ')}; events missed ${f.eventsMissed}; ` +
    `/readyz not 200 for at most ${f.notReadyMs} ms, 200 on every agent again ${f.readyAgainMs} ms after the fault; ` +
    `pings ${f.pings.received}/${f.pings.sent} (mean interval ${f.pings.meanIntervalMs.toFixed(1)} ms), lost ${f.pings.lost}, ` +
    `longest gap ${f.pings.longestGapMs} ms (from ${f.gapAtMs} ms after the fault; ${f.gapSeqs}); ` +
    `underlay control ping: lost ${f.control.lost}/${f.control.sent}, longest gap ${f.control.longestGapMs} ms (from ${f.controlGapAtMs} ms)\n`
  );
}
