/** A time series chart (uPlot), loaded only by the pages that draw one. */
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

/** A time series chart; `series` are [label, values] over `times` (unix seconds). */
export function Chart({ title, times, series, format, range }: { title: string; times: number[]; series: Array<[string, Array<number | null>]>; format: (n: number) => string; range?: [number, number] }): React.JSX.Element {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const colors = ['#2f7bd8', '#d8742f', '#2fa36b'];
    const plot = new uPlot({
      width: Math.max(240, el.clientWidth), height: 160, legend: { show: true },
      // The whole asked range (unix seconds), however few points it has so far.
      scales: range ? { x: { time: true, range: () => range } } : undefined,
      axes: [{ stroke: 'currentColor' }, { stroke: 'currentColor', values: (_u, ticks) => ticks.map((t) => format(t)), size: 70 }],
      series: [{}, ...series.map(([label], i) => ({ label, stroke: colors[i % colors.length], width: 1.5, value: (_u: uPlot, v: number | null) => (v === null ? '–' : format(v)) }))],
    }, [times, ...series.map(([, v]) => v)] as uPlot.AlignedData, el);
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(240, el.clientWidth), height: 160 }));
    resize.observe(el);
    return () => { resize.disconnect(); plot.destroy(); };
  }, [times, series, format, range]);
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <div ref={box} data-points={times.length} />
    </figure>
  );
}
