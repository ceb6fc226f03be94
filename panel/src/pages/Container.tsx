/**
 * One container: actions, graphs over the last hour, day and month (the meter's rollups), limits
 * edited live, ports, networks, attached templates, the terminal and console, its console log and
 * events.
 */
import { useEffect, useMemo, useState } from 'react';
import { useNavigate, useParams } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, followEvents, get, getText, type Container, type Series, type StrataEvent, type Template } from '../api';
import { Terminal } from '../Terminal';
import { Chart } from '../chart';
import { bytes, ConfirmButton, ErrorBox, percent, StateBadge } from '../ui';

const RANGES = { hour: 3600e3, day: 86400e3, month: 30 * 86400e3 } as const;

export function ContainerDetail(): React.JSX.Element {
  const name = useParams().name!;
  const path = `v1/containers/${encodeURIComponent(name)}`;
  const client = useQueryClient();
  const navigate = useNavigate();
  const c = useQuery({ queryKey: ['container', name], queryFn: () => get<Container>(path), refetchInterval: 5000 });
  const [error, setError] = useState<unknown>(null);
  const [term, setTerm] = useState<'exec' | 'console' | null>(null);
  const act = useMutation({
    mutationFn: (action: string) => (action === 'destroy' ? api('DELETE', `${path}?force=true`) : api('POST', `${path}/${action}`)),
    onMutate: () => setError(null),
    onError: setError,
    onSuccess: async (_r, action) => {
      if (action === 'destroy') { await client.invalidateQueries({ queryKey: ['containers'] }); void navigate('/containers'); return; }
      if (action === 'stop') setTerm(null);
      await client.invalidateQueries({ queryKey: ['container', name] });
    },
  });

  if (c.error) return <ErrorBox error={c.error} />;
  if (!c.data) return <p aria-busy="true">Loading…</p>;
  const v = c.data;
  const running = v.state === 'running';
  return (
    <article aria-labelledby="ct-title">
      <div className="row spread">
        <h1 id="ct-title">{v.name} <StateBadge state={v.state} /></h1>
        <div className="row">
          {!running && <button type="button" className="primary" disabled={act.isPending} onClick={() => act.mutate('start')}>Start</button>}
          {running && <button type="button" disabled={act.isPending} onClick={() => act.mutate('stop')}>Stop</button>}
          {running && <button type="button" disabled={act.isPending} onClick={() => act.mutate('restart')}>Restart</button>}
          <ConfirmButton label="Destroy" danger question={`Destroy ${v.name}? Its private files are deleted; this cannot be undone.`} onConfirm={() => act.mutate('destroy')} />
        </div>
      </div>
      {act.isPending && <p role="status">Working…</p>}
      <ErrorBox error={error} />
      <dl className="facts">
        <dt>Template</dt><dd>{v.template}{v.apps.length ? ` + ${v.apps.map((a) => `${a.template} v${a.version}`).join(', ')}` : ''}</dd>
        <dt>Address</dt><dd>{v.adapters.map((a) => a.address).join(', ') || '–'}</dd>
        <dt>Hostname</dt><dd>{v.hostname}</dd>
        {v.tenant && <><dt>Tenant</dt><dd>{v.tenant}</dd></>}
        {v.throttled && <><dt>Traffic</dt><dd className="warn">throttled to {v.throttled} (monthly traffic quota)</dd></>}
      </dl>

      <section aria-labelledby="term-title">
        <h2 id="term-title">Terminal</h2>
        <div className="row">
          <button type="button" disabled={!running} onClick={() => setTerm(term === 'exec' ? null : 'exec')}>{term === 'exec' ? 'Close shell' : 'Open shell'}</button>
          <button type="button" disabled={!running} onClick={() => setTerm(term === 'console' ? null : 'console')}>{term === 'console' ? 'Detach console' : 'Attach console'}</button>
          {!running && <span className="muted">Start the container to open a shell or its console.</span>}
        </div>
        {term && running && <Terminal key={term} container={v.name} kind={term} />}
      </section>

      <Graphs name={v.name} />
      <Limits c={v} />
      <Ports c={v} />
      <section aria-labelledby="net-title">
        <h2 id="net-title">Networks</h2>
        <table><thead><tr><th>Network</th><th>Address</th><th>Gateway</th><th>MAC</th></tr></thead>
          <tbody>{v.adapters.map((a) => <tr key={a.network}><td>{a.network}</td><td>{a.address}</td><td>{a.gateway}</td><td>{a.mac}</td></tr>)}</tbody>
        </table>
        {!v.adapters.length && <p className="muted">No network adapter.</p>}
      </section>
      <Apps c={v} />
      <ConsoleLog name={v.name} />
      <Events name={v.name} />
    </article>
  );
}

function Graphs({ name }: { name: string }): React.JSX.Element {
  const [range, setRange] = useState<keyof typeof RANGES>('hour');
  const series = useQuery({
    queryKey: ['series', name, range],
    queryFn: () => get<Series>(`v1/containers/${encodeURIComponent(name)}/usage/series?from=${new Date(Date.now() - RANGES[range]).toISOString()}`),
    refetchInterval: range === 'hour' ? 10_000 : 60_000,
  });
  const span = useMemo((): [number, number] | undefined => (series.data ? [Date.parse(series.data.from) / 1000, Date.parse(series.data.to) / 1000] : undefined), [series.data]);
  const data = useMemo(() => {
    const p = series.data?.points ?? [];
    const secs = (at: string): number => Date.parse(at) / 1000;
    const step = p.length > 1 ? secs(p[1].at) - secs(p[0].at) : 10;
    return {
      times: p.map((x) => secs(x.at)),
      cpu: [['CPU %', p.map((x) => x.cpuPercent)]] as Array<[string, Array<number | null>]>,
      mem: [['memory', p.map((x) => x.memoryBytes)]] as Array<[string, Array<number | null>]>,
      net: [['received/s', p.map((x) => x.netRxBytes / step)], ['sent/s', p.map((x) => x.netTxBytes / step)]] as Array<[string, Array<number | null>]>,
    };
  }, [series.data]);
  return (
    <section aria-labelledby="graphs-title">
      <div className="row spread">
        <h2 id="graphs-title">Usage</h2>
        <div role="group" aria-label="time range" className="row">
          {(Object.keys(RANGES) as Array<keyof typeof RANGES>).map((r) => <button key={r} type="button" aria-pressed={range === r} onClick={() => setRange(r)}>Last {r}</button>)}
        </div>
      </div>
      <ErrorBox error={series.error} />
      <p className="muted">{series.data ? `${series.data.points.length} points at ${series.data.resolution}` : 'Loading…'}</p>
      <div className="charts">
        <Chart title="CPU" range={span} times={data.times} series={data.cpu} format={(n) => percent(n)} />
        <Chart title="Memory" range={span} times={data.times} series={data.mem} format={bytes} />
        <Chart title="Network" range={span} times={data.times} series={data.net} format={(n) => `${bytes(n)}/s`} />
      </div>
    </section>
  );
}

const LIMIT_FIELDS: Array<[string, string, string]> = [
  ['cpus', 'CPUs', 'e.g. 1.5'], ['memory', 'Memory', 'e.g. 512M'], ['pids', 'Processes', 'e.g. 500'], ['disk', 'Disk', 'e.g. 10G'],
  ['netIn', 'Inbound rate', 'e.g. 100mbit'], ['netOut', 'Outbound rate', 'e.g. 100mbit'],
];

function shown(c: Container, key: string): string {
  if (key === 'netIn') return c.netIn ?? '';
  if (key === 'netOut') return c.netOut ?? '';
  const v = c.limits[key];
  if (v === null || v === undefined) return '';
  return key === 'memory' || key === 'disk' ? `${Math.round(Number(v) / 1048576)}M` : String(v);
}

function Limits({ c }: { c: Container }): React.JSX.Element {
  const client = useQueryClient();
  const [draft, setDraft] = useState<Record<string, string>>({});
  const save = useMutation({
    mutationFn: () => {
      const limits: Record<string, string> = {};
      for (const [k, v] of Object.entries(draft)) if (v !== shown(c, k)) limits[k] = v.trim() === '' ? 'none' : v.trim();
      return api('PATCH', `v1/containers/${encodeURIComponent(c.name)}/limits`, { limits });
    },
    onSuccess: async () => { setDraft({}); await client.invalidateQueries({ queryKey: ['container', c.name] }); },
  });
  return (
    <section aria-labelledby="limits-title">
      <h2 id="limits-title">Limits</h2>
      <form className="grid" onSubmit={(e) => { e.preventDefault(); save.mutate(); }}>
        {LIMIT_FIELDS.map(([key, label, hint]) => (
          <label key={key}>{label}
            <input name={key} value={draft[key] ?? shown(c, key)} placeholder={`none (${hint})`} onChange={(e) => setDraft({ ...draft, [key]: e.target.value })} />
          </label>
        ))}
        <div className="row">
          <button type="submit" className="primary" disabled={!Object.keys(draft).length || save.isPending}>{save.isPending ? 'Saving…' : 'Apply limits'}</button>
          {save.isSuccess && <span role="status">Applied{c.state === 'running' ? ' live' : ''}.</span>}
        </div>
      </form>
      <ErrorBox error={save.error} />
    </section>
  );
}

function Ports({ c }: { c: Container }): React.JSX.Element {
  const client = useQueryClient();
  const [spec, setSpec] = useState('');
  const base = `v1/containers/${encodeURIComponent(c.name)}/ports`;
  const change = useMutation({
    mutationFn: (m: { add?: string; remove?: string }) => (m.add ? api('POST', base, { spec: m.add }) : api('DELETE', `${base}/${encodeURIComponent(m.remove!)}`)),
    onSuccess: async () => { setSpec(''); await client.invalidateQueries({ queryKey: ['container', c.name] }); },
  });
  return (
    <section aria-labelledby="ports-title">
      <h2 id="ports-title">Published ports</h2>
      <ul className="plain">
        {c.ports.map((p) => <li key={p.spec}>{p.spec} <button type="button" className="quiet" onClick={() => change.mutate({ remove: p.spec })} aria-label={`unpublish ${p.spec}`}>Remove</button></li>)}
        {!c.ports.length && <li className="muted">None.</li>}
      </ul>
      <form className="row" onSubmit={(e) => { e.preventDefault(); change.mutate({ add: spec }); }}>
        <label className="inline">Publish<input value={spec} onChange={(e) => setSpec(e.target.value)} placeholder="8080:80/tcp" required /></label>
        <button type="submit" disabled={change.isPending}>Publish</button>
      </form>
      <ErrorBox error={change.error} />
    </section>
  );
}

function Apps({ c }: { c: Container }): React.JSX.Element {
  const client = useQueryClient();
  const templates = useQuery({ queryKey: ['templates'], queryFn: () => get<Template[]>('v1/templates') });
  const [pick, setPick] = useState('');
  const [log, setLog] = useState<string | null>(null);
  const base = `v1/containers/${encodeURIComponent(c.name)}/apps`;
  const change = useMutation({
    mutationFn: async (m: { attach?: string; detach?: string; upgrade?: string }) => {
      if (m.attach) {
        const r = await api<{ filesCopied: number; conflicts: string[]; live: boolean }>('POST', base, { template: m.attach });
        setLog(`attached ${m.attach}${r.live ? ' live' : ''}: ${r.filesCopied} files copied${r.conflicts.length ? `, kept the container's own ${r.conflicts.join(', ')}` : ''}`);
      } else if (m.detach) {
        await api('DELETE', `${base}/${encodeURIComponent(m.detach)}`);
        setLog(`detached ${m.detach}`);
      } else {
        const r = await api<{ from: number; to: number }>('POST', `${base}/${encodeURIComponent(m.upgrade!)}/upgrade`);
        setLog(`upgraded ${m.upgrade} from version ${r.from} to ${r.to}`);
      }
    },
    onMutate: () => setLog(null),
    onSuccess: async () => { setPick(''); await client.invalidateQueries({ queryKey: ['container', c.name] }); },
  });
  const apps = (templates.data ?? []).filter((t) => t.kind === 'app' && !c.apps.some((a) => a.template === t.name));
  const latest = (name: string): number | undefined => templates.data?.find((t) => t.name === name)?.versions?.at(-1)?.version;
  return (
    <section aria-labelledby="apps-title">
      <h2 id="apps-title">Application templates</h2>
      <ul className="plain">
        {c.apps.map((a) => (
          <li key={a.template}>
            {a.template} <span className="muted">version {a.version}</span>{' '}
            {(latest(a.template) ?? 0) > a.version && <button type="button" onClick={() => change.mutate({ upgrade: a.template })}>Upgrade to {latest(a.template)}</button>}
            <ConfirmButton label="Detach" question={`Detach ${a.template} from ${c.name}? Its files leave the container; the container's own changes stay.`} onConfirm={() => change.mutate({ detach: a.template })} />
          </li>
        ))}
        {!c.apps.length && <li className="muted">None attached.</li>}
      </ul>
      <form className="row" onSubmit={(e) => { e.preventDefault(); if (pick) change.mutate({ attach: pick }); }}>
        <label className="inline">Attach
          <select value={pick} onChange={(e) => setPick(e.target.value)} aria-label="application template to attach">
            <option value="">choose…</option>
            {apps.map((t) => <option key={t.name} value={t.name}>{t.name}</option>)}
          </select>
        </label>
        <button type="submit" disabled={!pick || change.isPending}>{change.isPending ? 'Working…' : 'Attach'}</button>
      </form>
      {log && <p role="status">{log}</p>}
      <ErrorBox error={change.error} />
    </section>
  );
}

function ConsoleLog({ name }: { name: string }): React.JSX.Element {
  const logs = useQuery({
    queryKey: ['logs', name],
    queryFn: async () => (await getText(`v1/containers/${encodeURIComponent(name)}/logs`)).split('\n').slice(-200).join('\n'),
    refetchInterval: 10_000,
  });
  return (
    <section aria-labelledby="log-title">
      <h2 id="log-title">Console log</h2>
      <ErrorBox error={logs.error} />
      <pre className="log" tabIndex={0} aria-label="console log">{logs.data || '(empty)'}</pre>
    </section>
  );
}

function Events({ name }: { name: string }): React.JSX.Element {
  const events = useQuery({ queryKey: ['events', name], queryFn: () => get<StrataEvent[]>(`v1/events?container=${encodeURIComponent(name)}`) });
  const [live, setLive] = useState<StrataEvent[]>([]);
  // New events as they happen (the stream), after the backlog read above.
  useEffect(() => {
    const stop = new AbortController();
    followEvents(`container=${encodeURIComponent(name)}`, (e) => setLive((l) => [...l.slice(-99), e]), stop.signal);
    return () => stop.abort();
  }, [name]);
  const seen = new Set<number>();
  const all = [...(events.data ?? []), ...live].filter((e) => !seen.has(e.id) && seen.add(e.id));
  return (
    <section aria-labelledby="events-title">
      <h2 id="events-title">Events</h2>
      <ErrorBox error={events.error} />
      <ol className="events" reversed aria-live="polite">
        {all.reverse().slice(0, 50).map((e) => <li key={e.id}><time dateTime={e.time}>{new Date(e.time).toLocaleString()}</time> <strong>{e.kind}</strong> {e.message}</li>)}
      </ol>
    </section>
  );
}
