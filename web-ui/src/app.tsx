/** The shell: who is signed in, the top bar, and which page the URL names. */
import { useEffect, useState } from 'preact/hooks';
import * as api from './api';
import { LoginPage, Logo } from './pages/login';
import { PlayerPage } from './pages/player';
import { SessionsPage } from './pages/sessions';
import { linkClick, navigate, parseRoute, useLocation } from './router';
import { safeLine } from './safe-text';
import type { Me } from './types';

export function App() {
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [fatal, setFatal] = useState<string | null>(null);
  const loc = useLocation();

  useEffect(() => {
    api.whenSignedOut(() => setMe(null));
    api.me().then(setMe, (err: unknown) => setFatal(err instanceof Error ? err.message : String(err)));
  }, []);

  if (fatal) return <p class="form-error page">{fatal}</p>;
  if (me === undefined) return null;

  const route = parseRoute(loc.path);
  if (me === null) {
    const after = route.page === 'login' ? '/' : loc.path + loc.search + location.hash;
    return (
      <LoginPage
        onSignedIn={(m) => {
          setMe(m);
          navigate(after, true);
        }}
      />
    );
  }
  if (route.page === 'login') {
    navigate('/', true);
    return null;
  }

  const signOut = async () => {
    await api.logout().catch(() => {});
    setMe(null);
    navigate('/login', true);
  };

  return (
    <>
      <header class="topbar">
        <a href="/" class="brand" onClick={linkClick}>
          <Logo /> dbtape
        </a>
        <nav>
          <a href="/" onClick={linkClick} class={route.page === 'sessions' ? 'current' : ''}>
            Sessions
          </a>
        </nav>
        <div class="who" data-testid="whoami">
          <span>{safeLine(me.user)}</span>
          {me.roles.length > 0 && <span class="muted small">{me.roles.map(safeLine).join(', ')}</span>}
          <button type="button" class="link" onClick={signOut} data-testid="sign-out">
            Sign out
          </button>
        </div>
      </header>
      {route.page === 'sessions' && <SessionsPage me={me} search={loc.search} />}
      {route.page === 'player' && <PlayerPage key={route.id} id={route.id} me={me} />}
      {route.page === 'not-found' && (
        <main class="page">
          <section class="card empty">
            <h1>Nothing here</h1>
            <a href="/" onClick={linkClick}>
              Back to the sessions
            </a>
          </section>
        </main>
      )}
    </>
  );
}
