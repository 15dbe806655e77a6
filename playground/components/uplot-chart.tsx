// A uPlot chart as a Preact component: created once per set of options, fed new data with
// setData (cheap), resized with its container.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

interface Props {
  /** Options without width/height: the chart takes its container's width and `height`. */
  options: Omit<uPlot.Options, 'width' | 'height'>;
  data: uPlot.AlignedData;
  height: number;
  /** What a screen reader says for the chart. */
  label: string;
}

export function UPlotChart({ options, data, height, label }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const chart = useRef<uPlot | null>(null);

  useEffect(() => {
    const el = box.current!;
    const plot = new uPlot({ ...options, width: Math.max(120, el.clientWidth), height }, data, el);
    chart.current = plot;
    const resize = new ResizeObserver(() =>
      plot.setSize({ width: Math.max(120, el.clientWidth), height }),
    );
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
      chart.current = null;
    };
  }, [options, height]);

  useEffect(() => {
    chart.current?.setData(data);
  }, [data]);

  return <div class="chart" ref={box} role="img" aria-label={label} />;
}
