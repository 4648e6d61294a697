// Command-line flags the way flanneld parses them (Go's `flag` package plus
// coreos flagutil.SetFlagsFromEnv, flannel-facts §9):
//   -x and --x are the same; values as `--x=v` or `--x v`; booleans take no
//   separate value (`--x`, `--x=false`); `--` ends the flags; parsing stops
//   at the first non-flag argument (returned as `rest`).
//   Every flag not given on the command line is read from FLANNELD_<NAME>
//   (upper case, `-` and `.` → `_`); a repeatable flag gets one value from it.
// Errors are WeftError(USAGE) with Go's wording and the flag as `option`.

import { ErrorCode, WeftError } from '../errors';

export type FlagKind = 'string' | 'bool' | 'int' | 'list';

export interface FlagSpec {
  readonly name: string;
  readonly kind: FlagKind;
  readonly help: string;
  readonly def?: string | number | boolean;
  /** Shown instead of the kind in --help, e.g. `URLS`. */
  readonly arg?: string;
}

export type FlagValues = Record<string, string | number | boolean | string[] | undefined>;

export interface ParsedFlags {
  readonly values: FlagValues;
  /** Flags that were set (command line or environment). */
  readonly given: ReadonlySet<string>;
  readonly rest: string[];
  readonly help: boolean;
}

export function usageError(message: string, option?: string): WeftError {
  return new WeftError(ErrorCode.USAGE, message, option === undefined ? {} : { option });
}

export function envName(flag: string): string {
  return `FLANNELD_${flag.toUpperCase().replace(/[-.]/g, '_')}`;
}

function convert(spec: FlagSpec, raw: string, from: string): string | number | boolean {
  if (spec.kind === 'bool') {
    if (/^(1|t|T|TRUE|true|True)$/.test(raw)) return true;
    if (/^(0|f|F|FALSE|false|False)$/.test(raw)) return false;
    throw usageError(`invalid boolean value ${JSON.stringify(raw)} for ${from}: parse error`, spec.name);
  }
  if (spec.kind === 'int') {
    if (!/^[+-]?\d+$/.test(raw.trim())) throw usageError(`invalid value ${JSON.stringify(raw)} for ${from}: parse error`, spec.name);
    return Number(raw);
  }
  return raw;
}

export function parseFlags(specs: readonly FlagSpec[], argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ParsedFlags {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const values: FlagValues = {};
  const given = new Set<string>();
  let help = false;
  const set = (spec: FlagSpec, v: string, from: string): void => {
    const value = convert(spec, v, from);
    if (spec.kind === 'list') values[spec.name] = [...((values[spec.name] as string[] | undefined) ?? []), String(value)];
    else values[spec.name] = value;
    given.add(spec.name);
  };
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      i++;
      break;
    }
    if (!arg.startsWith('-') || arg === '-') break;
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    if (name === 'help' || name === 'h') {
      help = true;
      continue;
    }
    const spec = byName.get(name);
    if (!spec || name === '' || name.startsWith('-')) throw usageError(`flag provided but not defined: -${name}`, name);
    if (eq >= 0) set(spec, body.slice(eq + 1), `flag -${name}`);
    else if (spec.kind === 'bool') set(spec, 'true', `flag -${name}`);
    else {
      const next = argv[i + 1];
      if (next === undefined) throw usageError(`flag needs an argument: -${name}`, name);
      set(spec, next, `flag -${name}`);
      i++;
    }
  }
  for (const spec of specs) {
    if (given.has(spec.name)) continue;
    const v = env[envName(spec.name)];
    if (v !== undefined && v !== '') set(spec, v, `environment variable ${envName(spec.name)}`);
  }
  for (const spec of specs) if (values[spec.name] === undefined && spec.def !== undefined) values[spec.name] = spec.def;
  return { values, given, rest: argv.slice(i), help };
}

/** The flag list for --help, one flag per entry as Go's PrintDefaults does. */
export function formatFlags(specs: readonly FlagSpec[]): string {
  return specs
    .map((s) => {
      const arg = s.kind === 'bool' ? '' : ` ${s.arg ?? (s.kind === 'int' ? 'int' : 'string')}`;
      const def = s.def === undefined || s.def === '' || s.def === false ? '' : ` (default ${JSON.stringify(s.def)})`;
      return `  --${s.name}${arg}\n        ${s.help}${def}${s.kind === 'list' ? ' (repeatable)' : ''}`;
    })
    .join('\n');
}

export const str = (v: FlagValues, k: string): string | undefined => {
  const x = v[k];
  return typeof x === 'string' && x !== '' ? x : undefined;
};
export const num = (v: FlagValues, k: string): number | undefined => (typeof v[k] === 'number' ? (v[k] as number) : undefined);
export const bool = (v: FlagValues, k: string): boolean => v[k] === true;
export const list = (v: FlagValues, k: string): string[] => (Array.isArray(v[k]) ? (v[k] as string[]) : []);
