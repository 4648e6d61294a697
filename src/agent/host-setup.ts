// The host side of a node once its backend is up, in flanneld's order:
// masquerade rules of a previous subnet removed, this subnet's masquerade
// and forward rules installed (and kept installed by a periodic check), then
// the state file and subnet.env written. Each step either completes or
// leaves nothing behind.

import type { CommandRunner } from '../host/exec';
import {
  type IptablesRule,
  RuleSync,
  forwardRules,
  forwardRules6,
  masqRules,
  masqRules6,
  removeRules,
  supportsRandomFully,
} from '../host/iptables';
import { type SubnetEnv, type SubnetEnvValues, writeSubnetEnv } from '../host/subnet-env';
import type { Cidr } from '../net/cidr';
import type { Cidr6 } from '../net/cidr6';
import type { AgentLogger } from './agent-options';
import { type NodeState, writeNodeState } from './node-state';

export interface RuleSets {
  masq: IptablesRule[];
  forward: IptablesRule[];
}

/** The families a node programs: IPv4 Network/subnet and, dual stack or IPv6-only, the IPv6 ones. */
export interface NodeNets {
  network?: Cidr | undefined;
  subnet?: Cidr | undefined;
  ipv6Network?: Cidr6 | undefined;
  ipv6Subnet?: Cidr6 | undefined;
}

export async function ruleSets(
  nets: NodeNets,
  randomFullyDisabled: boolean,
  run: CommandRunner,
): Promise<RuleSets & { randomFully: boolean }> {
  const randomFully = !randomFullyDisabled && (await supportsRandomFully(run));
  return { ...ruleSetsFor(nets, randomFully), randomFully };
}

/** flannel's masquerade and forward rules of each family the node has. */
export function ruleSetsFor(nets: NodeNets, randomFully: boolean): RuleSets {
  const masq: IptablesRule[] = [];
  const forward: IptablesRule[] = [];
  if (nets.network && nets.subnet) {
    masq.push(...masqRules(nets.network, nets.subnet, { randomFully }));
    forward.push(...forwardRules(nets.network));
  }
  if (nets.ipv6Network && nets.ipv6Subnet) {
    masq.push(...masqRules6(nets.ipv6Network, nets.ipv6Subnet, { randomFully }));
    forward.push(...forwardRules6(nets.ipv6Network));
  }
  return { masq, forward };
}

/** flanneld at startup: masquerade rules of a previous Network/subnet (from subnet.env) are removed, per family. */
export async function removeStaleMasq(prev: SubnetEnvValues | undefined, nets: NodeNets, run: CommandRunner): Promise<boolean> {
  let removed = false;
  if (
    prev?.network &&
    prev.subnet &&
    !(nets.network && sameCidr(prev.network, nets.network) && nets.subnet && prev.subnet.ip === nets.subnet.ip)
  ) {
    for (const randomFully of [true, false]) await removeRules(masqRules(prev.network, prev.subnet, { randomFully }), run);
    removed = true;
  }
  if (
    prev?.ipv6Network &&
    prev.ipv6Subnet &&
    !(nets.ipv6Network && sameCidr(prev.ipv6Network, nets.ipv6Network) && nets.ipv6Subnet && prev.ipv6Subnet.ip === nets.ipv6Subnet.ip)
  ) {
    for (const randomFully of [true, false]) await removeRules(masqRules6(prev.ipv6Network, prev.ipv6Subnet, { randomFully }), run);
    removed = true;
  }
  return removed;
}

function sameCidr<T extends { ip: unknown; prefixLen: number }>(a: T, b: T): boolean {
  return a.ip === b.ip && a.prefixLen === b.prefixLen;
}

export interface RuleOptions extends NodeNets {
  /** subnet.env of the previous run, whose masquerade rules go if its subnet differs. */
  previous: SubnetEnvValues | undefined;
  ipMasq: boolean;
  forwardRules: boolean;
  randomFullyDisabled: boolean;
  resyncMs: number;
  run: CommandRunner;
  log: AgentLogger;
}

/**
 * Installs the node's iptables (and ip6tables) rules and starts their
 * periodic checks. On a failure the sets already installed are removed again
 * before it rejects.
 */
export async function installRuleSets(o: RuleOptions): Promise<{ syncs: RuleSync[]; randomFully: boolean }> {
  if (await removeStaleMasq(o.previous, o, o.run)) o.log.info('removed masquerade rules of the previous subnet');
  const sets = await ruleSets(o, o.randomFullyDisabled, o.run);
  const split = (rules: IptablesRule[]): IptablesRule[][] =>
    [rules.filter((r) => r.family !== 6), rules.filter((r) => r.family === 6)].filter((l) => l.length > 0);
  const wanted = [...(o.ipMasq ? split(sets.masq) : []), ...(o.forwardRules ? split(sets.forward) : [])];
  const syncs: RuleSync[] = [];
  try {
    for (const rules of wanted) {
      const sync = new RuleSync(rules, {
        intervalMs: o.resyncMs,
        run: o.run,
        onResync: () =>
          o.log.warn('iptables rules were missing and have been reinstalled', { chain: rules[1]?.chain, family: rules[0]?.family ?? 4 }),
        onError: (err) => o.log.warn('iptables rule check failed', { err: err.message }),
      });
      syncs.push(sync);
      await sync.start();
    }
  } catch (err) {
    await removeRuleSets(syncs);
    throw err;
  }
  return { syncs, randomFully: sets.randomFully };
}

/** Stops the checks and removes the rules (startup failed). */
export async function removeRuleSets(syncs: readonly RuleSync[]): Promise<void> {
  for (const r of syncs) {
    await r.stop();
    await r.remove().catch(() => undefined);
  }
}

/** Writes the state file (for a restart's re-attach), then subnet.env (for the CNI plugin). */
export async function writeNodeFiles(files: { stateFile: string; subnetFile: string }, state: NodeState, env: SubnetEnv): Promise<void> {
  writeNodeState(files.stateFile, state);
  await writeSubnetEnv(files.subnetFile, env);
}
