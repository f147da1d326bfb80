// The Supernet's search space, its subnets, the sandwich sampler and the dropout rules.
//
// The space is a product of choices: encoder depth (the first k blocks), FFN hidden width (a leading slice
// of every feed-forward module) and MH-SSM heads (a leading slice of the heads, even, so gated pairs stay
// whole). The largest choice of each is the Supernet itself (the model config); every subnet's weights are
// leading slices of the Supernet's tensors (src/model/config.ts `subnetShape`).
//
//   const subs = listSubnets(model, space);           // largest first, by parameters
//   const picked = sampleSandwich(subs, 2, rng);       // [largest, smallest, 2 distinct random others]
//   const p = subnetDropout(space.dropout, pMax, params, paramsMax);

import { countParams, macsPerSecond, subnetName, supernetSpec, type ModelConfig, type SubnetSpec } from "./config.js";

export interface SupernetSpace {
  /** false: train the single model (the largest) alone. */
  enabled: boolean;
  layers: number[]; // encoder depth choices, each in 1..model.layers; [] = L/3, 2L/3 and L
  ffDims: number[]; // FFN hidden width choices, each in 1..model.ffDim; [] = F/4, F/2 and F
  heads: number[]; // MH-SSM head choices, even, each in 2..model.heads; [] = every even number up to H
  /** Random subnets per step, besides the largest and the smallest (the sandwich rule). */
  random: number;
  /**
   * The sandwich's sampling weights: a random member is drawn with probability proportional to
   * (params_max / params)^sampleBias among those not drawn yet; 0 (the default) = uniform, > 0 favours the
   * small subnets (a lever for them, issue 18). A run saved without it samples uniformly.
   */
  sampleBias?: number;
  kd: {
    /** "alpha": AlphaNet's adaptive alpha-divergence; "kl": plain KL(teacher || student); "none": labels only. */
    method: "alpha" | "kl" | "none";
    lambda: number; // a student's loss is (1 - lambda)·RNN-T + lambda·KD
    alphaNeg: number;
    alphaPos: number;
    clip: number; // w^alpha is clipped at this value (except alpha = 1, the unclipped KL limit)
    /** model.loss "pruned" only: distil on the teacher's pruned band ("band") or on the full lattice ("full"); src/model/model.ts. */
    lattice: "band" | "full";
    /**
     * The KD weight per size: a student's lambda is min(1, lambda·(params_max/params)^sizeGamma) (studentLambda);
     * 0 (the default) = lambda for every student, > 0 = more distillation for the small ones (a lever, issue 18).
     * A run saved without it uses lambda.
     */
    sizeGamma?: number;
  };
  /** The dropout rule; p_max is train.dropout. */
  dropout: {
    /** "adaptive": p = p_max·(params/params_max)^gamma; "fixed": p_max for every subnet; "largest": p_max on the largest only (AlphaNet). */
    rule: "adaptive" | "fixed" | "largest";
    gamma: number;
  };
  /** Subnets validated during training (names); [] = the largest, the smallest and two between. */
  validate: string[];
  /** Subnets scored on the test split and exported to RUN_DIR/subnets/ when training ends; [] = the validated ones. */
  export: string[];
}

export const DEFAULT_SPACE: SupernetSpace = {
  enabled: true,
  layers: [],
  ffDims: [],
  heads: [],
  random: 1,
  sampleBias: 0,
  kd: { method: "alpha", lambda: 0.5, alphaNeg: -1, alphaPos: 1, clip: 5, lattice: "band", sizeGamma: 0 },
  dropout: { rule: "adaptive", gamma: 1 },
  validate: [],
  export: [],
};

export interface SubnetInfo {
  name: string;
  spec: SubnetSpec;
  params: number;
  macs: number; // multiply-accumulates per second of audio
}

/** The space's choices with the automatic ones ([] in the config) filled in from the model. */
export function resolveChoices(m: ModelConfig, s: Pick<SupernetSpace, "layers" | "ffDims" | "heads">): { layers: number[]; ffDims: number[]; heads: number[] } {
  const uniq = (a: number[]) => [...new Set(a.filter((x) => x >= 1))].sort((x, y) => x - y);
  return {
    layers: s.layers.length ? s.layers : uniq([Math.round(m.layers / 3), Math.round((2 * m.layers) / 3), m.layers]),
    ffDims: s.ffDims.length ? s.ffDims : uniq([Math.round(m.ffDim / 4), Math.round(m.ffDim / 2), m.ffDim]),
    heads: s.heads.length ? s.heads : Array.from({ length: Math.floor(m.heads / 2) }, (_, i) => 2 * (i + 1)),
  };
}

export function validateSpace(m: ModelConfig, space: SupernetSpace, source = "config"): void {
  const bad = (what: string) => {
    throw new Error(`${source}: supernet.${what}`);
  };
  const s = { ...space, ...resolveChoices(m, space) };
  const check = (key: "layers" | "ffDims" | "heads", max: number, extra?: (v: number) => string | null) => {
    const v = s[key];
    if (!Array.isArray(v) || v.length === 0) bad(`${key} must be an array of integers ([] = automatic)`);
    for (const x of v) {
      if (!Number.isInteger(x) || x < 1 || x > max) bad(`${key}: ${x} is not an integer in 1..${max} (the model's own value)`);
      const e = extra?.(x);
      if (e) bad(`${key}: ${e}`);
    }
    if (!v.includes(max)) bad(`${key} must include the model's own value ${max} (the largest subnet is the Supernet)`);
  };
  check("layers", m.layers);
  check("ffDims", m.ffDim);
  check("heads", m.heads, (h) => (h % 2 ? `${h} heads: heads must be even (gated in pairs)` : null));
  if (!Number.isInteger(s.random) || s.random < 0) bad(`random must be a non-negative integer, got ${s.random}`);
  if (!(Number.isFinite(s.sampleBias ?? 0) && (s.sampleBias ?? 0) >= 0)) bad(`sampleBias must be a number >= 0, got ${s.sampleBias}`);
  if (!["alpha", "kl", "none"].includes(s.kd.method)) bad(`kd.method must be "alpha", "kl" or "none", got ${JSON.stringify(s.kd.method)}`);
  if (!(s.kd.lambda >= 0 && s.kd.lambda <= 1)) bad(`kd.lambda must be in [0, 1], got ${s.kd.lambda}`);
  if (!(s.kd.clip > 0)) bad(`kd.clip must be positive, got ${s.kd.clip}`);
  if (!Number.isFinite(s.kd.sizeGamma ?? 0)) bad(`kd.sizeGamma must be a number, got ${s.kd.sizeGamma}`);
  if (s.kd.lattice !== undefined && !["band", "full"].includes(s.kd.lattice)) bad(`kd.lattice must be "band" or "full", got ${JSON.stringify(s.kd.lattice)}`);
  if (!["adaptive", "fixed", "largest"].includes(s.dropout.rule)) bad(`dropout.rule must be "adaptive", "fixed" or "largest", got ${JSON.stringify(s.dropout.rule)}`);
  if (!(s.dropout.gamma >= 0)) bad(`dropout.gamma must be non-negative, got ${s.dropout.gamma}`);
  const names = new Set(listSubnets(m, s).map((x) => x.name));
  for (const n of s.validate) if (!names.has(n)) bad(`validate: "${n}" is not a subnet of this space (see \`todm subnets\`)`);
  for (const n of s.export ?? []) if (!names.has(n)) bad(`export: "${n}" is not a subnet of this space (see \`todm subnets\`)`);
}

/** Every subnet of the space, largest first by parameters (ties: deeper, then wider, first). */
export function listSubnets(m: ModelConfig, s: Pick<SupernetSpace, "enabled" | "layers" | "ffDims" | "heads">): SubnetInfo[] {
  const specs: SubnetSpec[] = s.enabled ? [] : [supernetSpec(m)];
  if (s.enabled) {
    const c = resolveChoices(m, s);
    const uniq = (a: number[]) => [...new Set(a)];
    for (const layers of uniq(c.layers)) for (const ffDim of uniq(c.ffDims)) for (const heads of uniq(c.heads)) specs.push({ layers, ffDim, heads });
  }
  return specs
    .map((spec) => ({ name: subnetName(spec), spec, params: countParams(m, spec), macs: macsPerSecond(m, spec) }))
    .sort((a, b) => b.params - a.params || b.spec.layers - a.spec.layers || b.spec.ffDim - a.spec.ffDim || b.spec.heads - a.spec.heads);
}

/**
 * The sandwich rule: the largest subnet, the smallest, and `random` distinct others drawn from the rest
 * (fewer when the space is small): uniformly, or with `bias` > 0 each draw with probability proportional to
 * (params_max / params)^bias among those left (supernet.sampleBias). One `uniform()` number in [0, 1) per draw.
 */
export function sampleSandwich(subnets: SubnetInfo[], random: number, uniform: () => number, bias = 0): SubnetInfo[] {
  if (subnets.length <= 2) return subnets.slice();
  const out = [subnets[0], subnets[subnets.length - 1]];
  const middle = subnets.slice(1, -1);
  const weights = middle.map((s) => Math.pow(subnets[0].params / s.params, bias));
  for (let k = 0; k < random && middle.length; k++) {
    let i = 0;
    if (bias === 0) i = Math.floor(uniform() * middle.length); // the uniform draw of runs before sampleBias, bit for bit
    else {
      let u = uniform() * weights.reduce((a, w) => a + w, 0);
      while (i < middle.length - 1 && u >= weights[i]) u -= weights[i++];
    }
    weights.splice(i, 1);
    out.push(middle.splice(i, 1)[0]);
  }
  return out;
}

/** The dropout probability of a sampled subnet under the configured rule. */
export function subnetDropout(rule: SupernetSpace["dropout"], pMax: number, params: number, paramsMax: number): number {
  switch (rule.rule) {
    case "fixed":
      return pMax;
    case "largest":
      return params >= paramsMax ? pMax : 0;
    case "adaptive":
      return pMax * Math.pow(params / paramsMax, rule.gamma);
  }
}

/** A student's KD weight under supernet.kd.sizeGamma: min(1, lambda·(params_max/params)^sizeGamma); lambda when sizeGamma is 0. */
export function studentLambda(lambda: number, sizeGamma: number, params: number, paramsMax: number): number {
  return sizeGamma ? Math.min(1, lambda * Math.pow(paramsMax / params, sizeGamma)) : lambda;
}

/** The distillation settings of a step, or null without distillation ("kl": alpha- = alpha+ = 1, plain KL). */
export function kdOptions(s: SupernetSpace): { lambda: number; alphaNeg: number; alphaPos: number; clip: number; lattice: "band" | "full" } | null {
  if (!s.enabled || s.kd.method === "none" || !(s.kd.lambda > 0)) return null;
  const kl = s.kd.method === "kl";
  return { lambda: s.kd.lambda, alphaNeg: kl ? 1 : s.kd.alphaNeg, alphaPos: kl ? 1 : s.kd.alphaPos, clip: s.kd.clip, lattice: s.kd.lattice ?? "band" };
}

/** The subnets validated during training: the configured list, or the largest, the smallest and two between. */
export function validationSubnets(all: SubnetInfo[], names: string[]): SubnetInfo[] {
  if (names.length) return names.map((n) => all.find((s) => s.name === n)!).filter(Boolean);
  if (all.length <= 4) return all.slice();
  const idx = [0, Math.round((all.length - 1) / 3), Math.round((2 * (all.length - 1)) / 3), all.length - 1];
  return [...new Set(idx)].map((i) => all[i]);
}
