// `todm average --run RUN_DIR --last N --out FILE`: the element-wise mean of the model tensors of the
// last N checkpoints (icefall's --avg), written as a model file.
//
//   todm average --run runs/exp1 --last 5 --out runs/exp1/avg-5.safetensors
//
// Checkpoints are RUN_DIR/checkpoints/step-<8 digits>.safetensors; "last" means the highest step
// numbers. Only the tensors of the model's parameter table are averaged (constants included: they are
// equal in every checkpoint); anything else in a checkpoint (optimizer state `optim.*`, counters) is
// ignored. Every checkpoint must hold the same todm.config. The output carries the newest
// checkpoint's metadata except `todm.checkpoint` (run position and optimizer state: the output is a
// model file, not a checkpoint), plus `todm.averaged` (JSON: N, the files, their steps), and is
// written atomically (src/train/checkpoint.ts writes the checkpoints). The
// mean is taken in float64 and rounded once to float32. Not icefall's --use-averaged-model (the
// running average kept during training: src/train/average.ts).

import { existsSync } from "node:fs";
import { basename, join } from "node:path";
import { encodeSafetensors, ModelFileError, readSafetensors, writeFileAtomic, type NamedTensor } from "../io/safetensors.js";
import { paramTable } from "../model/config.js";
import { parseModelMetadata } from "../model/io.js";
import { listCheckpoints } from "../train/checkpoint.js";

/** Averages the model tensors of `files`; returns the safetensors bytes of the averaged model. */
export function averageCheckpointFiles(files: string[]): Uint8Array {
  if (files.length === 0) throw new Error("average: no checkpoint files");
  let first: { cfgJson: string; file: string } | undefined;
  let sums: Float64Array[] = [];
  let table: ReturnType<typeof paramTable> = [];
  let metadata: Record<string, string> = {};
  const steps: (number | null)[] = [];
  for (const file of files) {
    const st = readSafetensors(file);
    const { cfg } = parseModelMetadata(st, file);
    const cfgJson = JSON.stringify(cfg);
    if (!first) {
      first = { cfgJson, file };
      table = paramTable(cfg);
      sums = table.map((p) => new Float64Array(p.shape.reduce((a, b) => a * b, 1)));
    } else if (cfgJson !== first.cfgJson) {
      throw new ModelFileError(file, `its todm.config differs from that of ${first.file}; only checkpoints of one model can be averaged`);
    }
    table.forEach((p, k) => {
      const t = st.tensors.get(p.name);
      if (!t) throw new ModelFileError(file, `tensor ${p.name} is missing`);
      if (t.dtype !== "F32" || t.shape.join("x") !== p.shape.join("x")) {
        throw new ModelFileError(file, `tensor ${p.name} is ${t.dtype} [${t.shape}], expected F32 [${p.shape}]`);
      }
      const s = sums[k], d = t.data as Float32Array;
      for (let i = 0; i < s.length; i++) s[i] += d[i];
    });
    metadata = st.metadata; // the newest checkpoint's (files are oldest first)
    let step: number | null = null;
    try {
      step = JSON.parse(st.metadata["todm.checkpoint"] ?? "null")?.step ?? null;
    } catch {
      /* not a checkpoint of todm train: no step */
    }
    steps.push(step);
  }
  const tensors: NamedTensor[] = table.map((p, k) => ({
    name: p.name, dtype: "F32", shape: p.shape, data: Float32Array.from(sums[k], (v) => v / files.length),
  }));
  // A model file, not a checkpoint: without todm.checkpoint (the run position and optimizer state), so
  // that `train --resume` can never take it for one.
  const modelMetadata = { ...metadata };
  delete modelMetadata["todm.checkpoint"];
  const averaged = { n: files.length, checkpoints: files.map((f) => basename(f)), steps };
  return encodeSafetensors(tensors, { ...modelMetadata, "todm.averaged": JSON.stringify(averaged) });
}

export interface AverageOptions {
  run: string;
  last: number;
  out: string;
  log?: (line: string) => void;
}

/** Averages the last N checkpoints of a run into `out`; returns the files used. */
export function runAverage(opts: AverageOptions): string[] {
  const log = opts.log ?? ((l: string) => console.log(l));
  if (!(Number.isInteger(opts.last) && opts.last >= 1)) throw new Error(`--last must be an integer >= 1, got ${opts.last}`);
  if (!existsSync(join(opts.run, "checkpoints"))) throw new Error(`${join(opts.run, "checkpoints")}: no such directory (is ${opts.run} a todm run directory?)`);
  const all = listCheckpoints(opts.run); // oldest first
  if (all.length < opts.last) {
    throw new Error(`--last ${opts.last}: ${join(opts.run, "checkpoints")} has ${all.length} checkpoint${all.length === 1 ? "" : "s"} (step-<8 digits>.safetensors)`);
  }
  const files = all.slice(all.length - opts.last);
  writeFileAtomic(opts.out, averageCheckpointFiles(files));
  log(`averaged ${files.length} checkpoints (${files.map((f) => basename(f)).join(", ")}) into ${opts.out}`);
  return files;
}
