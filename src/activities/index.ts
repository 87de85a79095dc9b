import { createAwaitJob } from './await-job.js';
import { createCallbackTarget } from './callback-target.js';
import { createCancelJob } from './cancel-job.js';
import { createDeliverCallback } from './deliver-callback.js';
import type { ActivityDeps } from './deps.js';
import { createFetchJobResult } from './fetch-job-result.js';
import { createPersistOutputs } from './persist-outputs.js';
import { createPreparePipeline } from './prepare-pipeline.js';
import { createReadJobStatus } from './read-job.js';
import { createSubmitJob } from './submit-job.js';

export type { ActivityDeps, ActivitySettings, OutputStore, PipelineMetrics } from './deps.js';

/**
 * The pipeline's activities, one per external operation, closing over clients the worker made once.
 * The object keys are the activity types (wire names).
 */
export function createActivities(deps: ActivityDeps) {
  return {
    preparePipeline: createPreparePipeline(deps),
    submitJob: createSubmitJob(deps),
    awaitJob: createAwaitJob(deps),
    readJobStatus: createReadJobStatus(deps),
    fetchJobResult: createFetchJobResult(deps),
    persistOutputs: createPersistOutputs(deps),
    cancelJob: createCancelJob(deps),
    deliverCallback: createDeliverCallback(deps),
    callbackTarget: createCallbackTarget(deps),
  };
}

export type PipelineActivities = ReturnType<typeof createActivities>;
