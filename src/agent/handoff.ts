// Hand-off between two `weft run` processes on one node (an upgrade, a
// restart, a DaemonSet rolling update with maxSurge 1): the running agent
// listens on a unix socket beside its state file; a new agent connects at
// its start, receives the data plane's TUN queues and UDP sockets, starts its
// workers on them, and the old one exits. Forwarding never stops: between
// the old workers stopping and the new ones starting, packets wait in the
// kernel's queues (the fds stay open throughout).
//
// The socket is created 0600 in the root-owned state directory; only the
// agent's own user can connect.

import { chmodSync, existsSync, lstatSync, unlinkSync } from 'node:fs';
import { type Server, type Socket, createServer } from 'node:net';
import type { DataPlane } from '../dataplane/dataplane';
import { type HandedOver, handOff, kReleased, takeOver } from '../dataplane/handoff';
import type { AgentLogger } from './agent-options';
import type { DataPlaneShape } from './dataplane-options';

/** Takes the data plane over from a predecessor at `path`; undefined when none is there. */
export function takeOverFrom(path: string, log: AgentLogger): HandedOver<DataPlaneShape> | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return takeOver<DataPlaneShape>(path);
  } catch (err) {
    const e = err as Error & { recoverable?: boolean };
    // A socket file without a listener is what a crash (or SIGKILL) leaves.
    if (e.recoverable) log.debug('no predecessor to take the data plane over from', { socket: path, err: e.message });
    else log.warn('the hand-off from the predecessor failed; setting the data plane up anew', { socket: path, err: e.message });
    return undefined;
  }
}

export class HandoffServer {
  readonly path: string;
  readonly #server: Server;
  #ino: number | undefined;

  private constructor(path: string, server: Server) {
    this.path = path;
    this.#server = server;
  }

  /**
   * Listens on `path` (replacing a stale socket file). `give(socketFd)` is
   * called for each successor with the connection's fd; it sends the fds and
   * returns true when the data plane was handed over.
   */
  static async listen(path: string, log: AgentLogger, give: (socketFd: number) => boolean): Promise<HandoffServer> {
    if (existsSync(path) && lstatSync(path).isSocket()) unlinkSync(path);
    const server = createServer({ pauseOnConnect: true }, (socket) => serve(socket, log, give));
    const hs = new HandoffServer(path, server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    chmodSync(path, 0o600);
    hs.#ino = lstatSync(path).ino;
    server.unref();
    return hs;
  }

  /** Stops listening; removes the socket file unless a successor has put its own there. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    try {
      if (lstatSync(this.path).ino === this.#ino) unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}

function serve(socket: Socket, log: AgentLogger, give: (socketFd: number) => boolean): void {
  // The connection's fd, for sendmsg with SCM_RIGHTS (Node has no API for it).
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    log.warn('cannot hand the data plane over: no fd for the connection');
    socket.destroy();
    return;
  }
  if (give(fd)) socket.end(kReleased);
  else socket.destroy();
}

/** Hands `dp` to the successor on `socketFd`; false (and `dp` forwards on) when that fails. */
export function giveTo(socketFd: number, dp: DataPlane, shape: DataPlaneShape, log: AgentLogger): boolean {
  try {
    handOff(socketFd, dp, shape);
    return true;
  } catch (err) {
    log.warn('the hand-off to a successor failed; forwarding on', { err: (err as Error).message });
    return false;
  }
}
