import type { WorkflowHandle } from '@temporalio/client';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const HISTORIES_DIR = fileURLToPath(new URL('../fixtures/histories', import.meta.url));

/**
 * With RCP_RECORD_HISTORIES=1, keeps the history of a finished run as a replay fixture: the replay
 * test then fails CI when a workflow change would break running pipelines.
 */
export async function recordHistory(handle: WorkflowHandle, name: string): Promise<void> {
  if (process.env['RCP_RECORD_HISTORIES'] !== '1') return;
  const history = await handle.fetchHistory();
  mkdirSync(HISTORIES_DIR, { recursive: true });
  writeFileSync(`${HISTORIES_DIR}/${name}.json`, JSON.stringify(history, null, 1));
}
