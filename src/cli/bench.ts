// `weft bench [--quick] [--json FILE] [--svg FILE] [--rounds N] [--seconds S] [--queues N]`
// (design §9): runs bench/run.ts and prints its table.

import { formatResult, missingTools, runBench } from '../../bench/run';

const kUsage = 'usage: weft bench [--quick] [--json FILE] [--svg FILE] [--rounds N] [--seconds S] [--queues N]';

export async function benchMain(argv: string[]): Promise<number> {
  const opts: Parameters<typeof runBench>[0] = { quick: false };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.replace(/^--?/, '').split('=', 2) as [string, string | undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`--${flag} needs a value`);
      return v;
    };
    const num = (): number => {
      const v = Number(value());
      if (!Number.isInteger(v) || v < 1) throw new Error(`--${flag} must be a positive integer`);
      return v;
    };
    try {
      if (flag === 'quick') opts.quick = true;
      else if (flag === 'json') opts.json = value();
      else if (flag === 'svg') opts.svg = value();
      else if (flag === 'rounds') opts.rounds = num();
      else if (flag === 'seconds') opts.seconds = num();
      else if (flag === 'queues') opts.queues = num();
      else if (flag === 'help' || flag === 'h') {
        process.stdout.write(kUsage + '\n');
        return 0;
      } else throw new Error(`unknown flag --${flag}`);
    } catch (e) {
      process.stderr.write(`weft bench: ${(e as Error).message}\n${kUsage}\n`);
      return 2;
    }
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
