// `weft bench`: encapsulation throughput of weft against the kernel's own
// VXLAN, measured in one run on one topology (bench/lab.ts).
//
// Rounds interleave the paths (veth, kernel VXLAN, weft vxlan, weft udp,
// then again), so that a slow moment of the machine hits every path alike;
// each weft figure is divided by kernel VXLAN's figure from the same round
// before the median is taken.

import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { codecBench, type CodecFigure } from './codec';
import { BenchLab, kCases, type CaseName } from './lab';
import { pingLatency, tcp, udpPps } from './measure';
import { buildReport, kMetrics, renderSvg, renderTable, type MetricName, type MetricReport, type Rounds } from './report';

export interface BenchOptions {
  quick: boolean;
  rounds?: number;
  seconds?: number;
  json?: string;
  svg?: string;
  queues?: number;
  /** Progress lines go here (the terminal's stderr by default). */
  progress?: (line: string) => void;
}

export interface BenchResult {
  tool: 'weft bench';
  date: string;
  machine: { cpu: string; cores: number; kernel: string; node: string; iperf3: string };
  git?: string;
  settings: { rounds: number; secondsPerTest: number; quick: boolean };
  cases: { name: CaseName; label: string; metrics: Partial<Record<MetricName, MetricReport>> }[];
  codec: CodecFigure[];
  weftCounters: Record<string, { counters: Record<string, number>; drops: Record<string, number> }>;
}

const kTableMetrics: MetricName[] = ['tcp1', 'tcp4', 'udp64', 'pingAvg', 'pingP99', 'cpuPerGB'];

function tryExec(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

/** One line per missing tool, saying how to get it; empty when all are there. */
export function missingTools(): string[] {
  const need: [string, string[], string][] = [
    ['iperf3', ['--version'], 'iperf3'],
    ['ping', ['-V'], 'iputils-ping'],
    ['ip', ['-V'], 'iproute2'],
    ['bridge', ['-V'], 'iproute2'],
  ];
  return need
    .filter(([cmd, args]) => tryExec(cmd, args) === undefined)
    .map(([cmd, , pkg]) => `weft bench needs ${cmd}: install it with \`apt-get install ${pkg}\``);
}

export async function runBench(opts: BenchOptions): Promise<BenchResult> {
  const progress = opts.progress ?? ((line: string) => process.stderr.write(line + '\n'));
  const rounds = opts.rounds ?? (opts.quick ? 1 : 3);
  const seconds = opts.seconds ?? (opts.quick ? 2 : 5);
  const pings = opts.quick ? 100 : 400;

  progress(`codec micro-benchmark (${opts.quick ? 'quick' : 'full'}) …`);
  const codec = codecBench({ quick: opts.quick });

  progress('building two namespaces with four paths …');
  const lab = await BenchLab.build(opts.queues ? { queues: opts.queues } : {});
  const raw = Object.fromEntries(kCases.map((c) => [c.name, {}])) as Rounds;
  const push = (name: CaseName, metric: MetricName, value: number): void => {
    (raw[name][metric] ??= []).push(value);
  };
  let weftCounters: BenchResult['weftCounters'] = {};
  try {
    for (let r = 1; r <= rounds; r++) {
      for (const c of kCases) {
        const tag = `round ${r}/${rounds} · ${c.label}`;
        // Latency first, on idle queues: after a flood a userspace path still
        // drains its socket buffers for a while, and ping would measure that.
        const p = pingLatency(lab.a, c.path, pings);
        push(c.name, 'pingAvg', p.avgUs);
        push(c.name, 'pingP99', p.p99Us);
        progress(`${tag} · ping avg ${p.avgUs.toFixed(0)} µs, p99 ${p.p99Us.toFixed(0)} µs`);
        const t1 = tcp(lab.a, c.path, seconds, 1);
        push(c.name, 'tcp1', t1.gbps);
        push(c.name, 'cpuPerGB', t1.cpuSecondsPerGB);
        push(c.name, 'retransmits', t1.retransmits);
        progress(`${tag} · TCP 1 stream ${t1.gbps.toFixed(2)} Gbit/s (${t1.retransmits} retransmits)`);
        const t4 = tcp(lab.a, c.path, seconds, 4);
        push(c.name, 'tcp4', t4.gbps);
        progress(`${tag} · TCP 4 streams ${t4.gbps.toFixed(2)} Gbit/s`);
        const u = udpPps(lab.a, c.path, seconds, 64);
        push(c.name, 'udp64', u.kpps);
        progress(`${tag} · UDP 64 B ${u.kpps.toFixed(0)} kpps received (${u.lossPct.toFixed(1)} % lost)`);
        await new Promise((r) => setTimeout(r, 500)); // let queues drain before the next path
      }
    }
    const stats = await lab.weftStats();
    weftCounters = Object.fromEntries(Object.entries(stats).map(([k, s]) => [k, { counters: s.counters, drops: s.drops }]));
  } finally {
    await lab.destroy();
  }

  const report = buildReport(raw);
  const result: BenchResult = {
    tool: 'weft bench',
    date: new Date().toISOString(),
    machine: {
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      kernel: release(),
      node: process.version,
      iperf3: tryExec('iperf3', ['--version'])?.split('\n')[0] ?? 'unknown',
    },
    settings: { rounds, secondsPerTest: seconds, quick: opts.quick },
    cases: kCases.map((c) => ({ name: c.name, label: c.label, metrics: report[c.name] })),
    codec,
    weftCounters,
  };
  const git = tryExec('git', ['-C', __dirname, 'rev-parse', '--short', 'HEAD']);
  if (git) result.git = git;
  if (opts.json) writeFileSync(opts.json, JSON.stringify(result, null, 2) + '\n');
  if (opts.svg) {
    const labels = Object.fromEntries(kCases.map((c) => [c.name, c.label])) as Record<CaseName, string>;
    writeFileSync(opts.svg, renderSvg(report, labels, kTableMetrics, `weft bench — ${result.machine.cores} cores, ${result.machine.kernel}`));
  }
  return result;
}

/** The terminal report: machine line, path table, codec table. */
export function formatResult(result: BenchResult): string {
  const labels = Object.fromEntries(result.cases.map((c) => [c.name, c.label])) as Record<CaseName, string>;
  const report = Object.fromEntries(result.cases.map((c) => [c.name, c.metrics])) as Parameters<typeof renderTable>[0];
  const m = result.machine;
  const lines = [
    `weft bench · ${m.cpu} · ${m.cores} cores · Linux ${m.kernel} · Node ${m.node} · ${result.settings.rounds} round(s) × ${result.settings.secondsPerTest} s`,
    'median (min–max); ×r = weft ÷ kernel VXLAN in the same round, median over rounds',
    '',
    renderTable(report, labels, kTableMetrics),
    '',
    'codec micro-benchmark (encap + decap of one packet, native loop, one core):',
    ...result.codec.map(
      (c) => `  ${c.backend.padEnd(5)} ${String(c.size).padStart(5)} B  ${c.nsPerPacket.toFixed(1).padStart(7)} ns/packet  ${c.gbps.toFixed(1).padStart(6)} Gbit/s`,
    ),
  ];
  return lines.join('\n');
}

export { kMetrics };
