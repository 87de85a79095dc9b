// Every workflow the worker registers; the export names are the workflow types (wire names).
export { generationPipeline } from './generation-pipeline.js';
export { pipelineCallbacks } from './callback-outbox.js';
