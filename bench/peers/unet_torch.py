"""A config-driven PyTorch UNet2DConditionModel (Stable Diffusion 1.x family), in plain torch.nn.

Written from SPEC.md §2 (../shared/parity/SPEC.md from the repository root: the description of
what diffusers computes), for the `npm run bench -- unet` peers. Module names are chosen so that `state_dict()` keys are exactly
diffusers' (`down_blocks.0.attentions.1.transformer_blocks.0.attn2.to_k.weight`, ...), so the
same safetensors file feeds this model, the ONNX export and instructedit's native loader.

Config: a diffusers `config.json` dict. Supported: the fields SD1.x/SD2.x/InstructPix2Pix UNets
use (block types CrossAttnDownBlock2D/DownBlock2D, CrossAttnUpBlock2D/UpBlock2D,
UNetMidBlock2DCrossAttn; per-block or global heads, layers and transformer depth; linear or conv
projections; positional timestep embedding). Anything else raises instead of being ignored.

    model = UNet2DConditionModel(config)            # eval-mode module, float32
    out = model(sample, timestep, encoder_hidden_states)   # [B,out_ch,H,W]
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# --------------------------------------------------------------------------------------------------
# configuration


def _per_block(value, n, name):
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{name}: expected {n} entries, got {len(value)}")
        return list(value)
    return [value] * n


class UNetConfig:
    """The subset of a diffusers UNet2DConditionModel config this implementation understands."""

    # fields that must be absent/null/false/default for this implementation to be correct
    _MUST_BE = {
        "class_embed_type": None,
        "addition_embed_type": None,
        "encoder_hid_dim": None,
        "encoder_hid_dim_type": None,
        "num_class_embeds": None,
        "time_cond_proj_dim": None,
        "time_embedding_act_fn": None,
        "timestep_post_act": None,
        "cross_attention_norm": None,
        "dual_cross_attention": False,
        "resnet_skip_time_act": False,
        "class_embeddings_concat": False,
        "reverse_transformer_layers_per_block": None,
        "resnet_time_scale_shift": "default",
        "time_embedding_type": "positional",
        "attention_type": "default",
        "act_fn": "silu",
    }

    def __init__(self, cfg):
        for k, want in self._MUST_BE.items():
            got = cfg.get(k)
            if got is not None and got != want:
                raise ValueError(f"unsupported config: {k}={got!r} (only {want!r})")
        oca = cfg.get("only_cross_attention", False)
        if any(_per_block(oca, len(cfg["down_block_types"]), "only_cross_attention")):
            raise ValueError("unsupported config: only_cross_attention")
        if cfg.get("mid_block_only_cross_attention"):
            raise ValueError("unsupported config: mid_block_only_cross_attention")

        self.in_channels = cfg.get("in_channels", 4)
        self.out_channels = cfg.get("out_channels", 4)
        self.center_input_sample = cfg.get("center_input_sample", False)
        self.flip_sin_to_cos = cfg.get("flip_sin_to_cos", True)
        self.freq_shift = cfg.get("freq_shift", 0)
        self.down_block_types = list(cfg["down_block_types"])
        self.up_block_types = list(cfg["up_block_types"])
        self.mid_block_type = cfg.get("mid_block_type", "UNetMidBlock2DCrossAttn")
        self.block_out_channels = list(cfg["block_out_channels"])
        n = len(self.block_out_channels)
        if len(self.down_block_types) != n or len(self.up_block_types) != n:
            raise ValueError("down/up block types must match block_out_channels")
        for t in self.down_block_types:
            if t not in ("CrossAttnDownBlock2D", "DownBlock2D"):
                raise ValueError(f"unsupported down block {t}")
        for t in self.up_block_types:
            if t not in ("CrossAttnUpBlock2D", "UpBlock2D"):
                raise ValueError(f"unsupported up block {t}")
        if self.mid_block_type not in ("UNetMidBlock2DCrossAttn", None):
            raise ValueError(f"unsupported mid block {self.mid_block_type}")
        self.layers_per_block = _per_block(cfg.get("layers_per_block", 2), n, "layers_per_block")
        self.transformer_layers = _per_block(cfg.get("transformer_layers_per_block", 1), n, "transformer_layers_per_block")
        # SPEC §2.1: with num_attention_heads unset, attention_head_dim is the number of heads.
        heads = cfg.get("num_attention_heads") or cfg.get("attention_head_dim", 8)
        self.heads = _per_block(heads, n, "num_attention_heads")
        self.downsample_padding = cfg.get("downsample_padding", 1)
        self.mid_block_scale_factor = cfg.get("mid_block_scale_factor", 1)
        self.resnet_out_scale_factor = cfg.get("resnet_out_scale_factor", 1.0)
        self.norm_num_groups = cfg.get("norm_num_groups", 32)
        self.norm_eps = cfg.get("norm_eps", 1e-5)
        self.cross_attention_dim = cfg.get("cross_attention_dim", 1280)
        if isinstance(self.cross_attention_dim, (list, tuple)):
            raise ValueError("unsupported config: per-block cross_attention_dim")
        self.use_linear_projection = cfg.get("use_linear_projection", False)
        self.time_embed_dim = cfg.get("time_embedding_dim") or 4 * self.block_out_channels[0]
        self.conv_in_kernel = cfg.get("conv_in_kernel", 3)
        self.conv_out_kernel = cfg.get("conv_out_kernel", 3)


# --------------------------------------------------------------------------------------------------
# building blocks (SPEC §2.3, §2.7-2.9)


class ResnetBlock2D(nn.Module):
    """GN-SiLU-conv, + time projection, GN-SiLU-conv, + (1x1 shortcut | identity); SPEC §2.3."""

    def __init__(self, cin, cout, temb, groups, eps, out_scale=1.0):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps=eps)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb, cout)
        self.norm2 = nn.GroupNorm(groups, cout, eps=eps)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None
        self.out_scale = out_scale

    def forward(self, x, emb):
        y = self.conv1(F.silu(self.norm1(x)))
        y = y + self.time_emb_proj(F.silu(emb))[:, :, None, None]
        y = self.conv2(F.silu(self.norm2(y)))
        s = self.conv_shortcut(x) if self.conv_shortcut is not None else x
        out = s + y
        return out / self.out_scale if self.out_scale != 1 else out


class Attention(nn.Module):
    """Multi-head attention without mask: softmax(q kᵀ / √d) v; q/k/v without bias; SPEC §2.9."""

    def __init__(self, dim, heads, context_dim=None):
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.scale = self.head_dim ** -0.5
        cdim = context_dim if context_dim is not None else dim
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(cdim, dim, bias=False)
        self.to_v = nn.Linear(cdim, dim, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim), nn.Dropout(0.0)])

    def _split(self, t):  # [B, N, C] -> [B*heads, N, d]; head index = channel // d
        b = t.shape[0]
        return t.reshape(b, -1, self.heads, self.head_dim).permute(0, 2, 1, 3).reshape(b * self.heads, -1, self.head_dim)

    def forward(self, x, context=None):
        ctx = x if context is None else context
        b = x.shape[0]
        q = self._split(self.to_q(x))
        k = self._split(self.to_k(ctx))
        v = self._split(self.to_v(ctx))
        p = torch.softmax(torch.bmm(q, k.transpose(1, 2)) * self.scale, dim=-1)
        o = torch.bmm(p, v)  # [B*heads, N, d]
        o = o.reshape(b, self.heads, -1, self.head_dim).permute(0, 2, 1, 3).reshape(b, -1, self.heads * self.head_dim)
        return self.to_out[1](self.to_out[0](o))


class GEGLU(nn.Module):
    def __init__(self, dim, inner):
        super().__init__()
        self.proj = nn.Linear(dim, 2 * inner)

    def forward(self, x):
        a, g = self.proj(x).chunk(2, dim=-1)
        return a * F.gelu(g)  # exact (erf) GELU


class FeedForward(nn.Module):
    def __init__(self, dim, mult=4):
        super().__init__()
        self.net = nn.ModuleList([GEGLU(dim, dim * mult), nn.Dropout(0.0), nn.Linear(dim * mult, dim)])

    def forward(self, x):
        for m in self.net:
            x = m(x)
        return x


class BasicTransformerBlock(nn.Module):
    """Pre-LN: self-attention, cross-attention to the text, GEGLU feed-forward; SPEC §2.8."""

    def __init__(self, dim, heads, context_dim):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.attn1 = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        self.attn2 = Attention(dim, heads, context_dim)
        self.norm3 = nn.LayerNorm(dim, eps=1e-5)
        self.ff = FeedForward(dim)

    def forward(self, x, ehs):
        x = x + self.attn1(self.norm1(x))
        x = x + self.attn2(self.norm2(x), ehs)
        return x + self.ff(self.norm3(x))


class Transformer2DModel(nn.Module):
    """GroupNorm(eps 1e-6), proj_in, tokens, transformer blocks, proj_out, residual; SPEC §2.7."""

    def __init__(self, channels, heads, context_dim, groups, depth=1, linear_proj=False):
        super().__init__()
        self.linear_proj = linear_proj
        self.norm = nn.GroupNorm(groups, channels, eps=1e-6)
        self.proj_in = nn.Linear(channels, channels) if linear_proj else nn.Conv2d(channels, channels, 1)
        self.transformer_blocks = nn.ModuleList([BasicTransformerBlock(channels, heads, context_dim) for _ in range(depth)])
        self.proj_out = nn.Linear(channels, channels) if linear_proj else nn.Conv2d(channels, channels, 1)

    def forward(self, x, ehs):
        b, c, h, w = x.shape
        res = x
        x = self.norm(x)
        if not self.linear_proj:
            x = self.proj_in(x)
        x = x.permute(0, 2, 3, 1).reshape(b, h * w, c)
        if self.linear_proj:
            x = self.proj_in(x)
        for blk in self.transformer_blocks:
            x = blk(x, ehs)
        if self.linear_proj:
            x = self.proj_out(x)
        x = x.reshape(b, h, w, c).permute(0, 3, 1, 2)
        if not self.linear_proj:
            x = self.proj_out(x)
        return x + res


class Downsample2D(nn.Module):
    """3x3 conv, stride 2; padding 0 means an asymmetric (right/bottom) zero pad of 1."""

    def __init__(self, channels, padding=1):
        super().__init__()
        self.padding = padding
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=padding)

    def forward(self, x):
        if self.padding == 0:
            x = F.pad(x, (0, 1, 0, 1))
        return self.conv(x)


class Upsample2D(nn.Module):
    """Nearest x2 (or to an explicit size), then 3x3 conv; SPEC §2.6."""

    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x, size=None):
        if size is None:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        else:
            x = F.interpolate(x, size=size, mode="nearest")
        return self.conv(x)


class TimestepEmbedding(nn.Module):
    def __init__(self, cin, dim):
        super().__init__()
        self.linear_1 = nn.Linear(cin, dim)
        self.linear_2 = nn.Linear(dim, dim)

    def forward(self, t):
        return self.linear_2(F.silu(self.linear_1(t)))


# --------------------------------------------------------------------------------------------------
# down / mid / up blocks (SPEC §2.4-2.6)


class DownBlock(nn.Module):
    """CrossAttnDownBlock2D (with attentions) or DownBlock2D (without). forward returns (h, skips)."""

    def __init__(self, cin, cout, layers, temb, c: UNetConfig, cross, heads, depth, downsample):
        super().__init__()
        self.resnets = nn.ModuleList(
            [ResnetBlock2D(cin if i == 0 else cout, cout, temb, c.norm_num_groups, c.norm_eps, c.resnet_out_scale_factor) for i in range(layers)]
        )
        if cross:
            self.attentions = nn.ModuleList(
                [Transformer2DModel(cout, heads, c.cross_attention_dim, c.norm_num_groups, depth, c.use_linear_projection) for _ in range(layers)]
            )
        else:
            self.attentions = None
        self.downsamplers = nn.ModuleList([Downsample2D(cout, c.downsample_padding)]) if downsample else None

    def forward(self, h, emb, ehs):
        outs = []
        for i, r in enumerate(self.resnets):
            h = r(h, emb)
            if self.attentions is not None:
                h = self.attentions[i](h, ehs)
            outs.append(h)
        if self.downsamplers is not None:
            h = self.downsamplers[0](h)
            outs.append(h)
        return h, outs


class UpBlock(nn.Module):
    """CrossAttnUpBlock2D or UpBlock2D: before each resnet, cat([h, skip.pop()], dim=1)."""

    def __init__(self, cin, skip_channels, cout, temb, c: UNetConfig, cross, heads, depth, upsample):
        super().__init__()
        rs = []
        ch = cin
        for sc in skip_channels:  # skips in the order they are consumed (last pushed first)
            rs.append(ResnetBlock2D(ch + sc, cout, temb, c.norm_num_groups, c.norm_eps, c.resnet_out_scale_factor))
            ch = cout
        self.resnets = nn.ModuleList(rs)
        if cross:
            self.attentions = nn.ModuleList(
                [Transformer2DModel(cout, heads, c.cross_attention_dim, c.norm_num_groups, depth, c.use_linear_projection) for _ in skip_channels]
            )
        else:
            self.attentions = None
        self.upsamplers = nn.ModuleList([Upsample2D(cout)]) if upsample else None

    def forward(self, h, emb, skips, ehs, upsample_size=None):
        for i, r in enumerate(self.resnets):
            h = torch.cat([h, skips.pop()], dim=1)
            h = r(h, emb)
            if self.attentions is not None:
                h = self.attentions[i](h, ehs)
        if self.upsamplers is not None:
            h = self.upsamplers[0](h, upsample_size)
        return h


class UNetMidBlock2DCrossAttn(nn.Module):
    def __init__(self, ch, temb, c: UNetConfig, heads, depth):
        super().__init__()
        g, eps, s = c.norm_num_groups, c.norm_eps, c.mid_block_scale_factor
        self.resnets = nn.ModuleList([ResnetBlock2D(ch, ch, temb, g, eps, s), ResnetBlock2D(ch, ch, temb, g, eps, s)])
        self.attentions = nn.ModuleList([Transformer2DModel(ch, heads, c.cross_attention_dim, g, depth, c.use_linear_projection)])

    def forward(self, h, emb, ehs):
        h = self.resnets[0](h, emb)
        h = self.attentions[0](h, ehs)
        return self.resnets[1](h, emb)


# --------------------------------------------------------------------------------------------------
# the model (SPEC §2.2)


class UNet2DConditionModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        c = self.cfg = UNetConfig(config)
        self.config = dict(config)
        boc = c.block_out_channels
        n = len(boc)
        temb = c.time_embed_dim

        self.conv_in = nn.Conv2d(c.in_channels, boc[0], c.conv_in_kernel, padding=(c.conv_in_kernel - 1) // 2)
        self.time_embedding = TimestepEmbedding(boc[0], temb)

        skip_ch = [boc[0]]
        downs = []
        ch = boc[0]
        for i, t in enumerate(c.down_block_types):
            last = i == n - 1
            downs.append(
                DownBlock(ch, boc[i], c.layers_per_block[i], temb, c, t == "CrossAttnDownBlock2D", c.heads[i], c.transformer_layers[i], not last)
            )
            ch = boc[i]
            skip_ch += [boc[i]] * c.layers_per_block[i] + ([boc[i]] if not last else [])
        self.down_blocks = nn.ModuleList(downs)

        self.mid_block = (
            UNetMidBlock2DCrossAttn(boc[-1], temb, c, c.heads[-1], c.transformer_layers[-1]) if c.mid_block_type is not None else None
        )

        rboc = boc[::-1]
        rheads = c.heads[::-1]
        rlayers = c.layers_per_block[::-1]
        rdepth = c.transformer_layers[::-1]
        ups = []
        for i, t in enumerate(c.up_block_types):
            last = i == n - 1
            k = rlayers[i] + 1
            taken = skip_ch[-k:][::-1]
            skip_ch = skip_ch[:-k]
            ups.append(UpBlock(ch, taken, rboc[i], temb, c, t == "CrossAttnUpBlock2D", rheads[i], rdepth[i], not last))
            ch = rboc[i]
        if skip_ch:
            raise ValueError("config leaves unconsumed skip connections")
        self.up_blocks = nn.ModuleList(ups)
        self.num_upsamplers = n - 1

        self.conv_norm_out = nn.GroupNorm(c.norm_num_groups, boc[0], eps=c.norm_eps)
        self.conv_out = nn.Conv2d(boc[0], c.out_channels, c.conv_out_kernel, padding=(c.conv_out_kernel - 1) // 2)
        self.eval()

    def time_proj(self, t):
        """Sinusoidal embedding of float32 timesteps [B] -> [B, boc0]; SPEC §2.2 step 1."""
        half = self.cfg.block_out_channels[0] // 2
        exponent = -math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / (half - self.cfg.freq_shift)
        args = t[:, None].float() * torch.exp(exponent)[None, :]
        s, co = torch.sin(args), torch.cos(args)
        return torch.cat([co, s], dim=-1) if self.cfg.flip_sin_to_cos else torch.cat([s, co], dim=-1)

    def forward(self, sample, timestep, encoder_hidden_states):
        b = sample.shape[0]
        if not torch.is_tensor(timestep):
            timestep = torch.tensor([timestep], dtype=torch.float32, device=sample.device)
        t = timestep.reshape(-1).to(torch.float32)
        if t.shape[0] != b:
            t = t.expand(b)
        emb = self.time_embedding(self.time_proj(t).to(sample.dtype))

        if self.cfg.center_input_sample:
            sample = 2 * sample - 1.0
        h = self.conv_in(sample)
        skips = [h]
        for blk in self.down_blocks:
            h, outs = blk(h, emb, encoder_hidden_states)
            skips += outs
        if self.mid_block is not None:
            h = self.mid_block(h, emb, encoder_hidden_states)

        factor = 2 ** self.num_upsamplers
        forward_size = any(int(s) % factor != 0 for s in sample.shape[-2:])
        for i, blk in enumerate(self.up_blocks):
            k = len(blk.resnets)
            mine = skips[-k:]
            skips = skips[:-k]
            size = skips[-1].shape[2:] if (forward_size and i < len(self.up_blocks) - 1) else None
            h = blk(h, emb, mine, encoder_hidden_states, size)

        return self.conv_out(F.silu(self.conv_norm_out(h)))


# --------------------------------------------------------------------------------------------------
# weights


def build_empty(config):
    """The model with uninitialised float32 storage: the default init is skipped (it costs tens of
    seconds at 860M parameters and its values would be overwritten anyway)."""
    import torch_load

    return torch_load.build_empty(UNet2DConditionModel, config)


def load_weights(model, path, strict=True):
    """Reads a safetensors file straight into the model's parameter storage (no second copy)."""
    import numpy as np

    from safetensors_io import read_header

    header, _, start = read_header(path)
    sd = model.state_dict()
    missing = [k for k in sd if k not in header]
    unexpected = [k for k in header if k not in sd]
    if strict and (missing or unexpected):
        raise KeyError(f"{path}: missing {missing[:5]}{'...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}")
    with open(path, "rb") as f:
        for name, p in sd.items():
            if name not in header:
                continue
            info = header[name]
            if info["dtype"] != "F32" or list(info["shape"]) != list(p.shape):
                raise ValueError(f"{name}: file has {info['dtype']} {info['shape']}, model wants F32 {list(p.shape)}")
            b, e = info["data_offsets"]
            f.seek(start + b)
            buf = p.detach().numpy().reshape(-1).view(np.uint8)
            if f.readinto(memoryview(buf)) != e - b:
                raise IOError(f"{path}: short read at {name}")
    return model


def from_pretrained(config, path):
    return load_weights(build_empty(config), path)
