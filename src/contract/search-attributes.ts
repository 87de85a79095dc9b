import { defineSearchAttributeKey } from '@temporalio/common';

/**
 * Custom search attributes the pipelines write, name → Temporal type. A Temporal server that runs
 * pipelines must have them registered (the local stack does it; see the README for production).
 */
export const PIPELINE_SEARCH_ATTRIBUTES = {
  /** The pipeline's own status (running, succeeded, failed, cancelled), for operator listings. */
  PipelineStatus: 'Keyword',
} as const;

/** Typed key of {@link PIPELINE_SEARCH_ATTRIBUTES}.PipelineStatus, for workflows and list queries. */
export const pipelineStatusSearchAttribute = defineSearchAttributeKey('PipelineStatus', 'KEYWORD');
