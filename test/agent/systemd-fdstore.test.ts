// systemd restarts without loss (issue 12, item 2): `weft run` as a
// Type=notify service whose TUN queues and UDP sockets sit in systemd's file
// descriptor store. There is no systemd as PID 1 here, so
// native/test/fake_systemd.cc plays its part: NOTIFY_SOCKET, FDSTORE=1 /
// FDSTOREREMOVE=1 / READY=1, and on restart SIGTERM, wait, start again with
// the stored fds from fd 3 and LISTEN_FDS / LISTEN_FDNAMES / LISTEN_PID —
// what `systemctl restart` does. Under a 10 ms ping stream the old process
// exits before the new one starts (no overlap, unlike a hand-off), yet no
// ping is lost: the queues never close, packets wait in them.

import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { e2eUnavailable } from '../helpers/netns';
import { ping } from '../helpers/overlay';
import { PingStream } from '../helpers/ping-stream';
import { kWeftMain, tempDir, until } from '../helpers/weft-agent';
import { Cluster, type Node } from '../helpers/weft-cluster';

const skip = e2eUnavailable();
const kRestarts = 5;
const kRepoRoot = join(__dirname, '..', '..', '..');

function buildFakeSystemd(): string {
  const out = join(kRepoRoot, 'native', 'test', 'out');
  mkdirSync(out, { recursive: true });
  const exe = join(out, 'fake_systemd');
  const src = join(kRepoRoot, 'native', 'test', 'fake_systemd.cc');
  execFileSync(process.env.CXX ?? 'g++', ['-std=c++20', '-Wall', '-Wextra', '-Werror', '-O2', '-o', exe, src], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return exe;
}

class FakeSystemd {
  readonly child: ChildProcess;
  out = '';
  err = '';
  constructor(node: Node, exe: string, weftArgs: string[]) {
    mkdirSync(node.dir, { recursive: true });
    this.child = node.ns.spawn(exe, [join(node.dir, 'notify.sock'), '--', process.execPath, kWeftMain, ...weftArgs], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (d: Buffer) => (this.out += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.err += d.toString()));
  }
  count(re: RegExp): number {
    return (this.out.match(new RegExp(re.source, 'gm')) ?? []).length;
  }
  countLog(re: RegExp): number {
    return (this.err.match(new RegExp(re.source, 'g')) ?? []).length;
  }
  send(cmd: string): void {
    this.child.stdin!.write(`${cmd}\n`);
  }
  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.send('stop');
    const t = setTimeout(() => this.child.pid && process.kill(this.child.pid, 'SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  }
}

describe("systemctl restart with the data plane's fds in systemd's fd store (vxlan, embedded store)", { skip }, () => {
  const config = '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":1}}';
  let c: Cluster;
  let sd: FakeSystemd | undefined;
  let dataDir: string;
  const args = (): string[] => c.embeddedArgs(dataDir);

  before(async () => {
    c = new Cluster('sdf', 2, config);
    dataDir = tempDir('sdfdb');
    const [a, b] = c.nodes as [Node, Node];
    c.start(b, args());
    await b.agent!.waitReady();
    c.learn(b);
    sd = new FakeSystemd(a, buildFakeSystemd(), [...c.baseArgs(a), ...args()]);
    await until(() => sd!.count(/^READY /) >= 1, 20_000, `first READY=1 (log:\n${sd!.err})`);
    c.learn(a);
    // b was ready before a had a lease: b learns a's from its watch, and a
    // ping sent before that is dropped at b (no route), not by a restart.
    await c.untilMeshed();
  });
  after(async () => {
    if (process.env.WEFT_DEBUG) process.stdout.write(`${sd?.out}\n${sd?.err}\n`);
    await sd?.stop();
    await c?.destroy();
  });

  test(`${kRestarts} restarts under a 10 ms ping stream lose no ping`, async () => {
    const [a, b] = c.nodes as [Node, Node];
    const s = sd!;
    // The agent parks its fds right after READY=1: wait for the last of them.
    await until(() => s.count(/^STORED weft-send 1$/) >= 1, 5000, `fds stored (log:\n${s.out})`);
    assert.equal(s.count(/^STORED weft-tun 1$/), 1, s.out);
    assert.equal(s.count(/^STORED weft-udp 1$/), 1, s.out);
    assert.equal(s.count(/^STORED weft-send 1$/), 1, s.out);
    const stream = new PingStream(b.ns, a.pod!, { src: b.pod!, intervalMs: 10 });
    await until(() => stream.replies >= 50, 5000, 'ping stream flowing');
    for (let i = 1; i <= kRestarts; i++) {
      const seen = stream.replies;
      s.send('restart');
      await until(() => s.count(/^READY /) >= i + 1, 20_000, `READY after restart ${i} (log:\n${s.err})`);
      assert.equal(s.count(/^EXITED 0$/), i, 'the old process exited cleanly on SIGTERM');
      assert.equal(s.countLog(/msg="data plane taken from systemd's fd store"/), i, s.err);
      await until(() => stream.replies >= seen + 30, 5000, 'replies after the restart');
    }
    const res = await stream.stop();
    process.stdout.write(
      `# systemd restart with the fd store: ${res.lost} pings lost at 10 ms over ${kRestarts} restarts; longest reply gap ${res.longestGapMs} ms\n`,
    );
    assert.equal(res.lost, 0, `pings lost over ${kRestarts} restarts (longest reply gap ${res.longestGapMs} ms)`);
    assert.doesNotMatch(s.err, /level=(warn|error) msg="cannot (run|park)/);
    assert.equal(ping(a.ns, b.pod!, { src: a.pod!, count: 3 }), 3);
  });
});
