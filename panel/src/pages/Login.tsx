/** Log in with a user's password (a 12-hour token) or with an API token. */
import { useState } from 'react';
import { api, ApiError, session } from '../api';
import { ErrorBox } from '../ui';

export function Login({ onToken, theme, toggleTheme }: { onToken: (t: string) => void; theme: string; toggleTheme: () => void }): React.JSX.Element {
  const [mode, setMode] = useState<'password' | 'token'>('password');
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [token, setToken] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: React.FormEvent): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (mode === 'password') {
        const r = await api<{ token: string }>('POST', 'v1/sessions', { user, password });
        onToken(r.token);
      } else {
        session.token = token.trim();
        await api('GET', 'v1/me');
        onToken(token.trim());
      }
    } catch (err) {
      session.token = null;
      setError(err instanceof ApiError && err.status === 401 && mode === 'token' ? new Error('the daemon does not take this token: check it, or ask for a new one') : err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="login">
      <form onSubmit={(e) => void submit(e)} aria-labelledby="login-title">
        <h1 id="login-title">Strata</h1>
        <div role="tablist" className="row">
          <button type="button" role="tab" aria-selected={mode === 'password'} onClick={() => setMode('password')}>User and password</button>
          <button type="button" role="tab" aria-selected={mode === 'token'} onClick={() => setMode('token')}>API token</button>
        </div>
        {mode === 'password' ? (
          <>
            <label>User<input name="user" autoComplete="username" value={user} onChange={(e) => setUser(e.target.value)} required autoFocus /></label>
            <label>Password<input name="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required /></label>
          </>
        ) : (
          <label>Token<input name="token" autoComplete="off" value={token} onChange={(e) => setToken(e.target.value)} placeholder="strata_…" required autoFocus /></label>
        )}
        <ErrorBox error={error} />
        <button type="submit" className="primary" disabled={busy}>{busy ? 'Signing in…' : 'Sign in'}</button>
        <button type="button" className="quiet" onClick={toggleTheme}>{theme === 'dark' ? 'Light theme' : 'Dark theme'}</button>
      </form>
    </main>
  );
}
