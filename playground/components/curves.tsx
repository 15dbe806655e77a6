// Loss (smoothed, left axis) and test accuracy (right axis) of runs A and B against the step,
// on one chart.
import { useMemo } from 'preact/hooks';
import type uPlot from 'uplot';
import type { RunClient } from '../run-client.js';
import { UPlotChart } from './uplot-chart.js';

export const COLORS = { A: '#1f77b4', B: '#d62728' };

const options: Omit<uPlot.Options, 'width' | 'height'> = {
  scales: { x: { time: false }, loss: { auto: true }, acc: { range: [0, 1] } },
  axes: [
    { label: 'step' },
    { scale: 'loss', label: 'training loss (smoothed)' },
    { scale: 'acc', side: 1, label: 'test accuracy', grid: { show: false } },
  ],
  series: [
    { label: 'step' },
    { label: 'A loss', scale: 'loss', stroke: COLORS.A, width: 1.5, spanGaps: true },
    { label: 'B loss', scale: 'loss', stroke: COLORS.B, width: 1.5, spanGaps: true },
    {
      label: 'A accuracy',
      scale: 'acc',
      stroke: COLORS.A,
      dash: [6, 4],
      width: 2,
      spanGaps: true,
      points: { show: true },
    },
    {
      label: 'B accuracy',
      scale: 'acc',
      stroke: COLORS.B,
      dash: [6, 4],
      width: 2,
      spanGaps: true,
      points: { show: true },
    },
  ],
};

/** Series aligned on steps 0..max: null where a run has no value at that step. */
function align(a: RunClient, b: RunClient): uPlot.AlignedData {
  const last = Math.max(
    a.steps.length,
    b.steps.length,
    ...[a, b].map((r) => r.evals.at(-1)?.step ?? 0),
  );
  const x = Array.from({ length: last + 1 }, (_, i) => i);
  const loss = (r: RunClient) =>
    x.map((i) =>
      i >= 1 && i <= r.smoothLoss.length && Number.isFinite(r.smoothLoss[i - 1])
        ? r.smoothLoss[i - 1]
        : null,
    );
  const acc = (r: RunClient) => {
    const out: (number | null)[] = new Array(x.length).fill(null);
    for (const e of r.evals) out[e.step] = e.accuracy;
    return out;
  };
  return [x, loss(a), loss(b), acc(a), acc(b)];
}

export function Curves({ a, b }: { a: RunClient; b: RunClient }) {
  const data = useMemo(() => align(a, b), [a.version, b.version]);
  const lastAcc = (r: RunClient) => r.evals.at(-1)?.accuracy;
  const fmt = (v: number | undefined) =>
    v === undefined ? 'none yet' : `${(100 * v).toFixed(1)} %`;
  return (
    <section class="panel" aria-labelledby="curves-title">
      <h2 id="curves-title">Loss and test accuracy</h2>
      <UPlotChart
        options={options}
        data={data}
        height={260}
        label={`Training loss and test accuracy by step. Test accuracy: A ${fmt(lastAcc(a))}, B ${fmt(lastAcc(b))}.`}
      />
    </section>
  );
}
