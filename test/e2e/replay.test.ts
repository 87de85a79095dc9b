import proto from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { workflowSourceOptions } from '../../src/worker/workflow-code.js';
import { HISTORIES_DIR } from '../support/histories.js';

/*
 * Recorded histories of real runs (happy path, parallel branches, cancellations, failures, a worker
 * crash), from before and after each patch, replayed against today's workflow code: a change that would make running pipelines
 * non-deterministic fails here. Re-record with `RCP_RECORD_HISTORIES=1 npm test` only for a change
 * that is meant to be incompatible (and then use patched() for the running ones).
 */
const files = readdirSync(HISTORIES_DIR).filter((f) => f.endsWith('.json')).sort();

test('recorded pipeline histories replay without non-determinism', async () => {
  assert.ok(files.length >= 16, `expected the recorded histories, found ${files.length}`);
  async function* histories() {
    for (const file of files) {
      yield { workflowId: file.replace(/\.json$/, ''), history: proto.temporal.api.history.v1.History.fromObject(JSON.parse(readFileSync(`${HISTORIES_DIR}/${file}`, 'utf8'))) };
    }
  }
  const replayed: string[] = [];
  for await (const result of Worker.runReplayHistories(workflowSourceOptions(), histories())) {
    assert.equal(result.error, undefined, `${result.workflowId}: ${String(result.error)}`);
    replayed.push(result.workflowId);
  }
  assert.deepEqual(replayed, files.map((f) => f.replace(/\.json$/, '')));
});
