"""What the plain-torch peers share: building a model without torch's default init, and strictly
loading a safetensors file into it (every tensor named, shaped and typed as the model expects)."""
import numpy as np
import torch
import torch.nn as nn

from safetensors_io import load


def build_empty(cls, config):
    """cls(config) without running torch's default init (its values are overwritten anyway)."""
    names = ("kaiming_uniform_", "uniform_", "normal_", "ones_", "zeros_")
    saved = {n: getattr(nn.init, n) for n in names}
    try:
        for n in names:
            setattr(nn.init, n, lambda t, *a, **k: t)
        return cls(config)
    finally:
        for n, f in saved.items():
            setattr(nn.init, n, f)


def load_strict(model, path, rename=lambda name: name):
    """Loads every parameter from `path`. rename(file key) -> model key, or None to skip a buffer.
    Missing, unexpected, duplicate (two names for one key) or misshaped tensors are errors."""
    tensors = load(path)
    sd = model.state_dict()
    seen = set()
    unexpected = []
    for name, arr in tensors.items():
        key = rename(name)
        if key is None:
            continue
        if key not in sd:
            unexpected.append(name)
            continue
        if key in seen:
            raise KeyError(f"{path}: {key} given twice (new and legacy names)")
        seen.add(key)
        p = sd[key]
        if arr.dtype != np.float32 or list(arr.shape) != list(p.shape):
            raise ValueError(f"{name}: file has {arr.dtype} {list(arr.shape)}, model wants float32 {list(p.shape)}")
        with torch.no_grad():
            p.copy_(torch.from_numpy(np.array(arr)))
    missing = [k for k in sd if k not in seen]
    if missing or unexpected:
        raise KeyError(f"{path}: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model
