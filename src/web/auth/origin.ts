/**
 * Whether a request's Origin header is the dashboard's own. Directly, that is the origin the request
 * was addressed to (scheme, Host and port). Behind a TLS-terminating proxy the browser says
 * `https://dbtape.example.com` while dbtape sees `http://…`, so `http.public_url` counts as ours too.
 * (A forged Host cannot make a foreign origin pass here on loopback: host-check.ts refuses it first.)
 */
export function originAccepted(origin: string, requestUrl: string, publicOrigin: string | null): boolean {
  if (!URL.canParse(origin) || !URL.canParse(requestUrl)) return false;
  const o = new URL(origin).origin;
  return o === new URL(requestUrl).origin || (publicOrigin !== null && o === publicOrigin);
}
