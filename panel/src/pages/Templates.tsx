/**
 * Templates: OS and application templates with their versions, bases, what each adds and who uses
 * it; the disk sharing saves; export and import (files on the daemon's host); the capture wizard.
 */
import { useState } from 'react';
import { Link } from 'react-router';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { get, long, type Me, type Template } from '../api';
import { bytes, ErrorBox } from '../ui';

interface Df { logicalBytes: number; storedBytes: number; objects: number }
interface Adds { users: string[]; groups: string[]; packages: string[] }

export function Templates({ me }: { me: Me }): React.JSX.Element {
  const admin = me.scopes.includes('admin');
  const templates = useQuery({ queryKey: ['templates'], queryFn: () => get<Template[]>('v1/templates') });
  const df = useQuery({ queryKey: ['template-usage'], queryFn: () => get<Df>('v1/template-usage'), enabled: admin });
  const all = templates.data ?? [];
  return (
    <section aria-labelledby="templates-title">
      <div className="row spread">
        <h1 id="templates-title">Templates</h1>
        {admin && <Link className="button primary" to="/templates/capture">Capture an application</Link>}
      </div>
      <ErrorBox error={templates.error} />
      {df.data && (
        <p>
          Templates hold <strong>{bytes(df.data.logicalBytes)}</strong> of files and take <strong>{bytes(df.data.storedBytes)}</strong> on disk
          ({df.data.objects} objects, each stored once): sharing saves <strong>{bytes(Math.max(0, df.data.logicalBytes - df.data.storedBytes))}</strong>,
          and every container over them adds only its own changes.
        </p>
      )}
      <h2>OS templates</h2>
      <div className="table-wrap">
        <table>
          <thead><tr><th>Name</th><th>Source</th><th>Size</th><th>Created</th><th>Used by</th></tr></thead>
          <tbody>
            {all.filter((t) => t.kind === 'os').map((t) => (
              <tr key={t.name}><td>{t.name}</td><td>{t.source}</td><td className="num">{bytes(t.sizeBytes)}</td><td>{new Date(t.createdAt).toLocaleDateString()}</td><td>{t.usedBy.length} containers</td></tr>
            ))}
          </tbody>
        </table>
      </div>
      <h2>Application templates</h2>
      {all.filter((t) => t.kind === 'app').map((t) => (
        <article key={t.name} className="card" aria-labelledby={`app-${t.name}`}>
          <h3 id={`app-${t.name}`}>{t.name}</h3>
          <table>
            <thead><tr><th>Version</th><th>Bases</th><th>Files</th><th>Size</th><th>Adds</th><th>Used by</th></tr></thead>
            <tbody>
              {(t.versions ?? []).map((v) => {
                const adds = (v as unknown as { adds?: Adds }).adds;
                return (
                  <tr key={v.version}>
                    <td>{v.version}</td><td>{v.bases.join(', ')}</td><td className="num">{v.files}</td><td className="num">{bytes(v.sizeBytes)}</td>
                    <td>{adds ? describeAdds(adds) : '–'}</td>
                    <td>{v.usedBy.join(', ') || '–'}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </article>
      ))}
      {!all.some((t) => t.kind === 'app') && <p className="muted">None yet{admin ? ': capture one from its installer.' : '.'}</p>}
      {admin && <ExportImport templates={all} />}
    </section>
  );
}

function describeAdds(a: Adds): string {
  const part = (what: string, xs: string[]): string | null => (xs.length ? `${what} ${xs.slice(0, 8).join(', ')}${xs.length > 8 ? ` and ${xs.length - 8} more` : ''}` : null);
  return [part('packages', a.packages), part('users', a.users), part('groups', a.groups)].filter(Boolean).join('; ') || 'files only';
}

function ExportImport({ templates }: { templates: Template[] }): React.JSX.Element {
  const client = useQueryClient();
  const [name, setName] = useState('');
  const [file, setFile] = useState('');
  const [importFile, setImportFile] = useState('');
  const [progress, setProgress] = useState<string[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const run = async (f: () => Promise<unknown>): Promise<void> => {
    setBusy(true); setError(null); setProgress([]);
    try { await f(); await client.invalidateQueries({ queryKey: ['templates'] }); } catch (err) { setError(err); } finally { setBusy(false); }
  };
  const tell = (line: string): void => setProgress((p) => [...p.slice(-20), line]);
  return (
    <section aria-labelledby="xfer-title">
      <h2 id="xfer-title">Export and import</h2>
      <p className="muted">Files are paths on the daemon's host.</p>
      <form className="row" onSubmit={(e) => { e.preventDefault(); void run(() => long('POST', `v1/templates/${encodeURIComponent(name)}/exports`, { file }, tell)); }}>
        <label className="inline">Template<select value={name} onChange={(e) => setName(e.target.value)} required><option value="">choose…</option>{templates.map((t) => <option key={t.name}>{t.name}</option>)}</select></label>
        <label className="inline">To file<input value={file} onChange={(e) => setFile(e.target.value)} placeholder="/srv/templates/nginx.strata" required /></label>
        <button type="submit" disabled={busy}>Export</button>
      </form>
      <form className="row" onSubmit={(e) => { e.preventDefault(); void run(() => long('POST', 'v1/template-imports', { file: importFile }, tell)); }}>
        <label className="inline">From file<input value={importFile} onChange={(e) => setImportFile(e.target.value)} placeholder="/srv/templates/nginx.strata" required /></label>
        <button type="submit" disabled={busy}>Import</button>
      </form>
      {progress.length > 0 && <pre className="log" role="log">{progress.join('\n')}</pre>}
      <ErrorBox error={error} />
    </section>
  );
}
