// A progress bar per epoch (cli-progress) showing loss, accuracy and samples/s. Off a TTY
// (CI, pipes) it stays silent and the per-epoch lines carry the information.
import cliProgress from 'cli-progress';
import type { StepResult } from '../train/loop.js';

export class EpochBar {
  private readonly bar: cliProgress.SingleBar;
  private started = 0;
  private seen = 0;
  private lossSum = 0;
  private correct = 0;

  constructor(label: string, total: number) {
    this.bar = new cliProgress.SingleBar(
      {
        format: `${label} |{bar}| {value}/{total} batches | loss {loss} | acc {acc} | {rate} samples/s | eta {eta_formatted}`,
        barsize: 24,
        hideCursor: true,
        clearOnComplete: false,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
    this.started = performance.now();
    this.bar.start(total, 0, { loss: '-', acc: '-', rate: '-' });
  }

  update(step: number, r: StepResult): void {
    this.seen += r.count;
    this.lossSum += r.loss * r.count;
    this.correct += r.correct;
    const secs = (performance.now() - this.started) / 1000;
    this.bar.update(step, {
      loss: (this.lossSum / this.seen).toFixed(4),
      acc: ((100 * this.correct) / this.seen).toFixed(2) + '%',
      rate: Math.round(this.seen / secs),
    });
  }

  stop(): void {
    this.bar.stop();
  }
}
