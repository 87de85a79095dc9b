/**
 * The benchmark's headline table: every figure issue 15 sets a goal for, polling | webhooks |
 * baseline side by side, with the goal and whether this run met it. A goal that names a mode
 * ("with webhooks", "with polling alone") is judged on that mode's column; any other goal on every
 * column measured. A figure this run did not measure shows "–" and "not measured".
 */
import type { BenchReport } from './run.js';
import type { StackUsage } from './measure.js';
import type { ModeFigures } from './mode-figures.js';
import type { ScaleLevel } from './section-scale.js';
import { GIB, MIB } from './stats.js';

export interface IssueRow {
  figure: string;
  polling: string | null;
  webhooks: string | null;
  baseline: string | null;
  target: string;
  /** yes / no / not measured / – (no goal). */
  met: string;
}

type Judge = { column: 'polling' | 'webhooks' | 'all'; pass: (value: number) => boolean } | null;

function verdict(judge: Judge, values: { polling: number | null | undefined; webhooks: number | null | undefined }): string {
  if (!judge) return '–';
  const judged = judge.column === 'all' ? [values.polling, values.webhooks] : [values[judge.column]];
  const measured = judged.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  if (measured.length === 0) return 'not measured';
  return measured.every(judge.pass) ? 'yes' : 'no';
}

const ms = (v: number | null | undefined): string | null => (v === null || v === undefined || !Number.isFinite(v) ? null : `${Math.round(v)} ms`);
const fixed = (v: number | null | undefined, digits: number, unit = ''): string | null => (v === null || v === undefined || !Number.isFinite(v) ? null : `${v.toFixed(digits)}${unit}`);
const mb = (bytes: number | null | undefined): string | null => (bytes === null || bytes === undefined ? null : `${Math.round(bytes / 1e6)} MB`);

function stepCell(f: ModeFigures | undefined): string | null {
  if (!f) return null;
  const s = f.stepOverheadMs;
  return `${s.p50} / ${s.p99} ms (${s.detectP50} + ${s.persistP50} + ${s.handoffP50})`;
}

function history(f: ModeFigures | undefined): string | null {
  return f?.historyEvents ? `${f.historyEvents.min} / ${f.historyEvents.median} / ${f.historyEvents.max}` : null;
}

/** Marks a webhooks-column cell measured while no webhook reached the worker (it measured polling). */
export const NOT_IN_EFFECT_MARK = ' †';

export function issueTable(report: BenchReport): IssueRow[] {
  const rows: IssueRow[] = [];
  // Which source's webhooks column really had webhooks; set before each group of rows.
  let webhooksInEffect = true;
  const add = (figure: string, cells: { polling?: string | null; webhooks?: string | null; baseline?: string | null }, target: string, judge: Judge, values: { polling?: number | null; webhooks?: number | null } = {}): void => {
    const webhooks = cells.webhooks == null ? null : `${cells.webhooks}${webhooksInEffect ? '' : NOT_IN_EFFECT_MARK}`;
    let met = verdict(judge, { polling: values.polling, webhooks: values.webhooks });
    if (!webhooksInEffect && judge?.column === 'webhooks' && met !== 'not measured') met = `${met} (no webhooks delivered)`;
    rows.push({ figure, polling: cells.polling ?? null, webhooks, baseline: cells.baseline ?? null, target, met });
  };
  const o = report.overhead;
  const p = o?.figures.polling;
  const w = o?.figures.webhooks;
  webhooksInEffect = w?.webhooks?.inEffect ?? true;
  const b = o?.figures.baseline;
  const shape = o ? `${o.settings.pipelines} chains of 4 × ${o.settings.jobMs / 1000} s jobs at once, ${o.settings.pollIntervalMs / 1000} s polls` : 'overhead section';
  add(`end-to-end ÷ plain script (${shape})`, { polling: fixed(p?.endToEndOverBaseline, 3, '×'), webhooks: fixed(w?.endToEndOverBaseline, 3, '×'), baseline: b ? '1.000×' : null }, '≤ 1.05× with polling alone', { column: 'polling', pass: (v) => v <= 1.05 }, {
    polling: p?.endToEndOverBaseline,
    webhooks: w?.endToEndOverBaseline,
  });
  add('start → first submit p50', { polling: ms(p?.startToFirstSubmitP50Ms), webhooks: ms(w?.startToFirstSubmitP50Ms), baseline: ms(b?.startToFirstSubmitP50Ms) }, '< 100 ms', { column: 'all', pass: (v) => v < 100 }, {
    polling: p?.startToFirstSubmitP50Ms,
    webhooks: w?.startToFirstSubmitP50Ms,
  });
  add('step overhead p50 / p99 (detect + persist + hand-off at p50)', { polling: stepCell(p), webhooks: stepCell(w), baseline: stepCell(b) }, 'p99 < 250 ms with webhooks', { column: 'webhooks', pass: (v) => v < 250 }, {
    polling: p?.stepOverheadMs.p99,
    webhooks: w?.stepOverheadMs.p99,
  });

  const s = report.scale;
  const level = (mode: 'polling' | 'webhooks'): ScaleLevel | undefined => {
    const of = (s?.levels ?? []).filter((l) => l.mode === mode);
    return of.find((l) => l.pipelines === 500) ?? of.at(-1);
  };
  const [sp, sw] = [level('polling'), level('webhooks')];
  webhooksInEffect = sw?.webhooks?.inEffect ?? true;
  const scaleShape = s ? `${(sp ?? sw)?.pipelines ?? '?'} in flight, ${s.settings.jobMs / 1000} s jobs, started ${s.settings.startRatePerSecond === 'all at once' ? 'all at once' : `${s.settings.startRatePerSecond}/s`}` : '500 in flight';
  const p99 = (l: ScaleLevel | undefined): number | undefined => (l && l.completionRatio === 1 ? l.analysis.stepOverheadMs.p99 : undefined);
  const scaleCell = (l: ScaleLevel | undefined): string | null => (l ? `${fixed(l.analysis.stepOverheadMs.p99 / 1000, 2, ' s')}${l.completionRatio < 1 ? ` (${l.succeeded}/${l.pipelines} done)` : ''}` : null);
  add(`step overhead p99, ${scaleShape}`, { polling: scaleCell(sp), webhooks: scaleCell(sw) }, '< 1 s with webhooks', { column: 'webhooks', pass: (v) => v < 1000 }, { polling: p99(sp), webhooks: p99(sw) });

  add('worker + Temporal server CPU-s per 4-step pipeline (overhead)', { polling: fixed(p?.cpuSecondsPerPipeline.total, 3), webhooks: fixed(w?.cpuSecondsPerPipeline.total, 3), baseline: fixed(b?.cpuSecondsPerPipeline.total, 3) }, '≤ 0.15 CPU-s', { column: 'all', pass: (v) => v <= 0.15 }, {
    // Without the server's CPU (an external server) the figure is not the one the goal is about.
    polling: p?.cpuSecondsPerPipeline.temporalServer == null ? null : p.cpuSecondsPerPipeline.total,
    webhooks: w?.cpuSecondsPerPipeline.temporalServer == null ? null : w.cpuSecondsPerPipeline.total,
  });
  const cpuPerPipeline = (l: ScaleLevel | undefined): number | null => (l && l.cpuMsPerPipeline.worker !== null && l.cpuMsPerPipeline.temporalServer !== null ? (l.cpuMsPerPipeline.worker + l.cpuMsPerPipeline.temporalServer) / 1000 : null);
  add(`  the same at scale (${scaleShape})`, { polling: fixed(cpuPerPipeline(sp), 3), webhooks: fixed(cpuPerPipeline(sw), 3) }, '≤ 0.15 CPU-s', { column: 'all', pass: (v) => v <= 0.15 }, { polling: cpuPerPipeline(sp), webhooks: cpuPerPipeline(sw) });

  const st = report.steady;
  webhooksInEffect = st?.webhooks?.inEffect ?? true;
  const steadyCell = (value: string | null): { polling?: string | null; webhooks?: string | null } => (st ? { [st.settings.mode]: value } : {});
  const steadyValue = (value: number | null | undefined): { polling?: number | null; webhooks?: number | null } => (st ? { [st.settings.mode]: value } : {});
  const steadyShape = st ? `${st.settings.pipelines.toLocaleString('en-US')} pipelines, ${st.settings.jobMs / 60_000}-minute jobs` : '1,000 pipelines, 10-minute jobs';
  add(`worker peak RSS, ${steadyShape} in flight`, steadyCell(mb(st?.workerPeakRssBytes)), '< 600 MB', { column: 'all', pass: (v) => v < 600e6 }, steadyValue(st?.workerPeakRssBytes));
  add('  worker steady RSS (median over the sample)', steadyCell(mb(st?.steady.workerRssBytes?.median)), '–', null);
  add('  idle worker RSS (fresh process)', steadyCell(mb(st?.idleWorkerRssBytes)), '–', null);
  add('  worker CPU while steady', steadyCell(fixed(st?.steady.workerCpuPercent, 1, '%')), '–', null);
  add('  Temporal server CPU while steady', steadyCell(fixed(st?.steady.temporalServerCpuPercent, 1, '%')), '–', null);
  const slots = st ? Object.entries(st.steady.slotsUsed).map(([name, range]) => `${name.replace(/^.*worker_type=(\w+)\}?$/, '$1')} ${range.max}`).join(', ') : null;
  add('  task slots in use (max)', steadyCell(slots || (st ? 'not exposed' : null)), '–', null);
  add('  time to start them all', steadyCell(st ? `${(st.startPhaseMs / 1000).toFixed(0)} s (all waiting after ${st.allWaitingAfterMs === null ? 'never' : `${(st.allWaitingAfterMs / 1000).toFixed(0)} s`})` : null), '–', null);

  add(`status reads per job-minute, steady (${steadyShape})`, steadyCell(fixed(st?.steady.statusReadsPerJobMinute, 2)), '≤ 1 with webhooks (backstop only)', { column: 'webhooks', pass: (v) => v <= 1 }, steadyValue(st?.steady.statusReadsPerJobMinute));
  webhooksInEffect = sw?.webhooks?.inEffect ?? true;
  add(`status reads per job-minute, ${scaleShape}`, { polling: fixed(sp?.statusReadsPerJobMinute, 2), webhooks: fixed(sw?.statusReadsPerJobMinute, 2) }, '–', null);
  webhooksInEffect = w?.webhooks?.inEffect ?? true;
  add(`status reads per job-minute (${shape})`, { polling: fixed(p?.statusReadsPerJobMinute, 1), webhooks: fixed(w?.statusReadsPerJobMinute, 1), baseline: fixed(b?.statusReadsPerJobMinute, 1) }, '–', null);
  add('history events per 4-step pipeline, min / median / max', { polling: history(p), webhooks: history(w) }, '–', null);
  const received = w?.webhooks ? `${w.webhooks.deliveries} delivered${w.webhooks.received ? `, received ${Object.entries(w.webhooks.received).map(([k, v]) => `${k} ${v}`).join(', ')}` : ''}` : null;
  add('webhooks delivered to the worker (overhead)', { webhooks: received ?? (w ? '0' : null) }, '–', null);

  // The machine is shared: how much of it other work took while each figure was measured.
  const others = (windows: readonly (StackUsage | undefined)[]): string | null => {
    const cores = windows.map((usage) => usage?.otherProcesses?.cores).filter((v): v is number => typeof v === 'number');
    return cores.length === 0 ? null : `${(cores.reduce((a, b) => a + b, 0) / cores.length).toFixed(2)} cores`;
  };
  const runsOf = (who: string): StackUsage[] => (o?.runs ?? []).filter((run) => (run.mode ?? run.orchestrator) === who).map((run) => run.usage);
  add('other work on the shared machine during the overhead runs (of 2 cores)', { polling: others(runsOf('polling')), webhooks: others(runsOf('webhooks')), baseline: others(runsOf('baseline')) }, '–', null);
  add('  … during the scale level', { polling: others([sp?.usage]), webhooks: others([sw?.usage]) }, '–', null);
  add('  … during the steady sample', steadyCell(others([st?.steady.usage])), '–', null);

  webhooksInEffect = true;
  const c = report.copy?.sizes.find((m) => m.bytes === GIB) ?? report.copy?.sizes[0];
  const copyShape = !c ? '1 GiB' : c.bytes % GIB === 0 ? `${c.bytes / GIB} GiB` : `${Math.round(c.bytes / MIB)} MiB`;
  add(`copy ${copyShape}: throughput ÷ raw upload of the same bytes`, { polling: c ? `${Math.round((c.persistOverRaw ?? Number.NaN) * 100)}% (${c.worker.persistMiBps} vs ${c.raw.MiBps} MiB/s)` : null }, '≥ 85%', { column: 'polling', pass: (v) => v >= 0.85 }, { polling: c?.persistOverRaw ?? null });
  const cpuRatio = c && c.worker.cpuSecondsPerGiB !== null && c.raw.cpuSecondsPerGiB ? c.worker.cpuSecondsPerGiB / c.raw.cpuSecondsPerGiB : null;
  add(`copy ${copyShape}: CPU-s per GiB, worker vs raw`, { polling: c ? `${c.worker.cpuSecondsPerGiB} vs ${c.raw.cpuSecondsPerGiB} (${fixed(cpuRatio, 2, '×')})` : null }, '≤ 1.3× raw\'s', { column: 'polling', pass: (v) => v <= 1.3 }, { polling: cpuRatio });
  return rows;
}

export function printIssueTable(rows: readonly IssueRow[] | undefined): void {
  if (!rows || rows.length === 0) return;
  const headers = ['figure', 'polling', 'webhooks', 'baseline', 'target', 'met?'];
  const cells = rows.map((row) => [row.figure, row.polling ?? '–', row.webhooks ?? '–', row.baseline ?? '–', row.target, row.met]);
  const widths = headers.map((header, i) => Math.max(header.length, ...cells.map((row) => row[i]!.length)));
  const line = (row: string[]): string => row.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ');
  const lines = ['\n== Issue 15 figures (copy rows: one worker configuration, shown under polling)', line(headers), widths.map((width) => '-'.repeat(width)).join('-|-'), ...cells.map(line)];
  if (rows.some((row) => row.webhooks?.endsWith(NOT_IN_EFFECT_MARK))) lines.push(`${NOT_IN_EFFECT_MARK.trim()} no webhook reached the worker in that run (a worker without a receiver): the column measured polling with the webhook settings set`);
  console.log(lines.join('\n'));
}

/** The same table as Markdown (written next to the JSON), for the README's performance table. */
export function issueTableMarkdown(rows: readonly IssueRow[], command: string): string {
  const escape = (cell: string): string => cell.replaceAll('|', '\\|');
  const lines = ['| figure | polling | webhooks | baseline | target | met? |', '|---|---|---|---|---|---|'];
  for (const row of rows) lines.push(`| ${[row.figure.trim(), row.polling ?? '–', row.webhooks ?? '–', row.baseline ?? '–', row.target, row.met].map(escape).join(' | ')} |`);
  if (rows.some((row) => row.webhooks?.endsWith(NOT_IN_EFFECT_MARK))) lines.push('', `${NOT_IN_EFFECT_MARK.trim()} no webhook reached the worker in that run: the column measured polling with the webhook settings set.`);
  return `${lines.join('\n')}\n\n\`${command}\`\n`;
}
