"""The default model as ONNX, for onnxruntime-web (a second backend and a benchmark baseline).

  /tmp/onnxenv/bin/python training/export_onnx.py [--model public/models/emoji-64] [--out <model>/onnx]
  /tmp/onnxenv/bin/python training/export_onnx.py --unet-config scripts/bench/layouts/sd15/unet/config.json
      (a UNet layout without weights, for benchmarks: writes only the UNet, into <config's folder>/../onnx)

Writes into <model>/onnx/:
  unet.onnx                 graph only: sample, timestep, encoder_hidden_states, attention_multipliers -> noise_pred
  unet.manifest.json        where each weight lies in the external data file unet.weights.bin, + attention sites
  text_encoder.onnx         graph only: input_ids -> last_hidden_state
  text_encoder.manifest.json

The .onnx files hold no weights. Every parameter is an initializer with external data in ONE file
(`<name>.weights.bin`, f32 little-endian) that is not shipped: the app builds it at load time from
the shipped f16 safetensors (src/engine/ort/onnx-weights.ts) — each tensor converted to f32 and
written at the manifest's byte offset — and hands it to ORT through the `externalData` session
option. Initializer names are the safetensors names, so the manifest's mapping is the identity.

The UNet takes the attention multipliers as a graph input [S, 4] (q, k, v, out per site), rows in
the order of src/engine/nn/unet-sites.ts `enumerateSites` (written into the manifest). Every
attention applies its row unconditionally, as scaling to_q, to_k, to_v and to_out.0 (weight and
bias) would: logits × q·k, attention result × v, to_out.0 output × out. All ones = the model.

A layout without weights (--unet-config) gets the same graph; its manifest's `source` is "random":
the benchmark (scripts/bench.ts) fills the external data from the random weights our engine runs, so
both run the same model. Its initializers are laid out in the graph's order.

Needs torch (Debian's 1.13 works: the legacy TorchScript exporter, opset 17), onnx, numpy and
safetensors; no transformers (the CLIP text encoder below mirrors transformers' CLIPTextModel).
training/verify_onnx.py checks the files with onnxruntime against unet.py and the parity fixture.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

if not hasattr(F, "scaled_dot_product_attention"):  # torch < 2.0: unet.py's attention, formula for formula
    def _sdpa(q, k, v):
        return torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1) @ v
    F.scaled_dot_product_attention = _sdpa

from unet import Attention, UNet2DConditionModel  # noqa: E402

ROOT = HERE.parent
MODEL_DIR = ROOT / "public" / "models" / "emoji-64"
OPSET = 17  # the highest torch 1.13 exports; has LayerNormalization
MANIFEST_FORMAT = "attention-lab-onnx-external-data/1"
RANDOM_SOURCE = "random"  # a layout's manifest source: the user fills the weights (RANDOM_WEIGHTS_SOURCE in onnx-weights.ts)


# ---------------------------------------------------------------------------------------------
# Weights


def load_safetensors_f32(path: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a safetensors file, converted to f32 exactly (f16 -> f32 is exact)."""
    from safetensors.numpy import load_file

    return {k: torch.from_numpy(v.astype(np.float32)) for k, v in load_file(str(path)).items()}


def safetensors_order(path: Path) -> list[tuple[str, str, list[int]]]:
    """(name, dtype, shape) of each tensor, in the order of its data in the file."""
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    entries = sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0])
    return [(k, v["dtype"], v["shape"]) for k, v in entries]


def load_unet(model_dir: Path) -> UNet2DConditionModel:
    unet = UNet2DConditionModel(json.loads((model_dir / "unet" / "config.json").read_text()))
    sd = load_safetensors_f32(model_dir / "unet" / "diffusion_pytorch_model.safetensors")
    missing, unexpected = unet.load_state_dict(sd, strict=False)
    assert not missing and not unexpected, (missing, unexpected)
    return unet.eval()


# ---------------------------------------------------------------------------------------------
# Attention sites: the engine's order


def enumerate_sites(config: dict) -> list[dict]:
    """src/engine/nn/unet-sites.ts `enumerateSites`, line for line: down blocks (each attention
    layer's transformer blocks, attn1 then attn2), the middle block, the up blocks."""
    n = len(config["down_block_types"])
    per = lambda v: [v] * n if isinstance(v, int) else list(v)  # noqa: E731
    layers = per(config.get("layers_per_block", 2))
    tlayers = per(config.get("transformer_layers_per_block", 1))
    rev_tlayers = config.get("reverse_transformer_layers_per_block") or tlayers[::-1]
    sites: list[dict] = []

    def add(path: str, count: int, comfy: str, part: str):
        for t in range(count):
            for kind in ("attn1", "attn2"):
                sites.append({"index": len(sites), "kind": kind, "path": f"{path}.transformer_blocks.{t}.{kind}",
                              "comfyBlock": comfy, "part": part})

    block = 1
    for i, kind in enumerate(config["down_block_types"]):
        for j in range(layers[i]):
            if kind.startswith("CrossAttn"):
                add(f"down_blocks.{i}.attentions.{j}", tlayers[i], f"input_blocks.{block}", "input")
            block += 1
        if i < n - 1:
            block += 1  # the downsampler
    add("mid_block.attentions.0", tlayers[-1], "middle_block", "middle")
    block = 0
    for i, kind in enumerate(config["up_block_types"]):
        for j in range(layers[::-1][i] + 1):
            if kind.startswith("CrossAttn"):
                add(f"up_blocks.{i}.attentions.{j}", rev_tlayers[i], f"output_blocks.{block}", "output")
            block += 1
    return sites


def attention_modules_in_site_order(unet: UNet2DConditionModel) -> list[Attention]:
    by_path = dict(unet.attention_modules())
    sites = enumerate_sites(unet.config)
    assert sorted(s["path"] for s in sites) == sorted(by_path), "enumerate_sites disagrees with the model's modules"
    return [by_path[s["path"]] for s in sites]


# ---------------------------------------------------------------------------------------------
# Export-time attention: multipliers from a tensor row, no Python branches


def attention_with_row(self: Attention, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None):
    """unet.Attention.forward with `self.multiplier_row` ([4] tensor: q, k, v, out) applied always.
    Attention is written out (softmax(q k^T / sqrt(d)) v), as F.scaled_dot_product_attention computes it."""
    m = self.multiplier_row
    context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
    b, n, _ = hidden_states.shape
    q = self.to_q(hidden_states).view(b, -1, self.heads, self.dim_head).transpose(1, 2)
    k = self.to_k(context).view(b, -1, self.heads, self.dim_head).transpose(1, 2)
    v = self.to_v(context).view(b, -1, self.heads, self.dim_head).transpose(1, 2)
    q = q * (m[0] * m[1])  # logits are linear in q and in k
    weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.dim_head), dim=-1)
    out = (weights @ v) * m[2]  # softmax rows sum to 1: scaling v scales the result
    out = out.transpose(1, 2).reshape(b, n, self.heads * self.dim_head)
    return self.to_out[1](self.to_out[0](out)) * m[3]  # to_out.0 weight and bias scaled alike


class UNetWithMultipliers(nn.Module):
    """The UNet with the multiplier table as an input. Its parameters are exported as `unet.<hub key>`;
    export_unet strips the prefix, so ONNX initializer names are the safetensors names."""

    def __init__(self, unet: UNet2DConditionModel):
        super().__init__()
        self.unet = unet
        self.sites = attention_modules_in_site_order(unet)

    def forward(self, sample, timestep, encoder_hidden_states, attention_multipliers):
        for i, module in enumerate(self.sites):
            module.multiplier_row = attention_multipliers[i]
        return self.unet(sample, timestep, encoder_hidden_states)


class _PatchedAttention:
    """Swaps Attention.forward for attention_with_row while exporting (or verifying)."""

    def __enter__(self):
        self.saved = Attention.forward
        Attention.forward = attention_with_row
        return self

    def __exit__(self, *exc):
        Attention.forward = self.saved


# ---------------------------------------------------------------------------------------------
# CLIP text encoder (transformers CLIPTextModel, module names = hub keys under text_model.)


class CLIPAttention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(dim, dim) for _ in range(4))

    def forward(self, x: torch.Tensor, causal_mask: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        split = lambda t: t.view(b, n, self.heads, self.head_dim).transpose(1, 2)  # noqa: E731
        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        logits = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim) + causal_mask
        out = torch.softmax(logits, dim=-1) @ v
        return self.out_proj(out.transpose(1, 2).reshape(b, n, d))


class CLIPMLP(nn.Module):
    def __init__(self, dim: int, inner: int, act: str):
        super().__init__()
        if act not in ("quick_gelu", "gelu"):
            raise NotImplementedError(f"hidden_act={act!r}")
        self.act = act
        self.fc1, self.fc2 = nn.Linear(dim, inner), nn.Linear(inner, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc1(x)
        h = h * torch.sigmoid(1.702 * h) if self.act == "quick_gelu" else F.gelu(h)
        return self.fc2(h)


class CLIPEncoderLayer(nn.Module):
    def __init__(self, dim: int, heads: int, inner: int, act: str, eps: float):
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(dim, eps=eps)
        self.self_attn = CLIPAttention(dim, heads)
        self.layer_norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = CLIPMLP(dim, inner, act)

    def forward(self, x: torch.Tensor, causal_mask: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.layer_norm1(x), causal_mask)
        return x + self.mlp(self.layer_norm2(x))


class CLIPEmbeddings(nn.Module):
    def __init__(self, vocab: int, positions: int, dim: int):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, dim)
        self.position_embedding = nn.Embedding(positions, dim)


class CLIPEncoder(nn.Module):
    def __init__(self, layers: list[CLIPEncoderLayer]):
        super().__init__()
        self.layers = nn.ModuleList(layers)


class CLIPTextTransformer(nn.Module):
    """Pre-LN transformer, causal mask, no padding mask (SD pipelines pass none), final_layer_norm:
    transformers' CLIPTextTransformer up to last_hidden_state."""

    def __init__(self, config: dict):
        super().__init__()
        dim, eps = config["hidden_size"], config.get("layer_norm_eps", 1e-5)
        self.embeddings = CLIPEmbeddings(config["vocab_size"], config["max_position_embeddings"], dim)
        self.encoder = CLIPEncoder([
            CLIPEncoderLayer(dim, config["num_attention_heads"], config["intermediate_size"],
                             config.get("hidden_act", "quick_gelu"), eps)
            for _ in range(config["num_hidden_layers"])])
        self.final_layer_norm = nn.LayerNorm(dim, eps=eps)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        n = input_ids.shape[1]
        positions = self.embeddings.position_embedding.weight[:n]
        x = self.embeddings.token_embedding(input_ids) + positions  # int32 ids: Gather takes them as they are
        # -inf above the diagonal: softmax gives those keys weight 0 exactly, as transformers' mask does.
        index = torch.arange(n, device=input_ids.device)
        causal_mask = torch.zeros(n, n).masked_fill(index[None, :] > index[:, None], float("-inf"))
        for layer in self.encoder.layers:
            x = layer(x, causal_mask)
        return self.final_layer_norm(x)


class CLIPTextModel(nn.Module):
    def __init__(self, config: dict):
        super().__init__()
        self.text_model = CLIPTextTransformer(config)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.text_model(input_ids)


def load_text_encoder(model_dir: Path) -> CLIPTextModel:
    text = CLIPTextModel(json.loads((model_dir / "text_encoder" / "config.json").read_text()))
    sd = load_safetensors_f32(model_dir / "text_encoder" / "model.safetensors")
    sd = {k: v for k, v in sd.items() if not k.endswith("position_ids")}
    missing, unexpected = text.load_state_dict(sd, strict=False)
    assert not missing and not unexpected, (missing, unexpected)
    return text.eval()


# ---------------------------------------------------------------------------------------------
# ONNX: export, then move the weights out


def export_graph(module: nn.Module, args: tuple, input_names, output_names, dynamic_axes):
    """torch.onnx.export: the onnx.ModelProto, initializers = parameters. Weights over protobuf's 2 GB
    limit (an SD-size UNet in f32) cannot be held in memory, so the export goes to a file in a
    temporary folder, where the exporter puts them in external files; the returned proto keeps only
    the references to those files (which are deleted), for externalize_* to replace."""
    import tempfile

    import onnx

    with torch.no_grad(), tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "graph.onnx"
        torch.onnx.export(
            module, args, str(path), input_names=input_names, output_names=output_names, dynamic_axes=dynamic_axes,
            opset_version=OPSET, do_constant_folding=False, keep_initializers_as_inputs=False,
            export_params=True)
        weights_outside = len(list(Path(tmp).iterdir())) > 1  # files beside the graph
        return onnx.load(str(path), load_external_data=not weights_outside)


def externalize(model, weights_path: Path, weights_file: str) -> list[dict]:
    """Points every initializer that is a safetensors tensor at `weights_file`, in the file order of
    `weights_path`, checking that its exported value is that tensor in f32. Returns the manifest's
    tensor list. Anything else (a derived or duplicated weight) is an error: the app could not build it."""
    from onnx import numpy_helper
    from onnx.external_data_helper import set_external_data

    source = load_safetensors_f32(weights_path)
    order = safetensors_order(weights_path)
    initializers = {t.name: t for t in model.graph.initializer}
    unknown = sorted(set(initializers) - set(source))
    if unknown:
        raise RuntimeError(f"initializers that are no safetensors tensor (derived or renamed): {unknown[:10]}")
    unused = [name for name, _, _ in order if name not in initializers and not name.endswith("position_ids")]
    if unused:
        raise RuntimeError(f"safetensors tensors with no initializer (deduplicated by the exporter?): {unused[:10]}")
    tensors, offset = [], 0
    for name, dtype, shape in order:
        if name not in initializers:
            continue
        init = initializers[name]
        value = numpy_helper.to_array(init)
        expected = source[name].numpy()
        if value.dtype != np.float32 or list(value.shape) != list(expected.shape) or not np.array_equal(value, expected):
            raise RuntimeError(f"initializer {name} is not the safetensors tensor in f32 (shape {list(value.shape)})")
        length = value.size * 4
        if not init.HasField("raw_data"):
            init.raw_data = value.astype("<f4").tobytes()
            del init.float_data[:]
        set_external_data(init, location=weights_file, offset=offset, length=length)  # also sets data_location
        init.ClearField("raw_data")
        tensors.append({"onnx_name": name, "safetensors_name": name, "source_dtype": dtype, "dtype": "float32",
                        "shape": list(shape), "offset": offset, "length": length})
        offset += length
    return tensors


def externalize_random(model, weights_file: str, module: nn.Module) -> list[dict]:
    """Points every initializer at `weights_file`, one after another in the graph's order, for a
    layout whose weights the benchmark supplies. Each must be a parameter of `module` (by its hub
    name, the prefix stripped) with the parameter's shape: the benchmark fills it from the engine's
    tensor of that name."""
    from onnx import TensorProto

    shapes = {name: list(p.shape) for name, p in module.named_parameters()}
    tensors, offset = [], 0
    for init in model.graph.initializer:
        shape = list(init.dims)
        if shapes.get(init.name) != shape or init.data_type != TensorProto.FLOAT:
            raise RuntimeError(f"initializer {init.name} {shape} is no f32 parameter of the UNet (derived or renamed)")
        length = math.prod(shape) * 4
        # The exporter's reference to its own file, replaced (set_external_data wants raw_data in hand).
        init.ClearField("raw_data")
        del init.external_data[:]
        init.data_location = TensorProto.EXTERNAL
        for key, value in (("location", weights_file), ("offset", str(offset)), ("length", str(length))):
            entry = init.external_data.add()
            entry.key, entry.value = key, value
        tensors.append({"onnx_name": init.name, "safetensors_name": init.name, "source_dtype": RANDOM_SOURCE, "dtype": "float32",
                        "shape": shape, "offset": offset, "length": length})
        offset += length
    missing = sorted(set(shapes) - {t["onnx_name"] for t in tensors})
    if missing:
        raise RuntimeError(f"parameters with no initializer (deduplicated by the exporter?): {missing[:10]}")
    return tensors


def strip_prefix(model, prefix: str) -> None:
    """Renames initializers `<prefix>name` to `name`, in the initializers and wherever nodes use them."""
    renamed = {t.name: t.name[len(prefix):] for t in model.graph.initializer if t.name.startswith(prefix)}
    for t in model.graph.initializer:
        t.name = renamed.get(t.name, t.name)
    for node in model.graph.node:
        for i, name in enumerate(node.input):
            if name in renamed:
                node.input[i] = renamed[name]


def io_spec(values) -> list[dict]:
    """Graph inputs or outputs: name, dtype as onnxruntime-web's Tensor type names it, shape (strings = dynamic)."""
    from onnx import TensorProto

    ort_names = {TensorProto.FLOAT: "float32", TensorProto.FLOAT16: "float16", TensorProto.INT32: "int32",
                 TensorProto.INT64: "int64"}
    out = []
    for v in values:
        t = v.type.tensor_type
        dims = [d.dim_param if d.dim_param else d.dim_value for d in t.shape.dim]
        out.append({"name": v.name, "dtype": ort_names[t.elem_type], "shape": dims})
    return out


def manifest_text(manifest: dict) -> str:
    """JSON with one line per tensor and per site, so a diff of two exports reads line by line."""
    lines = []
    for key, value in manifest.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            body = ",\n".join("  " + json.dumps(v) for v in value)
            lines.append(f" {json.dumps(key)}: [\n{body}\n ]")
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def finish(model, place_weights, out_dir: Path, stem: str, source_rel: str, extra: dict) -> dict:
    """Writes <stem>.onnx (graph only) and <stem>.manifest.json; `place_weights(model, weights_file)`
    points the initializers at the external data and returns the manifest's tensor list."""
    import onnx

    weights_file = f"{stem}.weights.bin"
    # The checker opens external files, so it runs while the weights are still inside. A layout's
    # export (over 2 GB) has them outside in files already deleted: ONNX Runtime loading it is its
    # check (tests/ort-layout.test.ts, the benchmark).
    if all(init.HasField("raw_data") for init in model.graph.initializer):
        onnx.checker.check_model(model)
    tensors = place_weights(model, weights_file)
    big = [(n.name or n.op_type) for n in model.graph.node if n.op_type == "Constant" and n.ByteSize() > 4096]
    if big:
        raise RuntimeError(f"constants over 4 KB left inside the graph: {big}")
    model.producer_name = "attention-lab training/export_onnx.py"
    graph_path = out_dir / f"{stem}.onnx"
    graph_path.write_bytes(model.SerializeToString())
    manifest = {
        "format": MANIFEST_FORMAT,
        "onnx": graph_path.name,
        "external_data": weights_file,
        "source": source_rel,
        "external_data_bytes": sum(t["length"] for t in tensors),
        "how": "external data = for each tensor, safetensors tensor `safetensors_name` converted to f32 (little-endian), "
               "written at `offset` (bytes); ORT-web: externalData: [{ path: external_data, data }]",
        "opset": OPSET,
        "inputs": io_spec(model.graph.input),
        "outputs": io_spec(model.graph.output),
        "op_types": sorted({n.op_type for n in model.graph.node}),
        **extra,
        "tensors": tensors,
    }
    (out_dir / f"{stem}.manifest.json").write_text(manifest_text(manifest))
    print(f"{graph_path}: {graph_path.stat().st_size} bytes, {len(tensors)} external tensors, "
          f"{manifest['external_data_bytes']} bytes of f32 weights; ops: {' '.join(manifest['op_types'])}")
    return manifest


def unet_graph(unet: UNet2DConditionModel):
    """The UNet's graph with its multiplier input, and the manifest entries that describe it."""
    wrapper = UNetWithMultipliers(unet).eval()
    sites = enumerate_sites(unet.config)
    c = unet.config
    batch, size = 2, c.get("sample_size", 64)
    args = (torch.randn(batch, c.get("in_channels", 4), size, size), torch.tensor([999.0, 500.0]),
            torch.randn(batch, 32, c["cross_attention_dim"]), torch.ones(len(sites), 4))
    names = ["sample", "timestep", "encoder_hidden_states", "attention_multipliers"]
    dynamic = {"sample": {0: "batch", 2: "height", 3: "width"}, "timestep": {0: "batch"},
               "encoder_hidden_states": {0: "batch", 1: "tokens"}, "noise_pred": {0: "batch", 2: "height", 3: "width"}}
    with _PatchedAttention():
        model = export_graph(wrapper, args, names, ["noise_pred"], dynamic)
    strip_prefix(model, "unet.")
    up = 2 ** (len(c["up_block_types"]) - 1)
    return model, {
        "notes": [f"height and width: multiples of {up} (the upsamplers double exactly)",
                  "timestep: float32, one per batch row (the engine's Float32Array)",
                  "attention_multipliers: [sites, 4] = (q, k, v, out) per site, rows in `attention_sites` order "
                  "(src/engine/nn/unet-sites.ts enumerateSites); all ones = the model unchanged"],
        "attention_sites": sites,
    }


def export_unet(model_dir: Path, out_dir: Path) -> dict:
    weights = model_dir / "unet" / "diffusion_pytorch_model.safetensors"
    model, extra = unet_graph(load_unet(model_dir))
    return finish(model, lambda m, file: externalize(m, weights, file), out_dir, "unet",
                  "../unet/diffusion_pytorch_model.safetensors", extra)


def export_unet_layout(config_path: Path, out_dir: Path) -> dict:
    """A UNet layout with no weights of its own (an SD-size config for benchmarks): the graph, and a
    manifest whose source is "random" (the benchmark fills the external data)."""
    unet = UNet2DConditionModel(json.loads(config_path.read_text())).eval()
    torch.manual_seed(0)
    with torch.no_grad():
        for p in unet.parameters():  # distinct values: the exporter merges equal initializers (the norms' ones and zeros)
            p.normal_()
    model, extra = unet_graph(unet)
    return finish(model, lambda m, file: externalize_random(m, file, unet), out_dir, "unet", RANDOM_SOURCE, extra)


def export_text_encoder(model_dir: Path, out_dir: Path) -> dict:
    text = load_text_encoder(model_dir)
    cfg = json.loads((model_dir / "text_encoder" / "config.json").read_text())
    lab = json.loads((model_dir / "model_index.json").read_text()).get("attention_lab", {})
    if lab.get("clip_skip"):
        raise NotImplementedError("model_index.json asks for clip_skip; this export writes last_hidden_state only")
    n = cfg["max_position_embeddings"]
    ids = torch.randint(0, cfg["vocab_size"], (2, n), dtype=torch.int32)
    model = export_graph(text, (ids,), ["input_ids"], ["last_hidden_state"],
                         {"input_ids": {0: "batch", 1: "tokens"}, "last_hidden_state": {0: "batch", 1: "tokens"}})
    weights = model_dir / "text_encoder" / "model.safetensors"
    return finish(model, lambda m, file: externalize(m, weights, file), out_dir, "text_encoder",
                  "../text_encoder/model.safetensors", {
                      "notes": [f"input_ids: int32 [batch, tokens], tokens <= {n} (the tokenizer pads to {n}); "
                                "no attention mask, only the causal one",
                                "last_hidden_state: after final_layer_norm (model_index.json sets no clip_skip), "
                                "what the UNet cross-attends to"],
                  })


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=MODEL_DIR)
    parser.add_argument("--unet-config", type=Path, default=None,
                        help="a UNet config.json with no weights: exports that layout's UNet alone")
    parser.add_argument("--out", type=Path, default=None, help="default: <model>/onnx, or <config's folder>/../onnx")
    a = parser.parse_args()
    if a.unet_config:
        out = a.out or a.unet_config.resolve().parent.parent / "onnx"
        out.mkdir(parents=True, exist_ok=True)
        export_unet_layout(a.unet_config, out)
        return
    out = a.out or a.model / "onnx"
    out.mkdir(parents=True, exist_ok=True)
    export_unet(a.model, out)
    export_text_encoder(a.model, out)


if __name__ == "__main__":
    main()
