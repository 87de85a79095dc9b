/**
 * A lockfile for the client-package fixture, derived from the repository's own lockfile, so that
 * `npm ci --offline` installs the packed tarball and its dependencies from the npm cache that the
 * repository's `npm ci` filled: no registry request, the same versions the service is tested with.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  [field: string]: unknown;
}

interface Lockfile {
  packages: Record<string, LockEntry>;
}

/** Lock path of `name` as Node would find it from the package at `from` (nested first, then up). */
function resolveFrom(packages: Record<string, LockEntry>, from: string, name: string): string | undefined {
  let base = from;
  for (;;) {
    const candidate = `${base ? `${base}/` : ''}node_modules/${name}`;
    if (packages[candidate]) return candidate;
    if (!base) return undefined;
    const cut = base.lastIndexOf('/node_modules/');
    base = cut < 0 ? '' : base.slice(0, cut);
  }
}

export interface FixtureLockInput {
  rootLockfilePath: string;
  fixtureName: string;
  /** The tarball, as a path relative to the fixture folder. */
  tarballRelativePath: string;
  tarballPath: string;
  /** The packed package's package.json. */
  packageJson: { name: string; version: string; dependencies?: Record<string, string>; peerDependencies?: Record<string, string>; peerDependenciesMeta?: Record<string, unknown> };
  /** Further direct dependencies taken from the root lockfile (e.g. `@types/node`). */
  extra: Record<string, string>;
}

/** package.json and package-lock.json contents for the fixture. */
export function fixtureLockfile(input: FixtureLockInput): { packageJson: Record<string, unknown>; lockfile: Record<string, unknown> } {
  const root = JSON.parse(readFileSync(input.rootLockfilePath, 'utf8')) as Lockfile;
  const wanted = [...Object.keys(input.packageJson.dependencies ?? {}), ...Object.keys(input.extra)];
  const packages: Record<string, LockEntry> = {};
  const queue: string[] = [];
  for (const name of wanted) {
    const at = resolveFrom(root.packages, '', name);
    if (!at) throw new Error(`${name} is not in the repository's lockfile`);
    queue.push(at);
  }
  while (queue.length > 0) {
    const path = queue.pop()!;
    if (packages[path]) continue;
    const { dev: _dev, devOptional: _devOptional, peer: _peer, ...entry } = root.packages[path]!;
    packages[path] = entry;
    for (const name of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies })) {
      const found = resolveFrom(root.packages, path, name);
      if (found) queue.push(found);
    }
  }
  const integrity = `sha512-${createHash('sha512').update(readFileSync(input.tarballPath)).digest('base64')}`;
  const dependencies = { [input.packageJson.name]: `file:${input.tarballRelativePath}`, ...input.extra };
  const { name, version, dependencies: deps, peerDependencies, peerDependenciesMeta } = input.packageJson;
  return {
    packageJson: { name: input.fixtureName, version: '1.0.0', private: true, dependencies },
    lockfile: {
      name: input.fixtureName,
      version: '1.0.0',
      lockfileVersion: 3,
      requires: true,
      packages: {
        '': { name: input.fixtureName, version: '1.0.0', dependencies },
        [`node_modules/${name}`]: { version, resolved: `file:${input.tarballRelativePath}`, integrity, ...(deps ? { dependencies: deps } : {}), ...(peerDependencies ? { peerDependencies } : {}), ...(peerDependenciesMeta ? { peerDependenciesMeta } : {}) },
        ...packages,
      },
    },
  };
}
