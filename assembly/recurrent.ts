// Gate math of one recurrent step for rows of a batch (the twins of jsCellPrimitives in
// src/kernels/js/recurrent.ts): LSTM, GRU and the Elman RNN, forward and backward.
// Kinds as KIND_CODE there. Pointers are byte offsets; rows are H (state) or G·H (gates) wide.
const RNN_TANH = 0,
  RNN_RELU = 1,
  LSTM = 2;

import { sigmoid4, tanh4 } from './transcendental';

// Every gate value goes through transcendental.ts's four-lane functions (a lone value in
// lane 0), so each is computed the same way wherever it sits in a row: Mathf's scalar expm1
// and tanh took a quarter of an LSTM step.
function sigmoid(x: f32): f32 {
  return f32x4.extract_lane(sigmoid4(f32x4.splat(x)), 0);
}

function tanh(x: f32): f32 {
  return f32x4.extract_lane(tanh4(f32x4.splat(x)), 0);
}

/** Four gate pre-activations from j: a[j..] + b[j..] + bhh[j..]. */
function pre4(a: usize, b: usize, bhh: usize, j: i32): v128 {
  const o = (<usize>j) << 2;
  return f32x4.add(f32x4.add(v128.load(a + o), v128.load(b + o)), v128.load(bhh + o));
}

function at(p: usize, i: i32): usize {
  return p + ((<usize>i) << 2);
}

/** Forward for rows [0, rows): see CellPrimitives.forward. */
export function cellForward(
  kind: i32,
  rows: i32,
  H: i32,
  gi: usize,
  gh: usize,
  bhh: usize,
  hp: usize,
  cp: usize,
  hn: usize,
  cn: usize,
  saved: usize,
): void {
  const gates = kind == LSTM ? 4 : kind == RNN_TANH || kind == RNN_RELU ? 1 : 3;
  const S = kind == LSTM ? 5 * H : kind == RNN_TANH || kind == RNN_RELU ? H : 4 * H;
  const G = gates * H;
  for (let n = 0; n < rows; n++) {
    const a = gi + ((<usize>(n * G)) << 2),
      b = gh + ((<usize>(n * G)) << 2),
      s = saved + ((<usize>(n * S)) << 2),
      p = hp + ((<usize>(n * H)) << 2),
      q = hn + ((<usize>(n * H)) << 2);
    if (kind == LSTM) {
      const pc = cp + ((<usize>(n * H)) << 2),
        qc = cn + ((<usize>(n * H)) << 2);
      let j = 0;
      for (; j + 4 <= H; j += 4) {
        const o4 = (<usize>j) << 2;
        const i = sigmoid4(pre4(a, b, bhh, j));
        const f = sigmoid4(pre4(a, b, bhh, H + j));
        const g = tanh4(pre4(a, b, bhh, 2 * H + j));
        const o = sigmoid4(pre4(a, b, bhh, 3 * H + j));
        const c = f32x4.add(f32x4.mul(f, v128.load(pc + o4)), f32x4.mul(i, g));
        const tc = tanh4(c);
        v128.store(qc + o4, c);
        v128.store(q + o4, f32x4.mul(o, tc));
        v128.store(at(s, j), i);
        v128.store(at(s, H + j), f);
        v128.store(at(s, 2 * H + j), g);
        v128.store(at(s, 3 * H + j), o);
        v128.store(at(s, 4 * H + j), tc);
      }
      for (; j < H; j++) {
        const i = sigmoid(load<f32>(at(a, j)) + load<f32>(at(b, j)) + load<f32>(at(bhh, j)));
        const f = sigmoid(
          load<f32>(at(a, H + j)) + load<f32>(at(b, H + j)) + load<f32>(at(bhh, H + j)),
        );
        const g = tanh(
          load<f32>(at(a, 2 * H + j)) + load<f32>(at(b, 2 * H + j)) + load<f32>(at(bhh, 2 * H + j)),
        );
        const o = sigmoid(
          load<f32>(at(a, 3 * H + j)) + load<f32>(at(b, 3 * H + j)) + load<f32>(at(bhh, 3 * H + j)),
        );
        const c = f * load<f32>(at(pc, j)) + i * g;
        const tc = tanh(c);
        store<f32>(at(qc, j), c);
        store<f32>(at(q, j), o * tc);
        store<f32>(at(s, j), i);
        store<f32>(at(s, H + j), f);
        store<f32>(at(s, 2 * H + j), g);
        store<f32>(at(s, 3 * H + j), o);
        store<f32>(at(s, 4 * H + j), tc);
      }
    } else if (kind == RNN_TANH || kind == RNN_RELU) {
      let j = 0;
      for (; j + 4 <= H; j += 4) {
        const v = pre4(a, b, bhh, j);
        // ReLU as the scalar's v > 0 ? v : 0 (NaN and −0 give +0).
        const y = kind == RNN_TANH ? tanh4(v) : v128.and(v, f32x4.gt(v, f32x4.splat(0)));
        v128.store(at(q, j), y);
        v128.store(at(s, j), y);
      }
      for (; j < H; j++) {
        const v = load<f32>(at(a, j)) + load<f32>(at(b, j)) + load<f32>(at(bhh, j));
        const y: f32 = kind == RNN_TANH ? tanh(v) : v > 0 ? v : 0;
        store<f32>(at(q, j), y);
        store<f32>(at(s, j), y);
      }
    } else {
      const one = f32x4.splat(1);
      let j = 0;
      for (; j + 4 <= H; j += 4) {
        const r = sigmoid4(pre4(a, b, bhh, j));
        const z = sigmoid4(pre4(a, b, bhh, H + j));
        const o2 = (<usize>(2 * H + j)) << 2;
        const hhn = f32x4.add(v128.load(b + o2), v128.load(bhh + o2));
        const nn = tanh4(f32x4.add(v128.load(a + o2), f32x4.mul(r, hhn)));
        const hp4 = v128.load(at(p, j));
        v128.store(at(q, j), f32x4.add(f32x4.mul(f32x4.sub(one, z), nn), f32x4.mul(z, hp4)));
        v128.store(at(s, j), r);
        v128.store(at(s, H + j), z);
        v128.store(at(s, 2 * H + j), nn);
        v128.store(at(s, 3 * H + j), hhn);
      }
      for (; j < H; j++) {
        const r = sigmoid(load<f32>(at(a, j)) + load<f32>(at(b, j)) + load<f32>(at(bhh, j)));
        const z = sigmoid(
          load<f32>(at(a, H + j)) + load<f32>(at(b, H + j)) + load<f32>(at(bhh, H + j)),
        );
        const hhn = load<f32>(at(b, 2 * H + j)) + load<f32>(at(bhh, 2 * H + j));
        const nn = tanh(load<f32>(at(a, 2 * H + j)) + r * hhn);
        store<f32>(at(q, j), (1 - z) * nn + z * load<f32>(at(p, j)));
        store<f32>(at(s, j), r);
        store<f32>(at(s, H + j), z);
        store<f32>(at(s, 2 * H + j), nn);
        store<f32>(at(s, 3 * H + j), hhn);
      }
    }
  }
}

/** Backward for rows [0, rows): see CellPrimitives.backward. */
export function cellBackward(
  kind: i32,
  rows: i32,
  H: i32,
  dh: usize,
  dc: usize,
  saved: usize,
  hp: usize,
  cp: usize,
  dgi: usize,
  dgh: usize,
  dhp: usize,
  dcp: usize,
): void {
  const gates = kind == LSTM ? 4 : kind == RNN_TANH || kind == RNN_RELU ? 1 : 3;
  const S = kind == LSTM ? 5 * H : kind == RNN_TANH || kind == RNN_RELU ? H : 4 * H;
  const G = gates * H;
  for (let n = 0; n < rows; n++) {
    const s = saved + ((<usize>(n * S)) << 2),
      a = dgi + ((<usize>(n * G)) << 2),
      b = dgh + ((<usize>(n * G)) << 2),
      row = (<usize>(n * H)) << 2;
    if (kind == LSTM) {
      // Four at a time, the same float32 operations in the same order as the scalar tail.
      const one = f32x4.splat(1);
      let j = 0;
      for (; j + 4 <= H; j += 4) {
        const i = v128.load(at(s, j)),
          f = v128.load(at(s, H + j)),
          g = v128.load(at(s, 2 * H + j)),
          o = v128.load(at(s, 3 * H + j)),
          tc = v128.load(at(s, 4 * H + j));
        const d = v128.load(at(dh + row, j));
        const dct = f32x4.add(
          v128.load(at(dc + row, j)),
          f32x4.mul(f32x4.mul(d, o), f32x4.sub(one, f32x4.mul(tc, tc))),
        );
        const cpj = v128.load(at(cp + row, j));
        v128.store(at(a, j), f32x4.mul(f32x4.mul(f32x4.mul(dct, g), i), f32x4.sub(one, i)));
        v128.store(at(a, H + j), f32x4.mul(f32x4.mul(f32x4.mul(dct, cpj), f), f32x4.sub(one, f)));
        v128.store(at(a, 2 * H + j), f32x4.mul(f32x4.mul(dct, i), f32x4.sub(one, f32x4.mul(g, g))));
        v128.store(at(a, 3 * H + j), f32x4.mul(f32x4.mul(f32x4.mul(d, tc), o), f32x4.sub(one, o)));
        v128.store(at(dcp + row, j), f32x4.mul(dct, f));
        v128.store(at(dhp + row, j), f32x4.splat(0));
      }
      for (; j < H; j++) {
        const i = load<f32>(at(s, j)),
          f = load<f32>(at(s, H + j)),
          g = load<f32>(at(s, 2 * H + j)),
          o = load<f32>(at(s, 3 * H + j)),
          tc = load<f32>(at(s, 4 * H + j));
        const d = load<f32>(at(dh + row, j));
        const dct = load<f32>(at(dc + row, j)) + d * o * (1 - tc * tc);
        store<f32>(at(a, j), dct * g * i * (1 - i));
        store<f32>(at(a, H + j), dct * load<f32>(at(cp + row, j)) * f * (1 - f));
        store<f32>(at(a, 2 * H + j), dct * i * (1 - g * g));
        store<f32>(at(a, 3 * H + j), d * tc * o * (1 - o));
        store<f32>(at(dcp + row, j), dct * f);
        store<f32>(at(dhp + row, j), 0);
      }
    } else if (kind == RNN_TANH || kind == RNN_RELU) {
      for (let j = 0; j < H; j++) {
        const y = load<f32>(at(s, j)),
          d = load<f32>(at(dh + row, j));
        store<f32>(at(a, j), kind == RNN_TANH ? d * (1 - y * y) : y > 0 ? d : 0);
        store<f32>(at(dhp + row, j), 0);
      }
    } else {
      const one = f32x4.splat(1);
      let j = 0;
      for (; j + 4 <= H; j += 4) {
        const r = v128.load(at(s, j)),
          z = v128.load(at(s, H + j)),
          nn = v128.load(at(s, 2 * H + j)),
          hhn = v128.load(at(s, 3 * H + j));
        const d = v128.load(at(dh + row, j));
        const dn = f32x4.mul(f32x4.mul(d, f32x4.sub(one, z)), f32x4.sub(one, f32x4.mul(nn, nn)));
        const dr = f32x4.mul(f32x4.mul(f32x4.mul(dn, hhn), r), f32x4.sub(one, r));
        const hpj = v128.load(at(hp + row, j));
        const dz = f32x4.mul(f32x4.mul(f32x4.mul(d, f32x4.sub(hpj, nn)), z), f32x4.sub(one, z));
        v128.store(at(a, j), dr);
        v128.store(at(b, j), dr);
        v128.store(at(a, H + j), dz);
        v128.store(at(b, H + j), dz);
        v128.store(at(a, 2 * H + j), dn);
        v128.store(at(b, 2 * H + j), f32x4.mul(dn, r));
        v128.store(at(dhp + row, j), f32x4.mul(d, z));
      }
      for (; j < H; j++) {
        const r = load<f32>(at(s, j)),
          z = load<f32>(at(s, H + j)),
          nn = load<f32>(at(s, 2 * H + j)),
          hhn = load<f32>(at(s, 3 * H + j));
        const d = load<f32>(at(dh + row, j));
        const dn = d * (1 - z) * (1 - nn * nn);
        const dr = dn * hhn * r * (1 - r);
        const dz = d * (load<f32>(at(hp + row, j)) - nn) * z * (1 - z);
        store<f32>(at(a, j), dr);
        store<f32>(at(b, j), dr);
        store<f32>(at(a, H + j), dz);
        store<f32>(at(b, H + j), dz);
        store<f32>(at(a, 2 * H + j), dn);
        store<f32>(at(b, 2 * H + j), dn * r);
        store<f32>(at(dhp + row, j), d * z);
      }
    }
  }
}
