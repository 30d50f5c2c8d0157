// npx vite-node scripts/bench/pag-cost.ts <UNet folder> [--latent N] [--iterations N]
// What Perturbed-Attention Guidance costs per step: median ms of one UNet call at CFG's batch of 2
// (PAG off) and at PAG's batch of 3 with the middle block's self-attention perturbed (on), each call
// alone and waited for. Runs wherever WebGPU does (SwiftShader here; dawn.node on a GPU machine).
import { createNodeGpuContext } from '../../src/engine/gpu/node-gpu';
import { UNet, type UNetCall } from '../../src/engine/nn/unet';
import { nodeModelFolder } from '../../src/engine/weights/node-byte-source';
import { median } from './time-kernel';

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const folder = args.find((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
if (!folder) throw new Error('usage: pag-cost.ts <UNet folder> [--latent N] [--iterations N]');

const gpu = await createNodeGpuContext({ onError: (e) => { throw e; } });
const unet = await UNet.load(gpu, nodeModelFolder(folder));
const side = option('latent', unet.config.sampleSize ?? 64);
const iterations = option('iterations', 3);
const middle = unet.sites.filter((s) => s.kind === 'attn1' && s.part === 'middle').map((s) => s.path);

async function time(call: UNetCall): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i <= iterations; i++) {
    const started = performance.now();
    call.plan.run();
    await gpu.idle();
    if (i > 0) times.push(performance.now() - started); // the first is warm-up
  }
  return median(times);
}

const off = await time(unet.prepare(2, side, side, 77));
const on = await time(unet.prepare(3, side, side, 77, { sites: middle, fromItem: 2 }));
console.log(JSON.stringify({ adapter: gpu.adapterName ?? 'unknown', latent: side, perturbed: middle, msPerCallOff: off, msPerCallOn: on, ratio: on / off, dispatchesOff: unet.prepare(2, side, side, 77).plan.steps.length, dispatchesOn: unet.prepare(3, side, side, 77, { sites: middle, fromItem: 2 }).plan.steps.length }));
unet.destroy();
gpu.destroy();
