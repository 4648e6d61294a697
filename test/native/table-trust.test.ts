// Who may write the table (issue 12, item 7): the writer attaches only to a
// file it can trust — a regular file (opened with O_NOFOLLOW), owned by root
// or by us, not writable by group or others, in a directory that is likewise
// ours (or sticky, like /dev/shm). A planted file is refused with an error
// naming the file and the reason; its entries are never used.

import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BackendId, loadAddon, type NativeGeometry } from '../../src/dataplane/native';
import { defaultTablePath } from '../../src/dataplane/options';
import { readNodeState, writeNodeState } from '../../src/agent/node-state';
import { writeSubnetEnv } from '../../src/host/subnet-env';
import { parseCidr } from '../../src/net/cidr';

const { NativeTable: Table } = loadAddon();
const geo: NativeGeometry = { network: 0x0af40000, networkPrefixLen: 16, subnetLen: 24, backend: BackendId.vxlan };
const kNobody = 65534;
const root = process.getuid?.() === 0;
let dir = '';
let seq = 0;
const fresh = () => join(dir, `t${seq++}.table`);

/** A valid table with one entry (the "planted" lease), closed again. */
function plant(path: string): void {
  const t = new Table(path, geo);
  t.set(0x0af40700, 24, Buffer.from([198, 18, 0, 66]), Buffer.from('0e5a00000066', 'hex'), BackendId.vxlan);
  t.close();
}

describe('table trust', { skip: root ? undefined : 'needs root (chown to nobody)' }, () => {
  before(() => {
    dir = mkdtempSync('/dev/shm/weft-trust-test-');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a table of ours re-attaches with its entries', () => {
    const path = fresh();
    plant(path);
    const t = new Table(path, geo);
    assert.equal(t.reattached(), true);
    assert.equal(t.entries().length, 1);
    t.close();
  });

  it('a file owned by nobody (mode 0666) is refused, naming the file and the owner', () => {
    const path = fresh();
    plant(path);
    chownSync(path, kNobody, kNobody);
    chmodSync(path, 0o666);
    assert.throws(() => new Table(path, geo), (e: Error) => e.message.includes(`table ${path} is owned by uid ${kNobody}, not root or uid 0: refused`));
  });

  it('a file owned by nobody with mode 0644 is refused too', () => {
    const path = fresh();
    plant(path);
    chownSync(path, kNobody, kNobody);
    assert.throws(() => new Table(path, geo), /is owned by uid 65534.*refused/);
  });

  it('a group-writable file of ours is refused, naming the mode', () => {
    const path = fresh();
    plant(path);
    chmodSync(path, 0o664);
    assert.throws(() => new Table(path, geo), (e: Error) => e.message.includes(`table ${path} is writable by group or others (mode 0664): refused`));
  });

  it('a symlink planted at the path is refused and its target left alone', () => {
    const target = fresh();
    plant(target);
    const path = fresh();
    symlinkSync(target, path);
    assert.throws(() => new Table(path, geo), (e: Error) => e.message.includes(`table ${path} is a symbolic link: refused`));
    assert.equal(statSync(target).size > 0, true);
  });

  it('a directory owned by nobody is refused', () => {
    const sub = join(dir, `d${seq++}`);
    mkdirSync(sub, { mode: 0o755 });
    chownSync(sub, kNobody, kNobody);
    const path = join(sub, 'x.table');
    assert.throws(() => new Table(path, geo), (e: Error) => e.message.includes(`directory ${sub} of table ${path} is owned by uid ${kNobody}`));
  });

  it('missing directories are made 0755 and owned by us; a new file is 0644', () => {
    const sub = join(dir, `d${seq++}`, 'weft');
    const path = join(sub, 'x.table');
    const t = new Table(path, geo);
    assert.equal(t.reattached(), false);
    t.close();
    const d = statSync(sub);
    assert.equal(d.uid, 0);
    assert.equal(d.mode & 0o022, 0);
    const f = statSync(path);
    assert.equal(f.uid, 0);
    assert.equal(f.mode & 0o777, 0o644);
  });

  it('the default path is in weft\'s own directory, unique per namespace and device', () => {
    assert.match(defaultTablePath('flannel.1'), /^\/dev\/shm\/weft\/[^/]+-flannel\.1\.table$/);
    assert.notEqual(defaultTablePath('flannel.1'), defaultTablePath('flannel.2'));
  });

  it('the state file: planted by nobody, or a symlink, is refused; ours is read', () => {
    const sub = join(dir, `d${seq++}`);
    mkdirSync(sub, { mode: 0o755 });
    const state = { version: 1, network: '10.244.0.0/16', subnet: '10.244.7.0/24', vtepMac: '0e:5a:00:00:00:66' };
    const path = join(sub, 'subnet.env.weft.json');
    writeNodeState(path, state as never);
    assert.equal(readNodeState(path)?.vtepMac, '0e:5a:00:00:00:66');
    chownSync(path, kNobody, kNobody);
    assert.throws(() => readNodeState(path), (e: Error) => e.message.includes(`state file ${path} is owned by uid ${kNobody}, not root or uid 0: refused`));
    rmSync(path);
    const elsewhere = join(sub, 'elsewhere.json');
    writeFileSync(elsewhere, JSON.stringify(state));
    symlinkSync(elsewhere, path);
    assert.throws(() => readNodeState(path), (e: Error) => e.message.includes(`state file ${path} is a symbolic link: refused`));
  });

  it('subnet.env in a directory nobody owns, or one writable by others, is refused and not written', async () => {
    const env = { network: parseCidr('10.244.0.0/16', { strict: true })!, subnet: parseCidr('10.244.7.1/24')!, mtu: 1450, ipMasq: false };
    for (const [owner, mode, reason] of [[kNobody, 0o755, `owned by uid ${kNobody}`], [0, 0o777, 'writable by group or others (mode 0777)']] as const) {
      const sub = join(dir, `d${seq++}`);
      mkdirSync(sub);
      chownSync(sub, owner, owner);
      chmodSync(sub, mode);
      const path = join(sub, 'subnet.env');
      await assert.rejects(writeSubnetEnv(path, env as never), (e: Error) => e.message.includes(`subnet.env directory ${sub} is ${reason}`));
      assert.equal(existsSync(path), false);
    }
    const ok = join(dir, `d${seq++}`, 'run', 'flannel');
    await writeSubnetEnv(join(ok, 'subnet.env'), env as never);
    assert.equal(existsSync(join(ok, 'subnet.env')), true);
  });
});
