// Prometheus text exposition (format 0.0.4) of an agent: lease state, table
// size, data-plane packet counters, drops by reason and negotiated offloads.
// Hand-written: a handful of gauges and counters needs no client library.

import type { Agent } from './agent';

type Sample = [labels: Record<string, string>, value: number];

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function snake(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
}

class Exposition {
  #out: string[] = [];
  metric(name: string, type: 'gauge' | 'counter', help: string, samples: Sample[]): void {
    this.#out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) {
      const l = Object.entries(labels)
        .map(([k, v]) => `${k}="${esc(v)}"`)
        .join(',');
      this.#out.push(`${name}${l ? `{${l}}` : ''} ${Number.isFinite(value) ? value : 0}`);
    }
  }
  text(): string {
    return `${this.#out.join('\n')}\n`;
  }
}

export function prometheusText(agent: Agent): string {
  const s = agent.status();
  const e = new Exposition();
  e.metric('weft_up', 'gauge', '1 while the agent is healthy (/healthz).', [[{}, s.healthy ? 1 : 0]]);
  e.metric('weft_ready', 'gauge', '1 while the agent is ready (/readyz).', [[{}, s.ready ? 1 : 0]]);
  e.metric('weft_store_up', 'gauge', '1 while the lease store answers.', [[{}, s.storeError === undefined ? 1 : 0]]);
  e.metric('weft_leases', 'gauge', "Leases known: this node's own plus the peers' accepted for its backend.", [
    [{ kind: 'own' }, s.lease ? 1 : 0],
    [{ kind: 'peer' }, s.peers],
  ]);
  if (s.lease?.expiresAt)
    e.metric('weft_lease_expiry_timestamp_seconds', 'gauge', 'When the own lease expires unless renewed.', [
      [{ subnet: s.lease.subnet }, s.lease.expiresAt / 1000],
    ]);
  e.metric('weft_lease_renewals_total', 'counter', 'Successful renewals of the own lease.', [[{}, s.renewals]]);
  e.metric(
    'weft_skipped_peers_total',
    'counter',
    'Peer records skipped as malformed (Kubernetes: node annotations), once per node and value.',
    [[{}, s.skippedPeers]],
  );
  e.metric('weft_table_entries', 'gauge', 'Peers programmed into the table (or host-gw routes).', [
    [{ backend: s.backend ?? '' }, s.tableSize],
  ]);
  const st = agent.stats();
  if (st) {
    const labels = { device: st.device, backend: st.backend };
    e.metric('weft_table_generation', 'gauge', 'Table generation (bumped by every change).', [[labels, st.generation]]);
    for (const [name, value] of Object.entries(st.counters)) {
      e.metric(`weft_${snake(name)}_total`, 'counter', `Data plane counter ${name}.`, [[labels, value]]);
    }
    e.metric(
      'weft_drops_total',
      'counter',
      'Packets dropped by the data plane, by reason.',
      Object.entries(st.drops).map(([reason, v]): Sample => [{ ...labels, reason: snake(reason) }, v]),
    );
    e.metric(
      'weft_offload',
      'gauge',
      'Offloads negotiated with the kernel (1 on, 0 off; or the value).',
      Object.entries(st.offloads).map(([name, v]): Sample => [{ ...labels, offload: name }, typeof v === 'boolean' ? (v ? 1 : 0) : v]),
    );
  }
  return e.text();
}
