import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = fileURLToPath(new URL('../..', import.meta.url));

// Imports a module in a fresh process and lists every loaded module of the worker SDK or its native
// bridge. Both are CommonJS, so whichever way they are reached (import or require), the CommonJS
// loader records them in require.cache.
const probe = `
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
await import(pathToFileURL(process.argv[1]).href);
const loaded = Object.keys(createRequire(import.meta.url).cache);
const forbidden = loaded.filter((path) => /[\\\\/]@temporalio[\\\\/](worker|core-bridge)[\\\\/]/.test(path));
process.stdout.write(JSON.stringify({ loaded: loaded.length, forbidden }));
`;

async function modulesLoadedBy(modulePath: string): Promise<{ loaded: number; forbidden: string[] }> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', probe, `${root}/${modulePath}`], {
    cwd: root,
    env: process.env,
  });
  return JSON.parse(stdout) as { loaded: number; forbidden: string[] };
}

test('the client library never loads @temporalio/worker or the core bridge', async () => {
  const [client, control] = await Promise.all([modulesLoadedBy('src/client/index.ts'), modulesLoadedBy('src/pipeline-worker.ts')]);
  assert.ok(client.loaded > 50, 'the probe sees the client’s CommonJS dependencies');
  assert.deepEqual(client.forbidden, []);
  // The same probe on the worker module must see the worker SDK, or it proves nothing.
  assert.ok(control.forbidden.some((path) => path.includes('@temporalio/worker')), 'the probe detects the worker SDK');
  assert.ok(control.forbidden.some((path) => path.includes('@temporalio/core-bridge')), 'the probe detects the native bridge');
});
