// systemd: readiness (sd_notify READY=1 / STOPPING=1) and the file
// descriptor store. Under a unit with `FileDescriptorStoreMax=`, a ready
// agent parks its TUN queues and UDP sockets in systemd (FDSTORE=1, named
// weft-tun / weft-udp / weft-send); systemd holds them while the service
// restarts and passes them to the next start (LISTEN_FDS from fd 3,
// LISTEN_FDNAMES), which starts its workers on them. The queues never close,
// so packets wait in the kernel across `systemctl restart`.

import type { DataPlane } from '../dataplane/dataplane';
import { loadAddon, type NativeEngineFds } from '../dataplane/native';

const kNames = { tun: 'weft-tun', udp: 'weft-udp', send: 'weft-send', udp6: 'weft-udp6' } as const;
const kFirstListenFd = 3;

/** Sends `state` to systemd when NOTIFY_SOCKET is set; false when it is not. */
export function sdNotify(state: string, fds: number[] = [], socket = process.env.NOTIFY_SOCKET): boolean {
  if (!socket) return false;
  loadAddon().handoff.notify(socket, state, fds);
  return true;
}

/** Parks `dp`'s fds in systemd's fd store, replacing what an earlier start stored. */
export function storeFds(dp: DataPlane, socket = process.env.NOTIFY_SOCKET): void {
  const fds = dp.handoffFds();
  for (const key of ['tun', 'udp', 'send', 'udp6'] as const) {
    const list = fds[key] ?? [];
    sdNotify(`FDSTOREREMOVE=1\nFDNAME=${kNames[key]}`, [], socket);
    if (list.length > 0) sdNotify(`FDSTORE=1\nFDNAME=${kNames[key]}`, list, socket);
  }
}

/**
 * The weft fds systemd passed to this process (sd_listen_fds), removing the
 * LISTEN_* variables so that no child sees them. Undefined when none.
 */
export function listenFds(env: NodeJS.ProcessEnv = process.env, pid = process.pid): NativeEngineFds | undefined {
  if (env.LISTEN_PID !== String(pid)) return undefined;
  const count = Number(env.LISTEN_FDS);
  const names = (env.LISTEN_FDNAMES ?? '').split(':');
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  if (!Number.isInteger(count) || count <= 0) return undefined;
  const fds: Required<NativeEngineFds> = { tun: [], udp: [], send: [], udp6: [] };
  for (let i = 0; i < count; i++) {
    const name = names[i];
    const key = (Object.keys(kNames) as (keyof typeof kNames)[]).find((k) => kNames[k] === name);
    if (key) fds[key].push(kFirstListenFd + i);
  }
  return fds.tun.length > 0 ? fds : undefined;
}
