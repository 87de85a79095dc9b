import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = fileURLToPath(new URL('../..', import.meta.url));

// Imports a module in a fresh process and lists every loaded module of the worker SDK, its native
// bridge or the AWS SDK. All three are CommonJS (the AWS SDK's packages declare no ESM exports), so
// whichever way they are reached (import or require), the CommonJS loader records them in require.cache.
const probe = `
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
await import(pathToFileURL(process.argv[1]).href);
const loaded = Object.keys(createRequire(import.meta.url).cache);
const forbidden = loaded.filter((path) => /[\\\\/](@temporalio[\\\\/](worker|core-bridge)|@aws-sdk[\\\\/][^\\\\/]+)[\\\\/]/.test(path));
process.stdout.write(JSON.stringify({ loaded: loaded.length, forbidden }));
`;

async function modulesLoadedBy(modulePath: string): Promise<{ loaded: number; forbidden: string[] }> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', probe, `${root}/${modulePath}`], {
    cwd: root,
    env: process.env,
  });
  return JSON.parse(stdout) as { loaded: number; forbidden: string[] };
}

test('the client library never loads @temporalio/worker, the core bridge or the AWS SDK', async () => {
  const [client, control, storage] = await Promise.all([modulesLoadedBy('src/client/index.ts'), modulesLoadedBy('src/worker/pipeline-worker.ts'), modulesLoadedBy('src/storage/inputs.ts')]);
  assert.ok(client.loaded > 50, 'the probe sees the client’s CommonJS dependencies');
  assert.deepEqual(client.forbidden, []);
  // The same probe on the worker module must see the worker SDK, or it proves nothing.
  assert.ok(control.forbidden.some((path) => path.includes('@temporalio/worker')), 'the probe detects the worker SDK');
  assert.ok(control.forbidden.some((path) => path.includes('@temporalio/core-bridge')), 'the probe detects the native bridge');
  // The storage facade is where the AWS SDK lives: the probe must see it there.
  assert.ok(storage.forbidden.some((path) => path.includes('@aws-sdk/client-s3')), 'the probe detects the AWS SDK');
  assert.ok(!storage.forbidden.some((path) => path.includes('@temporalio/')), 'the storage facade loads no Temporal worker code');
});
