import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseWorkerConfig } from '../../src/config.js';
import { PIPELINE_SEARCH_ATTRIBUTES } from '../../src/contract/search-attributes.js';
import { ensureSearchAttributes } from '../../src/worker/pipeline-worker.js';

/** Every attribute the worker needs, as the Operator API lists them (the value is the type's enum; any number will do here). */
const allPresent = Object.fromEntries(Object.keys(PIPELINE_SEARCH_ATTRIBUTES).map((name) => [name, 2]));

const config = parseWorkerConfig({
  TEMPORAL_ADDRESS: '127.0.0.1:7233',
  TEMPORAL_NAMESPACE: 'pipelines.acct1',
  RUNCOMFY_BASE_URL: 'http://127.0.0.1:1',
  RUNCOMFY_TOKEN: 't',
  R2_ENDPOINT: 'http://127.0.0.1:2',
  R2_BUCKET: 'outputs',
  R2_ACCESS_KEY_ID: 'k',
  R2_SECRET_ACCESS_KEY: 's',
});

/** The error a gRPC server gives for a service it does not serve (Temporal Cloud and the Operator API). */
function unimplemented(): Error {
  return Object.assign(new Error('12 UNIMPLEMENTED: unknown service temporal.api.operatorservice.v1.OperatorService'), { code: 12 });
}

test('a namespace whose Operator API is not served (Temporal Cloud) lets the worker start, with a warning saying how to register the attribute', async () => {
  let added = false;
  const check = await ensureSearchAttributes(config, {
    listSearchAttributes: () => Promise.reject(unimplemented()),
    addSearchAttributes: () => ((added = true), Promise.reject(unimplemented())),
  });
  assert.equal(check.outcome, 'unverified');
  assert.equal(added, false);
  assert.match(check.warning ?? '', /UNIMPLEMENTED/);
  assert.match(check.warning ?? '', /tcld namespace search-attributes add --namespace <namespace>\.<account> --search-attribute "PipelineStatus=Keyword"/);
  assert.match(check.warning ?? '', /temporal operator search-attribute create --namespace pipelines\.acct1 --name PipelineStatus --type Keyword/);
});

test('a missing attribute that may not be added stops the worker with the commands to run', async () => {
  await assert.rejects(
    ensureSearchAttributes(config, {
      listSearchAttributes: () => Promise.resolve({ customAttributes: {}, systemAttributes: {}, storageSchema: {} }),
      addSearchAttributes: () => Promise.reject(Object.assign(new Error('7 PERMISSION_DENIED'), { code: 7 })),
    }),
    /lacks the search attribute\(s\) PipelineStatus=Keyword, PipelineUserId=Keyword, .*tcld namespace search-attributes add/,
  );
});

test('present attributes need nothing', async () => {
  const check = await ensureSearchAttributes(config, {
    listSearchAttributes: () => Promise.resolve({ customAttributes: allPresent, systemAttributes: {}, storageSchema: {} }),
    addSearchAttributes: () => Promise.reject(new Error('not expected')),
  });
  assert.deepEqual(check, { outcome: 'present' });
});
