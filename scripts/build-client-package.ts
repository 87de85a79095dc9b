/**
 * Builds the backend's client package (packages/generation-pipelines): the client entry compiled
 * twice by tsc, once as CommonJS (for backends built with `module: commonjs`, `moduleResolution:
 * node`) and once as ES modules, each with its declarations. `--pack` also runs `npm pack` and
 * prints the tarball's path.
 *
 *   npx tsx scripts/build-client-package.ts [--pack] [--pack-destination DIR]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLIENT_PACKAGE_DIR = fileURLToPath(new URL('../packages/generation-pipelines', import.meta.url));

/** Compiles both builds; returns the package folder. */
export function buildClientPackage(): string {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  rmSync(join(CLIENT_PACKAGE_DIR, 'dist'), { recursive: true, force: true });
  for (const config of ['tsconfig.cjs.json', 'tsconfig.esm.json']) {
    execFileSync(process.execPath, [tsc, '-p', join(CLIENT_PACKAGE_DIR, config)], { stdio: 'inherit' });
  }
  // The package is "type": "module"; this marker makes Node read the CommonJS build as CommonJS.
  writeFileSync(join(CLIENT_PACKAGE_DIR, 'dist/cjs/package.json'), `${JSON.stringify({ type: 'commonjs' })}\n`);
  return CLIENT_PACKAGE_DIR;
}

/** Packs the built package into `destination`; returns the tarball's absolute path. */
export function packClientPackage(destination: string): string {
  mkdirSync(destination, { recursive: true });
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', destination], { cwd: CLIENT_PACKAGE_DIR, encoding: 'utf8' });
  const [packed] = JSON.parse(out) as { filename: string }[];
  if (!packed) throw new Error('npm pack reported no tarball');
  return join(destination, packed.filename);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  buildClientPackage();
  if (process.argv.includes('--pack')) {
    const at = process.argv.indexOf('--pack-destination');
    console.log(packClientPackage(at >= 0 ? process.argv[at + 1]! : join(CLIENT_PACKAGE_DIR, '../../.tmp/package')));
  }
}
