// One generation's attention maps on our UNet: which probes its calls record (UNet.setProbes),
// what each step adds to them (beforeStep: the step weights), and the maps read back once at the
// end: DAAM token maps at the latent size, or one point's self-attention over its site.
import type { AttentionMapRequest, AttentionMapsResult } from '../api';
import type { UNet } from '../nn/unet';
import { selfAttentionSiteOf } from '../steering/attention-maps';
import { daamTokenMaps } from '../steering/attention-maps-reference';
import { isStepInRange, type StepRange } from '../steering/step-range';

export class AttentionMapRun {
  private constructor(
    private readonly unet: UNet,
    private readonly request: Readonly<AttentionMapRequest>,
    private readonly steps: number,
    private readonly range?: Readonly<StepRange>,
  ) {}

  /** Sets the UNet's probes for `request` (undefined and no probe where it asks for no map); a
   * self-attention site it does not have is replaced by the middle one, with a notice. */
  static start(unet: UNet, request: AttentionMapRequest | undefined, opts: { guided: boolean; steps: number; notices: string[]; range?: StepRange }): AttentionMapRun | undefined {
    let self = request?.selfAttention;
    if (!request || (!request.crossAttention && !self)) {
      unet.setProbes(undefined);
      return undefined;
    }
    let site = self && selfAttentionSiteOf(unet.sites, self.site);
    if (self && !site) {
      site = selfAttentionSiteOf(unet.sites, 'mid_block') ?? unet.sites.find((s) => s.kind === 'attn1');
      opts.notices.push(site ? `This model has no self-attention block "${self.site}"; the map shows ${site.path}.` : 'This model has no self-attention to map.');
      if (!site) self = undefined;
    }
    unet.setProbes({ crossAttention: !!request.crossAttention, selfAttentionSite: site?.path, batchIndex: opts.guided ? 1 : 0 });
    return new AttentionMapRun(unet, { ...request, selfAttention: self && { ...self, site: site!.path } }, opts.steps, opts.range);
  }

  /** Step i's weights: DAAM's average over the steps (in range), and the self-attention map's over
   * all steps or its one step. Written before the step is queued. */
  beforeStep(i: number): void {
    const probes = this.unet.activeProbes;
    if (!probes) return;
    if (i === 0) {
      const point = this.request.selfAttention;
      probes.reset(point && probes.selfSize ? [probes.queryAt(point)] : undefined);
    }
    const inRange = Array.from({ length: this.steps }, (_, s) => isStepInRange(this.range, s, this.steps));
    const count = Math.max(1, inRange.filter(Boolean).length);
    const cross = inRange[i] ? 1 / count : 0;
    const step = this.request.selfAttention?.step;
    const self = step === undefined ? (inRange[i] ? 1 / count : 0) : i === Math.min(step, this.steps - 1) ? 1 : 0;
    probes.setStepWeights(cross, self);
  }

  /** The maps, read back after the last step: DAAM's for the first `tokens` context tokens. The
   * UNet's later calls probe nothing until asked again. */
  async finish(latent: { height: number; width: number }, tokens: number): Promise<AttentionMapsResult> {
    const probes = this.unet.activeProbes;
    this.unet.setProbes(undefined);
    if (!probes) return {};
    const readings = await probes.read();
    const result: AttentionMapsResult = {};
    if (readings.cross.length) {
      const count = Math.min(tokens, readings.cross[0].keys);
      result.cross = { ...latent, values: daamTokenMaps(readings.cross, count, latent.height, latent.width) };
    }
    if (readings.self) {
      const { path, height, width, values } = readings.self;
      result.self = { site: path, height, width, values: values.slice(0, height * width) };
    }
    return result;
  }
}
