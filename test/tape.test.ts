// The autograd tape end to end: a composite expression of primitive ops against PyTorch autograd
// (test/ref/tape_composite.py), with weights that are leading slices of bigger tensors.
import { describe, expect, it } from "vitest";
import { Tape } from "../src/engine/tape.js";
import { engine } from "./helpers.js";
import { checkOp, readFixture } from "./harness.js";

interface Fixture {
  magic: string;
  version: number;
  dims: Record<"R" | "C" | "OC" | "V" | "LDT" | "LDW" | "FULL_OC", number>;
  ids: number[];
  inputs: Record<string, number[]>;
  loss: number;
  grads: Record<string, number[]>;
}

const fx: Fixture = readFixture("tape_composite.json", "test/ref/tape_composite.py");

describe("tape", () => {
  it("matches PyTorch autograd on a composite of every recorded op, with sliced weights", async () => {
    expect(fx.magic).toBe("todm-fixture");
    const e = await engine();
    const { R, C, OC } = fx.dims;
    const tape = new Tape(e);
    e.scoped(() => {
      // Parameters and gradients: one region each, same layout, gradients zeroed by one call.
      const names = ["table", "X", "W", "b", "lnw", "lnb", "rw"];
      const sizes = names.map((k) => fx.inputs[k].length);
      const total = sizes.reduce((a, b) => a + b, 0);
      const params = e.alloc(total), grads = e.alloc(total);
      e.wasm.mem_zero_f32(grads, total);
      const at: Record<string, { p: number; g: number; n: number }> = {};
      let off = 0;
      names.forEach((k, i) => {
        at[k] = { p: params + 4 * off, g: grads + 4 * off, n: sizes[i] };
        e.write(at[k].p, fx.inputs[k]);
        off += sizes[i];
      });
      tape.begin();
      try {
        const P = (k: string) => tape.wrap(at[k].p, at[k].g, at[k].n);
        const [table, X, W, b, lnw, lnb, rw] = names.map(P);
        const ids = tape.ints(fx.ids);
        const M1 = tape.input(fx.inputs.M1), M2 = tape.input(fx.inputs.M2);
        const n1 = R * C, n2 = R * OC;
        const emb = tape.embedding(table, ids, R, C, fx.dims.LDT);
        const h = tape.add(emb, X, n1);
        const z = tape.linear(h, W, b, R, C, OC, fx.dims.LDW);
        const g = tape.gelu(z, n2);
        const n = tape.layernorm(g, lnw, lnb, R, OC, 1e-5);
        const r = tape.rmsnorm(n, rw, R, OC, 1e-6);
        const a = tape.add(tape.mul(tape.silu(r, n2), tape.sigmoid(n, n2), n2), tape.tanh(tape.relu(n, n2), n2), n2);
        const a2 = tape.scale(a, 0.5, n2);
        const l1 = tape.sum(tape.mul(tape.logSoftmax(a2, R, OC), M1, n2), n2);
        const l2 = tape.sum(tape.mul(tape.softmax(a2, R, OC), M2, n2), n2);
        const loss = tape.add(l1, l2, 1);
        tape.backward(loss);
        // f32 through ~15 ops against float64 PyTorch; loss ~10 and gradients O(1):
        // a few f32 ulps per op, amplified by the two norms' 1/std, stays well under 1e-4.
        checkOp("loss", tape.dataOf(loss), [fx.loss], 1e-4, 1e-5);
        for (const k of names) {
          // Full-size gradients: entries outside the used slices must stay exactly 0 (PyTorch's are 0).
          checkOp(`d${k}`, e.read(at[k].g, at[k].n), fx.grads[k], 1e-4, 1e-4);
        }
      } finally {
        tape.end();
      }
    });
  });

  it("accumulates the gradient of a tensor used twice (x*x + x) and frees the step with end()", async () => {
    const e = await engine();
    const tape = new Tape(e);
    const before = e.mark();
    tape.begin();
    const xs = [0.5, -1.25, 3, 0];
    const x = tape.input(xs, true);
    const y = tape.sum(tape.add(tape.mul(x, x, 4), x, 4), 4);
    tape.backward(y);
    // d/dx (x^2 + x) = 2x + 1, exact in f32 for these values.
    expect(Array.from(tape.gradOf(x))).toEqual(xs.map((v) => 2 * v + 1));
    expect(tape.length).toBe(3); // mul, add, sum
    tape.end();
    expect(e.mark()).toBe(before);
  });

  it("skips ops whose inputs need no gradient, and refuses a loss without one", async () => {
    const e = await engine();
    const tape = new Tape(e);
    tape.begin();
    try {
      const c = tape.input([1, 2, 3]);
      const s = tape.sum(tape.tanh(c, 3), 3);
      expect(() => tape.backward(s)).toThrow(/no gradient/);
    } finally {
      tape.end();
    }
  });
});

describe("tape: model ops", () => {
  it("t_mhssm matches the PyTorch MH-SSM fixture (forward and every gradient), causal and bidirectional", async () => {
    const fx = readFixture("mhssm.json", "test/ref/mhssm.py");
    const e = await engine();
    for (const c of fx.cases) {
      const { heads, headDim, stateSize, bidirectional } = c.config;
      const C = heads * headDim, B = c.B, T = c.T;
      const tape = new Tape(e);
      tape.begin();
      try {
        const grads: Record<string, number> = {};
        const P = (k: string) => {
          const t = tape.input(c.params[k], true);
          grads[k] = t;
          return t;
        };
        const dirs = (bidirectional ? ["fwd", "bwd"] : ["fwd"]).map((d) => ({ s: P(`${d}.s`), cRe: P(`${d}.c_re`), cIm: P(`${d}.c_im`), d: P(`${d}.d`) }));
        const consts = ["a_re", "a_im", "log_dt_min", "log_dt_max"].map((k) => e.upload(c.params[k])) as [number, number, number, number];
        const u = tape.input(c.u, true);
        const lens = Array.isArray(c.lens) ? tape.ints(c.lens) : 0;
        const out = tape.mhssm(u, dirs, consts, B, T, C, stateSize, headDim, lens);
        const loss = tape.sum(tape.mul(out, tape.input(c.dout), B * T * C), B * T * C);
        tape.backward(loss);
        // Float64 PyTorch reference; the kernels' own fixture test measures ~5e-7 relative: 1e-5 of scale.
        const scale = (a: number[]) => Math.max(1e-6, ...a.map(Math.abs));
        checkOp(`${c.name} out`, tape.dataOf(out), c.out, 1e-5 * scale(c.out));
        checkOp(`${c.name} du`, tape.gradOf(u), c.du, 1e-5 * scale(c.du));
        for (const [k, ref] of Object.entries(c.grads as Record<string, number[]>)) {
          checkOp(`${c.name} d${k}`, tape.gradOf(grads[k]), ref, 1e-5 * scale(ref));
        }
      } finally {
        tape.end();
      }
    }
  });
});
