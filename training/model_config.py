"""The default model's architecture and noise schedule: one place, read by training, export and eval."""

UNET_CONFIG = {
    "_class_name": "UNet2DConditionModel",
    "_diffusers_version": "0.35.1",
    "sample_size": 64,
    "in_channels": 3,
    "out_channels": 3,
    "center_input_sample": False,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    # 64×64 (no attention) → 32×32 (self + cross attention) → 16×16 (self + cross) + middle block.
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    "mid_block_type": "UNetMidBlock2DCrossAttn",
    "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    "only_cross_attention": False,
    "block_out_channels": [64, 128, 192],
    "layers_per_block": 1,
    "downsample_padding": 1,
    "mid_block_scale_factor": 1,
    "dropout": 0.0,
    "act_fn": "silu",
    "norm_num_groups": 32,
    "norm_eps": 1e-05,
    "cross_attention_dim": 256,
    "transformer_layers_per_block": 1,
    # diffusers reads attention_head_dim as the number of heads: 64 channels per head everywhere.
    "attention_head_dim": [1, 2, 3],
    "num_attention_heads": None,
    "dual_cross_attention": False,
    "use_linear_projection": False,
    "class_embed_type": None,
    "addition_embed_type": None,
    "num_class_embeds": None,
    "upcast_attention": False,
    "resnet_time_scale_shift": "default",
    "resnet_skip_time_act": False,
    "resnet_out_scale_factor": 1.0,
    "time_embedding_type": "positional",
    "time_embedding_dim": None,
    "time_embedding_act_fn": None,
    "timestep_post_act": None,
    "time_cond_proj_dim": None,
    "conv_in_kernel": 3,
    "conv_out_kernel": 3,
    "attention_type": "default",
    "class_embeddings_concat": False,
    "mid_block_only_cross_attention": None,
    "cross_attention_norm": None,
}


def text_config(vocab_size: int, max_len: int) -> dict:
    """transformers CLIPTextConfig fields (model_type clip_text_model)."""
    return {
        "architectures": ["CLIPTextModel"],
        "model_type": "clip_text_model",
        "vocab_size": vocab_size,
        "hidden_size": 256,
        "intermediate_size": 768,
        "projection_dim": 256,
        "num_hidden_layers": 3,
        "num_attention_heads": 4,
        "max_position_embeddings": max_len,
        "hidden_act": "quick_gelu",
        "layer_norm_eps": 1e-05,
        "attention_dropout": 0.0,
        "dropout": 0.0,
        "initializer_range": 0.02,
        "initializer_factor": 1.0,
        "pad_token_id": 0,
        "bos_token_id": 2,
        "eos_token_id": 3,
    }


# DDPM's linear betas suit pixel space: alpha_bar(999) ≈ 4e-5, so the last step is (almost) pure noise.
SCHEDULER_BASE = {
    "num_train_timesteps": 1000,
    "beta_start": 0.0001,
    "beta_end": 0.02,
    "beta_schedule": "linear",
    "trained_betas": None,
    "prediction_type": "v_prediction",
    "timestep_spacing": "trailing",
    "steps_offset": 0,
    "rescale_betas_zero_snr": False,
    # DDIM
    "clip_sample": False,
    "clip_sample_range": 1.0,
    "set_alpha_to_one": True,
    "thresholding": False,
    # Euler / Euler ancestral
    "interpolation_type": "linear",
    "use_karras_sigmas": False,
    "timestep_type": "discrete",
    # DPM++ 2M
    "solver_order": 2,
    "algorithm_type": "dpmsolver++",
    "solver_type": "midpoint",
    "lower_order_final": True,
    "euler_at_final": False,
    "final_sigmas_type": "zero",
}

SCHEDULER_CLASS = {
    "ddim": "DDIMScheduler",
    "euler": "EulerDiscreteScheduler",
    "euler_a": "EulerAncestralDiscreteScheduler",
    "dpmpp2m": "DPMSolverMultistepScheduler",
}

# Groups of emojibase (en/messages.json), without "component" (skin-tone swatches, hair).
EVAL_GROUPS = [0, 1, 3, 4, 5, 6, 7, 8, 9]
