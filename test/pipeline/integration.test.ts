import assert from 'node:assert/strict';
import { test } from 'node:test';
import { callbackHostAllowed, keyTemplateProblems } from '../../src/pipeline/integration.js';
import { validatePipelineSpec } from '../../src/pipeline/spec.js';
import { expandKeyTemplate } from '../../src/storage/key-template.js';

const ids = { userId: '5274565c-068f-4256-a4ec-a51342c3033d', characterId: '047191ce-1e11-4578-824e-9be92ee5a5b5' };
const jobId = 'fa745c77-603b-454c-9846-db86fc56485a';
const ryla = 'users/{userId}/characters/{characterId}/{label:category}/{jobId}_{index}_{rand8}.{ext}';

test("the backend's key layout expands deterministically, one key per output", () => {
  const base = { template: ryla, pipelineId: jobId, stepId: 't2i', attempt: 1, index: 0, nodeId: '9', filename: 'ComfyUI_00001_.PNG', correlation: ids, labels: { category: 'portrait' }, allowedPrefixes: ['users/'] };
  const key = expandKeyTemplate(base);
  assert.match(key, new RegExp(`^users/${ids.userId}/characters/${ids.characterId}/portrait/${jobId}_00_[0-9a-f]{8}\\.png$`));
  assert.equal(expandKeyTemplate(base), key, 'a retried copy gets the same key');
  assert.notEqual(expandKeyTemplate({ ...base, stepId: 'upscale' }), key, 'another step gets another key');
  assert.notEqual(expandKeyTemplate({ ...base, attempt: 2 }), key, 'another job attempt gets another key');
  assert.match(expandKeyTemplate({ ...base, index: 12, filename: 'noext' }), /_12_[0-9a-f]{8}\.bin$/);
  assert.throws(() => expandKeyTemplate({ ...base, allowedPrefixes: ['outputs/'] }), /allowed prefixes: outputs\//);
});

test('bad templates are refused with the reason', () => {
  const problems = (template: string, prefixes?: string[]) => keyTemplateProblems(template, { correlation: ids, labels: { category: 'portrait', bad: '../x' } }, prefixes).join(' | ');
  assert.equal(problems(ryla, ['users/']), '');
  assert.match(problems('/users/{jobId}_{index}_{rand8}'), /must not start with "\/"/);
  assert.match(problems('users/../{jobId}_{index}_{rand8}'), /must not contain/);
  assert.match(problems('users//{jobId}_{index}_{rand8}'), /empty segment/);
  assert.match(problems('users/{jobId}_{rand8}'), /must contain \{index\}/);
  assert.match(problems('users/{jobId}_{index}'), /\{stepId\} or \{rand8\}/);
  assert.match(problems('users/{index}_{rand8}'), /must contain \{jobId\}/);
  assert.match(problems('users/{jobId}_{index}_{rand8}_{seed}'), /unknown placeholder \{seed\}/);
  assert.match(problems('users/{label:bad}/{jobId}_{index}_{rand8}'), /label "bad" is used in keys/);
  assert.match(problems('users/{label:missing}/{jobId}_{index}_{rand8}'), /no label "missing"/);
  assert.match(problems('users/a b/{jobId}_{index}_{rand8}'), /may only contain/);
  assert.match(problems(`users/${'x'.repeat(600)}/{jobId}_{index}_{rand8}`), /at most 512 characters/);
  assert.match(problems('tmp/{jobId}_{index}_{rand8}', ['users/']), /allowed prefixes: users\//);
  assert.match(problems('tmp/{jobId}_{index}_{rand8}', []), /no output key prefixes are configured/);
  assert.match(keyTemplateProblems('users/{userId}/{jobId}_{index}_{rand8}', {}).join(), /correlation\.userId is not set/);
});

test('correlation: UUIDs only, known fields only, and the job id is a UUID', () => {
  const spec = (extra: Record<string, unknown>) => ({ pipelineId: jobId, steps: [{ id: 't2i', kind: 't2i', deployment: 'flux-t2i', params: { prompt: 'x' } }], ...extra });
  assert.equal(validatePipelineSpec(spec({ correlation: ids })).ok, true);
  const messages = (extra: Record<string, unknown>) => {
    const result = validatePipelineSpec(spec(extra));
    return result.ok ? '' : result.issues.map((i) => `${i.path}: ${i.message}`).join(' | ');
  };
  assert.match(messages({ correlation: { userId: 'u-1' } }), /correlation\.userId must be a UUID/);
  assert.match(messages({ correlation: { tenantId: ids.userId } }), /tenantId/);
  assert.match(messages({ pipelineId: 'job-1', correlation: ids }), /pipeline id must be a UUID when correlation is set/);
  assert.match(messages({ callback: { url: 'ftp://x/y' } }), /callback\.url must use https/);
  assert.match(messages({ callback: { url: 'https://user:pw@x/y' } }), /must not carry credentials/);
});

test('callback hosts: by name or name:port, never by lookup', () => {
  assert.equal(callbackHostAllowed('https://api.ryla.ai/hooks', ['api.ryla.ai']), true);
  assert.equal(callbackHostAllowed('https://API.ryla.ai:8443/hooks', ['api.ryla.ai:8443']), true);
  assert.equal(callbackHostAllowed('https://api.ryla.ai:8443/hooks', ['api.ryla.ai:443']), false);
  assert.equal(callbackHostAllowed('https://api.ryla.ai.evil.test/hooks', ['api.ryla.ai']), false);
  assert.equal(callbackHostAllowed('http://127.0.0.1:9000/x', ['127.0.0.1']), true);
  assert.equal(callbackHostAllowed('not a url', ['127.0.0.1']), false);
});
