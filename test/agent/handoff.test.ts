// Hand-off without loss (issue 12, item 2): a second `weft run` started while
// the first runs takes the running data plane over — TUN queues and UDP
// sockets passed as SCM_RIGHTS over the unix socket beside the state file —
// and the first exits. Under a 10 ms ping stream from B's pod to A's pod, ten
// hand-offs in a row on each backend: pings lost (target 0) and the longest
// gap between two replies. The successor keeps subnet, VtepMAC, table and
// lease; the predecessor exits 0; a successor after a SIGKILL (a socket file
// with no listener) falls back to the re-attach path.

import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { e2eUnavailable } from '../helpers/netns';
import { ping } from '../helpers/overlay';
import { PingStream } from '../helpers/ping-stream';
import { httpGet, tableOf, tempDir, type WeftAgent, until } from '../helpers/weft-agent';
import { Cluster, type Node } from '../helpers/weft-cluster';

const skip = e2eUnavailable();
const kHandoffs = 10;

for (const backend of ['vxlan', 'udp'] as const) {
  describe(`hand-off between two weft run processes (${backend}, embedded store)`, { skip }, () => {
    const config = JSON.stringify({ Network: '10.244.0.0/16', Backend: backend === 'vxlan' ? { Type: 'vxlan', VNI: 1 } : { Type: 'udp' } });
    let c: Cluster;
    let dataDir: string;
    const args = (): string[] => c.embeddedArgs(dataDir, { health: true });
    const figures: { lost: number; longestGapMs: number; takeMs: number }[] = [];

    before(async () => {
      c = new Cluster(`ho${backend[0]}`, 2, config);
      dataDir = tempDir(`ho${backend[0]}db`);
      for (const n of c.nodes) {
        c.start(n, args());
        await n.agent!.waitReady();
        c.learn(n);
      }
      await c.untilMeshed(); // a learns b's lease from its watch
    });
    after(async () => {
      if (figures.length > 0) {
        const lost = figures.map((f) => f.lost);
        process.stdout.write(
          `# hand-off (${backend}): pings lost at 10 ms over ${figures.length} hand-offs: ${lost.reduce((a, b) => a + b, 0)} ` +
            `(${lost.join(', ')}); longest reply gap ${Math.max(...figures.map((f) => f.longestGapMs))} ms ` +
            `(${figures.map((f) => f.longestGapMs).join(', ')}); start → taken over ${figures.map((f) => f.takeMs).join(', ')} ms\n`,
        );
      }
      await c?.destroy();
    });

    test(`${kHandoffs} hand-offs under a 10 ms ping stream lose no ping; subnet, VtepMAC, table and lease kept`, async () => {
      const [a, b] = c.nodes as [Node, Node];
      const socket = join(a.dir, 'weft.sock');
      await a.agent!.waitLog(/msg="listening for a successor/, 5000);
      assert.equal(statSync(socket).mode & 0o777, 0o600, 'socket only for its owner');
      const env = readFileSync(a.subnetFile, 'utf8');
      const before = tableOf(a);
      const stream = new PingStream(b.ns, a.pod!, { src: b.pod!, intervalMs: 10 });
      await until(() => stream.replies >= 50, 5000, 'ping stream flowing');
      let prev = stream.snapshot();
      for (let i = 0; i < kHandoffs; i++) {
        const old: WeftAgent = a.agent!;
        const seen = stream.replies;
        const t0 = Date.now();
        const next = c.start(a, args());
        await next.waitLog(/msg="data plane taken over from the previous process"/, 10_000);
        const takeMs = Date.now() - t0;
        await old.exited;
        assert.equal(old.exitCode, 0, old.stderr);
        assert.match(old.stderr, /msg="data plane handed over to a successor"/);
        await next.waitReady(20_000);
        await next.waitLog(/msg="listening for a successor/, 5000);
        await until(() => stream.replies >= seen + 30, 5000, 'replies after the hand-off');
        // The successor answers the health port the predecessor held.
        await until(() => httpGet(a.ns, 'http://127.0.0.1:8081/readyz').status === 200, 10_000, 'successor /readyz 200');
        const snap = stream.snapshot();
        const since = snap.replies.filter((r) => r.seq >= (prev.replies.at(-1)?.seq ?? 0));
        let longest = 0;
        for (let j = 1; j < since.length; j++) longest = Math.max(longest, (since[j]!.t - since[j - 1]!.t) * 1000);
        figures.push({ lost: snap.lost - prev.lost, longestGapMs: Math.round(longest), takeMs });
        prev = snap;
      }
      // Counted before ping stops: an echo still in flight at SIGINT is no loss.
      const res = stream.snapshot();
      await stream.stop();
      assert.equal(res.lost, 0, `pings lost over ${kHandoffs} hand-offs (longest reply gap ${res.longestGapMs} ms)`);
      const now = tableOf(a);
      assert.equal(readFileSync(a.subnetFile, 'utf8'), env, 'same subnet');
      assert.equal(now.vtepMac, before.vtepMac, 'same VtepMAC');
      assert.deepEqual(now.entries, before.entries, 'same peers in the table');
      assert.ok(now.counters.udpRxPackets! > before.counters.udpRxPackets!, 'the counters went on in the same table');
      assert.equal(ping(a.ns, b.pod!, { src: a.pod!, count: 3 }), 3);
    });

    test('after a SIGKILL the socket file is stale: the next start re-attaches instead, and listens again', async () => {
      const [a, b] = c.nodes as [Node, Node];
      await a.agent!.stop('SIGKILL');
      const socket = join(a.dir, 'weft.sock');
      assert.ok(existsSync(socket), 'a killed agent leaves its socket file');
      const next = c.start(a, args());
      await next.waitLog(/msg="data plane re-attached before the store"/, 10_000);
      await next.waitReady(20_000);
      assert.doesNotMatch(next.stderr, /level=warn msg="the hand-off/);
      await next.waitLog(/msg="listening for a successor/, 5000);
      assert.ok(existsSync(socket));
      assert.equal(ping(b.ns, a.pod!, { src: b.pod!, count: 3 }), 3);
    });
  });
}
