// One BatchNorm layer's running mean and variance beside the statistics of the batch it has
// just normalized, channel by channel.
import { useMemo } from 'preact/hooks';
import type uPlot from 'uplot';
import type { BnWatch } from '../../src/playground/index.js';
import { UPlotChart } from './uplot-chart.js';

function options(what: string): Omit<uPlot.Options, 'width' | 'height'> {
  return {
    legend: { show: false },
    scales: { x: { time: false }, y: { auto: true } },
    axes: [
      { label: 'channel', size: 40 },
      { label: what, size: 50 },
    ],
    series: [
      {},
      {
        label: `running ${what}`,
        stroke: '#444',
        paths: () => null,
        points: { show: true, size: 6, fill: '#444' },
      },
      {
        label: `batch ${what}`,
        stroke: '#2ca02c',
        paths: () => null,
        points: { show: true, size: 5, fill: '#2ca02c' },
      },
    ],
  };
}
const MEAN = options('mean');
const VAR = options('variance');

export function BnWatchView({ bn }: { bn: BnWatch }) {
  const x = bn.runningMean.map((_, i) => i);
  const mean = useMemo((): uPlot.AlignedData => [x, bn.runningMean, bn.batchMean], [bn]);
  const variance = useMemo((): uPlot.AlignedData => [x, bn.runningVar, bn.batchVar], [bn]);
  const gap = (a: number[], b: number[]) =>
    Math.max(...a.map((v, i) => Math.abs(v - b[i]))).toPrecision(3);
  return (
    <>
      <p class="hint">
        <span class="dot running" aria-hidden="true" /> running statistic{' '}
        <span class="dot batch" aria-hidden="true" /> this batch's (variance unbiased, as the
        running one)
      </p>
      <div class="bn-watch">
        <UPlotChart
          options={MEAN}
          data={mean}
          height={140}
          label={`${bn.name}: running mean against this batch's mean, largest gap ${gap(bn.runningMean, bn.batchMean)}`}
        />
        <UPlotChart
          options={VAR}
          data={variance}
          height={140}
          label={`${bn.name}: running variance against this batch's variance, largest gap ${gap(bn.runningVar, bn.batchVar)}`}
        />
      </div>
    </>
  );
}
