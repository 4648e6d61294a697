// `weft bench --quick --json` produces every case and metric, with units and
// plausible (positive, finite) values; `--peers` adds the userspace tunnels
// that are installed and names those that are not. No test asserts a speed.
// WEFT_BENCH_NS_PREFIX, if set, prefixes the bench's namespace names.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { e2eUnavailable } from '../helpers/netns';

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

test('weft bench --quick writes a JSON report with every path, metric, unit and ratio, and an SVG chart', { skip }, () => {
  const json = join(dir, 'bench.json');
  const svg = join(dir, 'bench.svg');
  const r = spawnSync(process.execPath, [kMain, 'bench', '--quick', '--json', json, '--svg', svg], { encoding: 'utf8', timeout: 600_000 });
  assert.equal(r.status, 0, `bench failed:\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, /shared · round 1\/1 · weft vxlan · TCP 1 stream/, 'progress is shown while it runs');
  assert.match(r.stderr, /pinned · round 1\/1 · weft udp · sockperf TCP rtt avg/);
  assert.match(r.stdout, /\| weft vxlan/, 'a table on the terminal');

  const report = JSON.parse(readFileSync(json, 'utf8')) as {
    machine: { cores: number; kernel: string };
    settings: { layouts: string[] };
    cases: { name: string; metrics: Record<string, Metric> }[];
    layouts: { layout: string; cases: { name: string; metrics: Record<string, Metric> }[] }[];
    codec: { backend: string; size: number; nsPerPacket: number }[];
  };
  assert.ok(report.machine.cores > 0 && report.machine.kernel.length > 0);
  assert.deepEqual(report.settings.layouts, ['shared', 'pinned'], 'both placements by default');
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
