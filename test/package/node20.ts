/**
 * Node binaries for the client-package test: a Node 20 for the CommonJS fixture (the backend runs
 * on Node 20, whatever Node runs the tests) and Node 22+ binaries for ES module consumers.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { toolCacheDir } from '../../src/devstack/tool-paths.js';

function majorOf(path: string): number | undefined {
  try {
    const version = execFileSync(path, ['--version'], { encoding: 'utf8' }).trim();
    return Number(/^v(\d+)\./.exec(version)?.[1]);
  } catch {
    return undefined;
  }
}

function candidates(): string[] {
  const cache = toolCacheDir();
  const provisioned = existsSync(cache) ? readdirSync(cache).filter((name) => name.startsWith('node-v')).map((name) => join(cache, name, 'bin', 'node')) : [];
  const all = [
    process.env.RCP_NODE20,
    '/usr/bin/node',
    '/usr/local/bin/node',
    ...(process.env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, 'node')),
    process.execPath,
    ...provisioned,
  ].filter((path): path is string => typeof path === 'string' && path !== '' && existsSync(path));
  return [...new Set(all)];
}

/** A Node 20 binary: `RCP_NODE20`, the system's, then every `node` on PATH. */
export function findNode20(): string | undefined {
  return candidates().find((path) => majorOf(path) === 20);
}

/** One binary per Node major from 22 up that this machine has (this process's, the project's provisioned one…). */
export function findModernNodes(): { path: string; major: number }[] {
  const byMajor = new Map<number, string>();
  for (const path of candidates()) {
    const major = majorOf(path);
    if (major !== undefined && major >= 22 && !byMajor.has(major)) byMajor.set(major, path);
  }
  return [...byMajor].map(([major, path]) => ({ major, path }));
}
