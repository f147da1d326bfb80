// safetensors bytes <-> tensors, without file access: the half of src/io/safetensors.ts that also runs
// in a browser or a Web Worker (the inference API, src/infer/, parses model bytes with it).
// The format and its checks are described in src/io/safetensors.ts.

export type DType = "F32" | "I32" | "I8" | "U8" | "F64" | "I64";

export type TensorData = Float32Array | Int32Array | Int8Array | Uint8Array | Float64Array | BigInt64Array;

export interface NamedTensor {
  name: string;
  dtype: DType;
  shape: number[];
  data: TensorData;
}

const BYTES: Record<DType, number> = { F32: 4, I32: 4, I8: 1, U8: 1, F64: 8, I64: 8 };

export class ModelFileError extends Error {
  constructor(source: string, problem: string, hint = "") {
    super(`${source}: ${problem}${hint ? ` (${hint})` : ""}`);
    this.name = "ModelFileError";
  }
}

/** Serialises tensors (in the given order) and string metadata into safetensors bytes. */
export function encodeSafetensors(tensors: NamedTensor[], metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) throw new Error(`tensor ${t.name}: shape [${t.shape}] holds ${n} values, data has ${t.data.length}`);
    const bytes = n * BYTES[t.dtype];
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes + ((8 - (bytes % 8)) % 8); // keep every tensor 8-byte aligned
  }
  let json = JSON.stringify(header);
  const pad = (8 - ((new TextEncoder().encode(json).length + 8) % 8)) % 8;
  json += " ".repeat(pad);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  const base = 8 + headerBytes.length;
  for (const t of tensors) {
    const [begin] = (header[t.name] as { data_offsets: number[] }).data_offsets;
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), base + begin);
  }
  return out;
}

export interface SafetensorsFile {
  metadata: Record<string, string>;
  tensors: Map<string, NamedTensor>;
}

/** Parses safetensors bytes; `source` (a path) names the file in errors. Tensors are fresh copies. */
export function decodeSafetensors(bytes: Uint8Array, source = "<bytes>"): SafetensorsFile {
  const hint = "is it a todm model or checkpoint, completely written?";
  if (bytes.length < 8) throw new ModelFileError(source, `not a safetensors file: only ${bytes.length} bytes`, hint);
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (n < 2 || n > 100 << 20) throw new ModelFileError(source, `not a safetensors file: header length ${n} is implausible`, hint);
  if (8 + n > bytes.length) {
    throw new ModelFileError(source, `truncated: the header needs ${8 + n} bytes, the file has ${bytes.length}`, hint);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch {
    throw new ModelFileError(source, "not a safetensors file: its header is not JSON", hint);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw new ModelFileError(source, "not a safetensors file: its header is not a JSON object", hint);
  }
  const base = 8 + n;
  const dataLength = bytes.length - base;
  let metadata: Record<string, string> = {};
  const tensors = new Map<string, NamedTensor>();
  for (const [name, value] of Object.entries(header)) {
    if (name === "__metadata__") {
      const entries = Object.entries((value ?? {}) as Record<string, unknown>);
      for (const [k, v] of entries) {
        if (typeof v !== "string") throw new ModelFileError(source, `metadata "${k}" is not a string`);
      }
      metadata = Object.fromEntries(entries) as Record<string, string>; // own keys, even "__proto__"
      continue;
    }
    const info = value as { dtype?: string; shape?: number[]; data_offsets?: number[] };
    const dtype = info?.dtype as DType;
    if (!(dtype in BYTES)) throw new ModelFileError(source, `tensor "${name}" has unsupported dtype ${info?.dtype}`);
    const shape = info.shape;
    const offs = info.data_offsets;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0) || !Array.isArray(offs) || offs.length !== 2) {
      throw new ModelFileError(source, `tensor "${name}" has a malformed shape or data_offsets`);
    }
    const count = shape.reduce((a, b) => a * b, 1);
    const [begin, end] = offs;
    if (end - begin !== count * BYTES[dtype] || begin < 0) {
      throw new ModelFileError(source, `tensor "${name}": shape [${shape}] does not match its ${end - begin} bytes`);
    }
    if (end > dataLength) {
      throw new ModelFileError(source, `truncated: tensor "${name}" ends at byte ${base + end}, the file has ${bytes.length}`, hint);
    }
    const raw = new Uint8Array(bytes.subarray(base + begin, base + end)); // a copy (Buffer.slice would be a view), aligned at 0
    const data =
      dtype === "F32" ? new Float32Array(raw.buffer) :
      dtype === "I32" ? new Int32Array(raw.buffer) :
      dtype === "I8" ? new Int8Array(raw.buffer) :
      dtype === "U8" ? new Uint8Array(raw.buffer) :
      dtype === "F64" ? new Float64Array(raw.buffer) : new BigInt64Array(raw.buffer);
    tensors.set(name, { name, dtype, shape, data });
  }
  return { metadata, tensors };
}
