/**
 * The backend's ids on the Temporal side: search attributes written at start (so visibility
 * queries find a user's pipelines), the memo they are read back from, and list clauses.
 */
import type { SearchAttributePair } from '@temporalio/common';
import { integrationIssues, isUuid, type Correlation } from '../pipeline/integration.js';
import type { PipelineSpecIssue } from '../pipeline/errors.js';
import type { PipelineSpec } from '../pipeline/spec.js';
import { pipelineCharacterIdSearchAttribute, pipelineLabelsSearchAttribute, pipelineUserIdSearchAttribute } from '../contract/search-attributes.js';
import type { PipelineListFilter } from './types.js';

/** Deployment settings `start` checks a spec against; see the worker's OUTPUT_KEY_PREFIXES and CALLBACK_ALLOWED_HOSTS. */
export interface IntegrationChecks {
  /** Prefixes an `outputKeyTemplate` must start with; without them, templates are checked by the worker only. */
  allowedKeyPrefixes?: readonly string[];
  /** Hosts (`host` or `host:port`) a spec's `callback.url` may name. */
  callbackHosts?: readonly string[];
}

/** Issues of `spec` against the deployment's settings, as spec issues. */
export function integrationIssuesOf(spec: PipelineSpec, checks: IntegrationChecks): PipelineSpecIssue[] {
  return integrationIssues(spec, checks);
}

/** Search attributes that carry the spec's correlation ids and labels. */
export function correlationAttributes(spec: PipelineSpec): SearchAttributePair[] {
  const pairs: SearchAttributePair[] = [];
  if (spec.correlation?.userId) pairs.push({ key: pipelineUserIdSearchAttribute, value: spec.correlation.userId.toLowerCase() });
  if (spec.correlation?.characterId) pairs.push({ key: pipelineCharacterIdSearchAttribute, value: spec.correlation.characterId.toLowerCase() });
  const labels = Object.entries(spec.labels ?? {}).map(([key, value]) => `${key}=${value}`);
  if (labels.length > 0) pairs.push({ key: pipelineLabelsSearchAttribute, value: labels });
  return pairs;
}

/** A string literal of Temporal's list-filter language. */
function quoted(value: string): string {
  return `'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}

/** Visibility clauses for the correlation part of a list filter; throws on a malformed id. */
export function correlationClauses(filter: PipelineListFilter): string[] {
  const clauses: string[] = [];
  if (filter.userId !== undefined) {
    if (!isUuid(filter.userId)) throw new RangeError('userId must be a UUID');
    clauses.push(`${pipelineUserIdSearchAttribute.name} = ${quoted(filter.userId.toLowerCase())}`);
  }
  if (filter.characterId !== undefined) {
    if (!isUuid(filter.characterId)) throw new RangeError('characterId must be a UUID');
    clauses.push(`${pipelineCharacterIdSearchAttribute.name} = ${quoted(filter.characterId.toLowerCase())}`);
  }
  for (const [key, value] of Object.entries(filter.labels ?? {})) {
    clauses.push(`${pipelineLabelsSearchAttribute.name} = ${quoted(`${key}=${value}`)}`);
  }
  return clauses;
}

/** The correlation ids kept in a pipeline's memo, when it has any. */
export function correlationOfMemo(memo: Record<string, unknown>): { correlation?: Correlation } {
  const value = memo.correlation;
  if (typeof value !== 'object' || value === null) return {};
  const { userId, characterId } = value as Record<string, unknown>;
  const correlation: Correlation = {
    ...(typeof userId === 'string' ? { userId } : {}),
    ...(typeof characterId === 'string' ? { characterId } : {}),
  };
  return Object.keys(correlation).length > 0 ? { correlation } : {};
}
