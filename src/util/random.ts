// The one seeded generator of the host: mulberry32 (Tommy Ettinger's 32-bit mixer), so that a seed gives
// the same corpus, batches, masks and initial weights on every machine. Not for cryptography.

/** Uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniforms in the open interval (0, 1) (safe under log) and Box-Muller normals from them. */
export function seededRandom(seed: number): { uniform(): number; normal(): number } {
  const u = mulberry32(seed);
  const uniform = () => u() + 0.5 / 4294967296;
  return { uniform, normal: () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform()) };
}
