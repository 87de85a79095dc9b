/** The benchmark's stdout tables and the panels of its SVG chart. */
import type { HistogramDelta } from './prom-text.js';
import type { BenchReport } from './run.js';
import { formatBytes, MIB } from './stats.js';
import type { BarPanel } from './svg-chart.js';

function table(title: string, headers: string[], rows: (string | number | null | undefined)[][]): string {
  const cells = rows.map((row) => row.map((cell) => (cell === null || cell === undefined || (typeof cell === 'number' && !Number.isFinite(cell)) ? '–' : String(cell))));
  const widths = headers.map((header, i) => Math.max(header.length, ...cells.map((row) => row[i]?.length ?? 0)));
  const line = (row: string[]): string => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [`\n== ${title}`, line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

const seconds = (ms: number | null | undefined): string | null => (ms === null || ms === undefined || !Number.isFinite(ms) ? null : (ms / 1000).toFixed(2));
const mib = (bytes: number | null | undefined): string | null => (bytes === null || bytes === undefined ? null : (bytes / MIB).toFixed(0));

/** The Temporal core histogram whose name ends with `suffix`. */
function histogram(histograms: Record<string, HistogramDelta>, suffix: string): HistogramDelta | undefined {
  return Object.entries(histograms).find(([name]) => name.endsWith(suffix))?.[1];
}

export function printReport(report: BenchReport): void {
  const out: string[] = [];
  const o = report.overhead;
  if (o) {
    const rows: (string | number | null)[][] = [
      ['end-to-end p50 / p95 (s)', `${seconds(o.temporal.endToEndMs.p50)} / ${seconds(o.temporal.endToEndMs.p95)}`, `${seconds(o.baseline.endToEndMs.p50)} / ${seconds(o.baseline.endToEndMs.p95)}`],
      ['sum of job run times p50 (s)', seconds(o.temporal.jobTimeMs.p50), seconds(o.baseline.jobTimeMs.p50)],
      ['end-to-end ÷ job time p50', o.temporal.endToEndOverJobTime.p50, o.baseline.endToEndOverJobTime.p50],
      ['start → first submit p50 (ms)', o.temporal.startToFirstSubmitMs.p50, o.baseline.startToFirstSubmitMs.p50],
      ['step overhead p50/p95/p99 (ms)', `${o.temporal.stepOverheadMs.p50}/${o.temporal.stepOverheadMs.p95}/${o.temporal.stepOverheadMs.p99}`, `${o.baseline.stepOverheadMs.p50}/${o.baseline.stepOverheadMs.p95}/${o.baseline.stepOverheadMs.p99}`],
      ['  after detection p50/p95/p99 (ms)', `${o.temporal.afterDetectMs.p50}/${o.temporal.afterDetectMs.p95}/${o.temporal.afterDetectMs.p99}`, `${o.baseline.afterDetectMs.p50}/${o.baseline.afterDetectMs.p95}/${o.baseline.afterDetectMs.p99}`],
    ];
    for (const transition of Object.keys(o.temporal.byTransition)) {
      const t = o.temporal.byTransition[transition]!;
      const b = o.baseline.byTransition[transition];
      rows.push([`  ${transition} p50/p95/p99 (ms)`, `${t.totalMs.p50}/${t.totalMs.p95}/${t.totalMs.p99}`, b ? `${b.totalMs.p50}/${b.totalMs.p95}/${b.totalMs.p99}` : null]);
      rows.push([`    detect + persist + hand-off p50`, `${t.detectMs.p50} + ${t.persistMs.p50} + ${t.handoffMs.p50}`, b ? `${b.detectMs.p50} + ${b.persistMs.p50} + ${b.handoffMs.p50}` : null]);
    }
    rows.push(['status reads per job', o.statusReadsPerJob.temporal, o.statusReadsPerJob.baseline]);
    const ours = o.runs.filter((run) => run.orchestrator === 'temporal');
    const base = o.runs.filter((run) => run.orchestrator === 'baseline');
    rows.push(['orchestrator CPU (s, all rounds)', ours.reduce((s, r) => s + (r.usage.worker.cpu?.cpuSeconds ?? 0), 0).toFixed(1), base.reduce((s, r) => s + (r.baselineProcess?.cpuSeconds ?? 0), 0).toFixed(1)]);
    const mean = (suffix: string): string | null => {
      const values = ours.map((run) => (run.workerMetrics ? histogram(run.workerMetrics.histograms, suffix)?.mean : undefined)).filter((v): v is number => typeof v === 'number');
      return values.length === 0 ? null : (values.reduce((a, b) => a + b, 0) / values.length).toFixed(1);
    };
    rows.push(['worker: WFT sched→start / exec mean (ms)', `${mean('workflow_task_schedule_to_start_latency')} / ${mean('workflow_task_execution_latency')}`, null]);
    rows.push(['worker: activity sched→start mean (ms)', mean('activity_schedule_to_start_latency'), null]);
    rows.push(['Temporal dev server CPU (s)', ours.reduce((s, r) => s + (r.usage.temporalServer?.cpuSeconds ?? 0), 0).toFixed(1), base.reduce((s, r) => s + (r.usage.temporalServer?.cpuSeconds ?? 0), 0).toFixed(1)]);
    out.push(table(`Overhead per step: ${o.settings.pipelines} chains × ${o.settings.rounds} rounds, ${o.settings.jobMs} ms jobs, ${o.settings.pollIntervalMs} ms polls`, ['', 'pipeline (Temporal)', 'baseline script'], rows));
    out.push(`ours (${o.settings.modes[0]}) ÷ baseline end-to-end: median ${o.ratios.endToEndMedian}×, mean ${o.ratios.endToEndMean}×, p95 ${o.ratios.endToEndP95}× (target ≤ 1.05×)`);
    const w = o.modes.webhooks;
    if (w && o.settings.modes[0] !== 'webhooks') {
      out.push(`with webhooks: ÷ baseline median ${w.ratios.endToEndMedian}×; step overhead p50/p95/p99 ${w.temporal.stepOverheadMs.p50}/${w.temporal.stepOverheadMs.p95}/${w.temporal.stepOverheadMs.p99} ms; webhooks delivered ${o.figures.webhooks?.webhooks?.deliveries ?? 0}`);
    }
  }
  const s = report.scale;
  if (s) {
    out.push(
      table(
        `Scale, latency: one worker, ${s.settings.jobMs} ms jobs, ${s.settings.pollIntervalMs === 'default' ? 'default polling' : `${s.settings.pollIntervalMs} ms polls`}, started ${s.settings.startRatePerSecond === 'all at once' ? 'all at once' : `at ${s.settings.startRatePerSecond}/s`} (step overhead = job end → next submit; after-detect = persist + hand-off)`,
        ['in flight', 'mode', 'ok', 'wall s', 'pipelines/min', 'step p50', 'p95', 'p99 ms', 'after-detect p50', 'p99 ms', 'e2e÷job p50', 'reads/job-min', 'WFT sched→start mean ms', 'activity sched→start mean ms', 'WFT exec mean ms'],
        s.levels.map((l) => [
          l.pipelines,
          l.mode,
          `${l.succeeded}${l.timedOut ? ' (timeout)' : ''}`,
          seconds(l.wallMs),
          l.pipelinesPerMinute,
          l.analysis.stepOverheadMs.p50,
          l.analysis.stepOverheadMs.p95,
          l.analysis.stepOverheadMs.p99,
          l.analysis.afterDetectMs.p50,
          l.analysis.afterDetectMs.p99,
          l.analysis.endToEndOverJobTime.p50,
          l.statusReadsPerJobMinute,
          histogram(l.workerMetrics.histograms, 'workflow_task_schedule_to_start_latency')?.mean,
          histogram(l.workerMetrics.histograms, 'activity_schedule_to_start_latency')?.mean,
          histogram(l.workerMetrics.histograms, 'workflow_task_execution_latency')?.mean,
        ]),
      ),
    );
    out.push(
      table(
        'Scale, resources (cores: CPU ÷ wall time over the level; the machine has 2, shared with other work)',
        ['in flight', 'mode', 'worker cores', 'worker peak RSS MiB', 'dev server cores', 'emulator cores', 'S3 cores', 'machine busy', 'other processes', 'cpu-ms/pipeline: worker', 'dev server', 'whole stack', 'WFT slots used max', 'sticky cache max', 'loop lag max s'],
        s.levels.map((l) => [
          l.pipelines,
          l.mode,
          l.usage.worker.cpu?.cores,
          mib(l.usage.worker.memory?.peakRssBytes),
          l.usage.temporalServer?.cores,
          l.usage.emulator?.cores,
          l.usage.s3Server?.cores,
          l.usage.machine?.cores,
          l.usage.otherProcesses?.cores,
          l.cpuMsPerPipeline.worker,
          l.cpuMsPerPipeline.temporalServer,
          l.cpuMsPerPipeline.stack,
          l.workerMetrics.gauges['temporal_worker_task_slots_used{worker_type=WorkflowWorker}']?.max,
          l.workerMetrics.gauges['temporal_sticky_cache_size']?.max,
          l.workerMetrics.gauges['rcp_worker_nodejs_eventloop_lag_max_seconds']?.max?.toFixed(2),
        ]),
      ),
    );
    out.push(`largest level with every pipeline done and p99 step overhead < 2 s: ${s.largestLevelMeetingTarget ?? 'none'}`);
  }
  const a = report.api;
  if (a) {
    const rows = [...a.byStep.map((r) => ({ ...r, label: `api step ${r.label}` })), ...a.runs];
    out.push(
      table(
        `API economy (default polling: ${a.settings.pollInitialIntervalMs} ms growing 1.5×, capped at min(${a.settings.pollMaxIntervalMs} ms, run budget ÷ 40))`,
        ['run', 'jobs', 'reads', 'reads/job', 'reads/job-min', 'interval ms', 'minimum/job', 'observed÷min', 'schedule/job'],
        rows.map((r) => [r.label, r.jobs, r.statusReads, r.readsPerJob, r.readsPerJobMinute, r.detectionIntervalMs, r.minimumReadsPerJob, r.readsOverMinimum, r.scheduleReadsPerJob]),
      ),
    );
  }
  const c = report.copy;
  if (c) {
    out.push(
      table(
        `Copy: part ${c.settings.partSizeMib} MiB × queue ${c.settings.queueSize}`,
        ['size', 'persist s', 'MiB/s', 'stream s', 'stream MiB/s', 'server copy s', 'CopyObject alone s', 'worker RSS growth MiB', 'worker cpu-s/GiB', 'source dl MiB/s', 'raw upload MiB/s', 'raw RSS growth MiB', 'raw cpu-s/GiB', 'persist÷raw', 'stream÷raw'],
        c.sizes.map((m) => [
          formatBytes(m.bytes),
          seconds(m.worker.persistMs),
          m.worker.persistMiBps,
          seconds(m.worker.streamPhaseMs),
          m.worker.streamMiBps,
          seconds(m.worker.serverCopyMs),
          seconds(m.worker.copyObjectMs),
          mib(m.worker.usage.worker.memory?.peakGrowthBytes),
          m.worker.cpuSecondsPerGiB,
          m.sourceDownload.MiBps,
          m.raw.MiBps,
          mib(m.raw.rssGrowthBytes),
          m.raw.cpuSecondsPerGiB,
          m.persistOverRaw,
          m.streamOverRaw,
        ]),
      ),
    );
    out.push('targets: worker RSS growth < 200 MB for 4 GiB; persist throughput ≥ 80% of raw');
  }
  for (const error of report.errors) out.push(`\nERROR in ${error.section}: ${error.message}`);
  console.log(out.join('\n'));
}

export function reportPanels(report: BenchReport): BarPanel[] {
  const panels: BarPanel[] = [];
  const o = report.overhead;
  if (o) {
    const transitions = Object.keys(o.temporal.byTransition);
    panels.push({
      title: 'Overhead per step: job end → next submit',
      unit: 'ms',
      categories: transitions,
      series: [
        { name: 'pipeline p50', values: transitions.map((t) => o.temporal.byTransition[t]?.totalMs.p50) },
        { name: 'pipeline p99', values: transitions.map((t) => o.temporal.byTransition[t]?.totalMs.p99) },
        ...(o.modes.webhooks && o.settings.modes[0] !== 'webhooks'
          ? [
              { name: 'webhooks p50', values: transitions.map((t) => o.modes.webhooks?.temporal.byTransition[t]?.totalMs.p50) },
              { name: 'webhooks p99', values: transitions.map((t) => o.modes.webhooks?.temporal.byTransition[t]?.totalMs.p99) },
            ]
          : []),
        { name: 'baseline p50', values: transitions.map((t) => o.baseline.byTransition[t]?.totalMs.p50) },
        { name: 'baseline p99', values: transitions.map((t) => o.baseline.byTransition[t]?.totalMs.p99) },
      ],
      note: `${o.settings.pipelines}×${o.settings.rounds} chains, ${o.settings.jobMs} ms jobs, ${o.settings.pollIntervalMs} ms polls; end-to-end ours÷baseline = ${o.ratios.endToEndMedian}× (median)`,
    });
  }
  const s = report.scale;
  if (s) {
    const categories = s.levels.map((l) => `${l.pipelines} ${l.mode}`);
    panels.push({
      title: 'Scale: step overhead vs pipelines in flight',
      unit: 'ms',
      categories,
      series: [
        { name: 'p50', values: s.levels.map((l) => l.analysis.stepOverheadMs.p50) },
        { name: 'p95', values: s.levels.map((l) => l.analysis.stepOverheadMs.p95) },
        { name: 'p99', values: s.levels.map((l) => l.analysis.stepOverheadMs.p99) },
      ],
      reference: { value: 2000, label: 'target p99 < 2 s' },
      note: `one worker, ${s.settings.jobMs} ms jobs, ${s.settings.pollIntervalMs === 'default' ? 'default polling' : `${s.settings.pollIntervalMs} ms polls`}, started ${s.settings.startRatePerSecond === 'all at once' ? 'all at once' : `at ${s.settings.startRatePerSecond}/s`}`,
    });
    panels.push({
      title: 'Scale: CPU by process',
      unit: 'cores, 2 on this machine',
      categories,
      series: [
        { name: 'worker', values: s.levels.map((l) => l.usage.worker.cpu?.cores) },
        { name: 'Temporal dev server', values: s.levels.map((l) => l.usage.temporalServer?.cores) },
        { name: 'emulator', values: s.levels.map((l) => l.usage.emulator?.cores) },
        { name: 'S3 (Ceph)', values: s.levels.map((l) => l.usage.s3Server?.cores) },
      ],
      note: `worker peak RSS: ${s.levels.map((l) => `${l.pipelines}: ${mib(l.usage.worker.memory?.peakRssBytes)} MiB`).join(', ')}`,
    });
  }
  const st = report.steady;
  if (st) {
    panels.push({
      title: `Steady state: ${st.settings.pipelines} pipelines waiting on ${st.settings.jobMs / 60_000}-minute jobs, one worker (${st.settings.mode})`,
      unit: 'MiB',
      categories: ['idle', 'steady (median)', 'peak'],
      series: [{ name: 'worker RSS', values: [st.idleWorkerRssBytes, st.steady.workerRssBytes?.median ?? null, st.workerPeakRssBytes].map((bytes) => (bytes === null ? undefined : Math.round(bytes / MIB))) }],
      reference: { value: Math.round(600e6 / MIB), label: 'target < 600 MB' },
      note: `worker CPU ${st.steady.workerCpuPercent ?? '?'}%, Temporal server ${st.steady.temporalServerCpuPercent ?? '?'}%, ${st.steady.statusReadsPerJobMinute} status reads per job-minute, started in ${Math.round(st.startPhaseMs / 1000)} s`,
    });
  }
  const a = report.api;
  if (a) {
    const shortLabel = (label: string): string => label.replace(/^overhead: (\w+).*/, 'overhead $1').replace(/^scale (\d+).*/, 'scale $1');
    const rows = [...a.byStep.map((r) => ({ ...r, label: `api ${r.label.split(' ')[0]!}` })), ...a.runs.filter((r) => !r.label.startsWith('api')).map((r) => ({ ...r, label: shortLabel(r.label) }))];
    panels.push({
      title: 'Status reads per job vs minimum',
      unit: 'reads',
      categories: rows.map((r) => r.label),
      series: [
        { name: 'observed', values: rows.map((r) => r.readsPerJob) },
        { name: 'minimum (job ÷ interval + 1)', values: rows.map((r) => r.minimumReadsPerJob) },
      ],
      note: `api run: ${a.settings.pipelines} pipelines of ${a.settings.jobMs / 1000} s jobs, default polling`,
    });
  }
  const c = report.copy;
  if (c) {
    const categories = c.sizes.map((m) => formatBytes(m.bytes));
    panels.push({
      title: 'Copy throughput',
      unit: 'MiB/s',
      categories,
      series: [
        { name: 'worker persist', values: c.sizes.map((m) => m.worker.persistMiBps) },
        { name: 'worker stream phase', values: c.sizes.map((m) => m.worker.streamMiBps) },
        { name: 'raw upload', values: c.sizes.map((m) => m.raw.MiBps) },
        { name: 'source download', values: c.sizes.map((m) => m.sourceDownload.MiBps) },
      ],
      note: `worker RSS growth: ${c.sizes.map((m) => `${formatBytes(m.bytes)}: ${mib(m.worker.usage.worker.memory?.peakGrowthBytes)} MiB`).join(', ')}`,
    });
  }
  return panels;
}
