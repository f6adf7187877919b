/** Sign-in with a dbtape user name and password. */
import { useState } from 'preact/hooks';
import { ApiError, login } from '../api';
import type { Me } from '../types';

export function LoginPage({ onSignedIn }: { onSignedIn: (me: Me) => void }) {
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await login(user, password));
    } catch (err) {
      if (err instanceof ApiError && err.status === 429) {
        setError(`Too many failed sign-ins. Try again in ${err.retryAfterS ?? 1} s.`);
      } else if (err instanceof ApiError && err.status === 401) {
        setError('Wrong user name or password.');
      } else {
        setError(err instanceof Error ? err.message : String(err));
      }
      setPassword('');
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="login">
      <form class="card login-card" onSubmit={submit} data-testid="login-form">
        <div class="brand big">
          <Logo /> dbtape
        </div>
        <p class="muted">Sign in with your dbtape user name and password.</p>
        <label>
          User name
          <input
            name="user"
            autocomplete="username"
            required
            value={user}
            onInput={(e) => setUser((e.target as HTMLInputElement).value)}
          />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autocomplete="current-password"
            required
            value={password}
            onInput={(e) => setPassword((e.target as HTMLInputElement).value)}
          />
        </label>
        {error && (
          <p class="form-error" role="alert" data-testid="login-error">
            {error}
          </p>
        )}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}

export function Logo() {
  return (
    <svg class="logo" viewBox="0 0 32 32" aria-hidden="true">
      <rect width="32" height="32" rx="7" />
      <circle cx="10.5" cy="16" r="5.5" />
      <circle cx="21.5" cy="16" r="5.5" />
      <path d="M10.5 21.5h11" />
    </svg>
  );
}
