// Bar charts: a histogram (bins from lo to hi) and one value per layer.
import { useMemo } from 'preact/hooks';
import uPlot from 'uplot';
import type { Histogram, LayerValue } from '../../src/playground/index.js';
import { UPlotChart } from './uplot-chart.js';

const bars = uPlot.paths.bars!({ size: [0.9, 40] });

function barOptions(
  color: string,
  y: uPlot.Scale,
  x: uPlot.Scale = {},
  xValues?: (v: number) => string,
) {
  return {
    legend: { show: false },
    cursor: { show: false },
    scales: { x: { time: false, ...x }, y },
    axes: [
      {
        size: 30,
        ...(xValues && {
          values: (_: uPlot, ticks: number[]) => ticks.map(xValues),
          incrs: [1],
        }),
      },
      { size: 52 },
    ],
    series: [{}, { stroke: color, fill: `${color}88`, paths: bars, points: { show: false } }],
  } satisfies Omit<uPlot.Options, 'width' | 'height'>;
}

export function HistogramChart({
  h,
  color,
  label,
}: {
  h: Histogram;
  color: string;
  label: string;
}) {
  const options = useMemo(() => barOptions(color, { auto: true }), [color]);
  const data = useMemo((): uPlot.AlignedData => {
    const w = (h.hi - h.lo) / h.counts.length;
    return [h.counts.map((_, i) => h.lo + (i + 0.5) * w), h.counts];
  }, [h]);
  return (
    <UPlotChart
      options={options}
      data={data}
      height={110}
      label={`${label}: mean ${h.mean.toFixed(2)}, sd ${h.std.toFixed(2)}, from ${h.lo.toFixed(2)} to ${h.hi.toFixed(2)}`}
    />
  );
}

/** A log axis from the decade below the smallest value to the one above the largest. */
function decades(_: uPlot, min: number, max: number): uPlot.Range.MinMax {
  const lo = 10 ** Math.floor(Math.log10(min));
  return [lo, Math.max(10 * lo, 10 ** Math.ceil(Math.log10(max)))];
}

/** One bar per layer; `log` for values spanning orders of magnitude (gradient norms). */
export function LayerBars({
  values,
  color,
  label,
  log = false,
  range,
}: {
  values: LayerValue[];
  color: string;
  label: string;
  log?: boolean;
  range?: [number, number];
}) {
  const options = useMemo(
    () =>
      barOptions(
        color,
        log ? { distr: 3, range: decades } : range ? { range } : { auto: true },
        { range: [-0.5, values.length - 0.5] },
        (v) => (Number.isInteger(v) && v >= 0 && v < values.length ? String(v + 1) : ''),
      ),
    [color, log, values.length, range?.[0], range?.[1]],
  );
  const data = useMemo(
    (): uPlot.AlignedData => [
      values.map((_, i) => i),
      values.map((v) => (log ? Math.max(v.value, 1e-12) : v.value)),
    ],
    [values, log],
  );
  const text = values.map((v, i) => `${i + 1} (${v.name}): ${v.value.toPrecision(3)}`).join('; ');
  return <UPlotChart options={options} data={data} height={120} label={`${label}. ${text}`} />;
}
