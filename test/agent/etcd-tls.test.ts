// Client TLS against an etcd that requires client certificates (issue 12,
// item 3): certificates made by the test with openssl, etcd started with
// --client-cert-auth --trusted-ca-file --cert-file --key-file inside its own
// namespace. Two `weft run` agents with --etcd-cafile/--etcd-certfile/
// --etcd-keyfile write their leases and forward to each other. A wrong CA,
// and a client certificate the server does not trust, each make the agent
// print one error line naming the endpoint and the TLS problem and exit 1
// (a TLS failure is configuration, not an outage: it is not retried).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { describeTlsFailure } from '../../src/store/etcd-store';
import { EtcdCluster } from '../helpers/etcd-cluster';
import { e2eUnavailable } from '../helpers/netns';
import { ping } from '../helpers/overlay';
import { tableSubnets } from '../helpers/table-equals-store';
import { Cluster, type Node } from '../helpers/weft-cluster';

const skip = e2eUnavailable();
const kConfig = '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":1}}';
const kPrefix = '/coreos.com/network';

describe('weft agents on an etcd that requires client certificates', { skip }, () => {
  let c: Cluster;
  let etcd: EtcdCluster;

  before(async () => {
    c = new Cluster('etl', 3, kConfig, { prefix: 'e2' });
    etcd = new EtcdCluster(c.sw, { size: 1, tls: true, prefix: 'e2', label: 'etlm' });
    await etcd.start();
    etcd.ctl('put', `${kPrefix}/config`, kConfig);
    for (const n of c.nodes.slice(0, 2)) c.start(n, etcd.agentArgs());
    for (const n of c.nodes.slice(0, 2)) {
      await n.agent!.waitReady(30_000);
      c.learn(n);
    }
  });
  after(async () => {
    await c?.destroy();
    await etcd?.destroy();
  });

  test('with the right CA and client certificate: leases written over TLS, peers forward', () => {
    const [a, b] = c.nodes as [Node, Node];
    assert.match(etcd.members[0]!.endpoint, /^https:/);
    const keys = etcd.members[0]!.getPrefix(`${kPrefix}/subnets/`).map((k) => k.key);
    assert.deepEqual(keys.sort(), [a, b].map((n) => `${kPrefix}/subnets/${n.subnet!.replace('/', '-')}`).sort());
    assert.ok(tableSubnets(a).has(b.subnet!) && tableSubnets(b).has(a.subnet!), 'each in the other table');
    assert.equal(ping(a.ns, b.pod!, { src: a.pod!, count: 3 }), 3);
    for (const n of [a, b]) assert.ok(!/ level=warn .*insecure/.test(n.agent!.stderr), 'no "insecure" warning with TLS');
  });

  const cases: { what: string; args: () => string[]; problem: RegExp }[] = [
    {
      what: 'a wrong CA',
      args: () => etcd.agentArgs({ ca: etcd.tls!.wrongCa }),
      problem: /TLS handshake failed: certificate verification failed: the server's certificate is not signed by the CA in --etcd-cafile/,
    },
    {
      what: 'a client certificate the server does not trust',
      args: () => etcd.agentArgs({ cert: etcd.tls!.wrongClientCert, key: etcd.tls!.wrongClientKey }),
      problem: /TLS handshake failed: the server refused the client certificate/,
    },
  ];
  for (const k of cases) {
    test(`${k.what}: one error line naming the endpoint and the TLS problem, exit 1`, async () => {
      const n = c.nodes[2]!;
      const agent = c.start(n, k.args());
      const t0 = Date.now();
      await Promise.race([agent.exited, new Promise((r) => setTimeout(r, 20_000))]);
      const ms = Date.now() - t0;
      if (agent.running) await agent.stop('SIGKILL');
      const errors = agent.errorLines();
      process.stdout.write(`# etcd TLS, ${k.what}: exit ${agent.exitCode} after ${ms} ms; ${errors[0] ?? '(no error line)'}\n`);
      assert.equal(agent.exitCode, 1, agent.stderr);
      assert.equal(errors.length, 1, agent.stderr);
      assert.ok(errors[0]!.includes(etcd.members[0]!.endpoint), errors[0]);
      assert.match(errors[0]!, k.problem);
      assert.ok(!/retrying/.test(agent.stderr), `not retried:\n${agent.stderr}`);
    });
  }
});

// The classification behind the one line, for the failures not staged above
// (texts as Node's TLS and OpenSSL word them under grpc-js).
describe('TLS failures in words', () => {
  const last = (e: string): string => `14 UNAVAILABLE: No connection established. Last error: ${e}. Resolution note: `;
  test('each kind named, the rest left alone', () => {
    assert.match(
      describeTlsFailure(last('Error: self-signed certificate'))!,
      /not signed by a CA this system trusts \(no --etcd-cafile given\)/,
    );
    assert.match(
      describeTlsFailure(last('Error: unable to get local issuer certificate'), { caFile: '/x/ca.pem' })!,
      /the CA in --etcd-cafile \/x\/ca\.pem/,
    );
    assert.match(describeTlsFailure(last('Error: certificate has expired'))!, /certificate verification failed: certificate has expired/);
    assert.match(
      describeTlsFailure(
        last(
          `Error [ERR_TLS_CERT_ALTNAME_INVALID]: Hostname/IP does not match certificate's altnames: IP: 10.0.0.1 is not in the cert's list`,
        ),
      )!,
      /does not name this endpoint/,
    );
    assert.match(describeTlsFailure(last('C0:error:0A00010B:SSL routines:ssl3_get_record:wrong version number'))!, /does not speak TLS/);
    assert.match(
      describeTlsFailure(last('C0:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required'))!,
      /refused the client certificate/,
    );
    assert.equal(describeTlsFailure(last('Error: connect ECONNREFUSED 198.18.0.101:2379')), undefined);
    assert.equal(describeTlsFailure('4 DEADLINE_EXCEEDED: Deadline exceeded'), undefined);
  });
});
