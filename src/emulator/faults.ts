import { randomUUID } from 'node:crypto';
import { FAULT_KINDS, FAULT_OPERATIONS, type FaultOperation, type FaultRule, type FaultRuleSpec, type JobFailurePlan } from './admin-types.js';
import { validationError, type ValidationIssue } from './errors.js';
import { ERROR_SHAPES } from './settings.js';

const REQUEST_FAULT_KINDS = new Set<string>(FAULT_KINDS.filter((kind) => kind !== 'job_failure'));

/** Validates a fault rule body from the admin API. */
export function parseFaultSpec(body: unknown): FaultRuleSpec {
  const issues: ValidationIssue[] = [];
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw validationError('fault rule must be an object', [{ loc: ['body'], msg: 'expected an object', type: 'type_error' }]);
  const spec = body as Record<string, unknown>;
  const kinds: readonly string[] = FAULT_KINDS;
  if (typeof spec.kind !== 'string' || !kinds.includes(spec.kind)) issues.push({ loc: ['body', 'kind'], msg: `kind must be one of ${FAULT_KINDS.join(', ')}`, type: 'value_error' });
  const operations: readonly string[] = FAULT_OPERATIONS;
  if (spec.operations !== undefined && !(Array.isArray(spec.operations) && spec.operations.every((op) => typeof op === 'string' && operations.includes(op)))) {
    issues.push({ loc: ['body', 'operations'], msg: `operations must be a list of ${FAULT_OPERATIONS.join(', ')}`, type: 'value_error' });
  }
  if (spec.count !== undefined && spec.count !== null && !(typeof spec.count === 'number' && Number.isInteger(spec.count) && spec.count > 0)) {
    issues.push({ loc: ['body', 'count'], msg: 'count must be a positive integer or null (until removed)', type: 'value_error' });
  }
  if (spec.probability !== undefined && !(typeof spec.probability === 'number' && spec.probability >= 0 && spec.probability <= 1)) {
    issues.push({ loc: ['body', 'probability'], msg: 'probability must be between 0 and 1', type: 'value_error' });
  }
  for (const key of ['retryAfterSeconds', 'delayMs', 'truncateAfterBytes', 'errorCode', 'bytesPerSecond'] as const) {
    if (spec[key] !== undefined && !(typeof spec[key] === 'number' && spec[key] >= 0)) issues.push({ loc: ['body', key], msg: `${key} must be a non-negative number`, type: 'value_error' });
  }
  if (spec.statusCode !== undefined && !(typeof spec.statusCode === 'number' && Number.isInteger(spec.statusCode) && spec.statusCode >= 100 && spec.statusCode <= 599)) {
    issues.push({ loc: ['body', 'statusCode'], msg: 'statusCode must be an HTTP status', type: 'value_error' });
  }
  if (spec.kind === 'server_error' && spec.statusCode !== undefined && ![500, 502, 503, 504].includes(spec.statusCode as number)) {
    issues.push({ loc: ['body', 'statusCode'], msg: 'server_error statusCode must be 500, 502, 503 or 504', type: 'value_error' });
  }
  if (spec.failure !== undefined) {
    const failure = spec.failure as Partial<JobFailurePlan> | null;
    const shapes: readonly string[] = ERROR_SHAPES;
    if (typeof failure !== 'object' || failure === null || (failure.kind !== 'transient' && failure.kind !== 'permanent') || (failure.errorShape !== undefined && !shapes.includes(failure.errorShape))) {
      issues.push({ loc: ['body', 'failure'], msg: 'failure must be {kind: transient|permanent, errorShape?: array|object|string, message?}', type: 'value_error' });
    }
  }
  if (issues.length > 0) throw validationError('Invalid fault rule', issues);
  return spec as unknown as FaultRuleSpec;
}

/**
 * Fault rules in force. A request-phase rule is consulted once per API request (after routing,
 * before authentication); a `job_failure` rule once per accepted job. Rules apply in the order
 * they were added; the first matching one wins and is used up after `count` applications.
 */
export class FaultRegistry {
  private rules: FaultRule[] = [];

  constructor(private readonly random: () => number) {}

  add(spec: FaultRuleSpec): FaultRule {
    const rule: FaultRule = { ...spec, id: randomUUID(), remaining: spec.count === null ? null : (spec.count ?? 1), hits: 0, hitTimesMs: [] };
    this.rules.push(rule);
    return rule;
  }

  list(): FaultRule[] {
    return this.rules.map((rule) => ({ ...rule, hitTimesMs: [...rule.hitTimesMs] }));
  }

  remove(id: string): boolean {
    const before = this.rules.length;
    this.rules = this.rules.filter((rule) => rule.id !== id);
    return this.rules.length !== before;
  }

  clear(): void {
    this.rules = [];
  }

  /** The request fault to apply to this operation, if any (consumes one application). */
  takeRequestFault(operation: FaultOperation, deploymentId: string | undefined): FaultRule | undefined {
    if (this.rules.length === 0) return undefined;
    return this.take((rule) => REQUEST_FAULT_KINDS.has(rule.kind) && this.matchesOperation(rule, operation) && this.matchesDeployment(rule, deploymentId));
  }

  /** The failure planned for a new job of this deployment, if a job_failure rule applies. */
  takeJobFailure(deploymentId: string): JobFailurePlan | undefined {
    if (this.rules.length === 0) return undefined;
    const rule = this.take((candidate) => candidate.kind === 'job_failure' && this.matchesDeployment(candidate, deploymentId));
    return rule ? (rule.failure ?? { kind: 'transient' }) : undefined;
  }

  private matchesOperation(rule: FaultRule, operation: FaultOperation): boolean {
    if (rule.kind === 'lost_response') return operation === 'submit';
    if (rule.kind === 'truncated_download') return operation === 'download';
    return rule.operations === undefined || rule.operations.includes(operation);
  }

  private matchesDeployment(rule: FaultRule, deploymentId: string | undefined): boolean {
    return rule.deploymentId === undefined || rule.deploymentId === deploymentId;
  }

  private take(matches: (rule: FaultRule) => boolean): FaultRule | undefined {
    for (const rule of this.rules) {
      if (!matches(rule)) continue;
      if (rule.probability !== undefined && rule.probability < 1 && this.random() >= rule.probability) continue;
      rule.hits++;
      rule.hitTimesMs.push(Date.now());
      if (rule.hitTimesMs.length > 100) rule.hitTimesMs.shift();
      if (rule.remaining !== null) {
        rule.remaining--;
        if (rule.remaining <= 0) this.rules = this.rules.filter((candidate) => candidate !== rule);
      }
      return rule;
    }
    return undefined;
  }
}
