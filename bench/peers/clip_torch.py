"""A config-driven PyTorch CLIPTextModel (the CLIP text tower Stable Diffusion 1.x uses), in plain
torch.nn.

Written from SPEC.md §5 (../shared/parity/SPEC.md from the repository root), for the
`npm run bench -- edit` PyTorch peer. `state_dict()` keys are exactly transformers'
(`text_model.encoder.layers.3.self_attn.q_proj.weight`, ...); `load_weights` ignores the
`text_model.embeddings.position_ids` buffer older checkpoints contain.

Config: a transformers CLIPTextConfig dict (hidden_act quick_gelu or gelu).

    clip = CLIPTextModel(config)
    last_hidden_state = clip(input_ids)      # [B, L, hidden]; no attention mask (the SD case)
"""
import torch
import torch.nn as nn

import torch_load  # noqa: E402  (the peers run with bench/peers on sys.path)
import torch.nn.functional as F


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


class CLIPAttention(nn.Module):
    """Causal multi-head self-attention; q scaled before the matmul, mask added after (SPEC §5)."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.scale = self.head_dim ** -0.5
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def _split(self, t):  # [B, L, C] -> [B*heads, L, d]; head index = channel // d
        b, n, _ = t.shape
        return t.reshape(b, n, self.heads, self.head_dim).transpose(1, 2).reshape(b * self.heads, n, self.head_dim)

    def forward(self, x, mask):
        b, n, c = x.shape
        q = self._split(self.q_proj(x) * self.scale)
        k = self._split(self.k_proj(x))
        v = self._split(self.v_proj(x))
        p = torch.softmax(torch.bmm(q, k.transpose(1, 2)) + mask, dim=-1)
        o = torch.bmm(p, v).reshape(b, self.heads, n, self.head_dim).transpose(1, 2).reshape(b, n, c)
        return self.out_proj(o)


class CLIPMLP(nn.Module):
    def __init__(self, dim, inner, act):
        super().__init__()
        self.fc1 = nn.Linear(dim, inner)
        self.fc2 = nn.Linear(inner, dim)
        self.act = act

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class CLIPEncoderLayer(nn.Module):
    """Pre-LN: x + attn(LN1(x)), then x + mlp(LN2(x))."""

    def __init__(self, dim, heads, inner, eps, act):
        super().__init__()
        self.self_attn = CLIPAttention(dim, heads)
        self.layer_norm1 = nn.LayerNorm(dim, eps=eps)
        self.mlp = CLIPMLP(dim, inner, act)
        self.layer_norm2 = nn.LayerNorm(dim, eps=eps)

    def forward(self, x, mask):
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class CLIPTextEmbeddings(nn.Module):
    def __init__(self, vocab, positions, dim):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, dim)
        self.position_embedding = nn.Embedding(positions, dim)

    def forward(self, ids):
        n = ids.shape[1]
        return self.token_embedding(ids) + self.position_embedding.weight[:n][None]


class CLIPEncoder(nn.Module):
    def __init__(self, layers):
        super().__init__()
        self.layers = nn.ModuleList(layers)


class CLIPTextTransformer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        dim = cfg["hidden_size"]
        act = {"quick_gelu": quick_gelu, "gelu": F.gelu}.get(cfg.get("hidden_act", "quick_gelu"))
        if act is None:
            raise ValueError(f"unsupported hidden_act {cfg.get('hidden_act')}")
        eps = cfg.get("layer_norm_eps", 1e-5)
        self.embeddings = CLIPTextEmbeddings(cfg["vocab_size"], cfg.get("max_position_embeddings", 77), dim)
        self.encoder = CLIPEncoder(
            [CLIPEncoderLayer(dim, cfg["num_attention_heads"], cfg["intermediate_size"], eps, act) for _ in range(cfg["num_hidden_layers"])]
        )
        self.final_layer_norm = nn.LayerNorm(dim, eps=eps)

    def forward(self, ids, output_hidden_states=False):
        x = self.embeddings(ids)
        n = ids.shape[1]
        # SPEC §5: additive causal mask with finfo.min (not -inf) above the diagonal
        mask = torch.full((n, n), torch.finfo(x.dtype).min, dtype=x.dtype).triu(1)
        hidden = [x]
        for layer in self.encoder.layers:
            x = layer(x, mask)
            hidden.append(x)
        out = self.final_layer_norm(x)
        return (out, hidden) if output_hidden_states else out


class CLIPTextModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = dict(config)
        self.text_model = CLIPTextTransformer(config)
        self.eval()

    def forward(self, ids, output_hidden_states=False):
        return self.text_model(ids, output_hidden_states)


# SPEC §5 real config: openai/clip-vit-large-patch14 text tower
VIT_L14_TEXT = {
    "vocab_size": 49408,
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "max_position_embeddings": 77,
    "hidden_act": "quick_gelu",
    "layer_norm_eps": 1e-5,
}

IGNORED = ("text_model.embeddings.position_ids",)  # a buffer in older checkpoints (arange)


def build_empty(config):
    """The model without running torch's default init (its values are overwritten anyway)."""
    return torch_load.build_empty(CLIPTextModel, config)


def load_weights(model, path):
    """Strictly loads a safetensors file with the reference library's names."""
    return torch_load.load_strict(model, path, lambda name: None if name in IGNORED else name)
