/**
 * Decides whether a failed ComfyUI job may succeed if submitted again. RunComfy reports failures in
 * free text, so this reads the words: resource and infrastructure trouble is transient; a bad graph,
 * a bad input or a missing model fails the same way every time and must not spend more GPU time.
 */
const PERMANENT = [
  /validation/i,
  /invalid/i,
  /not in list/i,
  /required input/i,
  /missing/i,
  /not found/i,
  /no such file/i,
  /unsupported/i,
  /cannot identify image/i,
  /bad request/i,
  /422/,
];
const TRANSIENT = [
  /out of memory/i,
  /\boom\b/i,
  /cuda/i,
  /timed? ?out/i,
  /timeout/i,
  /instance/i,
  /worker (?:lost|died|crash)/i,
  /preempt/i,
  /connection/i,
  /unavailable/i,
  /temporar/i,
  /internal/i,
  /5\d\d/,
  /try again/i,
];

export function isTransientJobFailure(message: string | undefined, code?: string): boolean {
  const text = `${code ?? ''} ${message ?? ''}`;
  if (PERMANENT.some((pattern) => pattern.test(text))) return false;
  return TRANSIENT.some((pattern) => pattern.test(text));
}
