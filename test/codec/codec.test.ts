/**
 * The payload codec and the codec server, without a Temporal server: round trips, key rotation,
 * tampering, plain payloads passing through; the server's token, CORS and error handling.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { defaultPayloadConverter } from '@temporalio/common';
import { AesGcmPayloadCodec, ENCRYPTED_ENCODING, PayloadDecryptionError } from '../../src/codec/aes-gcm-codec.js';
import { startCodecServer, type RunningCodecServer } from '../../src/codec/codec-server.js';
import { parsePayloadKeys } from '../../src/codec/payload-keys.js';

const keyA = randomBytes(32).toString('base64');
const keyB = randomBytes(32).toString('base64');
const secretPrompt = 'a portrait of Jane Example, 42 Hidden Lane';

describe('AES-GCM payload codec', () => {
  const codec = new AesGcmPayloadCodec(parsePayloadKeys(`a:${keyA}`));

  it('encrypts every payload and decrypts it back', async () => {
    const plain = [defaultPayloadConverter.toPayload({ prompt: secretPrompt }), defaultPayloadConverter.toPayload(null)];
    const encoded = await codec.encode(plain);
    for (const payload of encoded) {
      assert.equal(Buffer.from(payload.metadata!['encoding']!).toString(), ENCRYPTED_ENCODING);
      assert.ok(!Buffer.from(payload.data!).toString('latin1').includes('Jane'), 'no plaintext in the data');
    }
    const decoded = await codec.decode(encoded);
    assert.deepEqual(defaultPayloadConverter.fromPayload(decoded[0]!), { prompt: secretPrompt });
    assert.equal(defaultPayloadConverter.fromPayload(decoded[1]!), null);
    // Plain payloads (histories from before encryption) pass through.
    assert.deepEqual(await codec.decode(plain), plain);
  });

  it('rotates keys: the first encrypts, old ones still decrypt; unknown or tampered ciphertext fails', async () => {
    const oldCiphertext = await codec.encode([defaultPayloadConverter.toPayload('old')]);
    const rotated = new AesGcmPayloadCodec(parsePayloadKeys(`b:${keyB},a:${keyA}`));
    assert.equal(rotated.currentKeyId, 'b');
    assert.equal(defaultPayloadConverter.fromPayload((await rotated.decode(oldCiphertext))[0]!), 'old');
    const onlyB = new AesGcmPayloadCodec(parsePayloadKeys(`b:${keyB}`));
    await assert.rejects(onlyB.decode(oldCiphertext), PayloadDecryptionError);
    const tampered = structuredClone(oldCiphertext);
    const data = Buffer.from(tampered[0]!.data!);
    data[data.length - 20]! ^= 1;
    tampered[0]!.data = data;
    await assert.rejects(codec.decode(tampered), /failed authentication/);
  });

  it('refuses malformed key settings, naming the entry but not the key', () => {
    assert.throws(() => parsePayloadKeys('nocolon'), /entry 1 must look like <id>:<base64 key>/);
    assert.throws(() => parsePayloadKeys(`x:${Buffer.alloc(16).toString('base64')}`), /must be 32 bytes/);
    assert.throws(() => parsePayloadKeys(`x:${keyA},x:${keyB}`), /appears twice/);
    try {
      parsePayloadKeys(`bad id:${keyA}`);
    } catch (error) {
      assert.ok(!(error as Error).message.includes(keyA));
    }
  });
});

describe('codec server', () => {
  const token = 'codec-test-token-0123456789';
  const origin = 'http://127.0.0.1:8233';
  const codec = new AesGcmPayloadCodec(parsePayloadKeys(`a:${keyA}`));
  let server: RunningCodecServer;
  before(async () => {
    server = await startCodecServer({ codec, token, corsOrigins: [origin] });
  });
  after(() => server.close());

  const asJson = (payloads: Awaited<ReturnType<typeof codec.encode>>) => ({
    payloads: payloads.map((p) => ({
      metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v!).toString('base64')])),
      data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
    })),
  });

  it('decodes with the bearer token (or the token as the path prefix, for the Web UI) and refuses without it', async () => {
    const body = JSON.stringify(asJson(await codec.encode([defaultPayloadConverter.toPayload({ prompt: secretPrompt })])));
    const post = (path: string, headers: Record<string, string> = {}) => fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

    for (const response of [await post('/decode', { authorization: `Bearer ${token}` }), await post(`/${token}/decode`)]) {
      assert.equal(response.status, 200);
      const decoded = (await response.json()) as { payloads: { data: string }[] };
      assert.deepEqual(JSON.parse(Buffer.from(decoded.payloads[0]!.data, 'base64').toString()), { prompt: secretPrompt });
    }
    for (const response of [await post('/decode'), await post('/decode', { authorization: 'Bearer wrong-token-wrong-token-x' }), await post('/wrong-token-wrong-token-x/decode')]) {
      assert.equal(response.status, 401);
      const text = await response.text();
      assert.ok(!text.includes('Jane'));
    }
  });

  it('encodes too, answers CORS preflights for the Web UI origin only, and rejects bad bodies', async () => {
    const encoded = await fetch(`${server.url}/encode`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ payloads: [{ metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from('"x"').toString('base64') }] }),
    });
    const { payloads } = (await encoded.json()) as { payloads: { metadata: Record<string, string> }[] };
    assert.equal(Buffer.from(payloads[0]!.metadata['encoding']!, 'base64').toString(), ENCRYPTED_ENCODING);

    const preflight = await fetch(`${server.url}/decode`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' } });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), origin);
    assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /authorization/);
    const foreign = await fetch(`${server.url}/decode`, { method: 'OPTIONS', headers: { origin: 'http://evil.example' } });
    assert.equal(foreign.headers.get('access-control-allow-origin'), null);

    const bad = await fetch(`${server.url}/decode`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: 'not json' });
    assert.equal(bad.status, 400);
    const notFound = await fetch(`${server.url}/a/b/decode`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: '{}' });
    assert.equal(notFound.status, 404);
    // A token prefix with a broken %-escape is the caller's mistake: 400, not a server error.
    const broken = await fetch(`${server.url}/%E0%A4%A/decode`, { method: 'POST', body: '{}' });
    assert.equal(broken.status, 400);
  });
});
