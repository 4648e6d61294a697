// flanneld-style flag parsing (Go `flag` + FLANNELD_* environment) and the
// mapping of errors to exit codes. No namespaces needed: nothing here starts an agent.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { envName, parseFlags } from '../../src/cli/flags';
import { RUN_FLAGS, exitCodeFor } from '../../src/cli/run-command';
import { ErrorCode, WeftError } from '../../src/errors';

const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => parseFlags(RUN_FLAGS, argv, env);

describe('flag parsing as flanneld', () => {
  test('-x and --x, --x=v and --x v are the same', () => {
    for (const argv of [['-public-ip', '1.2.3.4'], ['--public-ip', '1.2.3.4'], ['-public-ip=1.2.3.4'], ['--public-ip=1.2.3.4']]) {
      assert.equal(parse(argv).values['public-ip'], '1.2.3.4', argv.join(' '));
    }
  });

  test('booleans take no separate value; --x=false turns them off; defaults apply', () => {
    const p = parse(['--ip-masq', '--iptables-forward-rules=false', '--persist=0']);
    assert.equal(p.values['ip-masq'], true);
    assert.equal(p.values['iptables-forward-rules'], false);
    assert.equal(p.values['persist'], false);
    assert.equal(parse([]).values['iptables-forward-rules'], true);
    assert.equal(parse([]).values['subnet-lease-renew-margin'], 60);
    assert.equal(parse([]).values['subnet-file'], '/run/flannel/subnet.env');
    assert.equal(parse([]).values['etcd-prefix'], '/coreos.com/network');
  });

  test('--iface is repeatable and keeps its order', () => {
    assert.deepEqual(parse(['--iface', 'eth1', '-iface=10.0.0.1']).values.iface, ['eth1', '10.0.0.1']);
  });

  test('FLANNELD_<NAME> applies only to flags not given on the command line', () => {
    const env = {
      FLANNELD_IFACE: 'eth9',
      FLANNELD_IP_MASQ: 'true',
      FLANNELD_SUBNET_LEASE_RENEW_MARGIN: '30',
      FLANNELD_PUBLIC_IP: '9.9.9.9',
    };
    const p = parse(['--public-ip', '1.2.3.4'], env);
    assert.deepEqual(p.values.iface, ['eth9']);
    assert.equal(p.values['ip-masq'], true);
    assert.equal(p.values['subnet-lease-renew-margin'], 30);
    assert.equal(p.values['public-ip'], '1.2.3.4');
    assert.equal(envName('etcd-endpoints'), 'FLANNELD_ETCD_ENDPOINTS');
  });

  test('parsing stops at the first non-flag argument and after --', () => {
    assert.deepEqual(parse(['--ip-masq', 'extra', '--iface', 'x']).rest, ['extra', '--iface', 'x']);
    assert.deepEqual(parse(['--', '--iface']).rest, ['--iface']);
  });

  test("errors use Go's wording, name the flag and exit with 2", () => {
    const cases: [string[], RegExp][] = [
      [['--nope'], /^flag provided but not defined: -nope$/],
      [['--healthz-port'], /^flag needs an argument: -healthz-port$/],
      [['--healthz-port=x'], /^invalid value "x" for flag -healthz-port: parse error$/],
      [['--ip-masq=maybe'], /^invalid boolean value "maybe" for flag -ip-masq: parse error$/],
    ];
    for (const [argv, re] of cases) {
      assert.throws(
        () => parse(argv),
        (err: WeftError) => re.test(err.message) && exitCodeFor(err) === 2 && err.code === ErrorCode.USAGE,
      );
    }
  });

  test("klog's -vmodule and -log_backtrace_at are accepted (flanneld command lines carry them)", () => {
    const p = parse(['-v=2', '-vmodule=main=3', '-log_backtrace_at=main.go:10', '--ip-masq']);
    assert.deepEqual([p.values.v, p.values.vmodule, p.values.log_backtrace_at, p.values['ip-masq']], [2, 'main=3', 'main.go:10', true]);
  });

  test('weft run --version prints the version to stderr and exits 0; FLANNELD_VERSION is not read (as flanneld)', () => {
    const main = join(__dirname, '..', '..', 'src', 'cli', 'main.js');
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version: string };
    const r = spawnSync(process.execPath, [main, 'run', '--version'], { encoding: 'utf8' });
    assert.deepEqual([r.status, r.stdout, r.stderr], [0, '', `${pkg.version}\n`]);
    // With the variable alone the run goes on and fails on its stray argument, before touching anything.
    const e = spawnSync(process.execPath, [main, 'run', 'stray'], { encoding: 'utf8', env: { ...process.env, FLANNELD_VERSION: 'true' } });
    assert.equal(e.status, 2);
    assert.match(e.stderr, /weft run takes no arguments, got \\"stray\\"/);
  });

  test('exit codes: usage/config/permission 2, runtime 1', () => {
    assert.equal(exitCodeFor(new WeftError(ErrorCode.INVALID_CONFIG, 'x', { option: 'SubnetLen' })), 2);
    assert.equal(exitCodeFor(new WeftError(ErrorCode.TUN, 'x', { sysCode: 'EPERM' })), 2);
    assert.equal(exitCodeFor(new WeftError(ErrorCode.TUN, 'x', { sysCode: 'EBUSY' })), 1);
    assert.equal(exitCodeFor(new WeftError(ErrorCode.OUT_OF_SUBNETS, 'out of subnets')), 1);
    assert.equal(exitCodeFor(new Error('boom')), 1);
  });
});
