// The host side of a node once its backend is up, in flanneld's order:
// masquerade rules of a previous subnet removed, this subnet's masquerade
// and forward rules installed (and kept installed by a periodic check), then
// the state file and subnet.env written. Each step either completes or
// leaves nothing behind.

import type { CommandRunner } from '../host/exec';
import { type IptablesRule, RuleSync, forwardRules, masqRules, removeRules, supportsRandomFully } from '../host/iptables';
import { type SubnetEnv, type SubnetEnvValues, writeSubnetEnv } from '../host/subnet-env';
import type { Cidr } from '../net/cidr';
import type { AgentLogger } from './agent-options';
import { type NodeState, writeNodeState } from './node-state';

export interface RuleSets {
  masq: IptablesRule[];
  forward: IptablesRule[];
}

export async function ruleSets(
  network: Cidr,
  subnet: Cidr,
  randomFullyDisabled: boolean,
  run: CommandRunner,
): Promise<RuleSets & { randomFully: boolean }> {
  const randomFully = !randomFullyDisabled && (await supportsRandomFully(run));
  return { masq: masqRules(network, subnet, { randomFully }), forward: forwardRules(network), randomFully };
}

/** flanneld at startup: masquerade rules of a previous Network/subnet (from subnet.env) are removed. */
export async function removeStaleMasq(
  prev: SubnetEnvValues | undefined,
  network: Cidr,
  subnet: Cidr,
  run: CommandRunner,
): Promise<boolean> {
  if (!prev?.network || !prev.subnet) return false;
  if (prev.network.ip === network.ip && prev.network.prefixLen === network.prefixLen && prev.subnet.ip === subnet.ip) return false;
  for (const randomFully of [true, false]) await removeRules(masqRules(prev.network, prev.subnet, { randomFully }), run);
  return true;
}

export interface RuleOptions {
  network: Cidr;
  subnet: Cidr;
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
 * Installs the node's iptables rules and starts their periodic checks. On a
 * failure the sets already installed are removed again before it rejects.
 */
export async function installRuleSets(o: RuleOptions): Promise<{ syncs: RuleSync[]; randomFully: boolean }> {
  if (await removeStaleMasq(o.previous, o.network, o.subnet, o.run)) o.log.info('removed masquerade rules of the previous subnet');
  const sets = await ruleSets(o.network, o.subnet, o.randomFullyDisabled, o.run);
  const wanted = [...(o.ipMasq ? [sets.masq] : []), ...(o.forwardRules ? [sets.forward] : [])];
  const syncs: RuleSync[] = [];
  try {
    for (const rules of wanted) {
      const sync = new RuleSync(rules, {
        intervalMs: o.resyncMs,
        run: o.run,
        onResync: () => o.log.warn('iptables rules were missing and have been reinstalled', { chain: rules[1]?.chain }),
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
