/**
 * The per-job webhook token: an HMAC-SHA256, under the first configured secret, of a versioned
 * canonical string naming the workflow, the step and the attempt. RunComfy echoes the URL back, so
 * the receiver learns from the token alone which workflow to nudge, and nobody without a secret can
 * make it nudge anything. The token authenticates the coordinates only, never the payload: the
 * workflow reads status through the API, so a replayed or reordered event can at most wake it early.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Bumped if the canonical form ever changes; older tokens then stop verifying (by design). */
const TOKEN_VERSION = 'rcp-webhook-v1';

/** The coordinates a token signs: exactly the fields a nudge needs to reach its step. */
export interface WebhookTokenSubject {
  workflowId: string;
  stepId: string;
  attempt: number;
}

/** Query parameter names of a webhook URL. */
export const WEBHOOK_QUERY = { workflowId: 'wf', stepId: 'step', attempt: 'attempt', token: 'token' } as const;

/**
 * JSON of an array: unambiguous whatever characters the ids hold (a separator-joined string would
 * let `a|b` + `c` collide with `a` + `b|c`).
 */
function canonical(subject: WebhookTokenSubject): string {
  return JSON.stringify([TOKEN_VERSION, subject.workflowId, subject.stepId, subject.attempt]);
}

function mac(secret: string, subject: WebhookTokenSubject): Buffer {
  return createHmac('sha256', secret).update(canonical(subject)).digest();
}

/** The token of a job, signed with `secrets[0]`, base64url. */
export function webhookToken(secrets: readonly string[], subject: WebhookTokenSubject): string {
  const signing = secrets[0];
  if (signing === undefined) throw new Error('WEBHOOK_SECRETS: no secret to sign with');
  return mac(signing, subject).toString('base64url');
}

/**
 * Whether `token` is the token of `subject` under any configured secret. Constant time per secret:
 * every secret is tried (no early exit on a match), and a token of the wrong length is compared
 * against a same-length buffer so its rejection costs the same and never throws.
 */
export function verifyWebhookToken(secrets: readonly string[], subject: WebhookTokenSubject, token: string): boolean {
  const presented = Buffer.from(token, 'utf8');
  let ok = false;
  for (const secret of secrets) {
    const wanted = Buffer.from(mac(secret, subject).toString('base64url'), 'utf8');
    const sameLength = presented.length === wanted.length;
    const equal = timingSafeEqual(sameLength ? presented : wanted, wanted) && sameLength;
    ok = equal || ok;
  }
  return ok;
}

/** `<public url>?wf=..&step=..&attempt=..&token=..`: the URL RunComfy POSTs a job's events to. */
export function webhookUrlFor(settings: { publicUrl: string; secrets: readonly string[] }, subject: WebhookTokenSubject): string {
  const query = new URLSearchParams({
    [WEBHOOK_QUERY.workflowId]: subject.workflowId,
    [WEBHOOK_QUERY.stepId]: subject.stepId,
    [WEBHOOK_QUERY.attempt]: String(subject.attempt),
    [WEBHOOK_QUERY.token]: webhookToken(settings.secrets, subject),
  });
  return `${settings.publicUrl}?${query.toString()}`;
}

/** Reads the coordinates and token out of a webhook URL's query; undefined when any is missing or malformed. */
export function parseWebhookQuery(search: URLSearchParams): { subject: WebhookTokenSubject; token: string } | undefined {
  const workflowId = search.get(WEBHOOK_QUERY.workflowId);
  const stepId = search.get(WEBHOOK_QUERY.stepId);
  const attemptText = search.get(WEBHOOK_QUERY.attempt);
  const token = search.get(WEBHOOK_QUERY.token);
  if (!workflowId || !stepId || !attemptText || !token) return undefined;
  if (!/^[1-9][0-9]{0,8}$/.test(attemptText) || token.length > 128 || workflowId.length > 1000 || stepId.length > 1000) return undefined;
  return { subject: { workflowId, stepId, attempt: Number(attemptText) }, token };
}

/** A URL with its query removed, for logs and errors: the query carries the token. */
export function withoutQuery(url: string): string {
  const at = url.search(/[?#]/);
  return at < 0 ? url : `${url.slice(0, at)}?[redacted]`;
}
