// `weft table [--table-path P] [--device D] [--json]`: the live table and
// counters of a running `weft run`, read from shared memory (read-only
// mapping) by this separate process. Without --table-path it finds the
// table of this network namespace: flannel.1 / flannel0 / flannel-v6.1 first, else the
// only weft table of this namespace under /dev/shm.

import { existsSync, readdirSync } from 'node:fs';
import { defaultTableDir, defaultTablePath, netnsId } from '../dataplane/options';
import { type DataPlaneStats, readTable } from '../dataplane/stats';
import { ErrorCode, WeftError } from '../errors';
import { type FlagSpec, bool, formatFlags, parseFlags, str, usageError } from './flags';
import { errorFields, exitCodeFor } from './run-command';
import { Logger } from './logger';

const FLAGS: readonly FlagSpec[] = [
  { name: 'table-path', kind: 'string', arg: 'PATH', help: "the table file (default: this namespace's table under /dev/shm)" },
  { name: 'device', kind: 'string', arg: 'NAME', help: 'find the default table of this device (flannel.1, flannel0, …)' },
  { name: 'json', kind: 'bool', def: false, help: 'print the design §10 JSON instead of a table' },
];

export const TABLE_USAGE = `Usage: weft table [flags]

Prints the live lease-to-VTEP table and counters of the weft data plane in
this network namespace, read from shared memory.

${formatFlags(FLAGS)}
`;

export function findTablePath(device?: string): string {
  if (device) return defaultTablePath(device);
  for (const d of ['flannel.1', 'flannel0', 'flannel-v6.1']) if (existsSync(defaultTablePath(d))) return defaultTablePath(d);
  const prefix = `${netnsId()}-`;
  let found: string[] = [];
  try {
    found = readdirSync(defaultTableDir()).filter((f) => f.startsWith(prefix) && f.endsWith('.table'));
  } catch {
    // no table directory yet
  }
  if (found.length === 1) return `${defaultTableDir()}/${found[0]}`;
  if (found.length > 1) {
    throw usageError(`several weft tables in this namespace (${found.join(', ')}): choose one with --device or --table-path`, 'table-path');
  }
  throw new WeftError(
    ErrorCode.TABLE,
    `no weft table found for this network namespace (looked for ${defaultTablePath('flannel.1')} and ${defaultTablePath('flannel0')}); is weft run running here? Give --table-path otherwise`,
  );
}

function pad(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function formatStats(s: DataPlaneStats): string {
  const lines = [
    // An IPv6-only table's IPv4 geometry is empty (0.0.0.0/0, subnet length 0).
    `device ${s.device}  backend ${s.backend}  ${s.network === '0.0.0.0/0' && s.ipv6Network ? 'IPv6-only' : `subnet ${s.subnet}  network ${s.network}`}`,
    ...(s.ipv6Network ? [`ipv6 subnet ${s.ipv6Subnet}  network ${s.ipv6Network}${s.vtepMacV6 ? `  vtepMacV6 ${s.vtepMacV6}` : ''}`] : []),
    `mtu ${s.mtu}  port ${s.port}${s.backend === 'vxlan' ? `  vni ${s.vni}  vtepMac ${s.vtepMac}` : ''}  queues ${s.queues}  writer pid ${s.writerPid}`,
    `table ${s.tablePath}  layout v${s.layoutVersion}  generation ${s.generation}  entries ${s.entries.length}`,
    '',
  ];
  const rows = [
    ['SUBNET', 'PUBLIC IP', 'VTEP MAC', 'BACKEND'],
    ...s.entries.map((e) => [e.subnet, e.publicIp, e.vtepMac ?? '-', e.backend ?? '-']),
  ];
  lines.push(pad(rows), '');
  lines.push(pad([['COUNTER', 'VALUE'], ...Object.entries(s.counters).map(([k, v]) => [k, String(v)])]), '');
  lines.push(pad([['DROP REASON', 'PACKETS'], ...Object.entries(s.drops).map(([k, v]) => [k, String(v)])]));
  const off = Object.entries(s.offloads);
  if (off.length > 0) lines.push('', `offloads ${off.map(([k, v]) => `${k}=${String(v)}`).join(' ')}`);
  return `${lines.join('\n')}\n`;
}

export async function tableMain(argv: string[]): Promise<number> {
  try {
    const p = parseFlags(FLAGS, argv);
    if (p.help) {
      process.stdout.write(TABLE_USAGE);
      return 0;
    }
    if (p.rest.length > 0) throw usageError(`weft table takes no arguments, got ${JSON.stringify(p.rest[0])}`);
    const path = str(p.values, 'table-path') ?? findTablePath(str(p.values, 'device'));
    const stats = readTable(path);
    process.stdout.write(bool(p.values, 'json') ? `${JSON.stringify(stats, null, 2)}\n` : formatStats(stats));
    return 0;
  } catch (err) {
    new Logger('info').error((err as Error).message, errorFields(err));
    return exitCodeFor(err);
  }
}
