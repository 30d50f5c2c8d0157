// Golden checks of the attention maps (tests/fixtures/steering-tiny, see its README): one UNet call
// with the probes recorded, on `input` ("sample" or "sample_odd"), `timestep` and
// `encoder_hidden_states`; the self-attention rows of the probed queries at one attn1 site, and
// DAAM's token maps (every attn2 site's head-averaged [tokens, h·w], upsampled, clamped, averaged).
import { buildSiteTable } from '../../src/engine/steering/controls';
import { daamTokenMaps } from '../../src/engine/steering/attention-maps-reference';
import type { ProbeReadings, ProbeSpec } from '../../src/engine/nn/unet-probes';
import { compare, type GoldenCheck } from './compare';
import type { SteeringCase, SteeringChecker, SteeringFixture } from './steering-fixture';

/** One call of the fixture's UNet with `spec`'s probes (each step weight 1), read back. */
async function probedCall(fixture: SteeringFixture, c: SteeringCase, spec: ProbeSpec, queries?: number[]): Promise<{ readings: ProbeReadings; height: number; width: number }> {
  const { unet, gpu } = fixture;
  const sample = fixture.get(String(c.input ?? 'sample'));
  const context = fixture.get('encoder_hidden_states');
  const [batch, , height, width] = sample.shape;
  unet.setSiteTable(buildSiteTable(unet.sites, { rules: [] }));
  unet.setProbes(spec);
  try {
    const call = unet.prepare(batch, height, width, context.shape[1]);
    gpu.write(call.sample.buffer, sample.data);
    gpu.write(call.timesteps.buffer, fixture.get('timestep').data);
    gpu.write(call.context.buffer, context.data);
    call.probes!.reset(queries);
    call.probes!.setStepWeights(1, 1);
    call.contextPlan.run();
    call.plan.run();
    return { readings: await call.probes!.read(), height, width };
  } finally {
    unet.setProbes(undefined);
  }
}

const selfAttentionMap: SteeringChecker = async function* (fixture, c): AsyncGenerator<GoldenCheck> {
  const queries = c.queries as number[];
  const spec = { crossAttention: false, selfAttentionSite: String(c.site), selfAttentionQueries: queries.length, batchIndex: Number(c.batch_index) };
  const { readings } = await probedCall(fixture, c, spec, queries);
  yield compare(c.out, readings.self!.values, fixture.get(c.out).data);
};

const crossAttentionMap: SteeringChecker = async function* (fixture, c): AsyncGenerator<GoldenCheck> {
  const { readings, height, width } = await probedCall(fixture, c, { crossAttention: true, batchIndex: Number(c.batch_index) });
  for (const site of readings.cross) {
    const name = `${c.out}.sites.${site.path}`;
    if (fixture.has(name)) yield compare(name, site.values, fixture.get(name).data);
  }
  const tokens = readings.cross[0].keys;
  yield compare(c.out, daamTokenMaps(readings.cross, tokens, height, width), fixture.get(c.out).data);
};

export const ATTENTION_MAP_CHECKS: Record<string, SteeringChecker> = {
  self_attention_map: selfAttentionMap,
  cross_attention_map: crossAttentionMap,
};
