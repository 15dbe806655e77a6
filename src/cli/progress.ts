// Progress reporting for training runs: a Reporter receives the run's events; the console
// reporter draws a progress bar per epoch (cli-progress) with loss, accuracy and samples/s.
// Off a TTY (CI, pipes) the bar stays silent and the per-epoch lines carry the information.
import cliProgress from 'cli-progress';
import Table from 'cli-table3';
import type { StepResult } from '../train/loop.js';
import type { EpochRecord } from '../train/session.js';

export interface RunInfo {
  model: string;
  norm: string;
  parameters: number;
  trainCount: number;
  /** Training images held out for validation (--validation). */
  validationCount?: number;
  testCount: number;
  dir: string;
  resumedAfter: number;
}

export interface Reporter {
  begin?(info: RunInfo): void;
  /** Something the user should know about the run (a setting adjusted, a batch left out). */
  note?(message: string): void;
  epochStart?(epoch: number, epochs: number, batches: number): void;
  step?(step: number, r: StepResult): void;
  epochEnd?(rec: EpochRecord, checkpoint: string): void;
  finish?(history: EpochRecord[]): void;
}

/** Colour only on a terminal, and never when NO_COLOR is set (no-color.org). */
export function useColor(stream: { isTTY?: boolean } = process.stdout): boolean {
  const no = process.env.NO_COLOR;
  return stream.isTTY === true && (no === undefined || no === '');
}

/** cli-table3's style: its default colours on a terminal, none otherwise. */
export function tableStyle(): { head?: string[]; border?: string[] } {
  return useColor() ? {} : { head: [], border: [] };
}

export function pct(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}

export function epochLine(rec: EpochRecord): string {
  const val =
    rec.validationAccuracy === undefined
      ? ''
      : `val loss ${rec.validationLoss!.toFixed(4)} acc ${pct(rec.validationAccuracy)} | `;
  return (
    `epoch ${rec.epoch}: train loss ${rec.trainLoss.toFixed(4)} acc ${pct(rec.trainAccuracy)} | ` +
    val +
    `test loss ${rec.testLoss.toFixed(4)} acc ${pct(rec.testAccuracy)} | ${rec.seconds.toFixed(1)} s`
  );
}

/** Running loss, accuracy and throughput of the current epoch, as the bar shows them. */
export class EpochMeter {
  private started = performance.now();
  private seen = 0;
  private lossSum = 0;
  private correct = 0;

  add(r: StepResult): { loss: string; acc: string; rate: number } {
    this.seen += r.count;
    this.lossSum += r.loss * r.count;
    this.correct += r.correct;
    const secs = (performance.now() - this.started) / 1000;
    return {
      loss: (this.lossSum / this.seen).toFixed(4),
      acc: pct(this.correct / this.seen),
      rate: Math.round(this.seen / secs),
    };
  }
}

export const BAR_FORMAT =
  '{label} |{bar}| {value}/{total} batches | loss {loss} | acc {acc} | {rate} samples/s | eta {eta_formatted}';

export function consoleReporter(): Reporter {
  let bar: cliProgress.SingleBar | null = null;
  let meter = new EpochMeter();
  return {
    begin(i) {
      console.log(
        `normkit train: ${i.model} with ${i.norm} norm, ${i.parameters.toLocaleString('en-US')} parameters, ` +
          `${i.trainCount} training${i.validationCount ? ` + ${i.validationCount} validation` : ''} / ` +
          `${i.testCount} test images from ${i.dir}`,
      );
      if (i.resumedAfter > 0) console.log(`resumed after epoch ${i.resumedAfter}`);
    },
    note(message) {
      console.log(`note: ${message}`);
    },
    epochStart(epoch, epochs, batches) {
      meter = new EpochMeter();
      bar = new cliProgress.SingleBar(
        { format: BAR_FORMAT, barsize: 24, hideCursor: true, etaBuffer: 50 },
        cliProgress.Presets.shades_classic,
      );
      bar.start(batches, 0, { label: `epoch ${epoch}/${epochs}`, loss: '-', acc: '-', rate: '-' });
    },
    step(step, r) {
      bar?.update(step, meter.add(r));
    },
    epochEnd(rec, checkpoint) {
      bar?.stop();
      console.log(`${epochLine(rec)} | saved ${checkpoint}`);
    },
    finish(history) {
      console.log(historyTable(history));
    },
  };
}

export function historyTable(history: EpochRecord[]): string {
  const val = history.some((h) => h.validationAccuracy !== undefined);
  const t = new Table({
    head: [
      'epoch',
      'train loss',
      'train acc',
      ...(val ? ['val loss', 'val acc'] : []),
      'test loss',
      'test acc',
      'time (s)',
    ],
    style: tableStyle(),
  });
  for (const h of history) {
    const row = [
      h.trainLoss.toFixed(4),
      pct(h.trainAccuracy),
      ...(val
        ? [
            h.validationLoss?.toFixed(4) ?? '-',
            h.validationAccuracy !== undefined ? pct(h.validationAccuracy) : '-',
          ]
        : []),
      h.testLoss.toFixed(4),
      pct(h.testAccuracy),
    ];
    t.push([h.epoch, ...row, h.seconds.toFixed(1)]);
  }
  return t.toString();
}
