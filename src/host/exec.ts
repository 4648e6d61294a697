// Running host tools (ip, iptables, iptables-restore). Everything in src/host
// goes through a CommandRunner, so it acts in whatever network namespace the
// process is in, and a caller (a test, an embedder) can route the commands
// elsewhere, e.g. through `ip netns exec NAME`.

import { execFile } from 'node:child_process';
import { ErrorCode, WeftError } from '../errors';

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs cmd with args (and stdin input); resolves with the exit code, never rejects on non-zero exit. */
export type CommandRunner = (cmd: string, args: readonly string[], input?: string) => Promise<CommandResult>;

export const runCommand: CommandRunner = (cmd, args, input) =>
  new Promise((resolve, reject) => {
    const child = execFile(cmd, [...args], { encoding: 'utf8', maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') {
        reject(
          new WeftError(ErrorCode.HOST, `cannot run ${cmd}: ${err.message}`, {
            sysCode: typeof err.code === 'string' ? err.code : 'EIO',
            syscall: 'spawn',
            cause: err,
          }),
        );
        return;
      }
      resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });

/** A runner that runs every command inside a named network namespace (tests, tooling). */
export function netnsRunner(name: string, base: CommandRunner = runCommand): CommandRunner {
  return (cmd, args, input) => base('ip', ['netns', 'exec', name, cmd, ...args], input);
}

/** Runs and requires exit code 0; the error quotes the command and its stderr. */
export async function mustRun(run: CommandRunner, cmd: string, args: readonly string[], input?: string): Promise<string> {
  const r = await run(cmd, args, input);
  if (r.code !== 0) {
    throw new WeftError(ErrorCode.HOST, `${cmd} ${args.join(' ')} failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  }
  return r.stdout;
}
