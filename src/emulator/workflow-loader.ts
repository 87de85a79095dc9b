import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { isApiFormatWorkflow, type WorkflowGraph } from './workflow-graph.js';

/** A workflow file that became a deployment. */
export interface LoadedWorkflow {
  /** File name without `.json`: the deployment's name and workflow_id. */
  name: string;
  file: string;
  graph: WorkflowGraph;
}

/** What a workflows folder held. */
export interface WorkflowFolder {
  workflows: LoadedWorkflow[];
  skipped: { file: string; reason: string }[];
  /** Node classes merged from every object_info*.json file, served as the deployments' object_info_url. */
  objectInfo: Record<string, unknown>;
}

function isObjectInfoFile(fileName: string): boolean {
  return /^object_info.*\.json$/i.test(fileName);
}

function isEditorFormat(value: unknown): boolean {
  return typeof value === 'object' && value !== null && 'nodes' in value && 'links' in value;
}

/**
 * Reads every `*.json` file of `dir` (not recursive, sorted by name). API-format workflows become
 * deployments; object_info dumps, editor-format (UI) files and anything else are skipped with a
 * log line saying why.
 */
export async function loadWorkflowFolder(dir: string, log: (line: string) => void): Promise<WorkflowFolder> {
  const names = (await readdir(dir)).filter((name) => name.toLowerCase().endsWith('.json')).sort();
  const folder: WorkflowFolder = { workflows: [], skipped: [], objectInfo: {} };
  for (const fileName of names) {
    const file = path.join(dir, fileName);
    const skip = (reason: string): void => {
      folder.skipped.push({ file, reason });
      log(`emulator: skipping ${fileName}: ${reason}`);
    };
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(file, 'utf8')) as unknown;
    } catch (error) {
      skip(`not valid JSON (${(error as Error).message})`);
      continue;
    }
    if (isObjectInfoFile(fileName)) {
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) Object.assign(folder.objectInfo, parsed);
      skip('object_info schema, not a workflow (served as object_info_url)');
      continue;
    }
    if (isEditorFormat(parsed)) {
      skip('editor (UI) format with nodes/links; export it in API format');
      continue;
    }
    if (!isApiFormatWorkflow(parsed)) {
      skip('not an API-format workflow (expected node id -> {class_type, inputs})');
      continue;
    }
    folder.workflows.push({ name: fileName.slice(0, -'.json'.length), file, graph: parsed });
  }
  return folder;
}
