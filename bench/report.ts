// Turning rounds of measurements into the report: medians with min–max,
// ratios to kernel VXLAN of the same IP family from the same round (for weft
// and the peer tunnels: flannel.1 for IPv4 rows, flannel-v6.1 for IPv6 rows),
// a terminal table and an SVG.

import type { BenchCase, CaseName } from './lab';

export type MetricName =
  | 'tcp1'
  | 'tcp4'
  | 'udp64'
  | 'pingAvg'
  | 'pingP99'
  | 'rrTcpAvg'
  | 'rrTcpP50'
  | 'rrTcpP99'
  | 'rrTcpP999'
  | 'rrUdpAvg'
  | 'rrUdpP50'
  | 'rrUdpP99'
  | 'rrUdpP999'
  | 'tcpTps'
  | 'cpuPerGB'
  | 'idleCpu'
  | 'retransmits';

export const kMetrics: Record<MetricName, { label: string; unit: string; higherIsBetter: boolean }> = {
  tcp1: { label: 'TCP 1 stream', unit: 'Gbit/s', higherIsBetter: true },
  tcp4: { label: 'TCP 4 streams', unit: 'Gbit/s', higherIsBetter: true },
  udp64: { label: 'UDP 64 B', unit: 'kpps', higherIsBetter: true },
  pingAvg: { label: 'ping avg', unit: 'µs', higherIsBetter: false },
  pingP99: { label: 'ping p99', unit: 'µs', higherIsBetter: false },
  rrTcpAvg: { label: 'sockperf TCP rtt avg', unit: 'µs', higherIsBetter: false },
  rrTcpP50: { label: 'sockperf TCP rtt p50', unit: 'µs', higherIsBetter: false },
  rrTcpP99: { label: 'sockperf TCP rtt p99', unit: 'µs', higherIsBetter: false },
  rrTcpP999: { label: 'sockperf TCP rtt p99.9', unit: 'µs', higherIsBetter: false },
  rrUdpAvg: { label: 'sockperf UDP rtt avg', unit: 'µs', higherIsBetter: false },
  rrUdpP50: { label: 'sockperf UDP rtt p50', unit: 'µs', higherIsBetter: false },
  rrUdpP99: { label: 'sockperf UDP rtt p99', unit: 'µs', higherIsBetter: false },
  rrUdpP999: { label: 'sockperf UDP rtt p99.9', unit: 'µs', higherIsBetter: false },
  tcpTps: { label: 'TCP transactions', unit: 'k/s', higherIsBetter: true },
  cpuPerGB: { label: 'CPU per GB (TCP 1)', unit: 'CPU s/GB', higherIsBetter: false },
  idleCpu: { label: 'idle CPU per node', unit: '% of a core', higherIsBetter: false },
  retransmits: { label: 'TCP 1 retransmits', unit: 'segments', higherIsBetter: false },
};

export interface Summary {
  median: number;
  min: number;
  max: number;
}

export interface MetricReport extends Summary {
  unit: string;
  rounds: number[];
  /** Per-round value / the baseline's (kernel VXLAN of the case's family, baselineOf) in the same round, summarised. */
  ratioToKernelVxlan?: Summary;
}

/** Kernel VXLAN of each IP family: what the other paths of that family are measured against. */
export const kKernelVxlanOf = { 4: 'kernel-vxlan', 6: 'kernel-vxlan6' } as const satisfies Record<BenchCase['family'], CaseName>;

/**
 * The path whose figures of the same round a case's are divided by: kernel
 * VXLAN of the case's IP family. The reference paths (bare veth, and kernel
 * VXLAN itself) have none.
 */
export function baselineOf(c: Pick<BenchCase, 'name' | 'family'>): CaseName | undefined {
  const kernel = kKernelVxlanOf[c.family];
  return c.name === 'veth' || c.name === kernel ? undefined : kernel;
}

export type Rounds = Record<CaseName, Partial<Record<MetricName, number[]>>>;

export function summarise(values: number[]): Summary {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]! };
}

/** Every case's metrics summarised, with ratios to its baseline (baselineOf) round by round. */
export function buildReport(
  rounds: Rounds,
  cases: readonly Pick<BenchCase, 'name' | 'family'>[],
): Record<CaseName, Partial<Record<MetricName, MetricReport>>> {
  const out = {} as Record<CaseName, Partial<Record<MetricName, MetricReport>>>;
  for (const c of cases) {
    const { name } = c;
    const metrics = rounds[name] ?? {};
    const baseline = baselineOf(c);
    out[name] = {};
    for (const [metric, values] of Object.entries(metrics) as [MetricName, number[]][]) {
      const report: MetricReport = { ...summarise(values), unit: kMetrics[metric].unit, rounds: values };
      const base = baseline ? rounds[baseline]?.[metric] : undefined;
      if (base && base.length === values.length && base.every((k) => k > 0)) {
        report.ratioToKernelVxlan = summarise(values.map((v, i) => v / base[i]!));
      }
      out[name][metric] = report;
    }
  }
  return out;
}

function fmt(v: number): string {
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

/** A plain-text table: one row per path, one column per metric, "median (min–max) ×ratio". */
export function renderTable(
  report: Record<CaseName, Partial<Record<MetricName, MetricReport>>>,
  labels: Record<CaseName, string>,
  metrics: MetricName[],
): string {
  const header = ['path', ...metrics.map((m) => `${kMetrics[m].label} (${kMetrics[m].unit})`)];
  const rows = (Object.keys(report) as CaseName[]).map((name) => [
    labels[name],
    ...metrics.map((m) => {
      const r = report[name][m];
      if (!r) return '–';
      const ratio = r.ratioToKernelVxlan ? ` ×${r.ratioToKernelVxlan.median.toFixed(2)}` : '';
      return `${fmt(r.median)} (${fmt(r.min)}–${fmt(r.max)})${ratio}`;
    }),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

/** One panel of the chart: a metric of one layout. */
export interface SvgPanel {
  title: string;
  report: Record<CaseName, Partial<Record<MetricName, MetricReport>>>;
  metric: MetricName;
}

/** A grouped bar chart, one panel per metric, values relative to the panel's largest; `notes` as lines under it. */
export function renderSvg(panels: SvgPanel[], labels: Record<CaseName, string>, title: string, notes: string[] = []): string {
  const names = Object.keys(labels) as CaseName[];
  const colors: Record<CaseName, string> = {
    veth: '#9e9e9e',
    'kernel-vxlan': '#3f51b5',
    'weft-vxlan': '#e65100',
    'weft-udp': '#f9a825',
    'kernel-vxlan6': '#7986cb',
    'weft-vxlan6': '#ff8a65',
    fastd: '#2e7d32',
    tinc: '#00838f',
    'wireguard-go': '#6a1b9a',
    nebula: '#ad1457',
  };
  const panelW = 300;
  const barH = 18;
  const panelH = names.length * (barH + 6) + 40;
  const cols = 2;
  const width = cols * (panelW + 40) + 20;
  // The legend: four paths to a line.
  const legendRows = Math.ceil(names.length / 4);
  const top = 54 + legendRows * 18;
  const height = Math.ceil(panels.length / cols) * panelH + top + notes.length * 16;
  const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height + 30}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="20" y="24" font-size="15" font-weight="bold">${esc(title)}</text>`,
  ];
  names.forEach((n, i) => {
    const lx = 20 + (i % 4) * 170;
    const ly = 36 + Math.floor(i / 4) * 18;
    parts.push(`<rect x="${lx}" y="${ly}" width="12" height="12" fill="${colors[n]}"/>`);
    parts.push(`<text x="${lx + 16}" y="${ly + 10}">${esc(labels[n])}</text>`);
  });
  panels.forEach(({ title: panelTitle, report, metric: m }, k) => {
    const x0 = 20 + (k % cols) * (panelW + 40);
    const y0 = top + Math.floor(k / cols) * panelH;
    const max = Math.max(...names.map((n) => report[n]?.[m]?.max ?? 0), 1e-9);
    parts.push(
      `<text x="${x0}" y="${y0 + 12}" font-weight="bold">${esc(panelTitle)} (${esc(kMetrics[m].unit)}${kMetrics[m].higherIsBetter ? ', higher is better' : ', lower is better'})</text>`,
    );
    names.forEach((n, i) => {
      const r = report[n]?.[m];
      if (!r) return;
      const y = y0 + 22 + i * (barH + 6);
      const w = (r.median / max) * (panelW - 60);
      parts.push(`<rect x="${x0}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${colors[n]}"/>`);
      const lo = (r.min / max) * (panelW - 60);
      const hi = (r.max / max) * (panelW - 60);
      parts.push(`<line x1="${x0 + lo}" x2="${x0 + hi}" y1="${y + barH / 2}" y2="${y + barH / 2}" stroke="black"/>`);
      parts.push(`<text x="${x0 + Math.max(w, hi) + 4}" y="${y + 13}">${fmt(r.median)}</text>`);
    });
  });
  const notesTop = top + Math.ceil(panels.length / cols) * panelH;
  notes.forEach((n, i) => parts.push(`<text x="20" y="${notesTop + 12 + i * 16}">${esc(n)}</text>`));
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
