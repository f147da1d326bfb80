// LayerNorm over the last dimension, for the RNN-T predictor's optional output norm.
//
// What it is: y = (x - mean) * rstd * gamma + beta per row, rstd = 1/sqrt(var + eps), biased variance
// (torch.nn.LayerNorm). What it is not: the encoder's norm (assembly/ops/norm.ts, SIMD). This scalar
// kernel stays because src/model/predictor.ts (training and the inference build) calls it and norm.ts's
// kernels compute the mean by another formula (a shifted sum): switching would change the predictor's bits.
// Reference: llm.c layernorm_forward/backward; tested against finite differences and torch.

/** Out: y [n, C]. Saved: mean [n], rstd [n]. In: x [n, C], gamma [C], beta [C]. */
export function pred_layernorm_forward(y: usize, mean: usize, rstd: usize, x: usize, gamma: usize, beta: usize, n: i32, C: i32, eps: f32): void {
  for (let r = 0; r < n; r++) {
    const xr = x + ((<usize>r * C) << 2), yr = y + ((<usize>r * C) << 2);
    let m: f32 = 0;
    for (let k = 0; k < C; k++) m += load<f32>(xr + (<usize>k << 2));
    m /= <f32>C;
    let v: f32 = 0;
    for (let k = 0; k < C; k++) { const d = load<f32>(xr + (<usize>k << 2)) - m; v += d * d; }
    const s: f32 = 1.0 / Mathf.sqrt(v / <f32>C + eps);
    for (let k = 0; k < C; k++) {
      const xh = (load<f32>(xr + (<usize>k << 2)) - m) * s;
      store<f32>(yr + (<usize>k << 2), xh * load<f32>(gamma + (<usize>k << 2)) + load<f32>(beta + (<usize>k << 2)));
    }
    store<f32>(mean + (<usize>r << 2), m);
    store<f32>(rstd + (<usize>r << 2), s);
  }
}

/** Accumulates dx [n, C], dgamma [C], dbeta [C] from dy [n, C]; saved mean, rstd; inputs x, gamma. */
export function pred_layernorm_backward(dx: usize, dgamma: usize, dbeta: usize, mean: usize, rstd: usize, dy: usize, x: usize, gamma: usize, n: i32, C: i32): void {
  for (let r = 0; r < n; r++) {
    const xr = x + ((<usize>r * C) << 2), dyr = dy + ((<usize>r * C) << 2), dxr = dx + ((<usize>r * C) << 2);
    const m = load<f32>(mean + (<usize>r << 2)), s = load<f32>(rstd + (<usize>r << 2));
    // Inverts `y = xh * gamma + beta`, xh = (x - mean) * rstd: dx = rstd * (dxh - mean(dxh) - xh * mean(dxh * xh)).
    let sum_d: f32 = 0, sum_dx: f32 = 0;
    for (let k = 0; k < C; k++) {
      const xh = (load<f32>(xr + (<usize>k << 2)) - m) * s;
      const dxh = load<f32>(dyr + (<usize>k << 2)) * load<f32>(gamma + (<usize>k << 2));
      sum_d += dxh;
      sum_dx += dxh * xh;
      store<f32>(dgamma + (<usize>k << 2), load<f32>(dgamma + (<usize>k << 2)) + load<f32>(dyr + (<usize>k << 2)) * xh);
      store<f32>(dbeta + (<usize>k << 2), load<f32>(dbeta + (<usize>k << 2)) + load<f32>(dyr + (<usize>k << 2)));
    }
    sum_d /= <f32>C;
    sum_dx /= <f32>C;
    for (let k = 0; k < C; k++) {
      const xh = (load<f32>(xr + (<usize>k << 2)) - m) * s;
      const dxh = load<f32>(dyr + (<usize>k << 2)) * load<f32>(gamma + (<usize>k << 2));
      store<f32>(dxr + (<usize>k << 2), load<f32>(dxr + (<usize>k << 2)) + s * (dxh - sum_d - xh * sum_dx));
    }
  }
}
