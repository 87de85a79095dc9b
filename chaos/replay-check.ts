/**
 * The `replays` invariant: every pipeline's history, as the campaign's workers wrote it, replays
 * against the workflow code those workers ran (the campaign's own bundle). A history that does not
 * replay strands its pipeline the moment another worker has to pick it up — after a crash, a deploy
 * or a cache eviction — so this finds the fault without having to kill a worker at the right moment.
 */
import type { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { workflowSourceOptions } from '../src/worker/workflow-code.js';

export interface ReplayProblem {
  pipelineId: string;
  evidence: string;
}

type History = temporal.api.history.v1.IHistory;

/** Workflow id → pipeline id (`pipeline-<id>`). */
const pipelineOf = (workflowId: string): string => workflowId.replace(/^pipeline-/, '');

/** The workflow code to replay on: the campaign's prebuilt bundle, or the sources (tests). */
export type WorkflowCode = { bundlePath: string } | { workflowsPath: string };

export async function checkReplays(code: WorkflowCode, histories: ReadonlyMap<string, History>): Promise<ReplayProblem[]> {
  if (histories.size === 0) return [];
  async function* feed(): AsyncGenerator<{ workflowId: string; history: History }> {
    for (const [workflowId, history] of histories) yield { workflowId, history };
  }
  const problems: ReplayProblem[] = [];
  for await (const result of Worker.runReplayHistories('bundlePath' in code ? { workflowBundle: { codePath: code.bundlePath } } : { ...workflowSourceOptions(), workflowsPath: code.workflowsPath }, feed())) {
    if (!result.error) continue;
    const text = String(result.error);
    const detail = /Details: (.*)/s.exec(text)?.[1] ?? text;
    problems.push({ pipelineId: pipelineOf(result.workflowId), evidence: `its history does not replay on the code that wrote it: ${detail.replace(/\s+/g, ' ').slice(0, 400)}` });
  }
  return problems;
}
