// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the ${VAR} syntax is under test
/**
 * The `http:` section of dbtape.yaml (README, Configuration, `http`): the dashboard's public URL
 * behind a reverse proxy, the proxies whose X-Forwarded-For or Forwarded header is believed, and
 * extra Host names.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, parseConfigText } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';

function parse(yaml: string, env: NodeJS.ProcessEnv = {}): Config {
  return parseConfigText(yaml, { file: 'dbtape.yaml', baseDir: '/nonexistent', env });
}

/** The error lines a config gives; fails if it loads. */
function problems(yaml: string): string[] {
  try {
    parse(yaml);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${err}`);
    return err.message.split('\n');
  }
  assert.fail('the config loaded, but an error was expected');
}

const http = (body: string) => `http:\n${body}`;

describe('http: values', () => {
  test('without the section: no public URL, no trusted proxy, no extra host', () => {
    const none = {
      publicUrl: null,
      trustedProxies: [],
      forwardedHeader: 'x-forwarded-for',
      allowedHosts: [],
    };
    assert.deepEqual(parse('').http, none);
    assert.deepEqual(parse('http:\n').http, none);
  });

  test('forwarded_header: x-forwarded-for or forwarded, in any case', () => {
    const header = (v: string) => parse(http(`  forwarded_header: ${v}\n`)).http.forwardedHeader;
    assert.equal(header('forwarded'), 'forwarded');
    assert.equal(header('Forwarded'), 'forwarded');
    assert.equal(header('X-Forwarded-For'), 'x-forwarded-for');
    assert.equal(header('x-forwarded-for'), 'x-forwarded-for');
  });

  test('public_url becomes the origin a browser sends', () => {
    const origin = (url: string) => parse(http(`  public_url: ${url}\n`)).http.publicUrl;
    assert.equal(origin('https://dbtape.example.com'), 'https://dbtape.example.com');
    assert.equal(origin('https://DBTape.Example.com/'), 'https://dbtape.example.com');
    assert.equal(origin('https://dbtape.example.com:443'), 'https://dbtape.example.com');
    assert.equal(origin('http://dbtape.internal:8443'), 'http://dbtape.internal:8443');
    assert.equal(
      parse(http('  public_url: ${PUBLIC_URL}\n'), { PUBLIC_URL: 'https://a.example' }).http.publicUrl,
      'https://a.example',
    );
  });

  test('trusted_proxies: IPv4 and IPv6 addresses and ranges; IPv4-mapped IPv6 is IPv4', () => {
    const c = parse(
      http(
        '  trusted_proxies: [127.0.0.1, 10.0.0.0/8, "::1", "FD00::/8", "::ffff:192.168.1.7", "::ffff:172.16.0.0/108"]\n',
      ),
    );
    assert.deepEqual(c.http.trustedProxies, [
      { family: 'ipv4', address: '127.0.0.1', prefix: 32 },
      { family: 'ipv4', address: '10.0.0.0', prefix: 8 },
      { family: 'ipv6', address: '::1', prefix: 128 },
      { family: 'ipv6', address: 'fd00::', prefix: 8 },
      { family: 'ipv4', address: '192.168.1.7', prefix: 32 },
      { family: 'ipv4', address: '172.16.0.0', prefix: 12 },
    ]);
    assert.deepEqual(parse(http('  trusted_proxies: 10.1.2.3\n')).http.trustedProxies, [
      { family: 'ipv4', address: '10.1.2.3', prefix: 32 },
    ]);
  });

  test('allowed_hosts: names in lower case, without a trailing dot, once each', () => {
    const c = parse(http('  allowed_hosts: [DBTape.Internal, dbtape.internal., dashboard]\n'));
    assert.deepEqual(c.http.allowedHosts, ['dbtape.internal', 'dashboard']);
  });
});

describe('http: errors name the key and say what is expected', () => {
  test('a public_url with a path, query, credentials or another scheme', () => {
    assert.deepEqual(problems(http('  public_url: https://dbtape.example.com/dbtape\n')), [
      'dbtape.yaml: http.public_url: expected only a scheme, host and optional port such as ' +
        'https://dbtape.example.com, got "https://dbtape.example.com/dbtape" (the dashboard is served ' +
        'at the root of its origin: no path, query or fragment)',
    ]);
    for (const bad of ['https://x.example/?a=1', 'https://x.example#top', 'https://x.example?']) {
      assert.match(
        problems(http(`  public_url: "${bad}"\n`))[0]!,
        /http\.public_url: expected only a scheme/,
      );
    }
    for (const bad of ['ftp://x.example', 'dbtape.example.com', '8080', '"https://"']) {
      assert.match(
        problems(http(`  public_url: ${bad}\n`))[0]!,
        /^dbtape\.yaml: http\.public_url: expected an http:\/\/ or https:\/\/ URL such as https:\/\/dbtape\.example\.com, got /,
      );
    }
    const creds = problems(http('  public_url: https://u:secret-pw@x.example\n'));
    assert.match(creds[0]!, /http\.public_url: .* without a user name or password$/);
    assert.ok(!creds[0]!.includes('secret-pw'), 'a password in the URL is not echoed');
  });

  test('trusted_proxies entries that are not addresses or ranges', () => {
    const lines = problems(
      http(
        '  trusted_proxies: [10.0.0.0/33, "::/129", proxy.internal, "10.0.0.1/", "fe80::1%eth0", 10.0.0.0/8]\n',
      ),
    );
    assert.deepEqual(lines, [
      'dbtape.yaml: http.trusted_proxies[0]: expected an IP address or CIDR range such as 10.0.0.0/8 or fd00::/8, got "10.0.0.0/33" (a 32-bit address has at most /32)',
      'dbtape.yaml: http.trusted_proxies[1]: expected an IP address or CIDR range such as 10.0.0.0/8 or fd00::/8, got "::/129" (a 128-bit address has at most /128)',
      'dbtape.yaml: http.trusted_proxies[2]: expected an IP address or CIDR range such as 10.0.0.0/8 or fd00::/8, got "proxy.internal"',
      'dbtape.yaml: http.trusted_proxies[3]: expected an IP address or CIDR range such as 10.0.0.0/8 or fd00::/8, got "10.0.0.1/"',
      'dbtape.yaml: http.trusted_proxies[4]: expected an IP address or CIDR range such as 10.0.0.0/8 or fd00::/8, got "fe80::1%eth0"',
    ]);
  });

  test('allowed_hosts entries with a port, scheme or path', () => {
    const lines = problems(
      http('  allowed_hosts: ["dbtape:8080", "https://dbtape", "dbtape/x", "a b", ok.example]\n'),
    );
    assert.equal(lines.length, 4);
    assert.equal(
      lines[0],
      'dbtape.yaml: http.allowed_hosts[0]: expected a host name such as dbtape.internal (no scheme, port or path), got "dbtape:8080"',
    );
    assert.match(lines[3]!, /http\.allowed_hosts\[3\]: expected a host name/);
  });

  test('forwarded_header names one of the two headers', () => {
    assert.deepEqual(problems(http('  forwarded_header: X-Real-IP\n')), [
      'dbtape.yaml: http.forwarded_header: expected x-forwarded-for or forwarded (the header the trusted proxies name the client in), got "X-Real-IP"',
    ]);
    assert.match(
      problems(http('  forwarded_header: [forwarded]\n'))[0]!,
      /^dbtape\.yaml: http\.forwarded_header: expected/,
    );
    assert.match(
      problems(http('  forwarded_header:\n'))[0]!,
      /^dbtape\.yaml: http\.forwarded_header: expected .*got null$/,
    );
  });

  test('an unknown key in http gets a suggestion', () => {
    assert.deepEqual(problems(http('  public_ulr: https://x.example\n')), [
      'dbtape.yaml: http.public_ulr: unknown key (did you mean "public_url"?)',
    ]);
    assert.match(problems(http('  trusted_proxy: [127.0.0.1]\n'))[0]!, /did you mean "trusted_proxies"/);
  });
});
