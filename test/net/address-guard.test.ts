/**
 * The address guard refuses every non-public target before a connection exists. Hostile
 * addresses are only ever handed to the guard; the one listener these tests open is on 127.0.0.1,
 * and it counts connections to prove a refused loopback URL never reached it.
 */
import assert from 'node:assert/strict';
import type { lookup, LookupAddress } from 'node:dns';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { AddressRefusedError, checkUrl, createGuardedAgent, findAddressRefusal, hostMatches, parseHostPatterns } from '../../src/net/address-guard.js';
import type { AddressPolicy } from '../../src/net/address-guard.js';
import { classifyAddress } from '../../src/net/ip-ranges.js';

const production: AddressPolicy = { allowLoopback: false, allowedHosts: [] };
const local: AddressPolicy = { allowLoopback: true, allowedHosts: [] };

/** Every URL form that must be refused in production, and the kind of address it names. */
const HOSTILE_URLS: readonly string[] = [
  'http://127.0.0.1/',
  'http://2130706433/',
  'http://0177.0.0.1/',
  'http://127.1/',
  'http://0x7f.1/',
  'http://[::ffff:127.0.0.1]/',
  'http://[::ffff:7f00:1]/',
  'http://[::1]/',
  'http://169.254.169.254/latest/meta-data/',
  'http://[fe80::1]/',
  'http://10.0.0.1/',
  'http://172.16.5.4/',
  'http://192.168.1.1/',
  'http://100.64.0.1/',
  'http://[fd00::1]/',
  'http://224.0.0.1/',
  'http://[ff02::1]/',
  'http://0.0.0.0/',
  'http://[::]/',
  'http://255.255.255.255/',
  'http://[64:ff9b::a9fe:a9fe]/',
  'http://[2002:a9fe:a9fe::1]/',
  'ftp://example.com/file.png',
  'file:///etc/passwd',
];

describe('address classification', () => {
  it('puts each special range in its kind and ordinary addresses in public', () => {
    const expectations: Record<string, string> = {
      '127.0.0.1': 'loopback',
      '169.254.169.254': 'link-local',
      '10.1.2.3': 'private',
      '172.31.255.255': 'private',
      '172.32.0.1': 'public',
      '192.168.0.1': 'private',
      '100.64.0.1': 'shared (CGNAT)',
      '100.128.0.1': 'public',
      '224.1.1.1': 'multicast',
      '0.0.0.0': 'unspecified',
      '8.8.8.8': 'public',
      '::1': 'loopback',
      '::': 'unspecified',
      '::ffff:127.0.0.1': 'IPv4-mapped or translated IPv6',
      '::ffff:8.8.8.8': 'IPv4-mapped or translated IPv6',
      'fe80::1': 'link-local',
      'fd12:3456::1': 'unique-local',
      'ff02::1': 'multicast',
      '2606:4700::1111': 'public',
    };
    for (const [address, kind] of Object.entries(expectations)) assert.equal(classifyAddress(address), kind, address);
    for (const notAnAddress of ['0177.0.0.1', '127.1', '2130706433', 'example.com', '1::2::3']) assert.equal(classifyAddress(notAnAddress), undefined, notAnAddress);
  });
});

describe('URL check', () => {
  it('refuses every hostile form, naming the host and never the query', () => {
    for (const text of HOSTILE_URLS) {
      const url = new URL(`${text}${text.includes('?') ? '&' : '?'}X-Amz-Signature=secret`);
      assert.throws(() => checkUrl(url, production), (error: unknown) => {
        assert.ok(error instanceof AddressRefusedError, text);
        assert.doesNotMatch(error.message, /secret|Signature/, text);
        return true;
      }, text);
    }
  });

  it('allows loopback only when asked to, and never the other ranges', () => {
    assert.doesNotThrow(() => checkUrl(new URL('http://127.0.0.1:9/x.png'), local));
    assert.doesNotThrow(() => checkUrl(new URL('http://[::1]:9/x.png'), local));
    // Mapped loopback stays refused: the exception is for the plain loopback forms only.
    assert.throws(() => checkUrl(new URL('http://[::ffff:127.0.0.1]/'), local), AddressRefusedError);
    assert.throws(() => checkUrl(new URL('http://169.254.169.254/'), local), AddressRefusedError);
  });

  it('narrows names to OUTPUT_HOSTS, wildcards matching subdomains only', () => {
    const hosts = parseHostPatterns('cdn.example.com, *.runcomfy.net');
    const policy: AddressPolicy = { allowLoopback: false, allowedHosts: hosts };
    assert.doesNotThrow(() => checkUrl(new URL('https://cdn.example.com/a.png'), policy));
    assert.doesNotThrow(() => checkUrl(new URL('https://files.eu.runcomfy.net/a.png'), policy));
    for (const text of ['https://runcomfy.net/a.png', 'https://evilruncomfy.net/a.png', 'https://cdn.example.com.evil.io/a.png', 'https://93.184.216.34/a.png']) {
      assert.throws(() => checkUrl(new URL(text), policy), AddressRefusedError, text);
    }
    assert.equal(hostMatches('A.RunComfy.NET.', hosts), true);
    assert.throws(() => parseHostPatterns('exa mple.com/path'), /not a host name/);
  });
});

describe('guarded agent', () => {
  let port = 0;
  let connections = 0;
  const server = createServer((_req, res) => res.end('secret of the loopback listener'));
  server.on('connection', () => connections++);
  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  /** Names resolve through this table only: no resolver is ever asked. */
  const table: Record<string, LookupAddress[]> = {
    'metadata.test': [{ address: '169.254.169.254', family: 4 }],
    'mixed.test': [
      { address: '93.184.216.34', family: 4 },
      { address: '10.0.0.7', family: 4 },
    ],
    'rebind-v6.test': [{ address: '::ffff:127.0.0.1', family: 6 }],
    'loopback.test': [{ address: '127.0.0.1', family: 4 }],
  };
  const resolve = ((hostname: string, _options: unknown, callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => {
    const found = table[hostname];
    if (found) callback(null, found);
    else callback(Object.assign(new Error(`no such name ${hostname}`), { code: 'ENOTFOUND' }), []);
  }) as unknown as typeof lookup;

  async function refusal(url: string, policy: AddressPolicy): Promise<AddressRefusedError> {
    const dispatcher = createGuardedAgent({ policy, resolve });
    try {
      const response = await request(url, { dispatcher });
      await response.body.dump();
      assert.fail(`${url} was fetched`);
    } catch (error) {
      const refused = findAddressRefusal(error);
      assert.ok(refused, `${url}: ${String(error)}`);
      return refused;
    } finally {
      await dispatcher.close();
    }
  }

  it('refuses a literal loopback target at connect time without touching the listener', async () => {
    // The literal forms skip DNS: the connector checks them itself.
    for (const host of [`127.0.0.1:${port}`, `[::ffff:127.0.0.1]:${port}`, `2130706433:${port}`, `127.1:${port}`]) {
      const refused = await refusal(`http://${host}/`, production);
      assert.match(refused.reason, /loopback|IPv4-mapped/);
    }
    assert.equal(connections, 0);
  });

  it('refuses names whose answers include any non-public address', async () => {
    assert.match((await refusal('http://metadata.test/latest/meta-data/', local)).reason, /169\.254\.169\.254 is a link-local/);
    assert.match((await refusal('http://mixed.test/', local)).reason, /10\.0\.0\.7 is a private/);
    assert.match((await refusal(`http://rebind-v6.test:${port}/`, local)).reason, /IPv4-mapped/);
    assert.match((await refusal(`http://loopback.test:${port}/`, production)).reason, /loopback/);
    assert.equal(connections, 0);
  });

  it('connects when the policy allows the resolved address', async () => {
    const dispatcher = createGuardedAgent({ policy: local, resolve });
    try {
      const response = await request(`http://loopback.test:${port}/`, { dispatcher });
      assert.equal(await response.body.text(), 'secret of the loopback listener');
    } finally {
      await dispatcher.close();
    }
    assert.equal(connections, 1);
  });
});
