// Random tensors made on the GPU (benchmarks with random weights "generated in place").
import wgsl from '../../../shaders/random-fill.wgsl?raw';
import type { GpuContext } from '../gpu/gpu-context';
import { params } from '../gpu/params';
import { grid1d } from '../gpu/recorder';
import { byteSize, type Tensor, type TensorDType } from '../gpu/tensor';

/** A new tensor of uniform values in [-scale, scale), f32 or packed f16, filled by one dispatch. */
export function randomTensor(gpu: GpuContext, label: string, shape: readonly number[], dtype: TensorDType, scale: number, seed: number): Tensor {
  const bytes = byteSize(shape, dtype);
  const buffer = gpu.createBuffer(label, bytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST);
  const words = bytes / 4;
  const uniforms = gpu.createBuffer(`${label}:params`, 16, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
  gpu.write(uniforms, params().u32(words, seed >>> 0).f32(scale).u32(0).bytes());
  const pipeline = gpu.pipeline('random-fill', wgsl, 'main', { PACK_F16: dtype === 'f16' ? 1 : 0 });
  const bindGroup = gpu.device.createBindGroup({
    label,
    layout: pipeline.getBindGroupLayout(0),
    entries: [
      { binding: 0, resource: { buffer: uniforms } },
      { binding: 1, resource: { buffer } },
    ],
  });
  const encoder = gpu.device.createCommandEncoder({ label });
  const pass = encoder.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(...grid1d(Math.ceil(words / 256)));
  pass.end();
  gpu.device.queue.submit([encoder.finish()]);
  uniforms.destroy(); // destroyed after the submit: WebGPU keeps it alive for the queued work
  return { buffer, shape: [...shape], dtype, byteOffset: 0, label };
}
