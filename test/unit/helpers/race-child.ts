// Child process for the embedded-store race tests: waits for "go" on stdin so
// that all children start together, then either creates one key
// (`acquire <dataDir> <subnet>`) or runs the whole lease acquisition
// (`lease <dataDir> <publicIp> <configJson>`), and prints one JSON line.

import { parseNetworkConfig } from '../../../src/config/network-config';
import { LeaseManager } from '../../../src/lease/lease-manager';
import { parseCidr } from '../../../src/net/cidr';
import { EmbeddedStore } from '../../../src/store/embedded-store';
import { leaseAttrsFor } from '../../../src/store/lease-json';
import { formatCidr } from '../../../src/net/cidr';

async function main(): Promise<void> {
  const [mode, dataDir, arg, configJson] = process.argv.slice(2);
  await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
  const store = new EmbeddedStore({ dataDir: dataDir! });
  try {
    if (mode === 'acquire') {
      const won = await store.acquireIfAbsent(parseCidr(arg!)!, leaseAttrsFor('udp', `198.18.0.${process.pid % 250}`), 60);
      process.stdout.write(`${JSON.stringify({ won })}\n`);
    } else {
      const mgr = new LeaseManager({ store, config: parseNetworkConfig(configJson!), attrs: leaseAttrsFor('udp', arg!) });
      try {
        const lease = await mgr.acquire();
        process.stdout.write(`${JSON.stringify({ subnet: formatCidr(lease.subnet) })}\n`);
      } catch (err) {
        process.stdout.write(`${JSON.stringify({ error: (err as Error).message, code: (err as { code?: string }).code })}\n`);
      }
    }
  } finally {
    await store.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${String((err as Error).stack ?? err)}\n`);
  process.exit(1);
});
