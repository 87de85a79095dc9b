/**
 * CPU time and memory of other processes, read from /proc (Linux). The benchmark measures the worker,
 * the Temporal dev server, the emulator and the S3 daemons separately from its own process this way.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

// USER_HZ is 100 on every Linux architecture Node supports; /proc/<pid>/stat counts in it.
const CLOCK_TICKS_PER_SECOND = 100;

/** utime + stime of one process in seconds, or undefined when it is gone. */
export function processCpuSeconds(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces and parentheses: fields are counted after its ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const userTicks = Number(fields[11]);
  const systemTicks = Number(fields[12]);
  return (userTicks + systemTicks) / CLOCK_TICKS_PER_SECOND;
}

function parentPid(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** The pid and every live descendant of it (one scan of /proc). */
export function processTree(rootPid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const parent = parentPid(pid);
    if (parent === undefined) continue;
    const list = children.get(parent);
    if (list) list.push(pid);
    else children.set(parent, [pid]);
  }
  const tree: number[] = [];
  const pending = [rootPid];
  while (pending.length > 0) {
    const pid = pending.pop()!;
    tree.push(pid);
    pending.push(...(children.get(pid) ?? []));
  }
  return tree;
}

/** CPU seconds of a process and its live descendants (a server under its watchdog shell). */
export function treeCpuSeconds(rootPid: number): number {
  let total = 0;
  for (const pid of processTree(rootPid)) total += processCpuSeconds(pid) ?? 0;
  return total;
}

/** The first descendant whose command line contains `needle` (e.g. the node process under a watchdog shell). */
export function findDescendant(rootPid: number, needle: string): number | undefined {
  for (const pid of processTree(rootPid)) {
    if (pid === rootPid) continue;
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').includes(needle)) return pid;
    } catch {
      // exited meanwhile
    }
  }
  return undefined;
}

/** Resident set size now and its high-water mark, in bytes. */
export interface ProcessMemory {
  rssBytes: number;
  peakRssBytes: number;
}

export function processMemory(pid: number): ProcessMemory | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024;
  return { rssBytes: kib('VmRSS'), peakRssBytes: kib('VmHWM') };
}

/**
 * Resets the kernel's peak-RSS mark of a process (`echo 5 > /proc/<pid>/clear_refs`), so a later
 * VmHWM is the peak of what came after. Returns false where the kernel refuses it.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** CPU use of a group of processes over an interval. */
export interface CpuWindow {
  cpuSeconds: number;
  wallSeconds: number;
  /** cpuSeconds ÷ wallSeconds: 1.0 = one core busy all the time. */
  cores: number;
}

/** Starts measuring the CPU of a process tree now; `stop()` gives the window. */
export function startCpuWindow(rootPid: number | undefined): { stop(): CpuWindow | null } {
  if (rootPid === undefined) return { stop: () => null };
  const startedAt = performance.now();
  const before = treeCpuSeconds(rootPid);
  return {
    stop() {
      const wallSeconds = (performance.now() - startedAt) / 1000;
      const cpuSeconds = treeCpuSeconds(rootPid) - before;
      return { cpuSeconds: round(cpuSeconds, 2), wallSeconds: round(wallSeconds, 2), cores: round(wallSeconds > 0 ? cpuSeconds / wallSeconds : 0, 3) };
    },
  };
}

/** CPU of the benchmark's own process over an interval. */
export function startSelfCpuWindow(): { stop(): CpuWindow } {
  const startedAt = performance.now();
  const before = process.cpuUsage();
  return {
    stop() {
      const used = process.cpuUsage(before);
      const wallSeconds = (performance.now() - startedAt) / 1000;
      const cpuSeconds = (used.user + used.system) / 1e6;
      return { cpuSeconds: round(cpuSeconds, 2), wallSeconds: round(wallSeconds, 2), cores: round(cpuSeconds / wallSeconds, 3) };
    },
  };
}

/** RSS samples of one process over an interval, plus the kernel's own peak. */
export interface MemoryWindow {
  /** RSS when the window opened. */
  startRssBytes: number;
  /** Kernel high-water mark since the window opened (reset at the start when allowed), else the sampled peak. */
  peakRssBytes: number;
  /** peakRssBytes − startRssBytes. */
  peakGrowthBytes: number;
  endRssBytes: number;
  samples: number;
  /** Whether the kernel peak was reset at the start (otherwise only samples count). */
  kernelPeak: boolean;
}

/**
 * Samples a process's RSS every `intervalMs` and resets its kernel peak at the start, so short
 * spikes between samples are not missed.
 */
export function startMemoryWindow(pid: number, intervalMs = 100): { stop(): MemoryWindow | null } {
  const first = processMemory(pid);
  if (!first) return { stop: () => null };
  const kernelPeak = resetPeakRss(pid);
  let sampledPeak = first.rssBytes;
  let samples = 1;
  const timer = setInterval(() => {
    const now = processMemory(pid);
    if (!now) return;
    samples++;
    if (now.rssBytes > sampledPeak) sampledPeak = now.rssBytes;
  }, intervalMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      const last = processMemory(pid);
      if (!last) return null;
      const peakRssBytes = Math.max(sampledPeak, last.rssBytes, kernelPeak ? last.peakRssBytes : 0);
      return { startRssBytes: first.rssBytes, peakRssBytes, peakGrowthBytes: peakRssBytes - first.rssBytes, endRssBytes: last.rssBytes, samples: samples + 1, kernelPeak };
    },
  };
}

export function round(value: number, digits = 1): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** Busy time of the whole machine (all processes, ours and everyone else's) from /proc/stat. */
function machineTicks(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const values = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already inside user)
    const idle = (values[3] ?? 0) + (values[4] ?? 0);
    const total = values.slice(0, 8).reduce((sum, v) => sum + v, 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

/** CPU the whole machine was busy over a window, in cores (includes other people's processes). */
export function startMachineCpuWindow(): { stop(): CpuWindow | null } {
  const startedAt = performance.now();
  const before = machineTicks();
  return {
    stop() {
      const after = machineTicks();
      if (!before || !after) return null;
      const wallSeconds = (performance.now() - startedAt) / 1000;
      const cpuSeconds = (after.busy - before.busy) / CLOCK_TICKS_PER_SECOND;
      return { cpuSeconds: round(cpuSeconds, 2), wallSeconds: round(wallSeconds, 2), cores: round(cpuSeconds / wallSeconds, 3) };
    },
  };
}
