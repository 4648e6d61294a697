// `weft bench --quick --json` produces every case and metric, with units and
// plausible (positive, finite) values. No test asserts a speed.

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
  const r = spawnSync(process.execPath, [kMain, 'bench', '--quick', '--json', json, '--svg', svg], { encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, `bench failed:\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, /round 1\/1 · weft vxlan · TCP 1 stream/, 'progress is shown while it runs');
  assert.match(r.stdout, /\| weft vxlan/, 'a table on the terminal');

  const report = JSON.parse(readFileSync(json, 'utf8')) as {
    machine: { cores: number; kernel: string };
    cases: { name: string; metrics: Record<string, Metric> }[];
    codec: { backend: string; size: number; nsPerPacket: number }[];
  };
  assert.ok(report.machine.cores > 0 && report.machine.kernel.length > 0);
  assert.deepEqual(report.cases.map((c) => c.name), ['veth', 'kernel-vxlan', 'weft-vxlan', 'weft-udp']);
  const units: Record<string, string> = {
    tcp1: 'Gbit/s', tcp4: 'Gbit/s', udp64: 'kpps', pingAvg: 'µs', pingP99: 'µs', cpuPerGB: 'CPU s/GB',
  };
  for (const c of report.cases) {
    for (const [metric, unit] of Object.entries(units)) {
      const m = c.metrics[metric];
      assert.ok(m, `${c.name} has ${metric}`);
      assert.equal(m.unit, unit);
      assert.ok(Number.isFinite(m.median) && m.median > 0, `${c.name} ${metric} = ${m.median}`);
      assert.ok(m.min <= m.median && m.median <= m.max);
      if (c.name.startsWith('weft')) assert.ok(m.ratioToKernelVxlan && m.ratioToKernelVxlan.median > 0, `${c.name} ${metric} ratio`);
    }
  }
  assert.deepEqual([...new Set(report.codec.map((x) => x.backend))], ['udp', 'vxlan', 'tso']);
  assert.ok(report.codec.every((x) => x.nsPerPacket > 0));
  assert.match(readFileSync(svg, 'utf8'), /^<svg [^>]*>[\s\S]*weft vxlan[\s\S]*<\/svg>\n$/);
});
