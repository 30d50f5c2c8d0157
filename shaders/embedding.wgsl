// Embedding lookups: out[t, c] = table[ids[t], c], optionally + positions[t % length, c]
// (CLIP's token + position embeddings, transformers CLIPTextEmbeddings.forward, in one pass).
// One invocation per output element; the grid is folded into x*y workgroups past 65535.
//
// Tables are raw u32 words so that one shader reads f32 weights and f16 weights packed in pairs
// (low half first, as unpack2x16float reads them); TOKENS_F16 / POSITIONS_F16 choose which.

override TOKENS_F16: bool = false;
override POSITIONS_F16: bool = false;

struct Params {
  count: u32,     // tokens * channels
  channels: u32,  // C, the embedding width
  length: u32,    // tokens per sequence: token t sits at position t % length
  vocab: u32,     // rows of the token table; larger ids read the last row instead of out of bounds
  row_start: u32, // the rows of the table `tokens` holds: [row_start, row_start + rows); a table
  rows: u32,      // larger than one binding comes in row blocks, one pass each (kernels/embedding.ts)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> tokens: array<u32>;
@group(0) @binding(3) var<storage, read> positions: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;

fn flat_index(wg: vec3u, nwg: vec3u, li: u32) -> u32 {
  return (wg.x + wg.y * nwg.x) * WG + li;
}

fn token_value(i: u32) -> f32 {
  if (TOKENS_F16) {
    let pair = unpack2x16float(tokens[i >> 1u]);
    return select(pair.x, pair.y, (i & 1u) == 1u);
  }
  return bitcast<f32>(tokens[i]);
}

fn position_value(i: u32) -> f32 {
  if (POSITIONS_F16) {
    let pair = unpack2x16float(positions[i >> 1u]);
    return select(pair.x, pair.y, (i & 1u) == 1u);
  }
  return bitcast<f32>(positions[i]);
}

fn token_row(t: u32) -> u32 {
  return min(ids[t], p.vocab - 1u);
}

@compute @workgroup_size(WG)
fn gather(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = flat_index(wg, nwg, li);
  if (i >= p.count) { return; }
  let t = i / p.channels;
  let c = i % p.channels;
  let row = token_row(t);
  if (row < p.row_start || row - p.row_start >= p.rows) { return; }
  out[i] = token_value((row - p.row_start) * p.channels + c);
}

@compute @workgroup_size(WG)
fn gather_add_position(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = flat_index(wg, nwg, li);
  if (i >= p.count) { return; }
  let t = i / p.channels;
  let c = i % p.channels;
  let row = token_row(t);
  if (row < p.row_start || row - p.row_start >= p.rows) { return; }
  out[i] = token_value((row - p.row_start) * p.channels + c) + position_value((t % p.length) * p.channels + c);
}
