import { bundleWorkflowCode } from '@temporalio/worker';
import { ESLint } from 'eslint';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const root = fileURLToPath(new URL('../..', import.meta.url));

test('the workflows in src/workflows bundle for the Temporal sandbox', async () => {
  const bundle = await bundleWorkflowCode({ workflowsPath: fileURLToPath(new URL('../../src/workflows/index.ts', import.meta.url)), logger: quietLogger });
  assert.ok(bundle.code.length > 10_000);
  assert.match(bundle.code, /generationPipeline/);
});

test('lint keeps Node builtins and activity implementations out of workflow code', async () => {
  const eslint = new ESLint({ cwd: root });
  const source = [
    "import { readFileSync } from 'node:fs';",
    "import { createActivities } from '../activities/index.js';",
    "import type { Activities } from '../activities/index.js';",
    'export const x: Activities | undefined = undefined;',
    'export const y = [readFileSync, createActivities];',
    '',
  ].join('\n');
  const [result] = await eslint.lintText(source, { filePath: `${root}/src/workflows/lint-probe.ts` });
  const restricted = (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports');
  assert.deepEqual(restricted.map((m) => m.line), [1, 2], 'node:fs and the value import are flagged; the type import is not');
});

const quietLogger = {
  log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined,
  warn: (m: string) => console.warn(m), error: (m: string) => console.error(m),
};
