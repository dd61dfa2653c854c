"""A config-driven PyTorch AutoencoderKL (the Stable Diffusion KL-f8 VAE family), in plain torch.nn.

Written from SPEC.md §4 (../shared/parity/SPEC.md from the repository root), for the
`npm run bench -- edit` PyTorch peer. Module names are chosen so that `state_dict()` keys are
exactly diffusers' (`encoder.down_blocks.0.resnets.1.conv2.weight`,
`decoder.mid_block.attentions.0.to_q.weight`, ...); `load_weights` also accepts the legacy
mid-block attention names (`query/key/value/proj_attn`, SPEC §4.4).

Config: a diffusers AutoencoderKL `config.json` dict (DownEncoderBlock2D / UpDecoderBlock2D
blocks only). Anything else raises instead of being ignored.

    vae = AutoencoderKL(config)
    mean, logvar = vae.encode(x)        # x in [-1, 1], [B,3,H,W]; logvar clamped to [-30, 20]
    img = vae.decode(z)                 # z already divided by scaling_factor
"""
import torch
import torch.nn as nn

import torch_load  # noqa: E402  (the peers run with bench/peers on sys.path)
import torch.nn.functional as F

EPS = 1e-6  # SPEC §4: every GroupNorm in the VAE uses 1e-6


class VAEConfig:
    def __init__(self, cfg):
        for t in cfg.get("down_block_types", ["DownEncoderBlock2D"]):
            if t != "DownEncoderBlock2D":
                raise ValueError(f"unsupported down block {t}")
        for t in cfg.get("up_block_types", ["UpDecoderBlock2D"]):
            if t != "UpDecoderBlock2D":
                raise ValueError(f"unsupported up block {t}")
        if cfg.get("act_fn", "silu") != "silu":
            raise ValueError(f"unsupported act_fn {cfg.get('act_fn')}")
        for k in ("shift_factor", "latents_mean", "latents_std"):
            if cfg.get(k) is not None:
                raise ValueError(f"unsupported config: {k}={cfg[k]!r}")
        self.in_channels = cfg.get("in_channels", 3)
        self.out_channels = cfg.get("out_channels", 3)
        self.block_out_channels = list(cfg.get("block_out_channels", [64]))
        n = len(self.block_out_channels)
        if len(cfg.get("down_block_types", [None] * n)) != n or len(cfg.get("up_block_types", [None] * n)) != n:
            raise ValueError("block types must match block_out_channels")
        self.layers_per_block = cfg.get("layers_per_block", 1)
        self.latent_channels = cfg.get("latent_channels", 4)
        self.groups = cfg.get("norm_num_groups", 32)
        self.scaling_factor = cfg.get("scaling_factor", 0.18215)
        self.use_quant_conv = cfg.get("use_quant_conv", True)
        self.use_post_quant_conv = cfg.get("use_post_quant_conv", True)
        self.mid_attention = cfg.get("mid_block_add_attention", True)


class ResnetBlock2D(nn.Module):
    """SPEC §2.3 without the time embedding (VAE resnets have none), eps 1e-6."""

    def __init__(self, cin, cout, groups):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps=EPS)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, cout, eps=EPS)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x):
        y = self.conv1(F.silu(self.norm1(x)))
        y = self.conv2(F.silu(self.norm2(y)))
        s = self.conv_shortcut(x) if self.conv_shortcut is not None else x
        return s + y


class MidAttention(nn.Module):
    """Single-head self-attention over all H*W positions with its own GroupNorm; SPEC §4.4."""

    def __init__(self, ch, groups):
        super().__init__()
        self.group_norm = nn.GroupNorm(groups, ch, eps=EPS)
        self.to_q = nn.Linear(ch, ch)
        self.to_k = nn.Linear(ch, ch)
        self.to_v = nn.Linear(ch, ch)
        self.to_out = nn.ModuleList([nn.Linear(ch, ch), nn.Dropout(0.0)])
        self.scale = ch ** -0.5

    def forward(self, x):
        b, c, h, w = x.shape
        t = self.group_norm(x).view(b, c, h * w).transpose(1, 2)  # [B, HW, C]
        q, k, v = self.to_q(t), self.to_k(t), self.to_v(t)
        p = torch.softmax(torch.bmm(q, k.transpose(1, 2)) * self.scale, dim=-1)
        o = self.to_out[0](torch.bmm(p, v))
        return o.transpose(1, 2).reshape(b, c, h, w) + x


class MidBlock(nn.Module):
    def __init__(self, ch, groups, attention):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(ch, ch, groups), ResnetBlock2D(ch, ch, groups)])
        self.attentions = nn.ModuleList([MidAttention(ch, groups)]) if attention else None

    def forward(self, h):
        h = self.resnets[0](h)
        if self.attentions is not None:
            h = self.attentions[0](h)
        return self.resnets[1](h)


class Downsample(nn.Module):
    """SPEC §4.2: zero-pad right and bottom by 1, then 3x3 conv, stride 2, no padding."""

    def __init__(self, ch):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, stride=2, padding=0)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    """Nearest x2, then 3x3 conv with padding 1 (as the UNet's, SPEC §4.5)."""

    def __init__(self, ch):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class DownEncoderBlock2D(nn.Module):
    def __init__(self, cin, cout, layers, groups, downsample):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(cin if i == 0 else cout, cout, groups) for i in range(layers)])
        self.downsamplers = nn.ModuleList([Downsample(cout)]) if downsample else None

    def forward(self, h):
        for r in self.resnets:
            h = r(h)
        return self.downsamplers[0](h) if self.downsamplers is not None else h


class UpDecoderBlock2D(nn.Module):
    def __init__(self, cin, cout, layers, groups, upsample):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(cin if i == 0 else cout, cout, groups) for i in range(layers)])
        self.upsamplers = nn.ModuleList([Upsample(cout)]) if upsample else None

    def forward(self, h):
        for r in self.resnets:
            h = r(h)
        return self.upsamplers[0](h) if self.upsamplers is not None else h


class Encoder(nn.Module):
    """SPEC §4.1: conv_in, down blocks (no skips), mid block, GN-SiLU-conv_out to 2*latent."""

    def __init__(self, c: VAEConfig):
        super().__init__()
        boc = c.block_out_channels
        self.conv_in = nn.Conv2d(c.in_channels, boc[0], 3, padding=1)
        ch = boc[0]
        blocks = []
        for i, co in enumerate(boc):
            blocks.append(DownEncoderBlock2D(ch, co, c.layers_per_block, c.groups, i < len(boc) - 1))
            ch = co
        self.down_blocks = nn.ModuleList(blocks)
        self.mid_block = MidBlock(ch, c.groups, c.mid_attention)
        self.conv_norm_out = nn.GroupNorm(c.groups, ch, eps=EPS)
        self.conv_out = nn.Conv2d(ch, 2 * c.latent_channels, 3, padding=1)

    def forward(self, x):
        h = self.conv_in(x)
        for blk in self.down_blocks:
            h = blk(h)
        h = self.mid_block(h)
        return self.conv_out(F.silu(self.conv_norm_out(h)))


class Decoder(nn.Module):
    """SPEC §4.5: conv_in, mid block, up blocks with layers+1 resnets, GN-SiLU-conv_out."""

    def __init__(self, c: VAEConfig):
        super().__init__()
        rboc = c.block_out_channels[::-1]
        self.conv_in = nn.Conv2d(c.latent_channels, rboc[0], 3, padding=1)
        self.mid_block = MidBlock(rboc[0], c.groups, c.mid_attention)
        ch = rboc[0]
        blocks = []
        for i, co in enumerate(rboc):
            blocks.append(UpDecoderBlock2D(ch, co, c.layers_per_block + 1, c.groups, i < len(rboc) - 1))
            ch = co
        self.up_blocks = nn.ModuleList(blocks)
        self.conv_norm_out = nn.GroupNorm(c.groups, ch, eps=EPS)
        self.conv_out = nn.Conv2d(ch, c.out_channels, 3, padding=1)

    def forward(self, z):
        h = self.conv_in(z)
        h = self.mid_block(h)
        for blk in self.up_blocks:
            h = blk(h)
        return self.conv_out(F.silu(self.conv_norm_out(h)))


class AutoencoderKL(nn.Module):
    def __init__(self, config):
        super().__init__()
        c = self.cfg = VAEConfig(config)
        self.config = dict(config)
        self.encoder = Encoder(c)
        self.decoder = Decoder(c)
        lc = c.latent_channels
        self.quant_conv = nn.Conv2d(2 * lc, 2 * lc, 1) if c.use_quant_conv else None
        self.post_quant_conv = nn.Conv2d(lc, lc, 1) if c.use_post_quant_conv else None
        self.eval()

    def encode_moments(self, x):
        h = self.encoder(x)
        return self.quant_conv(h) if self.quant_conv is not None else h

    def encode(self, x):
        """Returns (mean, logvar) of the latent distribution (SPEC §4.3); mode() = mean."""
        mean, logvar = self.encode_moments(x).chunk(2, dim=1)
        return mean, torch.clamp(logvar, -30.0, 20.0)

    def decode(self, z):
        if self.post_quant_conv is not None:
            z = self.post_quant_conv(z)
        return self.decoder(z)


# --------------------------------------------------------------------------------------------------
# weights

# SPEC §4.4: checkpoints written by diffusers' former AttentionBlock use these names.
LEGACY_ATTENTION = {"query": "to_q", "key": "to_k", "value": "to_v", "proj_attn": "to_out.0"}


def canonical_name(name):
    parts = name.split(".")
    # {encoder,decoder}.mid_block.attentions.0.<legacy>.{weight,bias}
    if len(parts) == 6 and parts[1] == "mid_block" and parts[2] == "attentions" and parts[4] in LEGACY_ATTENTION:
        return ".".join(parts[:4] + [LEGACY_ATTENTION[parts[4]], parts[5]])
    return name


def build_empty(config):
    """The model without running torch's default init (its values are overwritten anyway)."""
    return torch_load.build_empty(AutoencoderKL, config)


def load_weights(model, path):
    """Strictly loads a safetensors file with the reference library's names."""
    return torch_load.load_strict(model, path, canonical_name)
