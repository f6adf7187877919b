/**
 * What `dbtape check-config` says about the dashboard's place on the web (the `http:` section): the
 * URL users open, whose X-Forwarded-For or Forwarded is believed, which Host names are answered, and the
 * combinations that do not do what their author likely meant.
 */
import type { AddressRange, Config, ForwardedHeader } from '../../config/types.js';
import { formatListenAddress } from '../../config/units.js';
import { tokenPlace } from '../../web/auth/token-keepers.js';
import { HostRule } from '../../web/host-check.js';

/** Rows for check-config's settings table; none when there is no dashboard (no listen.http, or no recording). */
export function httpRows(config: Config): string[][] {
  const listen = config.listen.http;
  // Without recording serve ignores listen.http: there is no dashboard to describe.
  if (!listen || !config.store.record) return [];
  const { publicUrl, trustedProxies, forwardedHeader, allowedHosts } = config.http;
  const direct = `http://${formatListenAddress(listen)}`;
  const rule = new HostRule({ listenHost: listen.host, publicUrl, allowedHosts });
  return [
    ['dashboard URL', publicUrl ? `${publicUrl} (through a proxy; directly ${direct})` : direct],
    [
      'trusted proxies',
      trustedProxies.length > 0
        ? `${trustedProxies.map(formatRange).join(', ')}: their ${HEADER_SHOWN[forwardedHeader]} names the client`
        : 'none: clients are known by their socket address',
    ],
    [
      'Host check',
      rule.enforced
        ? `on: answers to IP addresses and ${[...rule.names].join(', ')}`
        : 'off: any Host is answered (listen.http is not loopback; set http.public_url or http.allowed_hosts)',
    ],
    ['API tokens', tokensText(config.store.url)],
  ];
}

/** Where the dashboard keeps its API tokens (auth/token-keepers.ts), as check-config says it. */
function tokensText(storeUrl: string): string {
  const place = tokenPlace(storeUrl);
  if (place.kind === 'file') return `${place.file} (hashes only, mode 0600)`;
  if (place.kind === 'store') return "the session store's database (table api_tokens, hashes only)";
  return 'memory only (the store is in memory): lost when dbtape stops';
}

export function httpWarnings(config: Config): string[] {
  const { publicUrl, trustedProxies, forwardedHeader, allowedHosts } = config.http;
  const warnings: string[] = [];
  const set =
    publicUrl !== null ||
    trustedProxies.length > 0 ||
    allowedHosts.length > 0 ||
    forwardedHeader !== 'x-forwarded-for';
  if (set && !config.listen.http) warnings.push('the http: settings have no effect without listen.http');
  if (forwardedHeader !== 'x-forwarded-for' && trustedProxies.length === 0) {
    warnings.push(
      'http.forwarded_header is set but http.trusted_proxies is empty: no peer is trusted, so the header is never read',
    );
  }
  if (publicUrl?.startsWith('https:') && trustedProxies.length === 0) {
    warnings.push(
      "http.public_url is https but http.trusted_proxies is empty: behind a proxy every user's sign-in failures count against the proxy's one address",
    );
  }
  if (trustedProxies.some((r) => r.prefix === 0)) {
    warnings.push(
      'http.trusted_proxies trusts every address (/0): any client can choose the address it is throttled and logged under',
    );
  }
  return warnings;
}

const HEADER_SHOWN: Readonly<Record<ForwardedHeader, string>> = {
  'x-forwarded-for': 'X-Forwarded-For',
  forwarded: 'Forwarded header (for=)',
};

function formatRange(r: AddressRange): string {
  return r.prefix === (r.family === 'ipv4' ? 32 : 128) ? r.address : `${r.address}/${r.prefix}`;
}
