/**
 * The capture wizard: pick the bases, get a shell in a throw-away container, install anything,
 * press Capture; what the shell changed becomes a version of an application template, summed up
 * at the end and attachable to any container at once.
 */
import { useState } from 'react';
import { Link } from 'react-router';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { api, get, long, type Container, type Template } from '../api';
import { Terminal } from '../Terminal';
import { bytes, ErrorBox } from '../ui';

interface Session { session: string; container: string }
interface Result { template: string; version: number; digest: string; seconds: number; summary: { files: number; bytes: number; deletions: number; keys: number; skipped: string[] } }

export function CaptureWizard(): React.JSX.Element {
  const client = useQueryClient();
  const templates = useQuery({ queryKey: ['templates'], queryFn: () => get<Template[]>('v1/templates') });
  const containers = useQuery({ queryKey: ['containers'], queryFn: () => get<Container[]>('v1/containers') });
  const [name, setName] = useState('');
  const [base, setBase] = useState('');
  const [network, setNetwork] = useState(true);
  const [lines, setLines] = useState<string[]>([]);
  const [session, setSession] = useState<Session | null>(null);
  const [result, setResult] = useState<Result | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [target, setTarget] = useState('');
  const [attached, setAttached] = useState<string | null>(null);
  const tell = (line: string): void => setLines((l) => [...l.slice(-200), line]);
  const path = `v1/templates/${encodeURIComponent(name)}/captures`;

  const begin = async (): Promise<void> => {
    setBusy('Starting a throw-away container'); setError(null); setLines([]);
    try {
      setSession(await long<Session>('POST', path, { bases: [base], interactive: true, ...(network ? { nets: ['default'] } : {}) }, tell));
    } catch (err) { setError(err); } finally { setBusy(null); }
  };
  const finish = async (): Promise<void> => {
    setBusy('Capturing'); setError(null);
    try {
      setResult(await long<Result>('POST', `${path}/${encodeURIComponent(session!.session)}/finish`, undefined, tell));
      setSession(null);
      await client.invalidateQueries({ queryKey: ['templates'] });
    } catch (err) { setError(err); } finally { setBusy(null); }
  };
  const abort = async (): Promise<void> => {
    setBusy('Aborting'); setError(null);
    try { await api('DELETE', `${path}/${encodeURIComponent(session!.session)}`); setSession(null); } catch (err) { setError(err); } finally { setBusy(null); }
  };
  const attach = async (): Promise<void> => {
    setBusy('Attaching'); setError(null);
    try {
      const r = await api<{ filesCopied: number; live: boolean }>('POST', `v1/containers/${encodeURIComponent(target)}/apps`, { template: result!.template });
      setAttached(`${result!.template} attached to ${target}${r.live ? ' (running: live)' : ''}: ${r.filesCopied} files copied`);
      await client.invalidateQueries({ queryKey: ['container', target] });
    } catch (err) { setError(err); } finally { setBusy(null); }
  };

  const stage = result ? 3 : session ? 2 : 1;
  return (
    <section aria-labelledby="capture-title">
      <h1 id="capture-title">Capture an application template</h1>
      <ol className="steps" aria-label="steps">
        {['Bases', 'Install', 'Summary'].map((s, i) => <li key={s} aria-current={i + 1 === stage ? 'step' : undefined} className={i + 1 < stage ? 'done' : ''}>{s}</li>)}
      </ol>
      {stage === 1 && (
        <form onSubmit={(e) => { e.preventDefault(); void begin(); }}>
          <label>Template name<input name="template-name" value={name} onChange={(e) => setName(e.target.value)} required pattern="[a-z0-9][a-z0-9._-]{0,62}" autoFocus /></label>
          <label>Base (OS template)
            <select name="base" value={base} onChange={(e) => setBase(e.target.value)} required>
              <option value="">choose…</option>
              {(templates.data ?? []).filter((t) => t.kind === 'os').map((t) => <option key={t.name}>{t.name}</option>)}
            </select>
          </label>
          <label className="check"><input type="checkbox" checked={network} onChange={(e) => setNetwork(e.target.checked)} /> Network (for apt and downloads)</label>
          <button type="submit" className="primary" disabled={!!busy}>Open a shell in a throw-away container</button>
        </form>
      )}
      {stage === 2 && session && (
        <>
          <p>Install anything in this shell (for example <code>apt-get install -y nginx</code>). When done, press <strong>Capture</strong>: what changed becomes a new version of <strong>{name}</strong>. The container is thrown away either way.</p>
          <Terminal container={session.container} kind="exec" />
          <div className="row">
            <button type="button" className="primary" disabled={!!busy} onClick={() => void finish()}>Capture</button>
            <button type="button" disabled={!!busy} onClick={() => void abort()}>Abort</button>
          </div>
        </>
      )}
      {busy && <p role="status" aria-live="polite">{busy}…</p>}
      {lines.length > 0 && <pre className="log" role="log" aria-label="progress">{lines.join('\n')}</pre>}
      <ErrorBox error={error} />
      {result && (
        <div role="region" aria-label="capture summary">
          <h2>Captured {result.template} version {result.version}</h2>
          <dl className="facts">
            <dt>Files</dt><dd>{result.summary.files} ({bytes(result.summary.bytes)})</dd>
            <dt>Deletions</dt><dd>{result.summary.deletions}</dd>
            <dt>Database keys</dt><dd>{result.summary.keys} (users, groups, packages: merged per key when attached)</dd>
            <dt>Took</dt><dd>{result.seconds.toFixed(1)} s</dd>
            <dt>Digest</dt><dd><code>{result.digest.slice(0, 24)}…</code></dd>
          </dl>
          {result.summary.skipped.length > 0 && <details><summary>{result.summary.skipped.length} paths left out</summary><ul>{result.summary.skipped.map((s) => <li key={s}>{s}</li>)}</ul></details>}
          <form className="row" onSubmit={(e) => { e.preventDefault(); void attach(); }}>
            <label className="inline">Attach to
              <select value={target} onChange={(e) => setTarget(e.target.value)} required aria-label="container to attach to">
                <option value="">choose…</option>
                {(containers.data ?? []).map((c) => <option key={c.name}>{c.name}</option>)}
              </select>
            </label>
            <button type="submit" disabled={!!busy}>Attach</button>
          </form>
          {attached && <p role="status">{attached}. <Link to={`/containers/${encodeURIComponent(target)}`}>Open {target}</Link></p>}
          <p><Link to="/templates">All templates</Link></p>
        </div>
      )}
    </section>
  );
}
