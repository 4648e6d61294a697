// Hand-off of a running data plane to the process that replaces it: the
// TUN queues and UDP sockets travel as SCM_RIGHTS over a unix socket
// (native/core/handoff.h), with a JSON description of what they are. The
// sender keeps forwarding until the fds are out, then releases its side;
// the receiver starts its workers on the same open files, so packets wait in
// the kernel's queues in between instead of being dropped.

import { ErrorCode, WeftError } from '../errors';
import type { DataPlane } from './dataplane';
import { loadAddon, type NativeEngineFds } from './native';

const kVersion = 1;

/** What travels beside the fds: the counts that split them, and the sender's own description. */
interface Envelope<T> {
  version: number;
  pid: number;
  /** udp6: the IPv6 underlay sockets (dual stack; absent from a sender without IPv6). */
  counts: { tun: number; udp: number; send: number; udp6?: number };
  description: T;
}

export interface HandedOver<T> {
  fds: NativeEngineFds;
  /** The predecessor's process ID. */
  pid: number;
  description: T;
}

const flat = (f: NativeEngineFds): number[] => [...f.tun, ...f.udp, ...f.send, ...(f.udp6 ?? [])];

/**
 * Sends `dp`'s fds and `description` on the connected unix socket `socketFd`,
 * then releases `dp` (workers stopped, table closed and kept) and returns.
 * The caller then sends the release mark (`kReleased`) and closes the socket.
 * When sending fails nothing is released and `dp` forwards on.
 */
export function handOff<T>(socketFd: number, dp: DataPlane, description: T, timeoutMs = 2000): void {
  const fds = dp.handoffFds();
  const envelope: Envelope<T> = {
    version: kVersion,
    pid: process.pid,
    counts: { tun: fds.tun.length, udp: fds.udp.length, send: fds.send.length, udp6: fds.udp6?.length ?? 0 },
    description,
  };
  loadAddon().handoff.sendFds(socketFd, flat(fds), JSON.stringify(envelope), timeoutMs);
  dp.release();
}

/** The byte a predecessor sends once it has released its side. */
export const kReleased = 'R';

/**
 * Connects to a predecessor's hand-off socket at `path` and takes its fds
 * (blocking, at most `timeoutMs`). Throws a WeftError(HANDOFF) when no
 * predecessor answers or the hand-off breaks; nothing is left open then.
 */
export function takeOver<T>(path: string, timeoutMs = 3000): HandedOver<T> {
  const addon = loadAddon();
  // ERR_WEFT_HANDOFF "no hand-off from …" from the addon, recoverable when no predecessor is there.
  const got = addon.handoff.takeOver(path, timeoutMs);
  let envelope: Envelope<T>;
  try {
    envelope = JSON.parse(got.description) as Envelope<T>;
    const c = envelope.counts;
    if (envelope.version !== kVersion || c.tun + c.udp + c.send + (c.udp6 ?? 0) !== got.fds.length) {
      throw new Error('counts do not match the fds');
    }
  } catch (cause) {
    addon.handoff.closeFds(got.fds);
    throw new WeftError(
      ErrorCode.HANDOFF,
      `hand-off from ${path} sent a description this version cannot read: ${(cause as Error).message}`,
      {
        cause,
      },
    );
  }
  const { tun, udp, send } = envelope.counts;
  const s = tun + udp + send;
  return {
    fds: {
      tun: got.fds.slice(0, tun),
      udp: got.fds.slice(tun, tun + udp),
      send: got.fds.slice(tun + udp, s),
      udp6: got.fds.slice(s),
    },
    pid: envelope.pid,
    description: envelope.description,
  };
}

/** Closes fds that were taken over but will not be used. */
export function closeHandedOver(fds: NativeEngineFds): void {
  loadAddon().handoff.closeFds(flat(fds));
}
