// `weft cleanup`: removes what `weft run` created on this host (in this
// network namespace): the TUN device (only a TUN: a kernel flannel.1 or
// flannel-v6.1 of a real flanneld is left alone), its table file, the masquerade and forward
// rules, host-gw routes, subnet.env and weft's state file. The lease stays
// in the store (it expires, or `etcdctl del` removes it).
// What to remove comes from the state file weft run wrote beside
// subnet.env, falling back to subnet.env and flannel's default names.

import { existsSync, unlinkSync } from 'node:fs';
import { readNodeState, defaultStateFile } from '../agent/node-state';
import { defaultTablePath } from '../dataplane/options';
import { type CommandRunner, runCommand } from '../host/exec';
import { type NodeNets, ruleSetsFor } from '../agent/host-setup';
import { removeRules } from '../host/iptables';
import { type AnyRoute, deleteBlackhole, deleteRoute, listRoutes, listRoutes6, routeDst } from '../host/routes';
import { type Cidr6, cidr6Contains, formatCidr6, parseCidr6 } from '../net/cidr6';
import { readSubnetEnv, removeSubnetEnv } from '../host/subnet-env';
import { type Cidr, cidrContains, formatCidr, parseCidr } from '../net/cidr';
import { type FlagSpec, formatFlags, parseFlags, str, usageError } from './flags';
import { Logger } from './logger';
import { errorFields, exitCodeFor } from './run-command';

const FLAGS: readonly FlagSpec[] = [
  { name: 'subnet-file', kind: 'string', def: '/run/flannel/subnet.env', arg: 'PATH', help: 'the subnet.env weft run wrote' },
  { name: 'state-file', kind: 'string', arg: 'PATH', help: "weft run's state file (default <subnet-file>.weft.json)" },
  { name: 'table-path', kind: 'string', arg: 'PATH', help: "the table file (default: from the state file, else the device's default)" },
  {
    name: 'device',
    kind: 'string',
    arg: 'NAME',
    help: 'the TUN device (default: from the state file, else flannel.1, flannel0 and flannel-v6.1)',
  },
  { name: 'log-level', kind: 'string', def: 'info', arg: 'LEVEL', help: 'debug, info, warn or error' },
];

export const CLEANUP_USAGE = `Usage: weft cleanup [flags]

Removes the device, table, routes, iptables rules and files that weft run
created in this network namespace. The lease stays in the store.

${formatFlags(FLAGS)}
`;

async function isTun(dev: string, run: CommandRunner): Promise<boolean> {
  const r = await run('ip', ['-d', '-j', 'link', 'show', 'dev', dev]);
  if (r.code !== 0) return false;
  try {
    const [link] = JSON.parse(r.stdout) as { linkinfo?: { info_kind?: string } }[];
    return link?.linkinfo?.info_kind === 'tun';
  } catch {
    return false;
  }
}

function unlinkQuiet(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The networks of a node for a log line, each family only when present. */
function describeNets(n: NodeNets) {
  return {
    ...(n.network && n.subnet ? { network: formatCidr(n.network), subnet: formatCidr(n.subnet) } : {}),
    ...(n.ipv6Network && n.ipv6Subnet ? { ipv6Network: formatCidr6(n.ipv6Network), ipv6Subnet: formatCidr6(n.ipv6Subnet) } : {}),
  };
}

export async function cleanupMain(argv: string[], run: CommandRunner = runCommand): Promise<number> {
  let log = new Logger('info');
  try {
    const p = parseFlags(FLAGS, argv);
    if (p.help) {
      process.stdout.write(CLEANUP_USAGE);
      return 0;
    }
    if (p.rest.length > 0) throw usageError(`weft cleanup takes no arguments, got ${JSON.stringify(p.rest[0])}`);
    log = new Logger((str(p.values, 'log-level') ?? 'info') as 'info');
    const subnetFile = str(p.values, 'subnet-file')!;
    const stateFile = str(p.values, 'state-file') ?? defaultStateFile(subnetFile);
    const state = readNodeState(stateFile);
    const env = await readSubnetEnv(subnetFile);
    // An IPv6-only node has no IPv4 network (empty in the state file, absent
    // from subnet.env); a /0 never stands for one here, so no default route is touched.
    const v4 = (c: Cidr | undefined): Cidr | undefined => (c && c.prefixLen > 0 ? c : undefined);
    const network = v4((state && parseCidr(state.network)) ?? env?.network);
    const subnet = v4((state && parseCidr(state.subnet)) ?? env?.subnet);
    const network6: Cidr6 | undefined = (state?.ipv6Network && parseCidr6(state.ipv6Network)) || env?.ipv6Network;
    const subnet6: Cidr6 | undefined = (state?.ipv6Subnet && parseCidr6(state.ipv6Subnet)) || env?.ipv6Subnet;

    const devices = str(p.values, 'device')
      ? [str(p.values, 'device')!]
      : state?.device
        ? [state.device]
        : state
          ? []
          : ['flannel.1', 'flannel0', 'flannel-v6.1'];
    for (const dev of devices) {
      if (await isTun(dev, run)) {
        await run('ip', ['link', 'delete', dev]);
        log.info('removed device (and its address and routes)', { device: dev });
      } else log.debug('no weft TUN device', { device: dev });
    }
    const tables = str(p.values, 'table-path')
      ? [str(p.values, 'table-path')!]
      : state?.tablePath
        ? [state.tablePath]
        : devices.map(defaultTablePath);
    for (const t of tables) if (existsSync(t) && unlinkQuiet(t)) log.info('removed table', { path: t });

    const nets = { network, subnet, ipv6Network: network6, ipv6Subnet: subnet6 };
    if ((network && subnet) || (network6 && subnet6)) {
      try {
        for (const randomFully of [true, false]) await removeRules(ruleSetsFor(nets, randomFully).masq, run);
        await removeRules(ruleSetsFor(nets, false).forward, run);
        log.info('removed iptables rules', describeNets(nets));
      } catch (err) {
        log.warn('cannot remove iptables rules', { err: (err as Error).message });
      }
    }
    // --ip-blackhole-route's routes to the own lease, if that run added them.
    for (const dst of [subnet, subnet6]) {
      if (!dst) continue;
      try {
        if (await deleteBlackhole(dst, run)) log.info('removed blackhole route', { dst: routeDst(dst) });
      } catch (err) {
        log.warn('cannot remove the blackhole route', { dst: routeDst(dst), err: (err as Error).message });
      }
    }
    if (!state || state.backend === 'host-gw') {
      // host-gw routes: a lease-sized prefix inside the network, of each family the node has.
      const routes: AnyRoute[] = [
        ...(network && subnet
          ? (await listRoutes(run, state?.iface)).filter((r) => cidrContains(network, r.dst) && r.dst.prefixLen === subnet.prefixLen)
          : []),
        ...(network6 && subnet6
          ? (await listRoutes6(run, state?.iface)).filter((r) => cidr6Contains(network6, r.dst) && r.dst.prefixLen === subnet6.prefixLen)
          : []),
      ];
      for (const r of routes) {
        await deleteRoute(r, run);
        log.info('removed host-gw route', { dst: routeDst(r.dst), via: r.gateway, dev: r.dev });
      }
    }
    if (env) {
      await removeSubnetEnv(subnetFile);
      log.info('removed subnet file', { path: subnetFile });
    }
    if (unlinkQuiet(stateFile)) log.info('removed state file', { path: stateFile });
    return 0;
  } catch (err) {
    log.error((err as Error).message, errorFields(err));
    return exitCodeFor(err);
  }
}
