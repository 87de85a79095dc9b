import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';

/** The Temporal CLI version the project builds: later versions carry a `replace` directive and cannot be `go install`ed. */
export const TEMPORAL_CLI_VERSION = 'v1.5.1' as const;

/** Binaries the local stack needs, for a clear message when one is missing. */
export class MissingToolError extends Error {
  override readonly name = 'MissingToolError';
  readonly code = 'MISSING_TOOL';
  constructor(
    readonly tool: string,
    readonly howToProvide: string,
  ) {
    super(`${tool} is not installed. ${howToProvide}`);
  }
}

/**
 * Cache folder for binaries built once per machine, outside any checkout so that fresh clones
 * (CI) reuse them. Overridable with RCP_CACHE_DIR at the entry points.
 */
export function toolCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env['RCP_CACHE_DIR']) return env['RCP_CACHE_DIR'];
  const base = env['XDG_CACHE_HOME'] || join(homedir(), '.cache');
  return join(base, 'runcomfy-pipelines');
}

/** Build revision of the cached CLI: r2 stamps the real version (older builds said 0.0.0-DEV). Keep in step with scripts/provision.sh. */
export const TEMPORAL_CLI_BUILD = 'r2' as const;

export function cachedTemporalCliPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(toolCacheDir(env), `temporal-cli-${TEMPORAL_CLI_VERSION}-${TEMPORAL_CLI_BUILD}`, 'temporal');
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Finds an executable on PATH, or undefined. */
export function findOnPath(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env['PATH'] ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** A `temporal` on PATH is used only if it has the dev server with the flags the harness passes. */
function isCompatibleTemporalCli(path: string): boolean {
  try {
    const help = execFileSync(path, ['server', 'start-dev', '--help'], { encoding: 'utf8', timeout: 15_000 });
    return help.includes('--db-filename') && help.includes('--search-attribute') && help.includes('--http-port');
  } catch {
    return false;
  }
}

/**
 * Resolves the Temporal CLI: TEMPORAL_CLI_PATH, then a compatible `temporal` on PATH, then the
 * project's cached build. Throws MissingToolError with the way to provide it.
 */
export function resolveTemporalCli(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env['TEMPORAL_CLI_PATH'];
  if (explicit) {
    if (!isExecutable(explicit)) throw new MissingToolError('Temporal CLI', `TEMPORAL_CLI_PATH=${explicit} is not an executable file.`);
    return explicit;
  }
  const cached = cachedTemporalCliPath(env);
  if (isExecutable(cached)) return cached;
  const onPath = findOnPath('temporal', env);
  if (onPath && isCompatibleTemporalCli(onPath)) return onPath;
  throw new MissingToolError(
    'Temporal CLI (dev server)',
    `Run \`npm run provision\` (needs Go; builds github.com/temporalio/cli ${TEMPORAL_CLI_VERSION} into ${cached}), ` +
      'or put a `temporal` CLI on PATH, or set TEMPORAL_CLI_PATH.',
  );
}

/** The Ceph daemons that make the local S3 server. */
export const CEPH_BINARIES = ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'monmaptool', 'ceph'] as const;

export function resolveCephBinaries(env: NodeJS.ProcessEnv = process.env): Record<(typeof CEPH_BINARIES)[number], string> {
  const found: Partial<Record<(typeof CEPH_BINARIES)[number], string>> = {};
  const missing: string[] = [];
  for (const name of CEPH_BINARIES) {
    const path = findOnPath(name, env) ?? (isExecutable(`/usr/bin/${name}`) ? `/usr/bin/${name}` : undefined);
    if (path) found[name] = path;
    else missing.push(name);
  }
  if (missing.length > 0) {
    throw new MissingToolError(
      `Ceph RADOS Gateway (${missing.join(', ')})`,
      'Run `npm run provision` (installs the Debian packages radosgw ceph-mon ceph-osd with apt-get), ' +
        'or install them with your package manager.',
    );
  }
  return found as Record<(typeof CEPH_BINARIES)[number], string>;
}
