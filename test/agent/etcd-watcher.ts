// Child process for the etcd partition test: an EtcdStore lease watch and
// nothing else (no unary calls after the first list, so nothing but the
// watch itself can notice a stale member), run inside a node namespace.
// Prints one JSON line per watch open, event and error.
// argv: endpoints (comma separated)

import { formatCidr } from '../../src/net/cidr';
import { EtcdStore } from '../../src/store/etcd-store';

const store = new EtcdStore({ endpoints: process.argv[2]!.split(',') });
const out = (o: object): void => void process.stdout.write(`${JSON.stringify(o)}\n`);

store
  .list()
  .then((snap) => {
    store.watch(
      snap.revision,
      (e) => out(e.type === 'resync' ? { type: 'resync' } : { type: e.type, subnet: formatCidr(e.subnet), revision: e.revision }),
      { onOpen: () => out({ type: 'open' }), onError: (err) => out({ type: 'error', message: err.message }) },
    );
  })
  .catch((err: Error) => {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  });
process.on('SIGTERM', () => void store.close().then(() => process.exit(0)));
