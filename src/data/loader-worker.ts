// The loader's worker thread: decodes, resamples and computes features for whole batches, collates
// them, and posts them back with their buffers transferred (no copy). Jobs run one at a time in
// arrival order. It builds its FeatureFn from the FeatureSpec it is given (see features.ts).
// Protocol: in {type:"job", job} -> out {type:"result", result} | {type:"fatal", message}.

import { parentPort, workerData } from "node:worker_threads";
import type { FeatureFn, FeatureSpec } from "./features.js";
import { loadBatch, type BatchJob, type FeatureEnv } from "./featcache.js";

interface Init {
  spec: FeatureSpec;
  featureKey: string;
  sampleRate: number;
  cacheDir?: string;
}

const init = workerData as Init;
const port = parentPort!;

async function makeEnv(): Promise<FeatureEnv> {
  const mod = await import(init.spec.module);
  const factory = mod[init.spec.factory] as ((c: unknown) => Promise<FeatureFn>) | undefined;
  if (typeof factory !== "function") throw new Error(`feature module ${init.spec.module} has no export ${init.spec.factory}`);
  const features = await factory(init.spec.config ?? {});
  return {
    features,
    perturb: features.speed,
    featureKey: init.featureKey,
    sampleRate: init.sampleRate,
    cacheDir: init.cacheDir,
    stats: { cacheHits: 0, cacheMisses: 0, audioSeconds: 0 },
  };
}

const ready = makeEnv();
let chain: Promise<void> = Promise.resolve();

port.on("message", (msg: { type: "job"; job: BatchJob }) => {
  chain = chain.then(async () => {
    try {
      const env = await ready;
      const result = await loadBatch(env, msg.job);
      const b = result.batch;
      port.postMessage({ type: "result", result, stats: env.stats }, b ? ([b.feats.buffer, b.tokens.buffer, b.featLens.buffer, b.tokenLens.buffer] as ArrayBuffer[]) : []);
    } catch (e) {
      port.postMessage({ type: "fatal", message: (e as Error).stack ?? String(e) });
    }
  });
});
