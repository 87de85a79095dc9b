import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { startTemporalDevServer } from '../../src/devstack/temporal-dev-server.js';
import { testTemporal, uniqueName } from '../support/local-stack.js';
import { createSmokeActivities } from './smoke-activities.js';

const workflowsPath = fileURLToPath(new URL('./smoke-workflows.ts', import.meta.url));
const server = await testTemporal();

test('a workflow with an activity runs to completion on the dev server through a real Worker', async () => {
  const taskQueue = uniqueName('smoke');
  const nativeConnection = await NativeConnection.connect({ address: server.address });
  const worker = await Worker.create({
    connection: nativeConnection,
    namespace: server.namespace,
    taskQueue,
    workflowsPath,
    activities: createSmokeActivities(),
  });
  const connection = await Connection.connect({ address: server.address });
  try {
    const client = new Client({ connection, namespace: server.namespace });
    const result = await worker.runUntil(
      client.workflow.execute('smokeWorkflow', { taskQueue, workflowId: uniqueName('smoke-wf'), args: ['pipelines'] }),
    );
    assert.match(result, new RegExp(`^hello pipelines from activity on .+ pid ${process.pid}$`));
  } finally {
    await connection.close();
    await nativeConnection.close();
  }
});

test('the Web UI answers HTTP 200 with its page', async () => {
  assert.ok(server.uiUrl, 'the shared dev server runs with its UI');
  const response = await fetch(server.uiUrl);
  assert.equal(response.status, 200);
  const page = await response.text();
  assert.match(page, /<html/i);
  // The UI is a SvelteKit app: the page is a shell whose scripts must be served too.
  const asset = /href="(\/_app\/immutable\/[^"]+\.js)"/.exec(page)?.[1];
  assert.ok(asset, 'the page links the UI application bundle');
  const script = await fetch(new URL(asset, server.uiUrl));
  assert.equal(script.status, 200);
  assert.match(script.headers.get('content-type') ?? '', /javascript/);
  await script.arrayBuffer();
});

test('a dev server with a SQLite file keeps a running workflow across a crash and restart', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rcp-restart-test-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const own = await startTemporalDevServer({ dbFilename: join(dir, 'temporal.db'), ui: false });
  after(() => own.stop());
  const workflowId = uniqueName('survivor');
  const first = await Connection.connect({ address: own.address });
  await new Client({ connection: first }).workflow.start('smokeWorkflow', { taskQueue: 'nobody-polls-this', workflowId, args: ['x'] });
  await first.close();

  await own.restart({ kill: true });

  const second = await Connection.connect({ address: own.address });
  try {
    const description = await new Client({ connection: second }).workflow.getHandle(workflowId).describe();
    assert.equal(description.status.name, 'RUNNING');
    assert.equal(description.type, 'smokeWorkflow');
  } finally {
    await second.close();
  }
});
