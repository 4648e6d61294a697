// `weft run`: flanneld's flags (design §6, flannel-facts §9) → Agent, plus
// the process concerns: logging, health server, signals, exit codes.

import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { isIP } from 'node:net';
import { Agent, type AgentOptions } from '../agent/index';
import { listenFds, sdNotify } from '../agent/systemd';
import { ErrorCode, WeftError } from '../errors';
import { DEFAULT_PREFIX } from '../store/keys';
import { DEFAULT_ANNOTATION_PREFIX, DEFAULT_NET_CONF_PATH } from '../store/kube-defaults';
import { type FlagSpec, bool, formatFlags, list, num, parseFlags, str, usageError } from './flags';
import { startHealthServer } from './health-server';
import { LOG_LEVELS, type LogLevel, Logger } from './logger';
import { version } from './version';

export const RUN_FLAGS: readonly FlagSpec[] = [
  {
    name: 'etcd-endpoints',
    kind: 'string',
    arg: 'URLS',
    help: 'etcd endpoints, comma separated; without it the embedded store in --data-dir is used',
  },
  { name: 'etcd-prefix', kind: 'string', def: DEFAULT_PREFIX, help: 'etcd key prefix' },
  { name: 'etcd-keyfile', kind: 'string', arg: 'FILE', help: 'TLS key file (TLS is used when both key and cert files are given)' },
  { name: 'etcd-certfile', kind: 'string', arg: 'FILE', help: 'TLS certificate file' },
  { name: 'etcd-cafile', kind: 'string', arg: 'FILE', help: 'TLS CA file' },
  { name: 'etcd-username', kind: 'string', help: 'etcd username' },
  { name: 'etcd-password', kind: 'string', help: 'etcd password' },
  { name: 'data-dir', kind: 'string', def: '/var/lib/weft', arg: 'DIR', help: 'embedded store directory (used when no --etcd-endpoints)' },
  { name: 'net-config-path', kind: 'string', arg: 'FILE', help: 'network config JSON; seeds a store that has none' },
  { name: 'iface', kind: 'list', arg: 'NAME|IP', help: 'external interface, by name or address; tried in order' },
  { name: 'iface-regex', kind: 'list', arg: 'REGEX', help: 'regex matched against interface addresses, then names; after --iface' },
  {
    name: 'iface-can-reach',
    kind: 'string',
    arg: 'IP',
    help: 'the interface (and source address) the kernel routes this IP through; after --iface and --iface-regex',
  },
  { name: 'public-ip', kind: 'string', arg: 'IP', help: 'IPv4 address published to peers (default: the interface address)' },
  {
    name: 'public-ipv6',
    kind: 'string',
    arg: 'IP',
    help: "IPv6 address published to peers with EnableIPv6 (default: the interface's global IPv6 address)",
  },
  { name: 'subnet-file', kind: 'string', def: '/run/flannel/subnet.env', arg: 'PATH', help: 'where to write the subnet environment' },
  { name: 'state-file', kind: 'string', arg: 'PATH', help: 'weft state (VtepMAC, what to clean up); default <subnet-file>.weft.json' },
  {
    name: 'subnet-lease-renew-margin',
    kind: 'int',
    def: 60,
    arg: 'MINUTES',
    help: 'renew the lease this many minutes before it expires (1..1439)',
  },
  {
    name: 'subnet-lease-ttl',
    kind: 'int',
    def: 86400,
    arg: 'SECONDS',
    help: 'lease TTL (weft extension; flannel uses 24 h); at or below the margin, renew at half the TTL',
  },
  { name: 'ip-masq', kind: 'bool', def: false, help: 'install masquerade rules for traffic leaving the overlay' },
  { name: 'ip-masq-fully-random-disable', kind: 'bool', def: false, help: 'do not add --random-fully to MASQUERADE rules' },
  { name: 'iptables-resync', kind: 'int', def: 5, arg: 'SECONDS', help: 'check the iptables rules every this many seconds' },
  { name: 'iptables-forward-rules', kind: 'bool', def: true, help: 'install FORWARD accept rules for the Network' },
  {
    name: 'ip-blackhole-route',
    kind: 'bool',
    def: false,
    help: 'add a blackhole route for the own lease (each family), re-added every --iptables-resync seconds when missing',
  },
  { name: 'healthz-ip', kind: 'string', def: '0.0.0.0', arg: 'IP', help: 'health server address' },
  { name: 'healthz-port', kind: 'int', def: 0, arg: 'PORT', help: 'health server port (/healthz, /readyz, /metrics); 0 disables it' },
  { name: 'queues', kind: 'int', arg: 'N', help: 'data plane queues (default min(cores, 4))' },
  {
    name: 'table-path',
    kind: 'string',
    arg: 'PATH',
    help: 'shared-memory table file (default unique per namespace and device under /dev/shm)',
  },
  { name: 'persist', kind: 'bool', def: true, help: 'keep the TUN device and table across restarts' },
  {
    name: 'handoff',
    kind: 'bool',
    def: true,
    help: 'take the data plane over from a running weft at start (no packet lost), and hand it to the next one',
  },
  { name: 'handoff-socket', kind: 'string', arg: 'PATH', help: 'hand-off unix socket (default weft.sock beside the state file)' },
  {
    name: 'allow-unknown-peers',
    kind: 'bool',
    def: false,
    help: "accept encapsulated traffic from addresses that are no lease's PublicIP (NAT)",
  },
  {
    name: 'check-inner-source',
    kind: 'bool',
    def: false,
    help: 'accept a decapsulated packet only if its inner source lies in the lease of the peer that sent it',
  },
  { name: 'log-level', kind: 'string', def: 'info', arg: 'LEVEL', help: 'debug, info, warn or error' },
  { name: 'v', kind: 'int', def: 0, help: 'flanneld verbosity; 1 or more means --log-level=debug' },
  { name: 'vmodule', kind: 'string', arg: 'LIST', help: "klog's per-file verbosity: accepted for flanneld command lines, no effect" },
  {
    name: 'log_backtrace_at',
    kind: 'string',
    arg: 'FILE:LINE',
    help: "klog's backtrace point: accepted for flanneld command lines, no effect",
  },
  {
    name: 'version',
    kind: 'bool',
    def: false,
    help: 'print the version to stderr and exit 0 (as flanneld; not read from FLANNELD_VERSION)',
  },
  {
    name: 'kube-subnet-mgr',
    kind: 'bool',
    def: false,
    help: "Kubernetes mode: the lease is the node's podCIDR, peers are the nodes' flannel annotations",
  },
  { name: 'kube-api-url', kind: 'string', arg: 'URL', help: "Kubernetes API server URL (overrides the kubeconfig's; default in-cluster)" },
  { name: 'kubeconfig-file', kind: 'string', arg: 'FILE', help: 'kubeconfig file (default: in-cluster service account)' },
  {
    name: 'kube-annotation-prefix',
    kind: 'string',
    def: 'flannel.alpha.coreos.com',
    arg: 'PREFIX',
    help: 'prefix of the node annotations',
  },
  {
    name: 'set-node-network-unavailable',
    kind: 'bool',
    def: true,
    help: 'set the NetworkUnavailable=False node condition once ready (Kubernetes mode)',
  },
];

export const RUN_USAGE = `Usage: weft run [flags]

Runs the node agent: a drop-in for flanneld. Flags as flanneld's (-x or --x,
--x=v or --x v); each can also be given as FLANNELD_<NAME> in the environment.

${formatFlags(RUN_FLAGS)}
`;

/** Exit code for a startup error: 2 for usage, config and permission problems, else 1. */
export function exitCodeFor(err: unknown): number {
  if (!(err instanceof WeftError)) return 1;
  if (err.code === ErrorCode.USAGE || err.code === ErrorCode.INVALID_OPTION || err.code === ErrorCode.INVALID_CONFIG) return 2;
  if (err.code === ErrorCode.TUN && (err.sysCode === 'EPERM' || err.sysCode === 'EACCES')) return 2;
  if (err.code === ErrorCode.SOCKET && err.sysCode === 'EADDRNOTAVAIL') return 2;
  return 1;
}

/** The fields that name what was at fault, for the one error line. */
export function errorFields(err: unknown): Record<string, unknown> {
  if (!(err instanceof WeftError)) return {};
  const out: Record<string, unknown> = { code: err.code };
  if (err.option !== undefined)
    out[err.code === ErrorCode.INVALID_CONFIG ? 'field' : 'flag'] = err.code === ErrorCode.INVALID_CONFIG ? err.option : `--${err.option}`;
  if (err.sysCode) out.errno = err.sysCode;
  return out;
}

function readConfigFileOf(path: string, flag: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw usageError(`--${flag} ${path} cannot be read: ${(err as Error).message}`, flag);
  }
}

function readConfigFile(path: string): string {
  return readConfigFileOf(path, 'net-config-path');
}

export function agentOptionsFromFlags(v: ReturnType<typeof parseFlags>['values'], logger: Logger): AgentOptions {
  const o: AgentOptions = {
    dataDir: str(v, 'data-dir')!,
    subnetFile: str(v, 'subnet-file')!,
    subnetLeaseRenewMargin: num(v, 'subnet-lease-renew-margin')!,
    subnetLeaseTtl: num(v, 'subnet-lease-ttl')!,
    ipMasq: bool(v, 'ip-masq'),
    ipMasqFullyRandomDisable: bool(v, 'ip-masq-fully-random-disable'),
    iptablesForwardRules: bool(v, 'iptables-forward-rules'),
    iptablesResync: num(v, 'iptables-resync')!,
    ipBlackholeRoute: bool(v, 'ip-blackhole-route'),
    persist: bool(v, 'persist'),
    handoff: bool(v, 'handoff'),
    ...(str(v, 'handoff-socket') ? { handoffSocket: str(v, 'handoff-socket')! } : {}),
    allowUnknownPeers: bool(v, 'allow-unknown-peers'),
    checkInnerSource: bool(v, 'check-inner-source'),
    logger,
  };
  const endpoints = str(v, 'etcd-endpoints');
  if (endpoints) {
    const e = endpoints
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x !== '');
    if (e.length === 0) throw usageError('--etcd-endpoints must list at least one URL', 'etcd-endpoints');
    const opt = (k: string): string | undefined => str(v, k);
    o.etcd = {
      endpoints: e,
      prefix: str(v, 'etcd-prefix') ?? DEFAULT_PREFIX,
      ...(opt('etcd-keyfile') ? { keyFile: opt('etcd-keyfile')! } : {}),
      ...(opt('etcd-certfile') ? { certFile: opt('etcd-certfile')! } : {}),
      ...(opt('etcd-cafile') ? { caFile: opt('etcd-cafile')! } : {}),
      ...(opt('etcd-username') ? { username: opt('etcd-username')! } : {}),
      ...(opt('etcd-password') ? { password: opt('etcd-password')! } : {}),
    };
    if (!(o.etcd.keyFile && o.etcd.certFile)) logger.warn('no certificate provided: connecting to etcd with http. This is insecure');
  }
  const cfg = str(v, 'net-config-path');
  if (bool(v, 'kube-subnet-mgr')) {
    if (endpoints) throw usageError('--kube-subnet-mgr and --etcd-endpoints exclude each other', 'kube-subnet-mgr');
    const kubeconfig = str(v, 'kubeconfig-file');
    if (kubeconfig) readConfigFileOf(kubeconfig, 'kubeconfig-file');
    o.kube = {
      netConfPath: cfg ?? DEFAULT_NET_CONF_PATH,
      annotationPrefix: str(v, 'kube-annotation-prefix') ?? DEFAULT_ANNOTATION_PREFIX,
      setNodeNetworkUnavailable: bool(v, 'set-node-network-unavailable'),
      ...(kubeconfig ? { kubeconfigFile: kubeconfig } : {}),
      ...(str(v, 'kube-api-url') ? { apiUrl: str(v, 'kube-api-url')! } : {}),
    };
    readConfigFileOf(o.kube.netConfPath!, 'net-config-path');
  } else if (cfg) o.networkConfig = readConfigFile(cfg);
  if (list(v, 'iface').length > 0) o.iface = list(v, 'iface');
  if (list(v, 'iface-regex').length > 0) o.ifaceRegex = list(v, 'iface-regex');
  const canReach = str(v, 'iface-can-reach');
  if (canReach !== undefined && canReach !== '') {
    if (!isIP(canReach)) throw usageError(`--iface-can-reach must be an IP address, got ${JSON.stringify(canReach)}`, 'iface-can-reach');
    o.ifaceCanReach = canReach;
  }
  if (str(v, 'public-ip')) o.publicIp = str(v, 'public-ip')!;
  if (str(v, 'public-ipv6')) o.publicIpv6 = str(v, 'public-ipv6')!;
  if (str(v, 'state-file')) o.stateFile = str(v, 'state-file')!;
  if (num(v, 'queues') !== undefined) o.queues = num(v, 'queues')!;
  if (str(v, 'table-path')) o.tablePath = str(v, 'table-path')!;
  return o;
}

function notifySystemd(state: string, logger: Logger): void {
  try {
    sdNotify(state);
  } catch (err) {
    logger.warn('cannot notify systemd', { state, err: (err as Error).message });
  }
}

export async function runMain(argv: string[]): Promise<number> {
  let logger = new Logger('info');
  let agent: Agent;
  let healthIp = '0.0.0.0';
  let healthPort = 0;
  let kubeMode = false;
  try {
    const parsed = parseFlags(RUN_FLAGS, argv);
    if (parsed.help) {
      process.stdout.write(RUN_USAGE);
      return 0;
    }
    // flanneld handles --version before the environment: FLANNELD_VERSION does not count.
    if (bool(parseFlags(RUN_FLAGS, argv, {}).values, 'version')) {
      process.stderr.write(`${version()}\n`);
      return 0;
    }
    if (parsed.rest.length > 0) throw usageError(`weft run takes no arguments, got ${JSON.stringify(parsed.rest[0])}`);
    const v = parsed.values;
    for (const k of ['vmodule', 'log_backtrace_at'])
      if (str(v, k)) logger.warn(`--${k} is accepted for flanneld's command line and has no effect`);
    const level = (num(v, 'v') ?? 0) >= 1 ? 'debug' : (str(v, 'log-level') ?? 'info');
    if (!LOG_LEVELS.includes(level as LogLevel))
      throw usageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}`, 'log-level');
    logger = new Logger(level as LogLevel);
    healthIp = str(v, 'healthz-ip') ?? '0.0.0.0';
    healthPort = num(v, 'healthz-port') ?? 0;
    if (healthPort < 0 || healthPort > 65535) throw usageError(`--healthz-port must be 0..65535, got ${healthPort}`, 'healthz-port');
    const shown = Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'etcd-password'));
    logger.debug('CLI flags config', { flags: shown });
    kubeMode = bool(v, 'kube-subnet-mgr');
    // Under systemd: the fds its store passed to this start, and readiness notifications.
    const fromSystemd = listenFds();
    agent = new Agent({
      ...agentOptionsFromFlags(v, logger),
      ...(fromSystemd ? { listenFds: fromSystemd } : {}),
      fdStore: Boolean(process.env.NOTIFY_SOCKET),
    });
  } catch (err) {
    logger.error((err as Error).message, errorFields(err));
    return exitCodeFor(err);
  }

  let server: Server | undefined;
  let stopping = false;
  let resolveExit!: (code: number) => void;
  const exited = new Promise<number>((r) => (resolveExit = r));
  const shutdown = async (code: number, why: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { reason: why });
    notifySystemd('STOPPING=1', logger);
    // SIGTERM must end the process within 2 s (design §10), whatever hangs.
    const hard = setTimeout(() => {
      logger.warn('shutdown took too long; exiting');
      resolveExit(code);
    }, 1800);
    hard.unref();
    await agent.stop().catch((err: Error) => logger.warn('error during shutdown', { err: err.message }));
    server?.close();
    server?.closeAllConnections();
    clearTimeout(hard);
    logger.info('Exiting cleanly...');
    resolveExit(code);
  };
  const onSignal = (sig: NodeJS.Signals): void => void shutdown(0, sig);
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  agent.on('fatal', (err) => void shutdown(1, err.message));
  agent.on('ready', () => notifySystemd('READY=1', logger));
  agent.on('handoff', () => {
    // A DaemonSet pod that exited would be restarted and take the data plane
    // back; it waits for the SIGTERM of its deletion instead.
    if (kubeMode) logger.info('the data plane was handed over; waiting for SIGTERM');
    else void shutdown(0, 'the data plane was handed over to a successor');
  });

  // The health server starts beside the agent: a predecessor handing over
  // holds the port until the agent has taken the data plane from it.
  const health =
    healthPort > 0
      ? startHealthServer(agent, healthIp, healthPort, 10_000).then((s) => {
          server = s;
          logger.info('health server listening', { address: `${healthIp}:${healthPort}` });
        })
      : Promise.resolve();
  try {
    await Promise.all([health, agent.start()]);
  } catch (err) {
    if (stopping) return exited;
    await agent.stop().catch(() => undefined);
    await health.catch(() => undefined);
    server?.close();
    logger.error((err as Error).message, errorFields(err));
    return exitCodeFor(err);
  }
  return exited;
}
