// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

export default tseslint.config(
  // Built workflow bundles kept as test fixtures are generated code.
  { ignores: ['dist/', 'node_modules/', 'results/', 'test/fixtures/workflow-bundles/', 'packages/*/dist/', 'test/fixtures/client-package/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { console: 'readonly', process: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', URL: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
    },
  },
  {
    // Workflow code runs in Temporal's deterministic sandbox: no Node builtins, no I/O libraries,
    // and activities only as types (their implementations must never be bundled).
    files: ['src/workflows/**/*.ts', 'src/contract/**/*.ts', 'src/pipeline/**/*.ts'],
    // The registry file loader is the one pipeline module that reads from disk; workflows never import it.
    ignores: ['src/pipeline/registry-file.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'Node builtins are not available in the workflow sandbox.' })),
          patterns: [
            { group: ['undici', '@aws-sdk/*', '@temporalio/worker', '@temporalio/client', '@temporalio/activity', 'prom-client'], message: 'I/O libraries do not belong in workflow code.' },
            { group: ['**/activities/*', '**/activities'], allowTypeImports: true, message: 'Import activities with `import type` only.' },
            { group: ['**/runcomfy/*', '**/storage/*', '**/emulator/*', '**/devstack/*', '**/config', '**/config.js'], allowTypeImports: true, message: 'Workflow code may only import types from I/O modules.' },
          ],
        },
      ],
    },
  },
);
