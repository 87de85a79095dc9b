import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cachedTemporalCliPath, MissingToolError, resolveTemporalCli, TEMPORAL_CLI_VERSION } from '../../src/devstack/tool-paths.js';

test('a missing Temporal CLI is one clear message that says how to provide it', (t) => {
  const emptyCache = mkdtempSync(join(tmpdir(), 'rcp-empty-cache-'));
  t.after(() => rmSync(emptyCache, { recursive: true, force: true }));
  const env = { PATH: '', RCP_CACHE_DIR: emptyCache };
  assert.throws(
    () => resolveTemporalCli(env),
    (error: unknown) => {
      assert.ok(error instanceof MissingToolError);
      assert.equal(error.code, 'MISSING_TOOL');
      assert.match(error.message, /npm run provision/);
      assert.match(error.message, /TEMPORAL_CLI_PATH/);
      assert.ok(error.message.includes(cachedTemporalCliPath(env)), 'names where the build goes');
      assert.ok(error.message.includes(TEMPORAL_CLI_VERSION));
      return true;
    },
  );
});

test('TEMPORAL_CLI_PATH that is not executable is refused by name', () => {
  assert.throws(() => resolveTemporalCli({ TEMPORAL_CLI_PATH: '/nonexistent/temporal', PATH: '' }), /TEMPORAL_CLI_PATH=\/nonexistent\/temporal is not an executable/);
});
