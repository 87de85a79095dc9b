import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { DeploymentRegistryError, parseDeploymentRegistry } from './registry.js';
import type { DeploymentRegistry } from './registry.js';

/**
 * Loading the deployment registry from disk. The only module of `src/pipeline` that does I/O, so it
 * is NOT exported from `index.ts`: workflow code must never import it.
 */

function parseRegistryText(text: string, filePath: string): DeploymentRegistry {
  let document: unknown;
  try {
    document = JSON.parse(text) as unknown;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new DeploymentRegistryError([{ path: '', message: `not valid JSON (${reason})` }], filePath, { cause: error });
  }
  return parseDeploymentRegistry(document, filePath);
}

function readFailure(error: unknown, filePath: string): DeploymentRegistryError {
  const reason = error instanceof Error ? error.message : String(error);
  return new DeploymentRegistryError([{ path: '', message: `cannot read file (${reason})` }], filePath, { cause: error });
}

/**
 * Reads and validates a registry JSON file. Throws {@link DeploymentRegistryError} whose message
 * names the file, the JSON path of each problem and the reason.
 */
export async function loadRegistryFile(filePath: string): Promise<DeploymentRegistry> {
  let text: string;
  try {
    text = await readFile(filePath, 'utf8');
  } catch (error) {
    throw readFailure(error, filePath);
  }
  return parseRegistryText(text, filePath);
}

/** Synchronous {@link loadRegistryFile}, for start-up code that cannot await. */
export function loadRegistryFileSync(filePath: string): DeploymentRegistry {
  let text: string;
  try {
    text = readFileSync(filePath, 'utf8');
  } catch (error) {
    throw readFailure(error, filePath);
  }
  return parseRegistryText(text, filePath);
}
