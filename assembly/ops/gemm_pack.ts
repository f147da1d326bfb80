// GEMM packing: copies a KC-deep block of op(A) or op(B) into the contiguous panel layout that the
// micro-kernel in gemm.ts streams through. The transposes are absorbed here, so one micro-kernel
// serves all four (transA, transB) combinations. Partial panels are padded with zeros.
//
// Not a public kernel: gemm.ts is the only caller. The layout is GotoBLAS/BLIS's (Goto & van de
// Geijn 2008, "Anatomy of high-performance matrix multiplication"; BLIS `bli_packm`), written anew.
//
// Packed A (mr-row panels): panel p holds rows p*mr .. p*mr+mr-1 of op(A), one column per k:
//   dst[p*kc*mr + k*mr + r] = op(A)[p*mr + r, k]        (0 where p*mr + r >= mc)
// Packed B (8-column panels): panel q holds columns q*8 .. q*8+7 of op(B), one row per k:
//   dst[q*kc*8 + k*8 + c] = op(B)[k, q*8 + c]           (0 where q*8 + c >= nc)

/**
 * Packs op(A)[0:mc, 0:kc] into panels of `mr` rows.
 * transA = 0: `src` points at op(A)[0,0] = A[i0, k0], row stride lda (op(A)[i,k] = src[i*lda + k]).
 * transA = 1: `src` points at A[k0, i0], row stride lda (op(A)[i,k] = src[k*lda + i]).
 */
export function gemm_pack_a(dst: usize, src: usize, transA: i32, mc: i32, kc: i32, lda: i32, mr: i32): void {
  const rowBytes = <usize>lda << 2;
  const full = (mc / mr) * mr; // rows in full panels
  if (transA && (mr == 4 || mr == 5) && full > 0) {
    // op(A) column k is a contiguous stretch of row k of A: sweep A row by row and deal each row's
    // floats to the panels. Walking one panel down all k instead reads 16-20 bytes per row of A,
    // rows lda apart: with lda = 1024 every row falls in the same L1 set and each line is fetched
    // again for every panel (measured 2x slower on the block's weight-gradient GEMMs).
    const panelBytes = (<usize>kc * mr) << 2, step = <usize>mr << 2;
    for (let k = 0; k < kc; k++) {
      const s = src + <usize>k * rowBytes;
      let d = dst + <usize>k * step;
      if (mr == 5) {
        for (let i0 = 0; i0 < full; i0 += 5) {
          v128.store(d, v128.load(s + (<usize>i0 << 2)));
          store<f32>(d, load<f32>(s + (<usize>i0 << 2), 16), 16);
          d += panelBytes;
        }
      } else {
        for (let i0 = 0; i0 < full; i0 += 4) {
          v128.store(d, v128.load(s + (<usize>i0 << 2)));
          d += panelBytes;
        }
      }
    }
    if (full == mc) return;
  }
  for (let i0 = transA && (mr == 4 || mr == 5) ? full : 0; i0 < mc; i0 += mr) {
    const rows = min(mr, mc - i0);
    const panel = dst + ((<usize>i0 * kc) << 2);
    if (transA && mr == 4 && rows == 4) {
      // op(A) column k is contiguous in memory: one vector per k.
      let s = src + (<usize>i0 << 2);
      let d = panel;
      for (let k = 0; k < kc; k++) {
        v128.store(d, v128.load(s));
        s += rowBytes;
        d += 16;
      }
    } else if (transA && mr == 5 && rows == 5) {
      // op(A) column k is contiguous in memory: one vector and one float per k.
      let s = src + (<usize>i0 << 2);
      let d = panel;
      for (let k = 0; k < kc; k++) {
        v128.store(d, v128.load(s));
        store<f32>(d, load<f32>(s, 16), 16);
        s += rowBytes;
        d += 20;
      }
    } else if (transA) {
      // op(A) column k is contiguous in memory: copy `rows` floats per k.
      let s = src + (<usize>i0 << 2);
      let d = panel;
      for (let k = 0; k < kc; k++) {
        let r = 0;
        for (; r < rows; r++) store<f32>(d + (<usize>r << 2), load<f32>(s + (<usize>r << 2)));
        for (; r < mr; r++) store<f32>(d + (<usize>r << 2), 0);
        s += rowBytes;
        d += <usize>mr << 2;
      }
    } else if (mr == 4 && rows == 4) {
      // Four rows of A become the four lanes of each packed k step: 4x4 transposes.
      const s = src + <usize>i0 * rowBytes;
      let d = panel;
      let k = 0;
      for (; k + 4 <= kc; k += 4) {
        transpose4(d, s + (<usize>k << 2), rowBytes, 16);
        d += 64;
      }
      for (; k < kc; k++) {
        const o = <usize>k << 2;
        store<f32>(d, load<f32>(s + o));
        store<f32>(d, load<f32>(s + rowBytes + o), 4);
        store<f32>(d, load<f32>(s + 2 * rowBytes + o), 8);
        store<f32>(d, load<f32>(s + 3 * rowBytes + o), 12);
        d += 16;
      }
    } else if (mr == 5 && rows == 5) {
      // Rows 0-3 by 4x4 transposes (one unaligned vector per k, 20 bytes apart), row 4 lane by lane.
      const s = src + <usize>i0 * rowBytes;
      const s4 = s + 4 * rowBytes;
      let d = panel;
      let k = 0;
      for (; k + 4 <= kc; k += 4) {
        const o = <usize>k << 2;
        transpose4(d, s + o, rowBytes, 20);
        const r4 = v128.load(s4 + o);
        store<f32>(d, f32x4.extract_lane(r4, 0), 16);
        store<f32>(d, f32x4.extract_lane(r4, 1), 36);
        store<f32>(d, f32x4.extract_lane(r4, 2), 56);
        store<f32>(d, f32x4.extract_lane(r4, 3), 76);
        d += 80;
      }
      for (; k < kc; k++) {
        const o = <usize>k << 2;
        for (let r = 0; r < 5; r++) store<f32>(d + (<usize>r << 2), load<f32>(s + <usize>r * rowBytes + o));
        d += 20;
      }
    } else {
      // op(A) row i is contiguous: read each row once, scatter it with stride mr.
      const step = <usize>mr << 2;
      for (let r = 0; r < mr; r++) {
        let d = panel + (<usize>r << 2);
        if (r < rows) {
          let s = src + <usize>(i0 + r) * rowBytes;
          for (let k = 0; k < kc; k++) {
            store<f32>(d, load<f32>(s));
            s += 4;
            d += step;
          }
        } else {
          for (let k = 0; k < kc; k++) {
            store<f32>(d, 0);
            d += step;
          }
        }
      }
    }
  }
}

/**
 * Packs op(B)[0:kc, 0:nc] into panels of 8 columns.
 * transB = 0: `src` points at B[k0, j0], row stride ldb (op(B)[k,j] = src[k*ldb + j]).
 * transB = 1: `src` points at B[j0, k0], row stride ldb (op(B)[k,j] = src[j*ldb + k]).
 */
export function gemm_pack_b(dst: usize, src: usize, transB: i32, kc: i32, nc: i32, ldb: i32): void {
  const rowBytes = <usize>ldb << 2;
  const full = nc & ~7; // columns in full panels
  if (!transB && full > 0) {
    // Bands of 8 rows of B dealt to every full panel (256 contiguous bytes per panel). Walking one
    // panel down all k instead reads 32 bytes per row, rows ldb apart: with ldb = 1024 every row falls
    // in the same L1 set and each line is fetched again for the next panel (measured 2-3x slower for
    // the block's dX and dW GEMMs of W2; 1.3x faster with ldb = 256 as well).
    const panelBytes = <usize>kc << 5;
    let k = 0;
    for (; k + 8 <= kc; k += 8) pack_b_band(dst + (<usize>k << 5), src + <usize>k * rowBytes, rowBytes, 8, full, panelBytes);
    for (; k < kc; k++) pack_b_band(dst + (<usize>k << 5), src + <usize>k * rowBytes, rowBytes, 1, full, panelBytes);
  }
  for (let j0 = transB ? 0 : full; j0 < nc; j0 += 8) {
    const cols = min(8, nc - j0);
    let d = dst + ((<usize>j0 * kc) << 2);
    if (!transB) {
      let s = src + (<usize>j0 << 2);
      if (cols == 8) {
        for (let k = 0; k < kc; k++) {
          v128.store(d, v128.load(s));
          v128.store(d, v128.load(s, 16), 16);
          s += rowBytes;
          d += 32;
        }
      } else {
        for (let k = 0; k < kc; k++) {
          let c = 0;
          for (; c < cols; c++) store<f32>(d + (<usize>c << 2), load<f32>(s + (<usize>c << 2)));
          for (; c < 8; c++) store<f32>(d + (<usize>c << 2), 0);
          s += rowBytes;
          d += 32;
        }
      }
    } else if (cols == 8) {
      // Eight rows of B become eight columns of the panel: 4x4 transposes, four k at a time.
      const s = src + <usize>j0 * rowBytes;
      let k = 0;
      for (; k + 4 <= kc; k += 4) {
        const o = <usize>k << 2;
        transpose4(d, s + o, rowBytes, 32);
        transpose4(d + 16, s + 4 * rowBytes + o, rowBytes, 32);
        d += 128;
      }
      for (; k < kc; k++) {
        const o = <usize>k << 2;
        for (let c = 0; c < 8; c++) store<f32>(d + (<usize>c << 2), load<f32>(s + <usize>c * rowBytes + o));
        d += 32;
      }
    } else {
      const s = src + <usize>j0 * rowBytes;
      for (let k = 0; k < kc; k++) {
        const o = <usize>k << 2;
        let c = 0;
        for (; c < cols; c++) store<f32>(d + (<usize>c << 2), load<f32>(s + <usize>c * rowBytes + o));
        for (; c < 8; c++) store<f32>(d + (<usize>c << 2), 0);
        d += 32;
      }
    }
  }
}

/**
 * Rows 0..rows-1 (8 or 1) of `src` (row stride rowBytes), columns 0..full-1 (full % 8 == 0), into the
 * full panels at dst: row r of panel q at dst + q·panelBytes + 32·r.
 */
// @ts-ignore: decorator
@inline
function pack_b_band(dst: usize, src: usize, rowBytes: usize, rows: i32, full: i32, panelBytes: usize): void {
  let d = dst;
  for (let j0 = 0; j0 < full; j0 += 8) {
    let s = src + (<usize>j0 << 2);
    if (rows == 8) {
      for (let r = 0; r < 8; r++) {
        const dr = d + (<usize>r << 5);
        v128.store(dr, v128.load(s));
        v128.store(dr, v128.load(s, 16), 16);
        s += rowBytes;
      }
    } else {
      v128.store(d, v128.load(s));
      v128.store(d, v128.load(s, 16), 16);
    }
    d += panelBytes;
  }
}

/** Reads 4 floats from each of 4 rows (stride `rowBytes`) and writes them as 4 columns, rows `dstStep` bytes apart. */
// @ts-ignore: decorator
@inline
function transpose4(d: usize, s: usize, rowBytes: usize, dstStep: usize): void {
  const r0 = v128.load(s), r1 = v128.load(s + rowBytes);
  const r2 = v128.load(s + 2 * rowBytes), r3 = v128.load(s + 3 * rowBytes);
  const t0 = f32x4.shuffle(r0, r1, 0, 4, 1, 5); // a0 b0 a1 b1
  const t1 = f32x4.shuffle(r0, r1, 2, 6, 3, 7); // a2 b2 a3 b3
  const t2 = f32x4.shuffle(r2, r3, 0, 4, 1, 5); // c0 d0 c1 d1
  const t3 = f32x4.shuffle(r2, r3, 2, 6, 3, 7); // c2 d2 c3 d3
  v128.store(d, f32x4.shuffle(t0, t2, 0, 1, 4, 5));
  v128.store(d + dstStep, f32x4.shuffle(t0, t2, 2, 3, 6, 7));
  v128.store(d + 2 * dstStep, f32x4.shuffle(t1, t3, 0, 1, 4, 5));
  v128.store(d + 3 * dstStep, f32x4.shuffle(t1, t3, 2, 3, 6, 7));
}
