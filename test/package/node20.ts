/**
 * Finds a Node 20 binary for the client-package fixture: the backend runs on Node 20, whatever
 * Node runs the tests. `RCP_NODE20` first, then the system locations, then every `node` on PATH.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export function findNode20(): string | undefined {
  const candidates = [
    process.env.RCP_NODE20,
    '/usr/bin/node',
    '/usr/local/bin/node',
    ...(process.env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, 'node')),
    process.execPath,
  ].filter((path): path is string => typeof path === 'string' && path !== '');
  for (const path of new Set(candidates)) {
    if (!existsSync(path)) continue;
    try {
      if (execFileSync(path, ['--version'], { encoding: 'utf8' }).trim().startsWith('v20.')) return path;
    } catch {
      // Not runnable: try the next one.
    }
  }
  return undefined;
}
