// UNet configs of real checkpoints, as published on the Hugging Face hub (unet/config.json), for
// benchmarks with random weights.

/** runwayml/stable-diffusion-v1-5 */
export const SD15_UNET = {
  _class_name: 'UNet2DConditionModel',
  act_fn: 'silu',
  attention_head_dim: 8,
  block_out_channels: [320, 640, 1280, 1280],
  center_input_sample: false,
  cross_attention_dim: 768,
  down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
  downsample_padding: 1,
  flip_sin_to_cos: true,
  freq_shift: 0,
  in_channels: 4,
  layers_per_block: 2,
  mid_block_scale_factor: 1,
  norm_eps: 1e-5,
  norm_num_groups: 32,
  out_channels: 4,
  sample_size: 64,
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
};

/** stabilityai/sd-turbo (the SD 2.1 layout: linear projections, per-block head counts). */
export const SD_TURBO_UNET = {
  ...SD15_UNET,
  attention_head_dim: [5, 10, 20, 20],
  cross_attention_dim: 1024,
  dual_cross_attention: false,
  num_class_embeds: null,
  only_cross_attention: false,
  resnet_time_scale_shift: 'default',
  upcast_attention: false,
  use_linear_projection: true,
  sample_size: 64,
};
