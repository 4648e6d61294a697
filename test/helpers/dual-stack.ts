// Dual-stack agent clusters: an IPv6 underlay beside the IPv4 one, IPv6 pod
// addresses learnt from subnet.env, ping over IPv6.

import { readFileSync } from 'node:fs';
import { parseSubnetEnv } from '../../src/host/subnet-env';
import { formatIPv6 } from '../../src/net/ip6';
import type { Cluster, Node } from './weft-cluster';

/** IPv6 underlay 2001:2::<i+1>/64 (RFC 5180) on each node's `ul`, no DAD. Returns the addresses. */
export function addV6Underlay(c: Cluster): string[] {
  return c.nodes.map((n, i) => {
    const ip = `2001:2::${i + 1}`;
    n.ns.ip('-6', 'addr', 'add', `${ip}/64`, 'dev', 'ul', 'nodad');
    return ip;
  });
}

/** The IPv6 pod address <v6 subnet>::5 on lo, from subnet.env. */
export function learn6(n: Node): string {
  const env = parseSubnetEnv(readFileSync(n.subnetFile, 'utf8'));
  const pod = formatIPv6(env.ipv6Subnet!.ip + 5n);
  n.ns.ip('-6', 'addr', 'add', `${pod}/128`, 'dev', 'lo');
  return pod;
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
