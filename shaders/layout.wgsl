// Data movement between the layouts the UNet uses: nearest 2x upsampling, channel concatenation (the
// skip connections) and the NCHW <-> [N, H*W, C] token transposes around each transformer block.
// Every entry point reads `src` and writes `dst`; `src_b` is concat's second input.

// One params struct for every entry point; each uses the fields its comment names.
struct Params {
  // upsample, concat: elements of dst (transpose takes its batch from the grid's z).
  count: u32,
  // upsample: source height and width. concat: elements per batch item of a and of b (C*H*W).
  // transpose: the source matrix of each batch item is [rows, cols].
  size0: u32,
  size1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> src_b: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

const WG: u32 = 256u;

fn flat_index(wg: vec3u, nwg: vec3u, li: u32) -> u32 {
  return (wg.x + wg.y * nwg.x) * WG + li;
}

// dst[nc, y, x] = src[nc, y / 2, x / 2]: torch.nn.functional.interpolate(scale_factor=2, mode="nearest").
@compute @workgroup_size(WG)
fn upsample_nearest_2x(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = flat_index(wg, nwg, li);
  if (i >= p.count) { return; }
  let height = p.size0;
  let width = p.size1;
  let x = i % (2u * width);
  let y = (i / (2u * width)) % (2u * height);
  let plane = i / (4u * height * width);
  dst[i] = src[(plane * height + y / 2u) * width + x / 2u];
}

// dst[n] = [a[n]; b[n]] along channels: torch.cat([a, b], dim=1). In NCHW each batch item of a, of b and
// of dst is one contiguous block, so dst's item is a's block followed by b's.
@compute @workgroup_size(WG)
fn concat_channels(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = flat_index(wg, nwg, li);
  if (i >= p.count) { return; }
  let a_item = p.size0;
  let b_item = p.size1;
  let n = i / (a_item + b_item);
  let offset = i % (a_item + b_item);
  if (offset < a_item) {
    dst[i] = src[n * a_item + offset];
  } else {
    dst[i] = src_b[n * b_item + offset - a_item];
  }
}

// dst[n, c, r] = src[n, r, c] for each batch item's [rows, cols] matrix: NCHW -> tokens is rows = C,
// cols = H*W; tokens -> NCHW is rows = H*W, cols = C. A TILE x TILE block goes through workgroup memory
// so that both the reads and the writes are contiguous along a row (the classic shared-memory transpose;
// the +1 column keeps the column reads off a single memory bank).
override TILE: u32 = 32u;
const ROWS_PER_STEP: u32 = 8u;
override PITCH: u32 = TILE + 1u;
var<workgroup> block: array<f32, TILE * PITCH>;

@compute @workgroup_size(TILE, ROWS_PER_STEP)
fn transpose(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let rows = p.size0;
  let cols = p.size1;
  let base = wg.z * rows * cols;
  let row0 = wg.y * TILE;
  let col0 = wg.x * TILE;
  for (var r = lid.y; r < TILE; r += ROWS_PER_STEP) {
    let row = row0 + r;
    let col = col0 + lid.x;
    if (row < rows && col < cols) {
      block[r * PITCH + lid.x] = src[base + row * cols + col];
    }
  }
  workgroupBarrier();
  // dst is [cols, rows]: walk it by rows of dst, reading block columns.
  for (var c = lid.y; c < TILE; c += ROWS_PER_STEP) {
    let col = col0 + c;
    let row = row0 + lid.x;
    if (row < rows && col < cols) {
      dst[base + col * rows + row] = block[lid.x * PITCH + c];
    }
  }
}
