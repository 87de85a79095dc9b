import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseWorkerConfig } from '../../src/config.js';
import { parseWebhookQuery, verifyWebhookToken, webhookToken, webhookUrlFor, withoutQuery } from '../../src/webhooks/token.js';

const OLD = 'old-secret-0123456789abcdefghijklmnopqrstuvwxyz';
const NEW = 'new-secret-ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210';
const subject = { workflowId: 'pipeline-abc/ü?&=', stepId: 'upscale', attempt: 2 };

describe('webhook token', () => {
  it('round-trips through the URL: the receiver reads back what the worker signed', () => {
    const url = new URL(webhookUrlFor({ publicUrl: 'https://hooks.example/runcomfy/webhook', secrets: [NEW] }, subject));
    assert.equal(url.origin + url.pathname, 'https://hooks.example/runcomfy/webhook');
    const parsed = parseWebhookQuery(url.searchParams);
    assert.ok(parsed);
    assert.deepEqual(parsed.subject, subject);
    assert.match(parsed.token, /^[A-Za-z0-9_-]{43}$/, 'base64url of 32 bytes');
    assert.ok(verifyWebhookToken([NEW], parsed.subject, parsed.token));
  });

  it('refuses a token made with another secret', () => {
    const token = webhookToken([OLD], subject);
    assert.equal(verifyWebhookToken([NEW], subject, token), false);
  });

  it('refuses a token moved to another workflow, step or attempt', () => {
    const token = webhookToken([NEW], subject);
    assert.equal(verifyWebhookToken([NEW], { ...subject, workflowId: 'pipeline-other' }, token), false);
    assert.equal(verifyWebhookToken([NEW], { ...subject, stepId: 'faceswap' }, token), false);
    assert.equal(verifyWebhookToken([NEW], { ...subject, attempt: 3 }, token), false);
    // Ids that would collide under a naive joined string do not here.
    const joined = webhookToken([NEW], { workflowId: 'a|b', stepId: 'c', attempt: 1 });
    assert.equal(verifyWebhookToken([NEW], { workflowId: 'a', stepId: 'b|c', attempt: 1 }, joined), false);
  });

  it('rotates: the first secret signs, every secret verifies', () => {
    const signedBefore = webhookToken([OLD], subject);
    const rotated = [NEW, OLD];
    assert.ok(verifyWebhookToken(rotated, subject, signedBefore), 'jobs submitted before the rotation still nudge');
    const signedAfter = webhookToken(rotated, subject);
    assert.equal(signedAfter, webhookToken([NEW], subject), 'new URLs use the new secret');
    assert.ok(verifyWebhookToken(rotated, subject, signedAfter));
    assert.equal(verifyWebhookToken([NEW], subject, signedBefore), false, 'dropping the old secret retires its tokens');
  });

  it('rejects tokens of the wrong length or alphabet without throwing', () => {
    const token = webhookToken([NEW], subject);
    for (const wrong of ['', 'x', token.slice(0, -1), `${token}A`, `${token}${token}`, 'é'.repeat(43)]) {
      assert.equal(verifyWebhookToken([NEW, OLD], subject, wrong), false, `length ${wrong.length}`);
    }
  });

  it('reads only well-formed queries and keeps the token out of printable URLs', () => {
    const good = new URL(webhookUrlFor({ publicUrl: 'https://h.example/x', secrets: [NEW] }, subject));
    for (const name of ['wf', 'step', 'attempt', 'token']) {
      const search = new URLSearchParams(good.search);
      search.delete(name);
      assert.equal(parseWebhookQuery(search), undefined, `without ${name}`);
    }
    for (const attempt of ['0', '-1', '1.5', '01', 'abc']) {
      const search = new URLSearchParams(good.search);
      search.set('attempt', attempt);
      assert.equal(parseWebhookQuery(search), undefined, `attempt ${attempt}`);
    }
    assert.equal(withoutQuery(good.toString()), 'https://h.example/x?[redacted]');
  });
});

describe('webhook configuration', () => {
  const base = {
    RUNCOMFY_TOKEN: 't',
    R2_ENDPOINT: 'http://127.0.0.1:9000',
    R2_BUCKET: 'bucket',
    R2_ACCESS_KEY_ID: 'a',
    R2_SECRET_ACCESS_KEY: 's',
  };
  const problems = (env: Record<string, string>): string[] => {
    try {
      parseWorkerConfig({ ...base, ...env });
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      return [...error.problems];
    }
    return [];
  };

  it('is off without WEBHOOK_PUBLIC_URL, and nothing about webhooks is frozen then', () => {
    const config = parseWorkerConfig(base);
    assert.equal(config.webhooks, undefined);
    assert.equal(config.timings.webhookBackstopIntervalMs, undefined);
  });

  it('parses secrets, path, port and limits when on', () => {
    const config = parseWorkerConfig({ ...base, WEBHOOK_PUBLIC_URL: 'https://hooks.example/rc', WEBHOOK_SECRETS: ` ${NEW} , ${OLD}`, WEBHOOK_PORT: '8081' });
    assert.deepEqual(config.webhooks?.secrets, [NEW, OLD]);
    assert.equal(config.webhooks?.path, '/runcomfy/webhook');
    assert.equal(config.webhooks?.port, 8081);
    assert.equal(config.webhooks?.backstopIntervalMs, 90_000);
    assert.equal(config.webhooks?.maxBodyBytes, 1024 * 1024);
  });

  it('names the variable and never prints a secret', () => {
    assert.match(problems({ WEBHOOK_PUBLIC_URL: 'https://hooks.example/rc' }).join('\n'), /WEBHOOK_SECRETS: is required when WEBHOOK_PUBLIC_URL is set/);
    const short = problems({ WEBHOOK_PUBLIC_URL: 'https://hooks.example/rc', WEBHOOK_SECRETS: `${NEW},too-short-secret-value` });
    assert.match(short.join('\n'), /WEBHOOK_SECRETS: entry 2 must be at least 32 characters/);
    assert.ok(!short.join('\n').includes('too-short-secret-value'));
    assert.match(problems({ WEBHOOK_PUBLIC_URL: 'http://hooks.example/rc', WEBHOOK_SECRETS: NEW }).join('\n'), /WEBHOOK_PUBLIC_URL: must use https/);
    assert.match(problems({ WEBHOOK_PUBLIC_URL: 'http://127.0.0.1:8081/rc', WEBHOOK_SECRETS: NEW }).join('\n'), /WEBHOOK_PUBLIC_URL: must use https/, 'loopback alone is not enough');
    assert.match(problems({ WEBHOOK_PUBLIC_URL: 'http://10.0.0.5/rc', WEBHOOK_SECRETS: NEW, WEBHOOK_ALLOW_HTTP: '1' }).join('\n'), /WEBHOOK_PUBLIC_URL: must use https/, 'the flag alone is not enough');
    assert.deepEqual(problems({ WEBHOOK_PUBLIC_URL: 'http://127.0.0.1:8081/rc', WEBHOOK_SECRETS: NEW, WEBHOOK_ALLOW_HTTP: '1' }), []);
    assert.match(problems({ WEBHOOK_PUBLIC_URL: 'https://hooks.example/rc?x=1', WEBHOOK_SECRETS: NEW }).join('\n'), /WEBHOOK_PUBLIC_URL: must not carry a query/);
    assert.match(problems({ WEBHOOK_PORT: '8081' }).join('\n'), /WEBHOOK_PORT: needs WEBHOOK_PUBLIC_URL/);
    assert.match(problems({ WEBHOOK_PATH: 'no-slash' }).join('\n'), /WEBHOOK_PATH: expected an absolute path/);
  });
});
