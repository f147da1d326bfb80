// Speed perturbation: the WASM polyphase kernel against its scalar twin, against the f64 host
// resampler (src/audio/resample.ts, itself checked against torchaudio in audio.test.ts), and against
// the physics (a tone played 1.1 times as fast is 1.1 times as high); the seeded factor draw; and the
// loader, which perturbs on the fly and caches factor 1.0 only.

import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { speedFactor, speedPerturb, speedPerturbHost, SPEED_FACTORS } from "../src/audio/speed.js";
import { writeWav } from "../src/audio/wav.js";
import { BatchLoader } from "../src/data/loader.js";
import { standInFbank } from "../src/data/features.js";
import { bothBuilds, rng } from "./helpers.js";

const maxAbs = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

describe("speedPerturb (WASM)", () => {
  it("agrees with its scalar twin and with the f64 host resampler, for 0.9 and 1.1, at every length", async () => {
    const r = rng(7);
    for (const e of await bothBuilds()) {
      for (const n of [1, 3, 17, 100, 16000 + 13]) {
        const x = Float32Array.from({ length: n }, () => r() * 2 - 1);
        for (const f of [0.9, 1.1]) {
          const y = speedPerturb(e, x, f), naive = speedPerturb(e, x, f, { naive: true }), host = speedPerturbHost(x, f);
          expect([y.length, naive.length]).toEqual([host.length, host.length]);
          expect(host.length).toBe(Math.ceil((n * 10) / Math.round(f * 10)));
          // Same f32 products, different summation order (4 lanes): about 35 taps of |x| <= 1 -> ~1e-6.
          expect(maxAbs(y, naive)).toBeLessThan(2e-6);
          // f32 taps and accumulation against f64: taps rounded at 6e-8 relative, sum |h| ~ 2 -> ~1e-6.
          expect(maxAbs(y, host)).toBeLessThan(5e-6);
        }
      }
      expect(speedPerturb(e, Float32Array.of(1, 2), 1)).toEqual(Float32Array.of(1, 2));
    }
  });

  it("plays a tone faster: 440 Hz at factor 1.1 becomes 484 Hz, at 0.9 becomes 396 Hz", async () => {
    const [e] = await bothBuilds();
    const x = Float32Array.from({ length: 16000 }, (_, i) => 0.5 * Math.sin((2 * Math.PI * 440 * i) / 16000));
    for (const f of [0.9, 1.1]) {
      const y = speedPerturb(e, x, f);
      // Fit amplitude and phase of a 440*f Hz sinusoid away from the edges (where the zero padding bites).
      const w = 2 * Math.PI * 440 * f / 16000;
      let ss = 0, sc = 0, res = 0, n = 0;
      for (let j = 400; j < y.length - 400; j++) {
        ss += y[j] * Math.sin(w * j);
        sc += y[j] * Math.cos(w * j);
        n++;
      }
      const a = (2 * ss) / n, b = (2 * sc) / n;
      for (let j = 400; j < y.length - 400; j++) res = Math.max(res, Math.abs(y[j] - a * Math.sin(w * j) - b * Math.cos(w * j)));
      expect(Math.hypot(a, b)).toBeCloseTo(0.5, 2); // the pass band is flat to ~1e-3
      expect(res).toBeLessThan(5e-3); // what is left is the fit's leakage and the filter's ripple, not another tone
    }
  });
});

describe("speedFactor", () => {
  it("draws 0.9, 1.0 and 1.1 about equally, from (seed, epoch, utterance) alone", () => {
    const counts = new Map<number, number>();
    for (let i = 0; i < 30000; i++) counts.set(speedFactor(1, 0, i), (counts.get(speedFactor(1, 0, i)) ?? 0) + 1);
    // 10,000 expected each; one standard deviation is ~82: 400 is about 5.
    for (const f of SPEED_FACTORS) expect(Math.abs(counts.get(f)! - 10000)).toBeLessThan(400);
    const a = Array.from({ length: 1000 }, (_, i) => speedFactor(1, 3, i));
    expect(Array.from({ length: 1000 }, (_, i) => speedFactor(1, 3, i))).toEqual(a);
    const agree = (b: number[]) => b.filter((v, i) => v === a[i]).length;
    // Another epoch or another seed: independent draws agree a third of the time.
    expect(agree(Array.from({ length: 1000 }, (_, i) => speedFactor(1, 4, i)))).toBeLessThan(420);
    expect(agree(Array.from({ length: 1000 }, (_, i) => speedFactor(2, 3, i)))).toBeLessThan(420);
  });
});

describe("BatchLoader with speed perturbation", () => {
  it("delivers each utterance at its drawn speed, computes perturbed features on the fly, and caches factor 1.0 only", async () => {
    const dir = mkdtempSync(join(tmpdir(), "todm-speed-"));
    const r = rng(3);
    const utts = Array.from({ length: 12 }, (_, i) => {
      const audio = join(dir, `u${i}.wav`);
      writeFileSync(audio, writeWav([Float32Array.from({ length: 8000 + 800 * i }, () => 0.2 * (r() - 0.5))], 16000));
      return { audio, tokens: Int32Array.of(1, 2) };
    });
    const cacheDir = join(dir, "cache");
    const fbank = standInFbank(80);
    const loader = new BatchLoader({ utterances: utts, features: fbank, featureKey: "standin80", workers: 0, cacheDir, speedPerturb: { seed: 5 } });
    const plan = utts.map((_, i) => [i]);
    for (const epoch of [0, 1]) {
      let i = 0;
      for await (const b of loader.run(plan, epoch)) {
        const f = speedFactor(5, epoch, i);
        const n = Math.ceil(((8000 + 800 * i) * 10) / Math.round(f * 10));
        // Frames of the stand-in fbank: 25 ms windows every 10 ms over the perturbed length.
        expect(b.featLens[0]).toBe(1 + Math.floor((n - 400) / 160));
        i++;
      }
    }
    const ones = new Set([0, 1].flatMap((ep) => plan.map((_, i) => i).filter((i) => speedFactor(5, ep, i) === 1)));
    const perturbedDraws = [0, 1].flatMap((ep) => plan.map((_, i) => speedFactor(5, ep, i))).filter((f) => f !== 1).length;
    const entries = readdirSync(cacheDir, { recursive: true }).map(String).filter((f) => f.endsWith(".feat"));
    expect(entries.length).toBe(ones.size);
    expect(loader.stats.perturbed).toBe(perturbedDraws);
    expect(perturbedDraws).toBeGreaterThan(0);
    await loader.close();
  });
});
