// A data-parallel worker thread (src/train/parallel.ts): its own engine instance (the same build as
// replica 0's), a replica of the model and of the optimizer, and its side of the all-reduce.
// Plain JS from dist/ at run time, like the batch loader's worker. Messages run one at a time in
// arrival order. Protocol: in sync | step | params -> out ready, synced, params, or fatal (after which
// the shared failure flag is set, so that no replica waits forever at the barrier).

import { parentPort, workerData } from "node:worker_threads";
import { loadEngine } from "../engine/engine.js";
import { Model } from "../model/model.js";
import { OptimizerBox } from "./optimizer.js";
import { Replica, type FromWorker, type ToWorker, type WorkerInit } from "./parallel.js";

const init = workerData as WorkerInit;
const port = parentPort!;
const post = (m: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

let replica: Replica | undefined;
try {
  const engine = await loadEngine({ build: init.build });
  const model = new Model(engine, init.cfg);
  const optimizer = new OptimizerBox(engine, model, init.optim);
  replica = new Replica(engine, model, optimizer, init.rank, init.layout);
  post({ type: "ready" });
} catch (e) {
  post({ type: "fatal", message: (e as Error).stack ?? String(e) });
}

port.on("message", (m: ToWorker) => {
  if (!replica) return;
  const { engine, model, optimizer } = replica;
  try {
    if (m.type === "sync") {
      engine.write(model.params.paramPtr, m.params);
      optimizer.restore(m.optimizer);
      post({ type: "synced" });
    } else if (m.type === "step") {
      replica.compute(m.shard, m.index, m.plan, m);
      replica.reduceAndStep(m.gen, m.lr, m.check);
    } else if (m.type === "params") {
      const params = engine.read(model.params.paramPtr, model.params.total);
      post({ type: "params", params }, [params.buffer as ArrayBuffer]);
    }
  } catch (e) {
    replica.fail();
    post({ type: "fatal", message: (e as Error).stack ?? String(e) });
  }
});
