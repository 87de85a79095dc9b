import assert from 'node:assert/strict';
import { test } from 'node:test';
import { callbackSecrets, parseIntegrationEnv } from '../../src/callbacks/config.js';
import { CallbackVerificationError, signCallback, verifyCallback } from '../../src/callbacks/signature.js';

const secret = 'whsec_' + Buffer.from('0123456789abcdef0123456789abcdef').toString('base64');
const body = JSON.stringify({ id: 'evt-1', type: 'pipeline.completed' });
const now = 1_800_000_000_000;

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    return error instanceof CallbackVerificationError ? error.code : 'other';
  }
}

test('a signed callback verifies, from Node, Express-style or fetch headers', () => {
  const headers = signCallback(secret, { id: 'evt-1', timestampSeconds: now / 1000, body });
  assert.match(headers['webhook-signature']!, /^v1,[A-Za-z0-9+/]+=*$/);
  assert.deepEqual(verifyCallback(secret, headers, body, { nowMs: now }), { id: 'evt-1', timestampSeconds: now / 1000 });
  assert.equal(verifyCallback(secret, new Headers(headers), Buffer.from(body), { nowMs: now }).id, 'evt-1');
  const upper = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toUpperCase(), v]));
  assert.equal(verifyCallback(secret, upper, body, { nowMs: now }).id, 'evt-1');
});

test('a tampered body, id or timestamp, another secret, or an old delivery is refused', () => {
  const headers = signCallback(secret, { id: 'evt-1', timestampSeconds: now / 1000, body });
  assert.equal(codeOf(() => verifyCallback(secret, headers, body.replace('completed', 'cancelled'), { nowMs: now })), 'bad-signature');
  assert.equal(codeOf(() => verifyCallback(secret, { ...headers, 'webhook-id': 'evt-2' }, body, { nowMs: now })), 'bad-signature');
  assert.equal(codeOf(() => verifyCallback(secret, { ...headers, 'webhook-timestamp': String(now / 1000 + 1) }, body, { nowMs: now })), 'bad-signature');
  assert.equal(codeOf(() => verifyCallback('another secret entirely', headers, body, { nowMs: now })), 'bad-signature');
  assert.equal(codeOf(() => verifyCallback(secret, headers, body, { nowMs: now + 301_000 })), 'outside-tolerance');
  assert.equal(codeOf(() => verifyCallback(secret, headers, body, { nowMs: now + 301_000, toleranceSeconds: 600 })), undefined);
  assert.equal(codeOf(() => verifyCallback(secret, { 'webhook-id': 'evt-1' }, body, { nowMs: now })), 'missing-header');
  assert.equal(codeOf(() => verifyCallback(secret, { ...headers, 'webhook-timestamp': 'soon' }, body, { nowMs: now })), 'bad-timestamp');
});

test('during a secret rotation any listed v1 signature is accepted; the message never holds the secret', () => {
  const old = signCallback('the previous secret value', { id: 'evt-1', timestampSeconds: now / 1000, body });
  const current = signCallback(secret, { id: 'evt-1', timestampSeconds: now / 1000, body });
  const both = { ...current, 'webhook-signature': `${old['webhook-signature']} ${current['webhook-signature']}` };
  assert.equal(verifyCallback(secret, both, body, { nowMs: now }).id, 'evt-1');
  try {
    verifyCallback(secret, old, body, { nowMs: now });
    assert.fail('expected a refusal');
  } catch (error) {
    assert.ok(!(error as Error).message.includes(secret));
  }
});

test('a worker holding two secrets (CALLBACK_SECRET="old,new") signs with both: receivers on either secret verify', () => {
  const previous = 'the previous secret value';
  const secrets = callbackSecrets(` ${previous} , ${secret} `);
  assert.deepEqual(secrets, [previous, secret]);
  const headers = signCallback(secrets, { id: 'evt-9', timestampSeconds: now / 1000, body });
  assert.equal(headers['webhook-signature']!.split(' ').length, 2);
  assert.equal(verifyCallback(previous, headers, body, { nowMs: now }).id, 'evt-9');
  assert.equal(verifyCallback(secret, headers, body, { nowMs: now }).id, 'evt-9');
  assert.equal(codeOf(() => verifyCallback('a third secret of some length', headers, body, { nowMs: now })), 'bad-signature');
  const problems = parseIntegrationEnv({ CALLBACK_SECRET: `${secret},too-short` }).problems.join('\n');
  assert.match(problems, /CALLBACK_SECRET: must be at least 16 characters \(each/);
  assert.ok(!problems.includes(secret), 'the problem never repeats a secret');
  assert.equal(parseIntegrationEnv({ CALLBACK_SECRET: `${previous},${secret}` }).problems.length, 0);
});
