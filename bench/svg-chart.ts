/**
 * A tiny SVG renderer for the benchmark's figures: panels of grouped bar charts (categories on the
 * x axis, one bar per series), laid out in a grid, with axis ticks, a legend and values on the bars.
 */

/** One chart: bars grouped by category, one colour per series. */
export interface BarPanel {
  title: string;
  /** Unit of the y axis, shown next to the title. */
  unit: string;
  categories: string[];
  series: { name: string; values: (number | null | undefined)[] }[];
  /** A horizontal dashed line, e.g. a target. */
  reference?: { value: number; label: string };
  /** A line under the chart. */
  note?: string;
}

const PALETTE = ['#2f6fb3', '#e07b39', '#3a9d5d', '#b8434c', '#7e5bb5', '#8c8c8c'];
const PANEL_WIDTH = 560;
const PANEL_HEIGHT = 320;
const MARGIN = { top: 46, right: 16, bottom: 84, left: 58 };

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** 1, 2 or 5 times a power of ten, so about `count` ticks cover `max`. */
function niceStep(max: number, count: number): number {
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * power;
}

function formatValue(value: number): string {
  if (value === 0) return '0';
  const magnitude = Math.abs(value);
  if (magnitude >= 100) return value.toFixed(0);
  if (magnitude >= 10) return value.toFixed(1);
  if (magnitude >= 1) return value.toFixed(2);
  return value.toPrecision(2);
}

function renderPanel(panel: BarPanel, originX: number, originY: number): string {
  const parts: string[] = [];
  const plotWidth = PANEL_WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = PANEL_HEIGHT - MARGIN.top - MARGIN.bottom;
  const values = panel.series.flatMap((s) => s.values).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  const top = Math.max(panel.reference?.value ?? 0, ...values, 0);
  const step = niceStep(top > 0 ? top * 1.1 : 1, 5);
  const yMax = Math.max(step, Math.ceil((top * 1.1) / step) * step);
  const x0 = originX + MARGIN.left;
  const y0 = originY + MARGIN.top;
  const yOf = (value: number): number => y0 + plotHeight - (value / yMax) * plotHeight;

  parts.push(`<text x="${originX + 12}" y="${originY + 22}" font-size="15" font-weight="600">${escapeXml(panel.title)}<tspan font-weight="400" fill="#555"> (${escapeXml(panel.unit)})</tspan></text>`);
  for (let tick = 0; tick <= yMax + step / 2; tick += step) {
    const y = yOf(tick);
    parts.push(`<line x1="${x0}" y1="${y.toFixed(1)}" x2="${x0 + plotWidth}" y2="${y.toFixed(1)}" stroke="#e3e3e3"/>`);
    parts.push(`<text x="${x0 - 6}" y="${(y + 4).toFixed(1)}" font-size="11" text-anchor="end" fill="#444">${formatValue(tick)}</text>`);
  }
  parts.push(`<line x1="${x0}" y1="${y0 + plotHeight}" x2="${x0 + plotWidth}" y2="${y0 + plotHeight}" stroke="#333"/>`);

  const groupWidth = plotWidth / Math.max(1, panel.categories.length);
  const barWidth = Math.min(36, (groupWidth * 0.8) / Math.max(1, panel.series.length));
  for (const [ci, category] of panel.categories.entries()) {
    const groupX = x0 + ci * groupWidth;
    const barsX = groupX + (groupWidth - barWidth * panel.series.length) / 2;
    for (const [si, series] of panel.series.entries()) {
      const value = series.values[ci];
      if (typeof value !== 'number' || !Number.isFinite(value)) continue;
      const x = barsX + si * barWidth;
      const y = yOf(value);
      parts.push(`<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${(barWidth - 2).toFixed(1)}" height="${(y0 + plotHeight - y).toFixed(1)}" fill="${PALETTE[si % PALETTE.length]}"><title>${escapeXml(`${series.name}, ${category}: ${formatValue(value)} ${panel.unit}`)}</title></rect>`);
      if (barWidth >= 14) parts.push(`<text x="${(x + barWidth / 2 - 1).toFixed(1)}" y="${(y - 3).toFixed(1)}" font-size="9" text-anchor="middle" fill="#222">${formatValue(value)}</text>`);
    }
    const labelX = groupX + groupWidth / 2;
    const labelY = y0 + plotHeight + 14;
    // Many categories: slanted labels, so long ones do not run into each other.
    parts.push(
      panel.categories.length > 6
        ? `<text x="${labelX.toFixed(1)}" y="${labelY}" font-size="10" text-anchor="end" transform="rotate(-25 ${labelX.toFixed(1)} ${labelY})">${escapeXml(category)}</text>`
        : `<text x="${labelX.toFixed(1)}" y="${labelY + 2}" font-size="11" text-anchor="middle">${escapeXml(category)}</text>`,
    );
  }
  if (panel.reference) {
    const y = yOf(panel.reference.value);
    parts.push(`<line x1="${x0}" y1="${y.toFixed(1)}" x2="${x0 + plotWidth}" y2="${y.toFixed(1)}" stroke="#b8434c" stroke-dasharray="6 4"/>`);
    parts.push(`<text x="${x0 + plotWidth - 4}" y="${(y - 4).toFixed(1)}" font-size="10" text-anchor="end" fill="#b8434c">${escapeXml(panel.reference.label)}</text>`);
  }
  let legendX = x0;
  const legendY = y0 + plotHeight + (panel.categories.length > 6 ? 56 : 36);
  for (const [si, series] of panel.series.entries()) {
    parts.push(`<rect x="${legendX}" y="${legendY - 9}" width="10" height="10" fill="${PALETTE[si % PALETTE.length]}"/>`);
    parts.push(`<text x="${legendX + 14}" y="${legendY}" font-size="11">${escapeXml(series.name)}</text>`);
    legendX += 24 + series.name.length * 6.2;
  }
  if (panel.note) parts.push(`<text x="${x0}" y="${legendY + 16}" font-size="10" fill="#555">${escapeXml(panel.note)}</text>`);
  return parts.join('\n');
}

/** A whole report: a title and panels, two per row. */
export function renderReportSvg(title: string, subtitle: string, panels: readonly BarPanel[]): string {
  const columns = panels.length > 1 ? 2 : 1;
  const rows = Math.ceil(panels.length / columns);
  const headerHeight = 56;
  const width = columns * PANEL_WIDTH;
  const height = headerHeight + rows * PANEL_HEIGHT;
  const body = panels.map((panel, index) => renderPanel(panel, (index % columns) * PANEL_WIDTH, headerHeight + Math.floor(index / columns) * PANEL_HEIGHT));
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="12" y="26" font-size="18" font-weight="700">${escapeXml(title)}</text>`,
    `<text x="12" y="46" font-size="12" fill="#555">${escapeXml(subtitle)}</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}
