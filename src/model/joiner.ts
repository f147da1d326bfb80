// The RNN-T joiner on the host: its parameter table and thin wrappers over assembly/transducer/joiner.ts.
//
// What it is: Linear(Denc -> J) on the encoder output, Linear(Dpred -> J) on the predictor output,
// broadcast add over (t, u), tanh, Linear(J -> V). Parameters are one flat region laid out by
// `joinerParams(cfg)` (torch Linear layouts: weight [out, in], bias [out]); gradients use the same layout.
// What it is not: a subnet slicer (the kernels take ld strides for that; this wrapper uses full widths).
// Reference: icefall zipformer joiner.py.

import type { Engine } from "../engine/engine.js";
import type { ModelConfig } from "./config.js";
import { namedShapeOffsets, type NamedShape } from "./predictor.js";

export interface JoinerConfig {
  encDim: number; // Denc
  predDim: number; // Dpred
  joinDim: number; // J
  vocab: number; // V, including the blank
}

/** The transducer's joiner for a model config (the one definition: training, export and inference). */
export function joinerConfig(c: ModelConfig): JoinerConfig {
  return { encDim: c.dModel, predDim: c.predictorDim, joinDim: c.joinerDim, vocab: c.vocabSize };
}

export function joinerParams(cfg: JoinerConfig): NamedShape[] {
  const { encDim, predDim, joinDim: J, vocab: V } = cfg;
  return [
    { name: "enc.weight", shape: [J, encDim] }, { name: "enc.bias", shape: [J] },
    { name: "pred.weight", shape: [J, predDim] }, { name: "pred.bias", shape: [J] },
    { name: "out.weight", shape: [V, J] }, { name: "out.bias", shape: [V] },
  ];
}

/** Byte pointers of each joiner parameter inside a flat region at `base`. */
export function joinerPointers(cfg: JoinerConfig, base: number): Record<string, number> {
  const { offsets } = namedShapeOffsets(joinerParams(cfg));
  return Object.fromEntries(Object.entries(offsets).map(([k, o]) => [k, base + 4 * o]));
}

/** What joinerForward keeps for joinerBackward. */
export interface JoinerSaved {
  B: number; T: number; U1: number; enc: number; pred: number;
  h: number; // [B, T, U1, J]
  logits: number; // [B, T, U1, V]
}

/** logits [B,T,U1,V] from enc [B,T,Denc] and pred [B,U1,Dpred] (arena pointers). */
export function joinerForward(e: Engine, cfg: JoinerConfig, params: number, enc: number, pred: number, B: number, T: number, U1: number): JoinerSaved {
  const { encDim, predDim, joinDim: J, vocab: V } = cfg;
  const w = joinerPointers(cfg, params);
  const logits = e.alloc(B * T * U1 * V, "joiner logits"), h = e.alloc(B * T * U1 * J, "joiner activations");
  e.scoped(() => {
    const scratch = e.alloc(e.wasm.joiner_forward_scratch(B, T, U1, J), "joiner scratch");
    e.wasm.joiner_forward(logits, h, enc, pred, w["enc.weight"], w["enc.bias"], w["pred.weight"], w["pred.bias"], w["out.weight"], w["out.bias"], scratch, B, T, U1, encDim, predDim, J, V, encDim, predDim, J);
  });
  return { B, T, U1, enc, pred, h, logits };
}

/** Accumulates into dparams (joiner layout), denc [B,T,Denc] and dpred [B,U1,Dpred] from dlogits. */
export function joinerBackward(e: Engine, cfg: JoinerConfig, params: number, dparams: number, saved: JoinerSaved, dlogits: number, denc: number, dpred: number): void {
  const { encDim, predDim, joinDim: J, vocab: V } = cfg;
  const w = joinerPointers(cfg, params), d = joinerPointers(cfg, dparams);
  const { B, T, U1 } = saved;
  e.scoped(() => {
    const scratch = e.alloc(e.wasm.joiner_backward_scratch(B, T, U1, J), "joiner backward scratch");
    e.wasm.joiner_backward(
      denc, dpred, d["enc.weight"], d["enc.bias"], d["pred.weight"], d["pred.bias"], d["out.weight"], d["out.bias"],
      saved.h, dlogits, saved.enc, saved.pred, w["enc.weight"], w["pred.weight"], w["out.weight"], scratch,
      B, T, U1, encDim, predDim, J, V, encDim, predDim, J,
    );
  });
}
