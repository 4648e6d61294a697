// `weft bench` (design §9): runs bench/run.ts and prints its table.

import { formatResult, missingTools, runBench, type BenchOptions } from '../../bench/run';
import { bool, formatFlags, num, parseFlags, str, usageError, type FlagSpec } from './flags';

const kFlags: readonly FlagSpec[] = [
  { name: 'quick', kind: 'bool', help: 'one short round (about a minute)' },
  { name: 'json', kind: 'string', arg: 'FILE', help: 'write the full report as JSON' },
  { name: 'svg', kind: 'string', arg: 'FILE', help: 'write a chart of the medians' },
  { name: 'rounds', kind: 'int', arg: 'N', help: 'interleaved rounds (default 3, 1 with --quick)' },
  { name: 'seconds', kind: 'int', arg: 'S', help: 'seconds per iperf3 test (default 5, 2 with --quick)' },
  { name: 'queues', kind: 'int', arg: 'N', help: 'worker queues of each weft data plane (default: min(cores, 4))' },
  {
    name: 'poll-budget-us',
    kind: 'int',
    arg: 'US',
    help: "weft's adaptive polling cap in µs (default 200; 0 turns it off, for the ablation)",
  },
  { name: 'layout', kind: 'string', arg: 'L', help: 'process placement: shared, pinned (each host on its own CPU) or both (default both)' },
  {
    name: 'ablation',
    kind: 'bool',
    help: 'also measure what each technique buys: weft vxlan TCP with each offload off in turn, round trips at each adaptive polling cap (pinned layout when measured)',
  },
  {
    name: 'ipv6',
    kind: 'bool',
    help: 'also measure IPv6: kernel VXLAN over an IPv6 underlay (flannel-v6.1) and weft vxlan dual stack carrying IPv6 (ping and TCP; ratios against kernel VXLAN over IPv6)',
  },
  {
    name: 'peers',
    kind: 'bool',
    help: 'also measure the userspace tunnels from Debian: fastd (null method), tinc 1.0 (no cipher), wireguard-go, nebula',
  },
];
const kUsage = `usage: weft bench [flags]\n${formatFlags(kFlags)}`;

function parse(argv: string[]): BenchOptions | 'help' {
  const { values, rest, help } = parseFlags(kFlags, argv, {});
  if (help) return 'help';
  if (rest.length > 0) throw usageError(`unexpected argument ${JSON.stringify(rest[0])}`);
  const opts: BenchOptions = {
    quick: bool(values, 'quick'),
    ablation: bool(values, 'ablation'),
    peers: bool(values, 'peers'),
    ipv6: bool(values, 'ipv6'),
  };
  // Namespace names can carry their owner's prefix (concurrent runs on one machine).
  const prefix = process.env.WEFT_BENCH_NS_PREFIX;
  if (prefix) opts.nsPrefix = prefix;
  const budget = num(values, 'poll-budget-us');
  if (budget !== undefined) {
    if (budget < 0 || budget > 10_000) throw usageError('--poll-budget-us must be 0..10000', 'poll-budget-us');
    opts.pollBudgetUs = budget;
  }
  for (const key of ['rounds', 'seconds', 'queues'] as const) {
    const v = num(values, key);
    if (v === undefined) continue;
    if (v < 1) throw usageError(`--${key} must be a positive integer`, key);
    opts[key] = v;
  }
  const layout = str(values, 'layout');
  if (layout !== undefined) {
    const layouts = { shared: ['shared'], pinned: ['pinned'], both: ['shared', 'pinned'] } as const;
    if (!(layout in layouts)) throw usageError(`--layout must be shared, pinned or both, not ${JSON.stringify(layout)}`, 'layout');
    opts.layouts = [...layouts[layout as keyof typeof layouts]];
  }
  const json = str(values, 'json');
  const svg = str(values, 'svg');
  if (json) opts.json = json;
  if (svg) opts.svg = svg;
  return opts;
}

export async function benchMain(argv: string[]): Promise<number> {
  let opts: BenchOptions | 'help';
  try {
    opts = parse(argv);
  } catch (e) {
    process.stderr.write(`weft bench: ${(e as Error).message}\n${kUsage}\n`);
    return 2;
  }
  if (opts === 'help') {
    process.stdout.write(kUsage + '\n');
    return 0;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('weft bench: needs root (it builds network namespaces and TUN devices)\n');
    return 1;
  }
  const missing = missingTools();
  if (missing.length > 0) {
    process.stderr.write(missing.join('\n') + '\n');
    return 1;
  }
  const result = await runBench(opts);
  process.stdout.write(formatResult(result) + '\n');
  if (opts.json) process.stdout.write(`\nJSON written to ${opts.json}\n`);
  if (opts.svg) process.stdout.write(`SVG chart written to ${opts.svg}\n`);
  return 0;
}
