// flannel's masquerade and forward rules (flannel-facts §8, v0.20.0+ layout):
// table nat chain FLANNEL-POSTRTG, table filter chain FLANNEL-FWD, each
// reached by one jump from POSTROUTING / FORWARD, every rule commented
// "flanneld masq" / "flanneld forward".
//
// Install = one `iptables-restore --noflush` per table: declaring the chain
// empties it, existing copies of the jump are deleted and the jump appended,
// so the order is always exactly flannel's. RuleSync re-checks every
// interval (flannel's --iptables-resync, 5 s) and reinstalls when any rule is
// missing. removeRules() is for `weft cleanup` (flanneld itself never
// removes them). All commands act in the current network namespace unless a
// CommandRunner says otherwise.
//
// IPv6 (EnableIPv6): the same rules with the IPv6 Network and subnet, and
// ff00::/8 in place of 224.0.0.0/4, through ip6tables / ip6tables-restore
// (flannel's iptables trafficmngr does the same). A rule carries its family.

import { type Cidr, formatCidr } from '../net/cidr';
import { type Cidr6, formatCidr6 } from '../net/cidr6';
import { type CommandRunner, mustRun, runCommand } from './exec';

export const MASQ_CHAIN = 'FLANNEL-POSTRTG';
export const FORWARD_CHAIN = 'FLANNEL-FWD';
const kMasqComment = ['-m', 'comment', '--comment', 'flanneld masq'];
const kFwdComment = ['-m', 'comment', '--comment', 'flanneld forward'];
const kMulticast = '224.0.0.0/4';
const kMulticast6 = 'ff00::/8';
/** kube-proxy's masquerade mark: packets it marked are left alone. */
const kKubeProxyMark = '0x4000/0x4000';

export interface IptablesRule {
  /** 6: an ip6tables rule; absent: iptables. */
  readonly family?: 6;
  readonly table: 'nat' | 'filter';
  readonly chain: string;
  /** iptables arguments after `-A <chain>`. */
  readonly spec: readonly string[];
}

/** The masquerade rules for Network N and our subnet S, in flannel's order (jump first). */
export function masqRules(network: Cidr, subnet: Cidr, opts: { randomFully: boolean }): IptablesRule[] {
  return masqRuleSet(formatCidr(network), formatCidr(subnet), kMulticast, undefined, opts);
}

/** The ip6tables masquerade rules for IPv6Network N and our IPv6 subnet S (ff00::/8 is multicast). */
export function masqRules6(network: Cidr6, subnet: Cidr6, opts: { randomFully: boolean }): IptablesRule[] {
  return masqRuleSet(formatCidr6(network), formatCidr6(subnet), kMulticast6, 6, opts);
}

function masqRuleSet(n: string, s: string, multicast: string, family: 6 | undefined, opts: { randomFully: boolean }): IptablesRule[] {
  const masq = opts.randomFully ? ['-j', 'MASQUERADE', '--random-fully'] : ['-j', 'MASQUERADE'];
  const fam = family ? { family } : {};
  const rule = (spec: string[]): IptablesRule => ({ ...fam, table: 'nat', chain: MASQ_CHAIN, spec });
  return [
    { ...fam, table: 'nat', chain: 'POSTROUTING', spec: [...kMasqComment, '-j', MASQ_CHAIN] },
    rule(['-m', 'mark', '--mark', kKubeProxyMark, ...kMasqComment, '-j', 'RETURN']),
    rule(['-s', s, '-d', n, ...kMasqComment, '-j', 'RETURN']),
    rule(['-s', n, '-d', s, ...kMasqComment, '-j', 'RETURN']),
    rule(['!', '-s', n, '-d', s, ...kMasqComment, '-j', 'RETURN']),
    rule(['-s', n, '!', '-d', multicast, ...kMasqComment, ...masq]),
    rule(['!', '-s', n, '-d', n, ...kMasqComment, ...masq]),
  ];
}

/** The forward-accept rules for Network N (on unless --iptables-forward-rules=false). */
export function forwardRules(network: Cidr): IptablesRule[] {
  return forwardRuleSet(formatCidr(network), undefined);
}

/** The ip6tables forward-accept rules for the IPv6Network. */
export function forwardRules6(network: Cidr6): IptablesRule[] {
  return forwardRuleSet(formatCidr6(network), 6);
}

function forwardRuleSet(n: string, family: 6 | undefined): IptablesRule[] {
  const fam = family ? { family } : {};
  return [
    { ...fam, table: 'filter', chain: 'FORWARD', spec: [...kFwdComment, '-j', FORWARD_CHAIN] },
    { ...fam, table: 'filter', chain: FORWARD_CHAIN, spec: ['-s', n, ...kFwdComment, '-j', 'ACCEPT'] },
    { ...fam, table: 'filter', chain: FORWARD_CHAIN, spec: ['-d', n, ...kFwdComment, '-j', 'ACCEPT'] },
  ];
}

/** The binary for a rule's family: `iptables` or `ip6tables` (and their -restore). */
function bin(rule: IptablesRule, restore = false): string {
  return `${rule.family === 6 ? 'ip6tables' : 'iptables'}${restore ? '-restore' : ''}`;
}

function quote(token: string): string {
  return /^[\w./:!-]+$/.test(token) ? token : `"${token.replace(/(["\\])/g, '\\$1')}"`;
}

/** A rule as iptables-save prints it: `-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT`. */
export function ruleText(rule: IptablesRule): string {
  return ['-A', rule.chain, ...rule.spec].map(quote).join(' ');
}

const isBuiltin = (chain: string): boolean => ['POSTROUTING', 'PREROUTING', 'INPUT', 'OUTPUT', 'FORWARD'].includes(chain);

/** flannel (go-iptables HasRandomFully) uses --random-fully from iptables 1.6.2 on. */
export async function supportsRandomFully(run: CommandRunner = runCommand): Promise<boolean> {
  const r = await run('iptables', ['--version']);
  const m = /v(\d+)\.(\d+)\.(\d+)/.exec(r.stdout + r.stderr);
  if (r.code !== 0 || !m) return false;
  const [maj, min, pat] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return maj > 1 || (maj === 1 && (min > 6 || (min === 6 && pat >= 2)));
}

function byTable(rules: readonly IptablesRule[]): Map<string, IptablesRule[]> {
  const out = new Map<string, IptablesRule[]>();
  for (const r of rules) {
    const k = `${r.family ?? 4} ${r.table}`;
    out.set(k, [...(out.get(k) ?? []), r]);
  }
  return out;
}

/** Installs the rules (idempotent): one iptables-restore (ip6tables-restore) --noflush per family and table. */
export async function installRules(rules: readonly IptablesRule[], run: CommandRunner = runCommand): Promise<void> {
  for (const list of byTable(rules).values()) {
    const table = list[0]!.table;
    const own = [...new Set(list.filter((r) => !isBuiltin(r.chain)).map((r) => r.chain))];
    const lines = [`*${table}`, ...own.map((c) => `:${c} - [0:0]`)]; // declaring a chain flushes it
    for (const jump of list.filter((r) => isBuiltin(r.chain))) {
      const existing = (await mustRun(run, bin(jump), ['-w', '-t', table, '-S', jump.chain])).split('\n');
      const text = ruleText(jump);
      for (const line of existing) if (line.trim() === text) lines.push(text.replace(/^-A /, '-D '));
      lines.push(text);
    }
    for (const r of list.filter((x) => !isBuiltin(x.chain))) lines.push(ruleText(r));
    lines.push('COMMIT', '');
    await mustRun(run, bin(list[0]!, true), ['-w', '--noflush'], lines.join('\n'));
  }
}

/** The rules that are not in the kernel now (checked with `iptables -C`). */
export async function missingRules(rules: readonly IptablesRule[], run: CommandRunner = runCommand): Promise<IptablesRule[]> {
  const missing: IptablesRule[] = [];
  for (const r of rules) {
    const res = await run(bin(r), ['-w', '-t', r.table, '-C', r.chain, ...r.spec]);
    if (res.code !== 0) missing.push(r);
  }
  return missing;
}

/** Reinstalls the whole set when any rule is missing; true when it did. */
export async function ensureRules(rules: readonly IptablesRule[], run: CommandRunner = runCommand): Promise<boolean> {
  if ((await missingRules(rules, run)).length === 0) return false;
  await installRules(rules, run);
  return true;
}

/** Removes the jumps (every copy) and weft's chains. Missing pieces are not an error. */
export async function removeRules(rules: readonly IptablesRule[], run: CommandRunner = runCommand): Promise<void> {
  for (const r of rules.filter((x) => isBuiltin(x.chain))) {
    for (let i = 0; i < 100; i++) {
      if ((await run(bin(r), ['-w', '-t', r.table, '-D', r.chain, ...r.spec])).code !== 0) break;
    }
  }
  const chains = new Map(rules.filter((x) => !isBuiltin(x.chain)).map((r) => [`${r.family ?? 4} ${r.table} ${r.chain}`, r]));
  for (const r of chains.values()) {
    await run(bin(r), ['-w', '-t', r.table, '-F', r.chain]);
    await run(bin(r), ['-w', '-t', r.table, '-X', r.chain]);
  }
}

export interface RuleSyncOptions {
  /** Check period, ms (flannel --iptables-resync, default 5000). */
  intervalMs?: number;
  run?: CommandRunner;
  onResync?: () => void;
  onError?: (err: Error) => void;
}

/** Keeps a rule set installed: installs now, then checks every interval and reinstalls when one went missing. */
export class RuleSync {
  readonly #rules: readonly IptablesRule[];
  readonly #opts: RuleSyncOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> = Promise.resolve();

  constructor(rules: readonly IptablesRule[], opts: RuleSyncOptions = {}) {
    this.#rules = rules;
    this.#opts = opts;
  }

  async start(): Promise<void> {
    await installRules(this.#rules, this.#opts.run);
    this.#timer = setInterval(() => {
      this.#running = this.#running.then(async () => {
        try {
          if (await ensureRules(this.#rules, this.#opts.run)) this.#opts.onResync?.();
        } catch (err) {
          this.#opts.onError?.(err as Error);
        }
      });
    }, this.#opts.intervalMs ?? 5000);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** Stops checking and removes the rules (undoing a failed startup). */
  async remove(): Promise<void> {
    await this.stop();
    await removeRules(this.#rules, this.#opts.run);
  }
}
