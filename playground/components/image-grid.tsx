// The first test images with the run's predictions; wrong ones framed in red and labelled.
import { useEffect, useRef } from 'preact/hooks';
// Runtime-neutral: the class names and the normalization the worker applied.
import { CLASSES, MEAN, STD } from '../../src/data/fashion-mnist.js';

const SCALE = 2;
const CELL = 28 * SCALE + 6;
const PER_ROW = 8;

export function ImageGrid({
  images,
  labels,
  predictions,
}: {
  images: Float32Array;
  labels: number[];
  predictions: number[] | null;
}) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const rows = Math.ceil(labels.length / PER_ROW);

  useEffect(() => {
    const ctx = canvas.current!.getContext('2d')!;
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, PER_ROW * CELL, rows * CELL);
    const img = ctx.createImageData(28, 28);
    const tile = document.createElement('canvas');
    tile.width = tile.height = 28;
    const tctx = tile.getContext('2d')!;
    ctx.imageSmoothingEnabled = false;
    labels.forEach((label, k) => {
      for (let p = 0; p < 784; p++) {
        const v = Math.max(0, Math.min(255, (images[k * 784 + p] * STD + MEAN) * 255));
        img.data.set([255 - v, 255 - v, 255 - v, 255], 4 * p);
      }
      tctx.putImageData(img, 0, 0);
      const x = (k % PER_ROW) * CELL,
        y = Math.floor(k / PER_ROW) * CELL;
      ctx.drawImage(tile, x + 3, y + 3, 28 * SCALE, 28 * SCALE);
      const wrong = predictions !== null && predictions[k] !== label;
      ctx.strokeStyle = predictions === null ? '#ccc' : wrong ? '#d00' : '#2a2';
      ctx.lineWidth = wrong ? 3 : 1;
      ctx.strokeRect(x + 1.5, y + 1.5, CELL - 3, CELL - 3);
    });
  }, [images, labels, predictions]);

  const wrong = predictions ? labels.filter((l, k) => predictions[k] !== l).length : null;
  const mistakes = predictions
    ? labels.flatMap((l, k) =>
        predictions[k] === l
          ? []
          : [`image ${k + 1}: ${CLASSES[predictions[k]]} (is ${CLASSES[l]})`],
      )
    : [];
  return (
    <figure class="grid">
      <canvas
        ref={canvas}
        width={PER_ROW * CELL}
        height={rows * CELL}
        role="img"
        aria-label={
          wrong === null
            ? 'Test images, no predictions yet'
            : `Test images: ${labels.length - wrong} of ${labels.length} predicted correctly`
        }
      />
      <figcaption>
        {wrong === null
          ? 'no predictions yet'
          : `${labels.length - wrong} / ${labels.length} right` +
            (mistakes.length
              ? ` · wrong: ${mistakes.slice(0, 4).join('; ')}${mistakes.length > 4 ? '; …' : ''}`
              : '')}
      </figcaption>
    </figure>
  );
}
