// workgroup_moments for shaders/norm.wgsl on devices with `subgroups` (norm.ts puts `enable
// subgroups;` at the top of the module): a butterfly of subgroupShuffleXor merges each subgroup's
// moments in registers, one invocation per subgroup posts them, and every invocation merges those
// few: two barriers instead of log2(WG) + 2.
//
// The subgroup's size and its place in the workgroup come from subgroup operations (its invocations
// counted, the first one's index), so the entry points need no subgroup builtins and serve both
// variants. This relies on each subgroup being a run of consecutive local_invocation_index values,
// as Vulkan, D3D12 and Metal drivers lay out one-dimensional workgroups.

// Merges every invocation's moments; all invocations get the total. Call in uniform control flow.
fn workgroup_moments(own: vec4f, li: u32) -> vec4f {
  let size = subgroupAdd(1u);
  var total = own;
  for (var mask = 1u; mask < size; mask <<= 1u) { total = merge(total, subgroupShuffleXor(total, mask)); }
  let slot = subgroupBroadcastFirst(li) / size;
  if (subgroupElect()) { partial[slot] = total; }
  workgroupBarrier();
  total = partial[0];
  for (var s = 1u; s < WG / size; s++) { total = merge(total, partial[s]); }
  // Every invocation has read the totals before any may overwrite `partial` in a later call.
  workgroupBarrier();
  return total;
}
