/**
 * A very small router over the History API: /login, / (sessions) and /sessions/:id. The hash
 * (#seq=N) belongs to the player and is not part of the route.
 */
import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { readonly page: 'login' }
  | { readonly page: 'sessions' }
  | { readonly page: 'player'; readonly id: string }
  | { readonly page: 'not-found' };

export function parseRoute(pathname: string): Route {
  if (pathname === '/login') return { page: 'login' };
  if (pathname === '/' || pathname === '/sessions') return { page: 'sessions' };
  const m = /^\/sessions\/([^/]+)$/.exec(pathname);
  if (m) return { page: 'player', id: decodeURIComponent(m[1]!) };
  return { page: 'not-found' };
}

const listeners = new Set<() => void>();

export function navigate(to: string, replace = false): void {
  if (replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  for (const l of listeners) l();
}

/** The current location (path + search); re-renders on navigation and back/forward. */
export function useLocation(): { path: string; search: string } {
  const read = () => ({ path: location.pathname, search: location.search });
  const [loc, setLoc] = useState(read);
  useEffect(() => {
    const update = () => setLoc(read());
    listeners.add(update);
    window.addEventListener('popstate', update);
    return () => {
      listeners.delete(update);
      window.removeEventListener('popstate', update);
    };
  }, []);
  return loc;
}

/** Click handler for in-app links: plain clicks navigate without a reload; others keep browser behaviour. */
export function linkClick(e: MouseEvent): void {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = (e.currentTarget as HTMLAnchorElement | null) ?? null;
  if (!a) return;
  e.preventDefault();
  navigate(a.getAttribute('href') ?? '/');
}
