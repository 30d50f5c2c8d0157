// merge_lanes for main_row_per_thread (shaders/attention.wgsl) on devices with `subgroups`: the
// SPLITS lanes of a query row are adjacent invocations of one subgroup (attention.ts only picks this
// when SPLITS <= the adapter's smallest subgroup size), so a butterfly of subgroupShuffleXor merges
// their running softmaxes in registers, with no barrier and no workgroup memory. attention.ts puts
// `enable subgroups;` at the top of the module.

// Merges the lanes' (m, l, o): every lane ends with the row's max-shifted sums, l returned and o in
// place (all of it; the caller writes its own columns).
fn merge_lanes(t: u32, lane: u32, m: f32, l: f32, o: ptr<function, array<vec4<f32>, MAX_HEAD_VEC4>>) -> f32 {
  if (SPLITS == 1u) { return l; }
  var m_all = m;
  for (var mask = 1u; mask < SPLITS; mask <<= 1u) { m_all = max(m_all, subgroupShuffleXor(m_all, mask)); }
  // A lane that saw only masked keys has m = NEG_BIG and weight 0.
  let weight = exp2(m - m_all);
  var l_all = l * weight;
  for (var mask = 1u; mask < SPLITS; mask <<= 1u) { l_all += subgroupShuffleXor(l_all, mask); }
  for (var d4 = 0u; d4 < HEAD_VEC4; d4++) {
    var sum = (*o)[d4] * weight;
    for (var mask = 1u; mask < SPLITS; mask <<= 1u) { sum += subgroupShuffleXor(sum, mask); }
    (*o)[d4] = sum;
  }
  return l_all;
}
