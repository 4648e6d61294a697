// Files weft trusts only when no other user could have written them: the
// state file (it names the table and the VtepMAC) and the directory that
// holds subnet.env and the state file. A file must be a regular file (not a
// symlink), a directory a real directory, owned by root or by our effective
// uid, and not writable by group or others — except a sticky directory
// (/tmp, /dev/shm), where others can add names but not replace ours.
//
// lstat() here leaves a window between the check and the use; the table,
// where it matters most, is checked on the open fd in native code instead.

import { lstatSync } from 'node:fs';
import { ErrorCode, WeftError } from '../errors';

/** Why `path` cannot be trusted, or undefined when it can (or does not exist). */
export function untrustedReason(path: string, kind: 'file' | 'directory'): string | undefined {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return undefined; // absent: we create it ourselves
  }
  if (st.isSymbolicLink()) return 'is a symbolic link';
  if (kind === 'file' ? !st.isFile() : !st.isDirectory()) return `is not a ${kind === 'file' ? 'regular file' : 'directory'}`;
  const me = process.geteuid?.() ?? 0;
  if (st.uid !== 0 && st.uid !== me) return `is owned by uid ${st.uid}, not root or uid ${me}`;
  const sticky = kind === 'directory' && (st.mode & 0o1000) !== 0;
  if ((st.mode & 0o022) !== 0 && !sticky) return `is writable by group or others (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')})`;
  return undefined;
}

/** Throws WeftError(HOST) naming the path and the reason when it cannot be trusted. */
export function assertTrusted(path: string, kind: 'file' | 'directory', what: string, option?: string): void {
  const reason = untrustedReason(path, kind);
  if (reason === undefined) return;
  throw new WeftError(ErrorCode.HOST, `${what} ${path} ${reason}: refused (another user could have written it)`, option ? { option } : {});
}
