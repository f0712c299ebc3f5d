/**
 * The regions suite's chart, hand-written SVG: per region, one row per read path
 * (eventual, bounded, session, strong, primary only) and the follower lag, each drawn as
 * a bar to its p50 with a whisker to its p99 on a logarithmic ms axis; a dashed line marks
 * the region's round trip to the primary region.
 */

interface Dist {
  p50_ms: number;
  p99_ms: number;
}

export interface RegionsChartInput {
  regions: string[];
  primary_region: string;
  rtt_ms: Record<string, Record<string, number>>;
  by_region: Record<string, Record<string, Dist & { served_local_pct: number; errors: number }>>;
  primary_only: Record<string, Dist>;
  follower_direct: Record<string, Dist>;
  lag_by_region: Record<string, Dist>;
  local_rtt_ms: Record<string, Dist>;
  loadavg_start: number[];
  quick: boolean;
}

const ROWS = [
  { key: 'eventual', label: 'eventual', color: '#2b8a3e' },
  { key: 'bounded', label: 'bounded ≤ 1 s', color: '#5c940d' },
  { key: 'session', label: 'session', color: '#1971c2' },
  { key: 'strong', label: 'strong', color: '#862e9c' },
  { key: 'follower', label: 'follower direct', color: '#868e96' },
  { key: 'primary', label: 'primary only', color: '#c92a2a' },
  { key: 'lag', label: 'follower lag', color: '#e67700' },
] as const;

const W = 1000;
const PLOT_X0 = 190;
const PLOT_X1 = 760;
const ROW_H = 22;
const BAR_H = 12;
const GROUP_GAP = 18;
const TOP = 92;

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function fmt(ms: number): string {
  if (ms < 10) return ms.toFixed(2);
  if (ms < 100) return ms.toFixed(1);
  return ms.toFixed(0);
}

export function renderRegionsChart(d: RegionsChartInput): string {
  const hub = d.primary_region;
  const all: number[] = [];
  for (const r of d.regions) {
    for (const row of ROWS) {
      const x = dist(d, r, row.key);
      if (x) all.push(x.p50_ms, x.p99_ms);
    }
  }
  for (const r of d.regions) {
    const l = d.local_rtt_ms[r]?.p50_ms;
    if (l !== undefined && Number.isFinite(l)) all.push(l);
  }
  const positive = all.filter((x) => x > 0);
  const lo = 10 ** Math.floor(Math.log10(Math.max(0.01, Math.min(...positive, 1))));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...positive, 10)));
  const xOf = (ms: number) => {
    const v = Math.min(hi, Math.max(lo, ms));
    return (
      PLOT_X0 +
      ((Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * (PLOT_X1 - PLOT_X0)
    );
  };
  const groupH = 26 + ROWS.length * ROW_H;
  const H = TOP + d.regions.length * (groupH + GROUP_GAP) + 40;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="16" y="26" font-size="16" font-weight="bold">Query latency by region and consistency level; follower lag</text>`,
    `<text x="16" y="46" fill="#444">Bar = p50, whisker = p99, log ms scale; dashed line = round trip to the primary region, dotted = local /healthz p50. us-east is the primary.</text>`,
    `<text x="16" y="64" fill="#444">k=10 Fiori queries to each region's own router, 10 writes/s in the background; "primary only" = the same query to the us-east primary over the WAN${d.quick ? ' (--quick)' : ''}.</text>`,
  );
  // Axis ticks and grid.
  const axisY = H - 30;
  for (let t = lo; t <= hi * 1.0001; t *= 10) {
    const x = xOf(t);
    out.push(
      `<line x1="${x.toFixed(1)}" y1="${TOP - 6}" x2="${x.toFixed(1)}" y2="${axisY}" stroke="#ddd"/>`,
      `<text x="${x.toFixed(1)}" y="${axisY + 16}" text-anchor="middle" fill="#333">${t >= 1 ? t.toFixed(0) : t.toString()} ms</text>`,
    );
    for (const m of [2, 5]) {
      if (t * m < hi) {
        const xm = xOf(t * m);
        out.push(
          `<line x1="${xm.toFixed(1)}" y1="${TOP - 6}" x2="${xm.toFixed(1)}" y2="${axisY}" stroke="#f1f1f1"/>`,
        );
      }
    }
  }
  out.push(
    `<line x1="${PLOT_X0}" y1="${axisY}" x2="${PLOT_X1}" y2="${axisY}" stroke="#333"/>`,
    `<text x="${PLOT_X1 + 12}" y="${TOP - 10}" font-weight="bold" fill="#333">p50 / p99 ms</text>`,
    `<text x="${PLOT_X1 + 112}" y="${TOP - 10}" font-weight="bold" fill="#333">local %</text>`,
  );
  let y = TOP;
  for (const r of d.regions) {
    const rtt = d.rtt_ms[r]?.[hub] ?? 0;
    const local = d.local_rtt_ms[r]?.p50_ms;
    out.push(
      `<text x="16" y="${y + 14}" font-size="14" font-weight="bold">${esc(r)}</text>`,
      `<text x="${PLOT_X0}" y="${y + 14}" fill="#555">round trip to ${esc(hub)}: ${rtt} ms; local /healthz p50 ${local === undefined ? '?' : fmt(local)} ms</text>`,
    );
    const rowsTop = y + 24;
    if (rtt > 0) {
      const xr = xOf(rtt);
      out.push(
        `<line x1="${xr.toFixed(1)}" y1="${rowsTop}" x2="${xr.toFixed(1)}" y2="${rowsTop + ROWS.length * ROW_H}" stroke="#555" stroke-dasharray="4 3"/>`,
        `<text x="${(xr + 3).toFixed(1)}" y="${rowsTop + ROWS.length * ROW_H - 3}" font-size="10" fill="#555">RTT ${rtt}</text>`,
      );
    }
    if (local !== undefined && Number.isFinite(local)) {
      const xl = xOf(local);
      out.push(
        `<line x1="${xl.toFixed(1)}" y1="${rowsTop}" x2="${xl.toFixed(1)}" y2="${rowsTop + ROWS.length * ROW_H}" stroke="#2b8a3e" stroke-dasharray="2 3"/>`,
      );
    }
    ROWS.forEach((row, i) => {
      const ry = rowsTop + i * ROW_H;
      const x = dist(d, r, row.key);
      out.push(
        `<text x="${PLOT_X0 - 8}" y="${ry + BAR_H}" text-anchor="end">${esc(row.label)}</text>`,
      );
      if (!x) {
        out.push(
          `<text x="${PLOT_X0 + 6}" y="${ry + BAR_H}" fill="#c92a2a">no answers: every query failed (see the JSON's first_errors)</text>`,
        );
        return;
      }
      const x50 = xOf(x.p50_ms);
      const x99 = xOf(x.p99_ms);
      const cy = ry + BAR_H / 2 + 2;
      out.push(
        `<rect x="${PLOT_X0}" y="${ry + 2}" width="${Math.max(1, x50 - PLOT_X0).toFixed(1)}" height="${BAR_H}" fill="${row.color}" fill-opacity="0.85"/>`,
        `<line x1="${x50.toFixed(1)}" y1="${cy}" x2="${x99.toFixed(1)}" y2="${cy}" stroke="#222" stroke-width="1.5"/>`,
        `<line x1="${x99.toFixed(1)}" y1="${cy - 5}" x2="${x99.toFixed(1)}" y2="${cy + 5}" stroke="#222" stroke-width="1.5"/>`,
        `<text x="${PLOT_X1 + 12}" y="${ry + BAR_H}">${fmt(x.p50_ms)} / ${fmt(x.p99_ms)}</text>`,
      );
      const lvl = d.by_region[r]?.[row.key];
      if (lvl !== undefined) {
        const errs = lvl.errors ? ` (${lvl.errors} failed)` : '';
        out.push(
          `<text x="${PLOT_X1 + 112}" y="${ry + BAR_H}"${errs ? ' fill="#c92a2a"' : ''}>${lvl.served_local_pct} %${errs}</text>`,
        );
      }
    });
    y += groupH + GROUP_GAP;
  }
  out.push(
    `<text x="${W - 16}" y="26" text-anchor="end" font-size="10" fill="#777">load average at start: ${d.loadavg_start.join(', ')} (2 shared cores)</text>`,
    '</svg>',
  );
  return out.join('\n') + '\n';
}

function dist(d: RegionsChartInput, region: string, key: string): Dist | undefined {
  const x =
    key === 'primary'
      ? d.primary_only[region]
      : key === 'lag'
        ? d.lag_by_region[region]
        : key === 'follower'
          ? d.follower_direct[region]
          : d.by_region[region]?.[key];
  // A level whose every query failed has no percentiles (NaN, null in JSON).
  return x && Number.isFinite(x.p50_ms) && Number.isFinite(x.p99_ms) ? x : undefined;
}
