/**
 * The create wizard: template and applications, limits, network and ports, then a review with the
 * tenant's quota left (the daemon enforces it; the wizard shows it and refuses what is over).
 */
import { useState } from 'react';
import { useNavigate } from 'react-router';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { api, get, type Me, type Template } from '../api';
import { bytes, ErrorBox, UsageBar } from '../ui';

const STEPS = ['Template', 'Limits', 'Network', 'Review'] as const;

const SIZE = /^(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?$/i;
function sizeOf(text: string): number | null {
  const m = SIZE.exec(text.trim());
  if (!m) return null;
  return Number(m[1]) * 1024 ** ' KMGT'.indexOf((m[2] || ' ').toUpperCase());
}

export function CreateWizard({ me }: { me: Me }): React.JSX.Element {
  const navigate = useNavigate();
  const client = useQueryClient();
  const templates = useQuery({ queryKey: ['templates'], queryFn: () => get<Template[]>('v1/templates') });
  const networks = useQuery({ queryKey: ['networks'], queryFn: () => get<Array<{ name: string; subnet: string }>>('v1/networks') });
  const [step, setStep] = useState(0);
  const [name, setName] = useState('');
  const [template, setTemplate] = useState('');
  const [apps, setApps] = useState<string[]>([]);
  const [limits, setLimits] = useState({ cpus: '', memory: '', disk: '', pids: '' });
  const [net, setNet] = useState('default');
  const [ports, setPorts] = useState('');
  const [start, setStart] = useState(true);
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);

  const t = me.tenantView;
  const plan = t?.plan ?? {};
  const portList = ports.split(/[\s,]+/).filter(Boolean);
  const disk = limits.disk ? sizeOf(limits.disk) : 0;
  const over: string[] = [];
  if (t && plan.containers !== undefined && t.holdings.containers + 1 > plan.containers) over.push(`containers: ${t.holdings.containers} of ${plan.containers} used`);
  if (t && plan.ports !== undefined && t.holdings.ports + portList.length > plan.ports) over.push(`ports: ${plan.ports - t.holdings.ports} left`);
  if (t && plan.disk !== undefined && !limits.disk) over.push('your plan caps disk: give the container a disk limit');
  if (t && plan.disk !== undefined && disk !== null && t.holdings.disk + disk > plan.disk) over.push(`disk: ${bytes(plan.disk - t.holdings.disk)} left`);
  if (t && plan.memory !== undefined && limits.memory && (sizeOf(limits.memory) ?? 0) > plan.memory) over.push(`memory: at most ${bytes(plan.memory)} per container`);

  const stepOk = [!!name.trim() && !!template, true, true, over.length === 0][step];
  const submit = async (): Promise<void> => {
    setError(null);
    setBusy('creating');
    try {
      const l = Object.fromEntries(Object.entries(limits).filter(([, v]) => v.trim()).map(([k, v]) => [k, v.trim()]));
      await api('POST', 'v1/containers', {
        name: name.trim(), template, ...(apps.length ? { apps } : {}), ...(Object.keys(l).length ? { limits: l } : {}),
        ...(net === '' ? { noNet: true } : { nets: [net] }), ...(portList.length ? { ports: portList } : {}),
      });
      if (start) { setBusy('starting'); await api('POST', `v1/containers/${encodeURIComponent(name.trim())}/start`); }
      await client.invalidateQueries();
      void navigate(`/containers/${encodeURIComponent(name.trim())}`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(null);
    }
  };

  const os = (templates.data ?? []).filter((x) => x.kind === 'os');
  const appTemplates = (templates.data ?? []).filter((x) => x.kind === 'app');
  return (
    <section aria-labelledby="create-title">
      <h1 id="create-title">Create a container</h1>
      <ol className="steps" aria-label="steps">
        {STEPS.map((s, i) => <li key={s} aria-current={i === step ? 'step' : undefined} className={i < step ? 'done' : ''}>{s}</li>)}
      </ol>
      <ErrorBox error={templates.error} />
      <form onSubmit={(e) => { e.preventDefault(); if (step < STEPS.length - 1) setStep(step + 1); else void submit(); }}>
        {step === 0 && (
          <fieldset>
            <legend>Name, template and applications</legend>
            <label>Name<input name="name" value={name} onChange={(e) => setName(e.target.value)} required pattern="[a-z0-9][a-z0-9-]{0,62}" title="lower-case letters, digits and -" autoFocus /></label>
            <label>OS template
              <select name="template" value={template} onChange={(e) => setTemplate(e.target.value)} required>
                <option value="">choose…</option>
                {os.map((x) => <option key={x.name} value={x.name}>{x.name}</option>)}
              </select>
            </label>
            {appTemplates.length > 0 && (
              <fieldset>
                <legend>Applications to attach</legend>
                {appTemplates.map((x) => (
                  <label key={x.name} className="check">
                    <input type="checkbox" checked={apps.includes(x.name)} onChange={() => setApps(apps.includes(x.name) ? apps.filter((a) => a !== x.name) : [...apps, x.name])} />
                    {x.name} <span className="muted">(bases {x.versions?.at(-1)?.bases.join(', ')})</span>
                  </label>
                ))}
              </fieldset>
            )}
          </fieldset>
        )}
        {step === 1 && (
          <fieldset className="grid">
            <legend>Limits (empty: none)</legend>
            <label>CPUs<input name="cpus" value={limits.cpus} onChange={(e) => setLimits({ ...limits, cpus: e.target.value })} placeholder="e.g. 1.5" /></label>
            <label>Memory<input name="memory" value={limits.memory} onChange={(e) => setLimits({ ...limits, memory: e.target.value })} placeholder="e.g. 512M" /></label>
            <label>Disk<input name="disk" value={limits.disk} onChange={(e) => setLimits({ ...limits, disk: e.target.value })} placeholder="e.g. 10G" /></label>
            <label>Processes<input name="pids" value={limits.pids} onChange={(e) => setLimits({ ...limits, pids: e.target.value })} placeholder="e.g. 500" /></label>
          </fieldset>
        )}
        {step === 2 && (
          <fieldset>
            <legend>Network and ports</legend>
            <label>Network
              <select name="network" value={net} onChange={(e) => setNet(e.target.value)}>
                {(networks.data ?? [{ name: 'default', subnet: '' }]).map((n) => <option key={n.name} value={n.name}>{n.name} {n.subnet}</option>)}
                <option value="">no network</option>
              </select>
            </label>
            <label>Published ports<input name="ports" value={ports} onChange={(e) => setPorts(e.target.value)} placeholder="8080:80, 2222:22" /></label>
          </fieldset>
        )}
        {step === 3 && (
          <fieldset>
            <legend>Review</legend>
            <dl className="facts">
              <dt>Name</dt><dd>{name}</dd>
              <dt>Template</dt><dd>{template}{apps.length ? ` + ${apps.join(', ')}` : ''}</dd>
              <dt>Limits</dt><dd>{Object.entries(limits).filter(([, v]) => v).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}</dd>
              <dt>Network</dt><dd>{net || 'none'}{portList.length ? `; ports ${portList.join(', ')}` : ''}</dd>
            </dl>
            {t && (
              <div aria-label={`quota of ${t.name}`}>
                <h2>Quota of {t.name} left</h2>
                <UsageBar label="Containers" used={t.holdings.containers + 1} limit={plan.containers} show={String} />
                <UsageBar label="Disk" used={t.holdings.disk + (disk ?? 0)} limit={plan.disk} show={bytes} />
                <UsageBar label="Ports" used={t.holdings.ports + portList.length} limit={plan.ports} show={String} />
              </div>
            )}
            {over.length > 0 && <p className="error" role="alert">Over the plan: {over.join('; ')}.</p>}
            <label className="check"><input type="checkbox" checked={start} onChange={(e) => setStart(e.target.checked)} /> Start it once created</label>
          </fieldset>
        )}
        <ErrorBox error={error} />
        <div className="row">
          {step > 0 && <button type="button" onClick={() => setStep(step - 1)}>Back</button>}
          <button type="submit" className="primary" disabled={!stepOk || !!busy}>{busy ? `${busy[0].toUpperCase()}${busy.slice(1)}…` : step < STEPS.length - 1 ? 'Next' : 'Create'}</button>
        </div>
      </form>
    </section>
  );
}
