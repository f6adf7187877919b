/**
 * The dashboard's calls to the API. The CSRF token comes from /api/me (or the sign-in answer)
 * and goes back in X-CSRF-Token on every state-changing request.
 */
import type { EventJson, Me, MinuteJson, SearchHitJson, SessionDetailJson, SessionJson } from './types';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfterS: number | null = null,
  ) {
    super(message);
  }
}

let csrf: string | null = null;

/** Called when any request finds the sign-in gone (401), so the app can show the sign-in page. */
let onSignedOut: () => void = () => {};
export function whenSignedOut(fn: () => void): void {
  onSignedOut = fn;
}

async function request<T>(method: string, path: string, body?: unknown): Promise<{ data: T; res: Response }> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrf) headers['x-csrf-token'] = csrf;
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  const text = await res.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const err = (data as { error?: { code: string; message: string } } | null)?.error;
    const retry = res.headers.get('retry-after');
    if (res.status === 401 && path !== '/api/login') onSignedOut();
    throw new ApiError(
      res.status,
      err?.code ?? 'HTTP_' + res.status,
      err?.message ?? `dbtape: the server answered ${res.status}`,
      retry ? Number(retry) : null,
    );
  }
  return { data: data as T, res };
}

export async function me(): Promise<Me | null> {
  try {
    const { data } = await request<Me>('GET', '/api/me');
    csrf = data.csrf ?? null;
    return data;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return null;
    throw err;
  }
}

export async function login(user: string, password: string): Promise<Me> {
  const { data } = await request<Me>('POST', '/api/login', { user, password });
  csrf = data.csrf ?? null;
  return data;
}

export async function logout(): Promise<void> {
  await request('POST', '/api/logout');
  csrf = null;
}

export interface SessionQuery {
  user?: string;
  target?: string;
  protocol?: string;
  since?: string;
  until?: string;
  active?: boolean;
  errors?: boolean;
  limit?: number;
  cursor?: string;
}

function qs(params: Record<string, string | number | boolean | undefined>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === '' || v === false) continue;
    u.set(k, String(v));
  }
  const s = u.toString();
  return s ? `?${s}` : '';
}

export async function listSessions(
  q: SessionQuery,
): Promise<{ sessions: SessionJson[]; next: string | null }> {
  const { data, res } = await request<SessionJson[]>('GET', `/api/sessions${qs({ ...q })}`);
  return { sessions: data, next: res.headers.get('x-next-cursor') };
}

export async function getSession(id: string): Promise<SessionDetailJson> {
  return (await request<SessionDetailJson>('GET', `/api/sessions/${encodeURIComponent(id)}`)).data;
}

/** Every stored event of a session after `afterSeq`, page by page. */
export async function getAllEvents(id: string, afterSeq = 0): Promise<EventJson[]> {
  const out: EventJson[] = [];
  let after = afterSeq;
  for (;;) {
    const { data } = await request<EventJson[]>(
      'GET',
      `/api/sessions/${encodeURIComponent(id)}/events${qs({ afterSeq: after, limit: 5000 })}`,
    );
    out.push(...data);
    if (data.length < 5000) return out;
    after = data[data.length - 1]!.seq;
  }
}

export async function search(q: string, filters: SessionQuery): Promise<SearchHitJson[]> {
  const { user, target, protocol, since, errors } = filters;
  return (
    await request<SearchHitJson[]>(
      'GET',
      `/api/search${qs({ q, user, target, protocol, since, errors, limit: 100 })}`,
    )
  ).data;
}

export async function killSession(id: string): Promise<void> {
  await request('POST', `/api/sessions/${encodeURIComponent(id)}/kill`);
}

export async function statementsPerMinute(minutes: number): Promise<MinuteJson[]> {
  return (
    await request<{ minutes: MinuteJson[] }>('GET', `/api/stats/statements-per-minute${qs({ minutes })}`)
  ).data.minutes;
}
