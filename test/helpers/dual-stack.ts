// Dual-stack agent clusters: an IPv6 underlay beside the IPv4 one, IPv6 pod
// addresses learnt from subnet.env, ping over IPv6, and the waits the
// dual-stack and IPv6-only cluster tests share.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSubnetEnv } from '../../src/host/subnet-env';
import { formatCidr6 } from '../../src/net/cidr6';
import { formatIPv6 } from '../../src/net/ip6';
import { tableOf, until } from './weft-agent';
import type { Cluster, Node } from './weft-cluster';

/** IPv6 underlay 2001:2::<i+1>/64 (RFC 5180) on each node's `ul`, no DAD. Returns the addresses. */
export function addV6Underlay(c: Cluster): string[] {
  return c.nodes.map((n, i) => {
    const ip = `2001:2::${i + 1}`;
    n.ns.ip('-6', 'addr', 'add', `${ip}/64`, 'dev', 'ul', 'nodad');
    return ip;
  });
}

/** The IPv6 lease of `n`, from its subnet.env. */
export function subnet6Of(n: Node): string {
  return formatCidr6(parseSubnetEnv(readFileSync(n.subnetFile, 'utf8')).ipv6Subnet!);
}

/** The IPv6 pod address <v6 subnet>::5 on lo, from subnet.env. */
export function learn6(n: Node): string {
  const env = parseSubnetEnv(readFileSync(n.subnetFile, 'utf8'));
  const pod = formatIPv6(env.ipv6Subnet!.ip + 5n);
  n.ns.ip('-6', 'addr', 'add', `${pod}/128`, 'dev', 'lo');
  return pod;
}

/**
 * Starts `nodes` (default: all of `c`) on one embedded store (with `extra` flags) and, as each is
 * ready, puts its pod addresses on lo: the IPv4 one (node.pod) when it holds
 * an IPv4 lease, the IPv6 one into `pods6`.
 */
export async function startOnEmbeddedStore(
  c: Cluster,
  pods6: Map<Node, string>,
  nodes: readonly Node[] = c.nodes,
  extra: readonly string[] = [],
): Promise<void> {
  const dataDir = join(c.dir, 'data');
  for (const n of nodes) c.start(n, [...c.embeddedArgs(dataDir), ...extra]);
  for (const n of nodes) {
    await n.agent!.waitReady();
    if (parseSubnetEnv(readFileSync(n.subnetFile, 'utf8')).subnet) c.learn(n);
    pods6.set(n, learn6(n));
  }
}

/**
 * Until each of `weft` holds in its table every lease of every other node:
 * `leases[i]` are node i's subnets (both families), the weft nodes first,
 * then any kernel nodes. A node ready before another learns the later one's
 * lease from its watch; a packet sent to it before that is dropped.
 */
export async function untilTablesHold(weft: readonly Node[], leases: readonly (readonly string[])[]): Promise<void> {
  for (const [i, n] of weft.entries()) {
    await until(
      () => {
        const have = new Set(tableOf(n).entries.map((e) => e.subnet));
        return leases.every((subnets, j) => j === i || subnets.every((s) => have.has(s)));
      },
      8000,
      `every peer lease in ${n.ns.name}'s table`,
    );
  }
}

/** Echo replies received for `count` pings from `src` to `dst` over IPv6. */
export function ping6(n: Node, dst: string, src: string, count = 2): number {
  try {
    const out = n.ns.exec('ping', '-6', '-c', String(count), '-i', '0.2', '-W', '2', '-I', src, dst);
    return Number(/(\d+) received/.exec(out)?.[1] ?? 0);
  } catch (e) {
    return Number(/(\d+) received/.exec(String((e as { stdout?: string }).stdout ?? ''))?.[1] ?? 0);
  }
}
