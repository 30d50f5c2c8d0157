// workgroup_moments for shaders/norm.wgsl, the plain fallback: a tree through workgroup memory,
// log2(WG) barriers.

// Merges every invocation's moments; all invocations get the total. Call in uniform control flow.
fn workgroup_moments(own: vec4f, li: u32) -> vec4f {
  partial[li] = own;
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    workgroupBarrier();
    if (li < stride) { partial[li] = merge(partial[li], partial[li + stride]); }
  }
  workgroupBarrier();
  let total = partial[0];
  // Every invocation has read the total before any may overwrite `partial` in a later call.
  workgroupBarrier();
  return total;
}
