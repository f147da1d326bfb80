// Polyphase resampling of one utterance by a precomputed filter bank: the speed perturbation of the
// training loader (src/audio/speed.ts), which builds the bank on the host with the filter design of
// src/audio/resample.ts (Kaiser-windowed sinc, torchaudio's "kaiser_window" method) and pads every
// phase's taps to one length `taplen` with zeros.
//
// Output j = b*next + i (phase i of block b) is  sum_k x[b*orig + first[i] + k] * taps[i*taplen + k],
// with x zero outside [0, n_in). Interior outputs take a SIMD dot product; outputs whose taps reach past
// either end of x take the scalar path. `resample_poly_naive` is the scalar twin (the reference of the
// tests, beside the f64 host resampler). Not a streaming resampler, and no filter design here.
// Shapes: out [n_out], x [n_in], taps [next, taplen] f32, first [next] i32.

export function resample_poly(out: usize, x: usize, taps: usize, first: usize, n_in: i32, n_out: i32, orig: i32, next: i32, taplen: i32): void {
  const t4 = taplen & ~3;
  for (let j = 0, b = 0; j < n_out; b++) {
    for (let i = 0; i < next && j < n_out; i++, j++) {
      const start = b * orig + load<i32>(first + (<usize>i << 2));
      const h = taps + (<usize>(i * taplen) << 2);
      let acc: f32 = 0;
      if (start >= 0 && start + taplen <= n_in) {
        const xp = x + (<usize>start << 2);
        let v = f32x4.splat(0);
        let k = 0;
        for (; k < t4; k += 4) v = f32x4.add(v, f32x4.mul(v128.load(xp + (<usize>k << 2)), v128.load(h + (<usize>k << 2))));
        acc = f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
        for (; k < taplen; k++) acc += load<f32>(xp + (<usize>k << 2)) * load<f32>(h + (<usize>k << 2));
      } else {
        const k0 = start < 0 ? -start : 0;
        const k1 = min(taplen, n_in - start);
        for (let k = k0; k < k1; k++) acc += load<f32>(x + (<usize>(start + k) << 2)) * load<f32>(h + (<usize>k << 2));
      }
      store<f32>(out + (<usize>j << 2), acc);
    }
  }
}

/** The scalar twin of resample_poly: the same sums, one tap at a time, in order. */
export function resample_poly_naive(out: usize, x: usize, taps: usize, first: usize, n_in: i32, n_out: i32, orig: i32, next: i32, taplen: i32): void {
  for (let j = 0; j < n_out; j++) {
    const b = j / next, i = j % next;
    const start = b * orig + load<i32>(first + (<usize>i << 2));
    let acc: f32 = 0;
    for (let k = 0; k < taplen; k++) {
      const s = start + k;
      if (s >= 0 && s < n_in) acc += load<f32>(x + (<usize>s << 2)) * load<f32>(taps + (<usize>(i * taplen + k) << 2));
    }
    store<f32>(out + (<usize>j << 2), acc);
  }
}
