// What a steering checker gets: the fixture's case, its io tensors and the loaded UNet; and how a
// sampler case's run is compared. Each control's checker (steering-<control>.ts) imports this.
import type { GpuContext } from '../../src/engine/gpu/gpu-context';
import type { UNet } from '../../src/engine/nn/unet';
import type { ModelFolder } from '../../src/engine/weights/model-folder';
import { compare, type GoldenCheck } from './compare';

/** One case of steering.json: `control` names it; the rest are its parameters (see the README). */
export interface SteeringCase {
  name: string;
  control: string;
  out: string;
  [parameter: string]: unknown;
}

export interface SteeringFixture {
  gpu: GpuContext;
  folder: ModelFolder;
  unet: UNet;
  /** A tensor of io.safetensors, or an error naming it. */
  get(name: string): { shape: number[]; data: Float32Array };
  has(name: string): boolean;
}

export type SteeringChecker = (fixture: SteeringFixture, c: SteeringCase) => AsyncGenerator<GoldenCheck>;

/** A sampler case's final latents and trajectory (latents after each step) against the reference's. */
export function* compareRun(fixture: SteeringFixture, c: SteeringCase, latents: Float32Array, trajectory: readonly Float32Array[]): Generator<GoldenCheck> {
  const expected = fixture.get(`${c.out}.trajectory`);
  const perStep = latents.length;
  const flat = new Float32Array(trajectory.length * perStep);
  trajectory.forEach((t, i) => flat.set(t, i * perStep));
  yield compare(`${c.out}.trajectory`, flat, expected.data);
  yield compare(c.out, latents, fixture.get(c.out).data);
}
