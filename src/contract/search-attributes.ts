import { defineSearchAttributeKey } from '@temporalio/common';

/**
 * Custom search attributes the pipelines write, name → Temporal type. A Temporal server that runs
 * pipelines must have them registered (the local stack does it; see the README for production).
 */
export const PIPELINE_SEARCH_ATTRIBUTES = {
  /** The pipeline's own status (running, succeeded, failed, cancelled), for operator listings. */
  PipelineStatus: 'Keyword',
  /** The backend's user id (correlation.userId), so `list({ userId })` and `rcp list --user` find a user's pipelines. */
  PipelineUserId: 'Keyword',
  /** The backend's character id (correlation.characterId). */
  PipelineCharacterId: 'Keyword',
  /** The spec's labels as `key=value` entries. */
  PipelineLabels: 'KeywordList',
} as const;

/** Typed key of {@link PIPELINE_SEARCH_ATTRIBUTES}.PipelineStatus, for workflows and list queries. */
export const pipelineStatusSearchAttribute = defineSearchAttributeKey('PipelineStatus', 'KEYWORD');

/** Typed key of {@link PIPELINE_SEARCH_ATTRIBUTES}.PipelineUserId. */
export const pipelineUserIdSearchAttribute = defineSearchAttributeKey('PipelineUserId', 'KEYWORD');
/** Typed key of {@link PIPELINE_SEARCH_ATTRIBUTES}.PipelineCharacterId. */
export const pipelineCharacterIdSearchAttribute = defineSearchAttributeKey('PipelineCharacterId', 'KEYWORD');
/** Typed key of {@link PIPELINE_SEARCH_ATTRIBUTES}.PipelineLabels. */
export const pipelineLabelsSearchAttribute = defineSearchAttributeKey('PipelineLabels', 'KEYWORD_LIST');
