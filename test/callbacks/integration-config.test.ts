import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, parseWorkerConfig } from '../../src/config.js';

const validEnv = { RUNCOMFY_TOKEN: 'token', R2_ENDPOINT: 'http://127.0.0.1:9000', R2_BUCKET: 'bucket', R2_ACCESS_KEY_ID: 'id', R2_SECRET_ACCESS_KEY: 'secret' };
const SECRET = 'a-callback-secret-value';

function problems(env: Record<string, string>): string {
  try {
    parseWorkerConfig({ ...validEnv, ...env });
    return '';
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.message;
  }
}

test('integration settings: prefixes, hosts, a default URL and a secret, from the environment', () => {
  const config = parseWorkerConfig({ ...validEnv, OUTPUT_KEY_PREFIXES: 'users/, media/', CALLBACK_ALLOWED_HOSTS: 'api.ryla.ai', CALLBACK_URL: 'https://api.ryla.ai/hooks', CALLBACK_SECRET: SECRET });
  assert.deepEqual(config.integration.allowedKeyPrefixes, ['users/', 'media/']);
  assert.equal(config.integration.defaultCallbackUrl, 'https://api.ryla.ai/hooks');
  assert.equal(config.integration.callbacksEnabled, true);
  assert.equal(config.callbackSecret, SECRET);
  assert.ok(!JSON.stringify(config.integration).includes(SECRET), 'the settings that reach workflows hold no secret');
  assert.equal(parseWorkerConfig(validEnv).integration.callbacksEnabled, false);
});

test('a callback URL outside the allowed hosts, without a secret, or a short secret is refused, naming the variable only', () => {
  assert.match(problems({ CALLBACK_URL: 'https://elsewhere.test/hooks', CALLBACK_ALLOWED_HOSTS: 'api.ryla.ai', CALLBACK_SECRET: SECRET }), /CALLBACK_URL: its host must be listed in CALLBACK_ALLOWED_HOSTS/);
  assert.match(problems({ CALLBACK_URL: 'https://api.ryla.ai/hooks', CALLBACK_ALLOWED_HOSTS: 'api.ryla.ai' }), /CALLBACK_SECRET: is required when CALLBACK_URL is set/);
  const short = problems({ CALLBACK_SECRET: 'short-secret' });
  assert.match(short, /CALLBACK_SECRET: must be at least 16 characters/);
  assert.ok(!short.includes('short-secret'), 'the value is never echoed');
  assert.match(problems({ CALLBACK_RETRY_WINDOW_MS: 'soon' }), /CALLBACK_RETRY_WINDOW_MS/);
});
