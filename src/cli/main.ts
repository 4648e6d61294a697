#!/usr/bin/env node
// The `weft` command: dispatches to a subcommand and exits with its code
// (0 ok, 1 runtime failure, 2 bad usage or invalid config). Called with
// flags and no subcommand, it behaves as `weft run`, like flanneld.

import { version } from './version';

// Each command's module is loaded only when it runs: `weft run` starts (and a
// restart re-attaches its data plane) without loading the lab or the bench.
/* eslint-disable @typescript-eslint/no-require-imports */
const runMain = (argv: string[]): Promise<number> => (require('./run-command') as typeof import('./run-command')).runMain(argv);
const tableMain = (argv: string[]): Promise<number> => (require('./table-command') as typeof import('./table-command')).tableMain(argv);
const cleanupMain = (argv: string[]): Promise<number> =>
  (require('./cleanup-command') as typeof import('./cleanup-command')).cleanupMain(argv);
const demoMain = (argv: string[]): Promise<number> => (require('./demo') as typeof import('./demo')).demoMain(argv);
const manifestMain = (argv: string[]): Promise<number> =>
  (require('./manifest-command') as typeof import('./manifest-command')).manifestMain(argv);
const benchMain = (argv: string[]): Promise<number> => (require('./bench') as typeof import('./bench')).benchMain(argv);
/* eslint-enable @typescript-eslint/no-require-imports */

const USAGE = `Usage: weft <command> [flags]

Commands:
  run        run the node agent (a drop-in for flanneld; flags as flanneld's)
  table      print the live lease-to-VTEP table and counters from shared memory
  cleanup    remove the device, routes, rules and files that weft run created
  demo       an overlay of several hosts in namespaces, traffic across it, figures
  bench      encapsulation throughput
  manifest   a Kubernetes manifest (DaemonSet beside flanneld) for --kube-subnet-mgr
  --version  print the version
  --help     this text; \`weft <command> --help\` for a command's flags
`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'run':
      return runMain(rest);
    case 'table':
      return tableMain(rest);
    case 'cleanup':
      return cleanupMain(rest);
    case 'demo':
      return demoMain(rest);
    case 'bench':
      return benchMain(rest);
    case 'manifest':
      return manifestMain(rest);
    case '--version':
    case '-version':
    case 'version':
      process.stdout.write(`${version()}\n`);
      return 0;
    case undefined:
    case '--help':
    case '-help':
    case '-h':
    case 'help':
      (cmd === undefined ? process.stderr : process.stdout).write(USAGE);
      return cmd === undefined ? 2 : 0;
    default:
      if (cmd.startsWith('-')) return runMain(argv); // flanneld-style: flags only
      process.stderr.write(`weft: unknown command ${JSON.stringify(cmd)}\n\n${USAGE}`);
      return 2;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`weft: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
