/** Human output of a campaign: faults and outcomes as tables, then every violation. */
import type { ChaosSummary } from './campaign.js';

function table(title: string, rows: [string, number | string][]): string {
  const width = Math.max(title.length, ...rows.map(([k]) => k.length));
  return [`${title.padEnd(width)}  count`, `${'-'.repeat(width)}  -----`, ...rows.map(([k, v]) => `${k.padEnd(width)}  ${String(v).padStart(5)}`)].join('\n');
}

export function renderSummary(s: ChaosSummary): string {
  const faults = Object.entries(s.faults).sort(([a], [b]) => a.localeCompare(b)) as [string, number][];
  const totalFaults = faults.reduce((n, [, c]) => n + c, 0);
  const lines = [
    '',
    `chaos campaign: seed ${s.seed}, ${s.minutes} min, ${s.pipelines} pipelines, ${totalFaults} faults of ${faults.length} kinds, ${s.durationSeconds} s in all`,
    '',
    table('fault', [...faults, ['total', totalFaults]]),
    '',
    table('outcome', Object.entries(s.outcomes).sort(([a], [b]) => a.localeCompare(b))),
    '',
    `jobs accepted but unknown to the service (lost answers): ${s.orphanJobs}`,
    `waiting (webhooks ${s.waiting.webhooks ? 'on' : 'off'}): job end → read, ${s.waiting.quietJobs} of ${s.waiting.jobsMeasured} jobs with no fault near them: p50 ${s.waiting.quietLatencyMs.p50} ms, p95 ${s.waiting.quietLatencyMs.p95} ms, max ${s.waiting.quietLatencyMs.max} ms`,
    ...(s.waiting.slowestQuiet ? [`slowest quiet job: ${s.waiting.slowestQuiet.requestId} (${s.waiting.slowestQuiet.pipelineId}) read ${s.waiting.slowestQuiet.latencyMs} ms after its end; webhooks: ${s.waiting.slowestQuiet.deliveries ?? '?'}`] : []),
    `status reads ${s.waiting.statusReads} (${s.waiting.nudgedReads} prompted by a nudge); forged webhook calls ${s.waiting.forgedCalls}; longest history ${s.waiting.maxHistoryEvents.events} events (${s.waiting.maxHistoryEvents.signals} signals, ${s.waiting.maxHistoryEvents.pipelineId})`,
    `callbacks invariant: ${s.callbacks === 'pending' ? 'pending (backend callbacks are not available yet)' : 'checked'}`,
    '',
  ];
  if (s.violations.length === 0) lines.push('no violation');
  else {
    lines.push(`${s.violations.length} violation(s):`);
    for (const v of s.violations) lines.push(`- [${v.invariant}] ${v.pipelineId}: ${v.evidence}`);
    lines.push('', `replay: ${s.replay}`);
  }
  return lines.join('\n');
}
