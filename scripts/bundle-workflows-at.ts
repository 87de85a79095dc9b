/**
 * Builds the workflow bundle of an earlier commit, for tests that start a pipeline on the workflow
 * code of that commit and finish it on today's (the patched() branches must keep it running).
 *
 *   tsx scripts/bundle-workflows-at.ts <commit> <outFile>
 *
 * Reads the commit's `src/` from this repository's own git history into a temporary folder (with
 * this checkout's node_modules) and bundles its workflows the way a worker does.
 */
import { bundleWorkflowCode } from '@temporalio/worker';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const [commit, out] = process.argv.slice(2);
if (!commit || !out) {
  console.error('usage: tsx scripts/bundle-workflows-at.ts <commit> <outFile>');
  process.exit(2);
}
const root = fileURLToPath(new URL('..', import.meta.url));
const sha = execFileSync('git', ['rev-parse', '--verify', `${commit}^{commit}`], { cwd: root, encoding: 'utf8' }).trim();
const dir = mkdtempSync(join(tmpdir(), 'rcp-workflows-'));
try {
  const archive = execFileSync('git', ['archive', '--format=tar', sha, 'src', 'package.json', 'tsconfig.json'], { cwd: root, maxBuffer: 256 * 1024 * 1024 });
  execFileSync('tar', ['-x', '-C', dir], { input: archive });
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  const quiet = { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: (m: string) => console.warn(m), error: (m: string) => console.error(m) };
  const { code } = await bundleWorkflowCode({ workflowsPath: join(dir, 'src/workflows/index.ts'), logger: quiet });
  // An empty inline source map instead of the full one (most of the size): the worker requires one,
  // and the fixture is for running, not for debugging.
  const emptyMap = Buffer.from(JSON.stringify({ version: 3, sources: [], names: [], mappings: '' })).toString('base64');
  const lean = code.replace(/\n\/\/# sourceMappingURL=data:[^\n]*\n?$/, `\n//# sourceMappingURL=data:application/json;charset=utf-8;base64,${emptyMap}\n`);
  writeFileSync(resolve(out), `// Workflow bundle of commit ${sha} (src/workflows), built by scripts/bundle-workflows-at.ts.\n${lean}`);
  console.log(`workflow bundle of ${sha.slice(0, 12)}: ${out} (${Math.round(Buffer.byteLength(lean) / 1024)} KiB)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
