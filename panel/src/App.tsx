/**
 * The panel's frame: the log-in until a token is taken, then the navigation, the banner of a host
 * administrator acting as a tenant (on every page while so), and the pages.
 */
import { lazy, Suspense, useEffect, useState } from 'react';
import { NavLink, Route, Routes, useNavigate } from 'react-router';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { get, session, whenSignedOut, type Me, type Tenant } from './api';
import { Login } from './pages/Login';
import { ContainerList } from './pages/Containers';
import { CreateWizard } from './pages/Create';
import { Templates } from './pages/Templates';
import { ErrorBox } from './ui';

// The pages with charts or a terminal load their code when first shown: the list needs neither.
const Dashboard = lazy(() => import('./pages/Dashboard').then((m) => ({ default: m.Dashboard })));
const ContainerDetail = lazy(() => import('./pages/Container').then((m) => ({ default: m.ContainerDetail })));
const CaptureWizard = lazy(() => import('./pages/Capture').then((m) => ({ default: m.CaptureWizard })));

function useTheme(): [string, () => void] {
  const [theme, setTheme] = useState(() => localStorage.getItem('strata.theme') ?? (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light'));
  useEffect(() => { document.documentElement.dataset.theme = theme; localStorage.setItem('strata.theme', theme); }, [theme]);
  return [theme, () => setTheme(theme === 'dark' ? 'light' : 'dark')];
}

export function App(): React.JSX.Element {
  const [token, setToken] = useState(session.token);
  const [theme, toggleTheme] = useTheme();
  const client = useQueryClient();
  const navigate = useNavigate();
  useEffect(() => whenSignedOut(() => { session.token = null; session.actAs = null; setToken(null); client.clear(); }), [client]);
  const me = useQuery({ queryKey: ['me', token], queryFn: () => get<Me>('v1/me'), enabled: !!token });

  if (!token) return <Login onToken={(t) => { session.token = t; setToken(t); void navigate('/'); }} theme={theme} toggleTheme={toggleTheme} />;
  if (me.error) return <main className="page"><ErrorBox error={me.error} /></main>;
  if (!me.data) return <main className="page" aria-busy="true">Loading…</main>;

  const signOut = (): void => { session.token = null; session.actAs = null; client.clear(); setToken(null); };
  const actAs = (t: string | null): void => { session.actAs = t; void client.invalidateQueries(); void navigate('/'); };
  const admin = me.data.role === 'admin';
  return (
    <div className="frame">
      <header className="top">
        <a className="brand" href="#/">Strata</a>
        <nav aria-label="Main">
          <NavLink to="/" end>Dashboard</NavLink>
          <NavLink to="/containers">Containers</NavLink>
          <NavLink to="/templates">Templates</NavLink>
        </nav>
        <div className="who">
          {admin && <ActAs me={me.data} onChange={actAs} />}
          <span title={`role ${me.data.role}`}>{me.data.user}{me.data.tenant ? ` · ${me.data.tenant}` : ''}</span>
          <button type="button" className="quiet" onClick={toggleTheme} aria-label={`switch to ${theme === 'dark' ? 'light' : 'dark'} theme`}>{theme === 'dark' ? '☀' : '☾'}</button>
          <button type="button" className="quiet" onClick={signOut}>Sign out</button>
        </div>
      </header>
      {me.data.actingAs && (
        <div className="acting" role="status">
          Acting as tenant <strong>{me.data.actingAs}</strong>: you see and change only its containers; every change is audited as yours.
          <button type="button" onClick={() => actAs(null)}>Stop acting as {me.data.actingAs}</button>
        </div>
      )}
      <main className="page">
        <Suspense fallback={<p aria-busy="true">Loading…</p>}>
        <Routes>
          <Route path="/" element={<Dashboard me={me.data} />} />
          <Route path="/containers" element={<ContainerList />} />
          <Route path="/containers/new" element={<CreateWizard me={me.data} />} />
          <Route path="/containers/:name" element={<ContainerDetail />} />
          <Route path="/templates" element={<Templates me={me.data} />} />
          <Route path="/templates/capture" element={<CaptureWizard />} />
          <Route path="*" element={<p>There is no such page. <a href="#/">Back to the dashboard</a></p>} />
        </Routes>
        </Suspense>
      </main>
    </div>
  );
}

function ActAs({ me, onChange }: { me: Me; onChange: (t: string | null) => void }): React.JSX.Element {
  const tenants = useQuery({ queryKey: ['tenants-all'], queryFn: () => get<Tenant[]>('v1/tenants'), enabled: !me.actingAs });
  if (me.actingAs) return <></>;
  return (
    <label className="inline">
      <span className="sr-only">Act as tenant</span>
      <select value="" onChange={(e) => e.target.value && onChange(e.target.value)} aria-label="Act as tenant">
        <option value="">Act as tenant…</option>
        {(tenants.data ?? []).map((t) => <option key={t.name} value={t.name}>{t.name}</option>)}
      </select>
    </label>
  );
}
