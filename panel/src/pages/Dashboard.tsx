/**
 * The dashboard. A host administrator: the host's CPU, memory, disk and network now and over the
 * last hour (metered, summed over every tenant), containers by state, each tenant's usage against
 * its plan. A tenant's users: their containers by state and their plan.
 */
import { useMemo, useRef } from 'react';
import { useQuery } from '@tanstack/react-query';
import { get, type Container, type Me, type Series, type Tenant } from '../api';
import { Chart } from '../chart';
import { bytes, ErrorBox, percent, Sparkline, UsageBar } from '../ui';

interface Host { at: string; cpus: number; cpuPercent: number | null; load: number[]; memoryTotalBytes: number; memoryAvailableBytes: number; diskTotalBytes: number; diskFreeBytes: number; netRxBytes: number; netTxBytes: number }

export function Dashboard({ me }: { me: Me }): React.JSX.Element {
  const admin = me.scopes.includes('admin');
  const containers = useQuery({ queryKey: ['containers'], queryFn: () => get<Container[]>('v1/containers'), refetchInterval: 5000 });
  const tenants = useQuery({ queryKey: ['tenants'], queryFn: () => get<Tenant[]>('v1/tenants'), refetchInterval: 15_000, enabled: me.scopes.includes('tenants:read') });
  const byState = (containers.data ?? []).reduce<Record<string, number>>((m, c) => ({ ...m, [c.state]: (m[c.state] ?? 0) + 1 }), {});
  return (
    <section aria-labelledby="dash-title">
      <h1 id="dash-title">Dashboard</h1>
      <ErrorBox error={containers.error ?? tenants.error} />
      <div className="cards">
        <div className="card stat"><span className="big">{byState.running ?? 0}</span> running</div>
        <div className="card stat"><span className="big">{byState.stopped ?? 0}</span> stopped</div>
        <div className="card stat"><span className="big">{byState.created ?? 0}</span> created</div>
        <div className="card stat"><span className="big">{containers.data?.length ?? '…'}</span> containers in all</div>
      </div>
      {admin && !me.actingAs && <HostNow />}
      <Usage tenants={admin && !me.actingAs ? ['-', ...(tenants.data ?? []).map((t) => t.name)] : me.tenant ?? me.actingAs ? [me.actingAs ?? me.tenant!] : []} />
      {me.scopes.includes('tenants:read') && (
        <section aria-labelledby="plans-title">
          <h2 id="plans-title">{admin && !me.actingAs ? 'Tenants against their plans' : 'Your plan'}</h2>
          {(tenants.data ?? []).map((t) => (
            <article key={t.name} className="card" aria-label={`tenant ${t.name}`}>
              <h3>{t.name}{t.suspendedAt ? <span className="warn"> suspended: {t.suspendedWhy}</span> : null}{t.traffic?.action === 'throttle' ? <span className="warn"> throttled (traffic)</span> : null}</h3>
              <UsageBar label="Containers" used={t.holdings.containers} limit={t.plan.containers} show={String} />
              <UsageBar label="Disk" used={t.holdings.disk} limit={t.plan.disk} show={bytes} />
              <UsageBar label="Ports" used={t.holdings.ports} limit={t.plan.ports} show={String} />
              <UsageBar label="Traffic this month" used={t.holdings.traffic} limit={t.plan.trafficBytes} show={bytes} />
              <p className="muted">{[t.plan.cpus !== undefined ? `${t.plan.cpus} CPUs` : null, t.plan.memory !== undefined ? `${bytes(t.plan.memory)} memory` : null].filter(Boolean).join(', ') || 'no CPU or memory ceiling'}</p>
            </article>
          ))}
        </section>
      )}
    </section>
  );
}

function HostNow(): React.JSX.Element {
  const prev = useRef<Host | null>(null);
  const rates = useRef<{ rx: number; tx: number } | null>(null);
  // Since the page opened: the host's recent past, beside the containers' metered hour below.
  const past = useRef<{ cpu: number[]; mem: number[]; net: number[] }>({ cpu: [], mem: [], net: [] });
  const host = useQuery({
    queryKey: ['host'],
    queryFn: async () => {
      const h = await get<Host>('v1/host');
      const p = prev.current;
      if (p) {
        const s = (Date.parse(h.at) - Date.parse(p.at)) / 1000;
        if (s > 0) rates.current = { rx: (h.netRxBytes - p.netRxBytes) / s, tx: (h.netTxBytes - p.netTxBytes) / s };
      }
      prev.current = h;
      const keep = (xs: number[], x: number): number[] => [...xs, x].slice(-60);
      past.current = {
        cpu: keep(past.current.cpu, h.cpuPercent ?? 0), mem: keep(past.current.mem, h.memoryTotalBytes - h.memoryAvailableBytes),
        net: keep(past.current.net, rates.current ? rates.current.rx + rates.current.tx : 0),
      };
      return h;
    },
    refetchInterval: 3000,
  });
  const h = host.data;
  return (
    <section aria-labelledby="host-title">
      <h2 id="host-title">This host now</h2>
      <ErrorBox error={host.error} />
      {h && (
        <div className="cards">
          <div className="card"><UsageBar label="CPU" used={h.cpuPercent ?? 0} limit={h.cpus * 100} show={percent} /><Sparkline values={past.current.cpu} label="host CPU, the last minutes" /> <span className="muted">load {h.load.map((l) => l.toFixed(2)).join(' ')}</span></div>
          <div className="card"><UsageBar label="Memory" used={h.memoryTotalBytes - h.memoryAvailableBytes} limit={h.memoryTotalBytes} show={bytes} /><Sparkline values={past.current.mem} label="host memory, the last minutes" /></div>
          <div className="card"><UsageBar label="Disk (data root)" used={h.diskTotalBytes - h.diskFreeBytes} limit={h.diskTotalBytes} show={bytes} /></div>
          <div className="card">Network: {rates.current ? `${bytes(rates.current.rx)}/s in, ${bytes(rates.current.tx)}/s out` : 'measuring…'}<br /><Sparkline values={past.current.net} label="host network, the last minutes" /></div>
        </div>
      )}
    </section>
  );
}

/** The metered usage of the last hour, summed over the given tenants ('-': the host's own containers). */
function Usage({ tenants }: { tenants: string[] }): React.JSX.Element | null {
  const from = useMemo(() => new Date(Date.now() - 3600e3).toISOString(), []);
  const range = useMemo((): [number, number] => [Date.parse(from) / 1000, Date.parse(from) / 1000 + 3600], [from]);
  const series = useQuery({
    queryKey: ['dash-series', tenants.join(',')],
    queryFn: () => Promise.all(tenants.map((t) => get<Series>(`v1/tenants/${encodeURIComponent(t)}/usage/series?from=${from}&resolution=1m`))),
    refetchInterval: 30_000,
    enabled: tenants.length > 0,
  });
  const data = useMemo(() => {
    const sum = new Map<number, { cpu: number; mem: number; rx: number; tx: number }>();
    for (const s of series.data ?? []) {
      for (const p of s.points) {
        const at = Date.parse(p.at) / 1000;
        const e = sum.get(at) ?? { cpu: 0, mem: 0, rx: 0, tx: 0 };
        e.cpu += p.cpuPercent ?? 0; e.mem += p.memoryBytes ?? 0; e.rx += p.netRxBytes / 60; e.tx += p.netTxBytes / 60;
        sum.set(at, e);
      }
    }
    const times = [...sum.keys()].sort((a, b) => a - b);
    const of = (k: 'cpu' | 'mem' | 'rx' | 'tx'): number[] => times.map((t) => sum.get(t)![k]);
    return { times, cpu: [['CPU %', of('cpu')]] as Array<[string, number[]]>, mem: [['memory', of('mem')]] as Array<[string, number[]]>, net: [['in/s', of('rx')], ['out/s', of('tx')]] as Array<[string, number[]]> };
  }, [series.data]);
  if (!tenants.length) return null;
  return (
    <section aria-labelledby="usage-title">
      <h2 id="usage-title">Containers' usage, last hour</h2>
      <ErrorBox error={series.error} />
      <div className="charts">
        <Chart title="CPU" range={range} times={data.times} series={data.cpu} format={percent} />
        <Chart title="Memory" range={range} times={data.times} series={data.mem} format={bytes} />
        <Chart title="Network" range={range} times={data.times} series={data.net} format={(n) => `${bytes(n)}/s`} />
      </div>
    </section>
  );
}
