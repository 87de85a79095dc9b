/**
 * The emulator's admin API is guarded: without a token it only starts on loopback; with one, every
 * admin route but a bare liveness answer needs it. (Only 127.0.0.1 is ever listened on here: the
 * non-loopback case is refused before the server binds.)
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { isLoopbackOnly, startEmulator } from '../../src/emulator/index.js';

test('refuses to start on a non-loopback interface without an admin token', async () => {
  for (const host of ['0.0.0.0', '::', '192.0.2.10']) {
    await assert.rejects(startEmulator({ host, port: 0 }), /needs --admin-token .* not loopback only/, host);
  }
  assert.equal(isLoopbackOnly('127.0.0.1'), true);
  assert.equal(isLoopbackOnly('[::1]'), true);
  assert.equal(isLoopbackOnly('0.0.0.0'), false);
});

test('with an admin token, admin routes need it; health answers only that it is alive', async () => {
  const adminToken = 'admin-token-for-tests-0123';
  const emulator = await startEmulator({ host: '127.0.0.1', port: 0, adminToken });
  after(() => emulator.close());
  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${emulator.url}/__admin/${path}`, { headers });

  assert.equal((await get('settings')).status, 401);
  assert.equal((await get('settings', { 'x-admin-token': 'wrong-token-wrong-token-x' })).status, 401);
  assert.equal((await get('settings', { 'x-admin-token': adminToken })).status, 200);
  const patch = await fetch(`${emulator.url}/__admin/settings`, { method: 'PATCH', body: JSON.stringify({ outputTtlMs: 1 }), headers: { 'content-type': 'application/json' } });
  assert.equal(patch.status, 401);

  const health = await get('health');
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { ok: true });
  const fullHealth = (await (await get('health', { 'x-admin-token': adminToken })).json()) as Record<string, unknown>;
  assert.ok('deployments' in fullHealth);
  assert.equal(await emulator.admin.counters().then(() => 'ok'), 'ok', 'the bundled admin client sends the token');

  await assert.rejects(startEmulator({ host: '127.0.0.1', port: 0, adminToken: 'short' }), /at least 16 characters/);
});
