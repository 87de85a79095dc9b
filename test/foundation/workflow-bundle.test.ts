import { bundleWorkflowCode } from '@temporalio/worker';
import { ESLint } from 'eslint';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { sharedWorkflowModules, workflowBundleOptions } from '../../src/worker/workflow-code.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

test('the workflows in src/workflows bundle for the Temporal sandbox, with the shared modules preloaded', async () => {
  const bundle = await bundleWorkflowCode({ ...workflowBundleOptions(), logger: quietLogger });
  assert.ok(bundle.code.length > 10_000);
  assert.match(bundle.code, /generationPipeline/);
  // Each listed module is really loaded before the first workflow (a module the bundler finds free
  // of side effects, like a bare 'zod', would be dropped from the list without a word).
  const preload = /exports\.preloadModules = function preloadModules\(\) \{([^}]*)\}/.exec(bundle.code)?.[1] ?? '';
  for (const path of sharedWorkflowModules) {
    const id = `./${path.slice(root.length).replaceAll('\\', '/')}`;
    assert.ok(preload.includes(JSON.stringify(id)), `${id} is preloaded`);
  }
});

/**
 * What the SDK freezes when modules are shared: every value reachable from their exports through
 * own properties (getters included), as its deep freeze walks them.
 */
function reachable(root: unknown): unknown[] {
  const seen = new Set<unknown>();
  const pending = [root];
  while (pending.length > 0) {
    const value = pending.pop();
    if (value === null || (typeof value !== 'object' && typeof value !== 'function') || seen.has(value)) continue;
    seen.add(value);
    if (typeof value === 'function') continue;
    for (const key of Reflect.ownKeys(value)) pending.push((value as Record<PropertyKey, unknown>)[key]);
  }
  return [...seen];
}

test('shared workflow modules export no zod schema: frozen, a schema fails on its first parse', async () => {
  // The listed modules and everything of the pipeline domain they may pull in.
  const modules = [...sharedWorkflowModules, fileURLToPath(new URL('../../src/pipeline/index.ts', import.meta.url))];
  const offenders: string[] = [];
  for (const path of modules) {
    const exports = (await import(path)) as Record<string, unknown>;
    for (const [name, value] of Object.entries(exports)) {
      if (name === 'sharedZod') continue; // zod's own namespace: its classes and tables, no schema
      if (reachable(value).some((v) => typeof v === 'object' && v !== null && '_zod' in v)) offenders.push(`${path.slice(root.length)}: ${name}`);
    }
  }
  assert.deepEqual(offenders, []);
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
