import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
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

test('the Temporal CLI the project builds reports its real version, not 0.0.0-DEV', () => {
  const executable = resolveTemporalCli();
  // A CLI from PATH or TEMPORAL_CLI_PATH is the user's own; only the project's build is checked.
  if (executable !== cachedTemporalCliPath()) return;
  const version = execFileSync(executable, ['--version'], { encoding: 'utf8' });
  assert.match(version, new RegExp(`^temporal version ${TEMPORAL_CLI_VERSION.slice(1).replace(/\./g, '\\.')} `));
});
