import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * Workflow code imports src/pipeline (through index.ts), so every module there except the file
 * loader must run in Temporal's deterministic sandbox: zod and relative imports only, no Node globals.
 */
const pipelineDir = fileURLToPath(new URL('../../src/pipeline/', import.meta.url));
const ioModule = 'registry-file.ts';

describe('src/pipeline sandbox safety', () => {
  it('imports only zod and sibling modules, and never touches Node globals', async () => {
    const files = (await readdir(pipelineDir)).filter((name) => name.endsWith('.ts') && name !== ioModule);
    assert.ok(files.includes('index.ts'));
    for (const file of files) {
      const source = await readFile(`${pipelineDir}${file}`, 'utf8');
      const specifiers = [...source.matchAll(/\bfrom\s+'([^']+)'|\bimport\(\s*'([^']+)'\s*\)/g)].map((match) => match[1] ?? match[2]);
      for (const specifier of specifiers) {
        assert.ok(specifier === 'zod' || (specifier?.startsWith('./') && specifier !== `./${ioModule.replace('.ts', '.js')}`), `${file} imports ${specifier}`);
      }
      assert.doesNotMatch(source, /\bprocess\.|\bBuffer\b|\brequire\(|\bsetTimeout\(|\bDate\.now\(|\bMath\.random\(/, `${file} uses a Node or non-deterministic global`);
    }
  });
});
