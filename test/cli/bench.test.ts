// `weft bench --quick --json` produces every case and metric, with units and
// plausible (positive, finite) values; `--peers` adds the userspace tunnels
// that are installed and names those that are not; `--ipv6` adds the IPv6
// rows, with ratios against kernel VXLAN over IPv6. No test asserts a speed.
// WEFT_BENCH_NS_PREFIX, if set, prefixes the bench's namespace names.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { e2eUnavailable } from '../helpers/netns';
import { baselineOf, buildReport, type Rounds } from '../../bench/report';

const kMain = join(__dirname, '..', '..', 'src', 'cli', 'main.js');
const skip = e2eUnavailable();
const dir = mkdtempSync(join(tmpdir(), 'weft-bench-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Metric {
  median: number;
  min: number;
  max: number;
  unit: string;
  rounds: number[];
  ratioToKernelVxlan?: { median: number };
}

test('each path is compared with kernel VXLAN of its own IP family, round by round; reference paths with nothing', () => {
  const cases = [
    { name: 'veth', family: 4 },
    { name: 'kernel-vxlan', family: 4 },
    { name: 'weft-vxlan', family: 4 },
    { name: 'fastd', family: 4 },
    { name: 'kernel-vxlan6', family: 6 },
    { name: 'weft-vxlan6', family: 6 },
  ] as const;
  assert.deepEqual(
    cases.map((c) => baselineOf(c) ?? null),
    [null, null, 'kernel-vxlan', 'kernel-vxlan', null, 'kernel-vxlan6'],
  );
  const rounds = {
    veth: { tcp1: [40, 40] },
    'kernel-vxlan': { tcp1: [10, 20], pingAvg: [20, 30] },
    'weft-vxlan': { tcp1: [5, 5], pingAvg: [40, 90] },
    fastd: { tcp1: [1, 2] },
    'kernel-vxlan6': { tcp1: [8, 4], pingAvg: [25, 50] },
    'weft-vxlan6': { tcp1: [4, 4], pingAvg: [100, 100] },
  } as Rounds;
  const report = buildReport(rounds, cases);
  assert.deepEqual(
    Object.keys(report),
    cases.map((c) => c.name),
  );
  for (const name of ['veth', 'kernel-vxlan', 'kernel-vxlan6'] as const) {
    for (const m of Object.values(report[name])) assert.equal(m!.ratioToKernelVxlan, undefined, `${name} has no ratio`);
  }
  assert.deepEqual(report['weft-vxlan'].tcp1!.ratioToKernelVxlan, { median: 0.375, min: 0.25, max: 0.5 });
  assert.deepEqual(report['weft-vxlan'].pingAvg!.ratioToKernelVxlan, { median: 2.5, min: 2, max: 3 });
  assert.deepEqual(report.fastd.tcp1!.ratioToKernelVxlan, { median: 0.1, min: 0.1, max: 0.1 });
  // IPv6 beside IPv6: 4/8 and 4/4, not 4/10 and 4/20.
  assert.deepEqual(report['weft-vxlan6'].tcp1!.ratioToKernelVxlan, { median: 0.75, min: 0.5, max: 1 });
  assert.deepEqual(report['weft-vxlan6'].pingAvg!.ratioToKernelVxlan, { median: 3, min: 2, max: 4 });
  assert.deepEqual(report['weft-vxlan6'].tcp1!.rounds, [4, 4]);
  // Without its baseline in the run, a path has figures but no ratio.
  const alone = buildReport({ 'weft-vxlan6': { tcp1: [4] } } as Rounds, [{ name: 'weft-vxlan6', family: 6 }]);
  assert.equal(alone['weft-vxlan6'].tcp1!.median, 4);
  assert.equal(alone['weft-vxlan6'].tcp1!.ratioToKernelVxlan, undefined);
});

test('weft bench --quick --ablation: JSON with every path, metric, unit, ratio and both ablations, and an SVG', { skip }, () => {
  const json = join(dir, 'bench.json');
  const svg = join(dir, 'bench.svg');
  const r = spawnSync(process.execPath, [kMain, 'bench', '--quick', '--ablation', '--json', json, '--svg', svg], {
    encoding: 'utf8',
    timeout: 600_000,
  });
  assert.equal(r.status, 0, `bench failed:\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, /shared · round 1\/1 · weft vxlan · TCP 1 stream/, 'progress is shown while it runs');
  assert.match(r.stderr, /pinned · round 1\/1 · weft udp · sockperf TCP rtt avg/);
  assert.match(r.stdout, /\| weft vxlan/, 'a table on the terminal');

  const report = JSON.parse(readFileSync(json, 'utf8')) as {
    machine: { cores: number; kernel: string };
    settings: { layouts: string[]; ipv6: boolean };
    cases: { name: string; metrics: Record<string, Metric> }[];
    layouts: {
      layout: string;
      cases: { name: string; metrics: Record<string, Metric> }[];
      steering: { host: string; dev: string; rpsCpus: string[] }[];
    }[];
    codec: { backend: string; size: number; nsPerPacket: number }[];
    ablationLayout: string;
    ablation: { label: string; tcp1: { median: number }; ratioToAllOn: { median: number } }[];
    pollAblation: {
      pollBudgetUs: number;
      pingAvg: { median: number; unit: string };
      rrTcpAvg: { median: number };
      pingCpu: { median: number; unit: string };
      pingAvgRatio: { median: number };
    }[];
  };
  assert.ok(report.machine.cores > 0 && report.machine.kernel.length > 0);
  assert.deepEqual(report.settings.layouts, ['shared', 'pinned'], 'both placements by default');
  assert.equal(report.settings.ipv6, false, 'the IPv6 rows are opt-in (--ipv6)');
  assert.deepEqual(
    report.layouts.map((l) => l.layout),
    ['shared', 'pinned'],
  );
  assert.deepEqual(report.cases, report.layouts[0]!.cases, 'cases is the first layout (the shared one)');
  const units: Record<string, string> = {
    tcp1: 'Gbit/s',
    tcp4: 'Gbit/s',
    udp64: 'kpps',
    pingAvg: 'µs',
    pingP99: 'µs',
    cpuPerGB: 'CPU s/GB',
    rrTcpAvg: 'µs',
    rrTcpP50: 'µs',
    rrTcpP99: 'µs',
    rrTcpP999: 'µs',
    rrUdpAvg: 'µs',
    rrUdpP50: 'µs',
    rrUdpP99: 'µs',
    rrUdpP999: 'µs',
    tcpTps: 'k/s',
  };
  for (const { layout, cases } of report.layouts) {
    assert.deepEqual(
      cases.map((c) => c.name),
      ['veth', 'kernel-vxlan', 'weft-vxlan', 'weft-udp'],
    );
    for (const c of cases) {
      for (const [metric, unit] of Object.entries(units)) {
        const m = c.metrics[metric];
        const where = `${layout} ${c.name} ${metric}`;
        assert.ok(m, `${where} is there`);
        assert.equal(m.unit, unit, where);
        assert.ok(Number.isFinite(m.median) && m.median > 0, `${where} = ${m.median}`);
        assert.ok(m.min <= m.median && m.median <= m.max, where);
        if (c.name.startsWith('weft')) assert.ok(m.ratioToKernelVxlan && m.ratioToKernelVxlan.median > 0, `${where} ratio`);
      }
      const rr = c.metrics;
      assert.ok(
        rr.rrTcpP50!.median <= rr.rrTcpP99!.median && rr.rrTcpP99!.median <= rr.rrTcpP999!.median,
        `${layout} ${c.name} percentiles ordered`,
      );
    }
  }
  // Idle cost is measured for weft's own processes only (a kernel path has none).
  for (const name of ['weft-vxlan', 'weft-udp']) {
    const idle = report.cases.find((c) => c.name === name)!.metrics.idleCpu;
    assert.ok(idle && idle.unit === '% of a core' && Number.isFinite(idle.median) && idle.median >= 0, `${name} idleCpu`);
  }
  assert.equal(report.cases.find((c) => c.name === 'kernel-vxlan')!.metrics.idleCpu, undefined);
  assert.match(r.stdout, /pinned layout: host A on CPU 0, host B on CPU 1/);
  // Pinned: every veth of each host steers its received packets to that host's CPU (RPS); shared: none.
  const [shared, pinned] = report.layouts;
  assert.deepEqual(shared!.steering, []);
  const steered = (host: string) => pinned!.steering.filter((x) => x.host === host).map((x) => x.dev);
  assert.deepEqual(steered('A').sort(), ['u0', 'u1', 'u2', 'u3']);
  assert.deepEqual(steered('B').sort(), ['u0', 'u1', 'u2', 'u3']);
  for (const x of pinned!.steering)
    assert.ok(
      x.rpsCpus.every((m) => parseInt(m, 16) === (x.host === 'A' ? 1 : 2)),
      JSON.stringify(x),
    );
  // Both ablations, in the pinned layout: six offload variants, four polling caps (the default first).
  assert.equal(report.ablationLayout, 'pinned');
  assert.equal(report.ablation.length, 6);
  assert.ok(report.ablation.every((a) => a.tcp1.median > 0));
  assert.equal(report.ablation[0]!.ratioToAllOn.median, 1);
  assert.deepEqual(
    report.pollAblation.map((p) => p.pollBudgetUs),
    [200, 0, 50, 1000],
  );
  for (const p of report.pollAblation) {
    assert.ok(p.pingAvg.median > 0 && p.pingAvg.unit === 'µs' && p.rrTcpAvg.median > 0, JSON.stringify(p));
    assert.ok(p.pingCpu.unit === '% of a core' && p.pingCpu.median >= 0);
  }
  assert.equal(report.pollAblation[0]!.pingAvgRatio.median, 1);
  assert.match(r.stdout, /what adaptive polling buys \(pinned layout\)/);
  assert.match(r.stdout, /what each offload buys \(pinned layout\)/);
  assert.match(r.stdout, /sockperf TCP rtt avg/);
  assert.deepEqual([...new Set(report.codec.map((x) => x.backend))], ['udp', 'vxlan', 'tso']);
  assert.ok(report.codec.every((x) => x.nsPerPacket > 0));
  assert.match(readFileSync(svg, 'utf8'), /^<svg [^>]*>[\s\S]*weft vxlan[\s\S]*<\/svg>\n$/);
});

const kPeerNames = ['fastd', 'tinc', 'wireguard-go', 'nebula'];
const installed = (pkg: string): boolean => spawnSync('dpkg', ['-s', pkg], { stdio: 'ignore' }).status === 0;

test('weft bench --peers --quick carries ping and TCP over every installed peer tunnel and names the missing ones', { skip }, () => {
  const json = join(dir, 'peers.json');
  const svg = join(dir, 'peers.svg');
  const r = spawnSync(
    process.execPath,
    [kMain, 'bench', '--peers', '--quick', '--layout', 'shared', '--seconds', '1', '--json', json, '--svg', svg],
    { encoding: 'utf8', timeout: 600_000 },
  );
  assert.equal(r.status, 0, `bench failed:\n${r.stdout}\n${r.stderr}`);
  const report = JSON.parse(readFileSync(json, 'utf8')) as {
    settings: { peers: boolean };
    cases: { name: string; label: string; metrics: Record<string, Metric> }[];
    peers: { name: string; label: string; status: string }[];
    peerErrors: unknown[];
  };
  assert.equal(report.settings.peers, true);
  assert.deepEqual(
    report.peers.map((p) => p.name),
    [...kPeerNames, 'flannel-udp'],
    'every peer tunnel is listed, measured or not',
  );
  assert.equal(report.peers.at(-1)!.status, 'not in Debian: skipped');
  const packages: Record<string, string[]> = {
    fastd: ['fastd'],
    tinc: ['tinc'],
    'wireguard-go': ['wireguard-go', 'wireguard-tools'],
    nebula: ['nebula'],
  };
  for (const name of kPeerNames) {
    const status = report.peers.find((p) => p.name === name)!.status;
    const missing = packages[name]!.filter((p) => !installed(p));
    const c = report.cases.find((x) => x.name === name);
    if (missing.length > 0) {
      assert.equal(status, `not installed: ${missing.join(', ')}`, name);
      assert.equal(c, undefined, `${name} is not a measured path`);
      assert.match(r.stdout, new RegExp(`not installed: ${missing[0]}`));
      continue;
    }
    assert.equal(status, 'measured', `${name}: ${status}`);
    assert.ok(c, `${name} is a path of the report`);
    for (const metric of ['pingAvg', 'tcp1', 'tcp4', 'rrTcpAvg']) {
      const m = c.metrics[metric];
      assert.ok(m && Number.isFinite(m.median) && m.median > 0, `${name} ${metric} = ${m?.median}`);
      assert.ok(m.ratioToKernelVxlan && m.ratioToKernelVxlan.median > 0, `${name} ${metric} ratio to kernel VXLAN`);
    }
    assert.ok(c.metrics.idleCpu && c.metrics.idleCpu.median >= 0, `${name} idle CPU of its daemons`);
    assert.match(r.stdout, new RegExp(`\\| ${c.label.replace(/[()]/g, '\\$&')}`), `${name} in the table`);
    assert.match(readFileSync(svg, 'utf8'), new RegExp(c.label.replace(/[()]/g, '\\$&')), `${name} in the SVG`);
  }
  assert.match(r.stdout, /flannel's udp proxy\s+not in Debian: skipped/);
});

interface CaseJson {
  name: string;
  label: string;
  family: number;
  baseline?: string;
  notMeasured?: Record<string, string>;
  metrics: Record<string, Metric>;
}

test('weft bench --ipv6 adds kernel VXLAN over IPv6 and weft vxlan6, compared IPv6 beside IPv6, and no sockperf for them', { skip }, () => {
  const json = join(dir, 'ipv6.json');
  const svg = join(dir, 'ipv6.svg');
  const prefix = `wbt6${process.pid}`;
  const r = spawnSync(
    process.execPath,
    [kMain, 'bench', '--ipv6', '--quick', '--layout', 'shared', '--seconds', '1', '--json', json, '--svg', svg],
    { encoding: 'utf8', timeout: 600_000, env: { ...process.env, WEFT_BENCH_NS_PREFIX: prefix } },
  );
  assert.equal(r.status, 0, `bench failed:\n${r.stdout}\n${r.stderr}`);
  const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
  assert.ok(!left.includes(`${prefix}-`), `namespaces left behind:\n${left}`);
  assert.match(r.stderr, /shared · round 1\/1 · kernel VXLAN6 \(flannel-v6\.1\) · ping avg/);
  assert.match(r.stderr, /shared · round 1\/1 · weft vxlan6 · TCP 1 stream/);
  assert.match(r.stderr, /kernel VXLAN6 \(flannel-v6\.1\): up \(MTU 1430/, "the kernel's clamp, underlay 1500 − 70");

  const report = JSON.parse(readFileSync(json, 'utf8')) as {
    settings: { ipv6: boolean };
    cases: CaseJson[];
    weftCounters: Record<string, { drops: Record<string, number> }>;
  };
  assert.equal(report.settings.ipv6, true);
  assert.deepEqual(
    report.cases.map((c) => c.name),
    ['veth', 'kernel-vxlan', 'weft-vxlan', 'weft-udp', 'kernel-vxlan6', 'weft-vxlan6'],
  );
  const byName = (name: string): CaseJson => report.cases.find((c) => c.name === name)!;
  const ratioOf = (c: CaseJson, base: CaseJson, metric: string): number => c.metrics[metric]!.rounds[0]! / base.metrics[metric]!.rounds[0]!;

  // IPv4 rows keep their baseline: kernel VXLAN over IPv4.
  for (const name of ['weft-vxlan', 'weft-udp']) {
    const c = byName(name);
    assert.equal(c.family, 4);
    assert.equal(c.baseline, 'kernel-vxlan', name);
    const ratio = c.metrics.tcp1!.ratioToKernelVxlan!.median;
    assert.ok(Math.abs(ratio - ratioOf(c, byName('kernel-vxlan'), 'tcp1')) < 1e-9, `${name} tcp1 ratio is against flannel.1`);
  }
  for (const c of report.cases.filter((x) => x.family === 6)) {
    for (const metric of ['pingAvg', 'pingP99', 'tcp1', 'tcp4', 'cpuPerGB']) {
      const m = c.metrics[metric];
      assert.ok(m && Number.isFinite(m.median) && m.median > 0, `${c.name} ${metric} = ${m?.median}`);
    }
    for (const metric of ['rrTcpAvg', 'rrUdpAvg', 'rrTcpP99', 'tcpTps', 'udp64']) {
      assert.equal(c.metrics[metric], undefined, `${c.name} has no ${metric}: not faked`);
    }
    assert.match(c.notMeasured?.sockperf ?? '', /sockperf \(3\.7\) has no IPv6/);
    assert.ok(c.notMeasured?.udp64, `${c.name} says why it has no UDP 64 B`);
  }
  const kernel6 = byName('kernel-vxlan6');
  assert.equal(kernel6.baseline, undefined, 'kernel VXLAN over IPv6 is the IPv6 reference');
  for (const m of Object.values(kernel6.metrics)) assert.equal(m.ratioToKernelVxlan, undefined);
  const weft6 = byName('weft-vxlan6');
  assert.equal(weft6.baseline, 'kernel-vxlan6');
  for (const metric of ['pingAvg', 'pingP99', 'tcp1', 'tcp4', 'cpuPerGB']) {
    const ratio = weft6.metrics[metric]!.ratioToKernelVxlan!.median;
    assert.ok(Math.abs(ratio - ratioOf(weft6, kernel6, metric)) < 1e-9, `weft-vxlan6 ${metric} ratio is against flannel-v6.1`);
  }
  assert.ok(weft6.metrics.idleCpu && weft6.metrics.idleCpu.median >= 0, 'weft-vxlan6 idle CPU');
  for (const host of ['A', 'B']) {
    const drops = report.weftCounters[`${host}:weftvx6`]?.drops;
    assert.ok(drops, `host ${host}'s weft vxlan6 counters are in the report`);
    assert.equal(drops.malformed, 0, `host ${host} weft vxlan6 drops nothing as malformed`);
  }

  assert.match(r.stdout, /IPv6 \(--ipv6; ×r against kernel VXLAN over IPv6\)/);
  assert.match(r.stdout, /\| kernel VXLAN6 \(flannel-v6\.1\)/);
  assert.match(r.stdout, /\| weft vxlan6 /);
  assert.match(r.stdout, /IPv6 rows: no sockperf round trips/);
  const chart = readFileSync(svg, 'utf8');
  assert.match(chart, /kernel VXLAN6 \(flannel-v6\.1\)[\s\S]*weft vxlan6/);
  assert.match(chart, /IPv6 rows: ratios against kernel VXLAN6/);
});
