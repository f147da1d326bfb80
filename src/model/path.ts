// What `--model` may name: a model file, or a run directory whose final model is RUN_DIR/model.safetensors.
// Errors say which path was tried and what was expected; a file that exists but is foreign or
// truncated is refused later by loadModel (src/model/io.ts) with a ModelFileError that names it.
// Not a search over checkpoints: `todm average` turns checkpoints into a model file.

import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Engine } from "../engine/engine.js";
import { ModelFileError } from "../io/safetensors.js";
import { loadModel } from "./io.js";

/** The model file a `--model` argument names: the file itself, or DIR/model.safetensors. */
export function resolveModelPath(arg: string): string {
  if (!existsSync(arg)) throw new ModelFileError(arg, "no such file or directory", "--model takes a model file or a run directory");
  if (!statSync(arg).isDirectory()) return arg;
  const file = join(arg, "model.safetensors");
  if (!existsSync(file)) {
    const ckpt = join(arg, "checkpoints");
    const hint = existsSync(ckpt) ? `it has ${ckpt}: make a model with todm average --run ${arg} --last N --out FILE` : "a run directory holds its final model as model.safetensors";
    throw new ModelFileError(arg, "a directory without model.safetensors", hint);
  }
  return file;
}

/** Resolves `arg` and loads the model it names into `engine`. */
export function openModel(engine: Engine, arg: string) {
  const path = resolveModelPath(arg);
  return { path, ...loadModel(engine, path) };
}
