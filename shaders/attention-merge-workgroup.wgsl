// merge_lanes for main_row_per_thread (shaders/attention.wgsl), the plain fallback: the SPLITS
// lanes of a query row exchange their running softmaxes through workgroup memory, one column vector
// at a time. It runs once per workgroup, after all the keys.

var<workgroup> lane_max: array<f32, ROW_THREADS>;
var<workgroup> lane_sum: array<f32, ROW_THREADS>;
var<workgroup> lane_part: array<vec4<f32>, ROW_THREADS>;

// Merges the lanes' (m, l, o): returns the row's max-shifted l, and leaves the row's o[d4] in the
// lane d4 % SPLITS (the one that writes it).
fn merge_lanes(t: u32, lane: u32, m: f32, l: f32, o: ptr<function, array<vec4<f32>, MAX_HEAD_VEC4>>) -> f32 {
  if (SPLITS == 1u) { return l; }
  let first = t - lane;
  lane_max[t] = m;
  workgroupBarrier();
  var m_all = NEG_BIG;
  for (var s = 0u; s < SPLITS; s++) { m_all = max(m_all, lane_max[first + s]); }
  // A lane that saw only masked keys has m = NEG_BIG and weight 0.
  let weight = exp2(m - m_all);
  lane_sum[t] = l * weight;
  workgroupBarrier();
  var l_all = 0.0;
  for (var s = 0u; s < SPLITS; s++) { l_all += lane_sum[first + s]; }
  for (var d4 = 0u; d4 < HEAD_VEC4; d4++) {
    lane_part[t] = (*o)[d4] * weight;
    workgroupBarrier();
    if (d4 % SPLITS == lane) {
      var sum = vec4(0.0);
      for (var s = 0u; s < SPLITS; s++) { sum += lane_part[first + s]; }
      (*o)[d4] = sum;
    }
    workgroupBarrier();
  }
  return l_all;
}
