/** The container list: state, address, live CPU and memory sparklines, filter and search, bulk start/stop. */
import { useMemo, useRef, useState } from 'react';
import { Link } from 'react-router';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { api, get, type Container, type Stats } from '../api';
import { bytes, ErrorBox, percent, Sparkline, StateBadge } from '../ui';

const KEEP = 30;

export function ContainerList(): React.JSX.Element {
  const client = useQueryClient();
  const list = useQuery({ queryKey: ['containers'], queryFn: () => get<Container[]>('v1/containers'), refetchInterval: 5000 });
  const history = useRef(new Map<string, { cpu: number[]; mem: number[] }>());
  const stats = useQuery({
    queryKey: ['stats'],
    queryFn: async () => {
      const all = await get<Stats[]>('v1/stats');
      for (const s of all) {
        const h = history.current.get(s.name) ?? { cpu: [], mem: [] };
        h.cpu = [...h.cpu, s.cpuPercent ?? 0].slice(-KEEP);
        h.mem = [...h.mem, s.memoryBytes ?? 0].slice(-KEEP);
        history.current.set(s.name, h);
      }
      return new Map(all.map((s) => [s.name, s]));
    },
    refetchInterval: 3000,
  });
  const [search, setSearch] = useState('');
  const [state, setState] = useState('');
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);

  const shown = useMemo(() => (list.data ?? []).filter((c) => (!state || c.state === state)
    && (!search || `${c.name} ${c.template} ${c.adapters.map((a) => a.address).join(' ')} ${c.tenant ?? ''}`.toLowerCase().includes(search.toLowerCase()))), [list.data, search, state]);

  const bulk = async (action: 'start' | 'stop'): Promise<void> => {
    setBusy(action);
    setError(null);
    const names = shown.filter((c) => selected.has(c.name) && (action === 'start' ? c.state !== 'running' : c.state === 'running')).map((c) => c.name);
    const failed: string[] = [];
    for (const name of names) {
      await api('POST', `v1/containers/${encodeURIComponent(name)}/${action}`).catch((err: Error) => failed.push(`${name}: ${err.message}`));
    }
    if (failed.length) setError(new Error(failed.join('; ')));
    setBusy(null);
    setSelected(new Set());
    await client.invalidateQueries({ queryKey: ['containers'] });
  };

  const allShownSelected = shown.length > 0 && shown.every((c) => selected.has(c.name));
  return (
    <section aria-labelledby="containers-title">
      <div className="row spread">
        <h1 id="containers-title">Containers</h1>
        <Link className="button primary" to="/containers/new">Create container</Link>
      </div>
      <div className="row toolbar">
        <label className="inline">Search<input type="search" value={search} onChange={(e) => setSearch(e.target.value)} placeholder="name, template, address" /></label>
        <label className="inline">State
          <select value={state} onChange={(e) => setState(e.target.value)}>
            <option value="">all</option><option value="running">running</option><option value="stopped">stopped</option><option value="created">created</option>
          </select>
        </label>
        <button type="button" disabled={!selected.size || !!busy} onClick={() => void bulk('start')}>{busy === 'start' ? 'Starting…' : `Start selected (${selected.size})`}</button>
        <button type="button" disabled={!selected.size || !!busy} onClick={() => void bulk('stop')}>{busy === 'stop' ? 'Stopping…' : `Stop selected (${selected.size})`}</button>
      </div>
      <ErrorBox error={list.error ?? error} />
      <div className="table-wrap">
        <table className="containers" aria-busy={list.isLoading}>
          <thead>
            <tr>
              <th><input type="checkbox" aria-label="select all shown" checked={allShownSelected} onChange={() => setSelected(allShownSelected ? new Set() : new Set(shown.map((c) => c.name)))} /></th>
              <th>Name</th><th>State</th><th>Address</th><th className="wide">Template</th><th>CPU</th><th>Memory</th><th className="wide">Tenant</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((c) => {
              const s = stats.data?.get(c.name);
              const h = history.current.get(c.name);
              return (
                <tr key={c.name} data-name={c.name}>
                  <td><input type="checkbox" aria-label={`select ${c.name}`} checked={selected.has(c.name)} onChange={() => { const n = new Set(selected); if (n.has(c.name)) n.delete(c.name); else n.add(c.name); setSelected(n); }} /></td>
                  <td><Link to={`/containers/${encodeURIComponent(c.name)}`}>{c.name}</Link></td>
                  <td><StateBadge state={c.state} /></td>
                  <td>{c.adapters[0]?.address.split('/')[0] ?? '–'}</td>
                  <td className="wide">{c.template}{c.apps.length ? ` + ${c.apps.map((a) => a.template).join(', ')}` : ''}</td>
                  <td className="num">{c.state === 'running' ? <><Sparkline values={h?.cpu ?? []} label={`CPU of ${c.name}`} /> {percent(s?.cpuPercent)}</> : '–'}</td>
                  <td className="num">{c.state === 'running' ? <><Sparkline values={h?.mem ?? []} label={`memory of ${c.name}`} /> {bytes(s?.memoryBytes)}</> : '–'}</td>
                  <td className="wide">{c.tenant ?? '–'}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      <p className="muted">{shown.length} of {list.data?.length ?? 0} containers{stats.dataUpdatedAt ? ` · usage at ${new Date(stats.dataUpdatedAt).toLocaleTimeString()}` : ''}</p>
    </section>
  );
}
