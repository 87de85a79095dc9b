/**
 * Issue 15's table judges each goal on the column it names, says "not measured" for a section that
 * did not run, and never lets a webhooks figure measured without webhook deliveries pass silently.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { issueTable, issueTableMarkdown, NOT_IN_EFFECT_MARK, type IssueRow } from '../../bench/issue-table.js';
import type { ModeFigures } from '../../bench/mode-figures.js';
import type { BenchReport } from '../../bench/run.js';

function figures(overrides: { endToEnd?: number; p99?: number; cpu?: number; delivered?: number }): ModeFigures {
  return {
    pipelines: 10,
    endToEndP50Ms: 12_000,
    endToEndOverBaseline: overrides.endToEnd ?? 1.02,
    startToFirstSubmitP50Ms: 80,
    stepOverheadMs: { p50: 100, p95: 150, p99: overrides.p99 ?? 200, detectP50: 40, persistP50: 40, handoffP50: 20 },
    cpuSecondsPerPipeline: { worker: 0.05, temporalServer: 0.05, total: overrides.cpu ?? 0.1 },
    statusReadsPerJob: 2,
    statusReadsPerJobMinute: 48,
    historyEvents: { count: 10, min: 60, median: 62, max: 64 },
    webhooks: overrides.delivered === undefined ? null : { attempts: overrides.delivered, deliveries: overrides.delivered, failures: 0, received: null, inEffect: overrides.delivered > 0 },
  };
}

function reportWith(overhead: { polling: ModeFigures; webhooks?: ModeFigures }): BenchReport {
  const baseline = { ...figures({}), endToEndOverBaseline: null, cpuSecondsPerPipeline: { worker: 0.03, temporalServer: null, total: 0.03 } };
  return {
    command: 'npm run bench',
    startedAt: '2026-11-30T00:00:00Z',
    errors: [],
    overhead: { settings: { pipelines: 10, jobMs: 2500, pollIntervalMs: 1000 }, figures: { ...overhead, baseline } },
  } as unknown as BenchReport;
}

const row = (rows: IssueRow[], prefix: string): IssueRow => {
  const found = rows.find((r) => r.figure.startsWith(prefix));
  assert.ok(found, `a row "${prefix}…"`);
  return found;
};

test('a goal naming a mode is judged on that column only; others on every mode measured', () => {
  const rows = issueTable(reportWith({ polling: figures({ endToEnd: 1.04, p99: 900, cpu: 0.2 }), webhooks: figures({ endToEnd: 1.2, p99: 180, cpu: 0.1, delivered: 40 }) }));
  assert.equal(row(rows, 'end-to-end ÷ plain script').met, 'yes', 'polling alone meets ≤ 1.05× even though the webhooks column does not');
  assert.equal(row(rows, 'step overhead p50 / p99').met, 'yes', 'p99 < 250 ms is judged with webhooks');
  assert.equal(row(rows, 'worker + Temporal server CPU-s').met, 'no', 'an unqualified goal must hold in every mode');
  assert.equal(row(rows, 'step overhead p50 / p99').webhooks, '100 / 180 ms (40 + 40 + 20)');
  assert.equal(row(rows, 'worker peak RSS').met, 'not measured', 'the steady section did not run');
  assert.equal(row(rows, 'copy 1 GiB: throughput').met, 'not measured');
});

test('webhooks figures measured while no webhook was delivered are marked and never pass quietly', () => {
  const rows = issueTable(reportWith({ polling: figures({}), webhooks: figures({ p99: 180, delivered: 0 }) }));
  const step = row(rows, 'step overhead p50 / p99');
  assert.ok(step.webhooks?.endsWith(NOT_IN_EFFECT_MARK));
  assert.equal(step.met, 'yes (no webhooks delivered)');
  assert.match(issueTableMarkdown(rows, 'npm run bench'), /no webhook reached the worker/);
});

test('the Markdown table has one line per row and escapes pipes', () => {
  const rows = issueTable(reportWith({ polling: figures({}) }));
  const markdown = issueTableMarkdown(rows, 'npm run bench -- --sections overhead');
  const tableLines = markdown.split('\n').filter((line) => line.startsWith('|'));
  assert.equal(tableLines.length, rows.length + 2);
  assert.ok(tableLines.every((line) => line.split(/(?<!\\)\|/).length === 8), 'six cells on every line');
  assert.match(markdown, /`npm run bench -- --sections overhead`\n$/);
});
