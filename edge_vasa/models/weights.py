"""Checkpoints and shipped weights: named networks + optimizer state in one safetensors file.

A checkpoint holds every network of a model family under its name (``audio_encoder.conv.weight``), the
optimizer state (``optimizer.<param>.<name>``) so training resumes exactly, and the config as JSON
metadata. Shipped weights are the same file without the optimizer, plus a manifest beside it (config,
sha256, size) that loading checks. safetensors only: nothing is ever unpickled.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.files import atomic_output, file_sha256


def module_state(modules: dict[str, nn.Module]) -> dict[str, torch.Tensor]:
    return {f"{name}.{k}": v.contiguous() for name, m in modules.items() for k, v in m.state_dict().items()}


def load_modules(path: str | Path, modules: dict[str, nn.Module], tensors: dict[str, torch.Tensor]) -> None:
    """The inverse of module_state: weights from a flat checkpoint dict into each named network."""
    try:
        for name, module in modules.items():
            prefix = name + "."
            module.load_state_dict({k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)})
    except RuntimeError:
        raise EdgeVasaError(
            f"{path} does not fit this version's networks (wrong or damaged weights)"
        ) from None


def read_checkpoint(path: str | Path, what: str, train_command: str) -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors, meta) of a checkpoint or shipped weights, checked against a manifest beside it if any."""
    path = Path(path)
    if not path.is_file():
        raise EdgeVasaError(f"{what} not found: {path}; train one with `{train_command}`")
    manifest = path.with_suffix(".json")
    if manifest.is_file():  # shipped weights carry a manifest: refuse a file that does not match it
        try:
            fields = json.loads(manifest.read_text())
        except (OSError, ValueError):
            fields = None
        if not isinstance(fields, dict) or not isinstance(fields.get("sha256", ""), str):
            raise EdgeVasaError(
                f"the manifest {manifest.name} beside {path} is damaged; reinstall edge-vasa or re-export"
            )
        want = fields.get("sha256")
        if want and file_sha256(path) != want:
            raise EdgeVasaError(
                f"{path} does not match its manifest (sha256); reinstall edge-vasa or re-export"
            )
    with open(path, "rb") as f:
        head = f.read(2)
    if head[:1] == b"\x80" or head == b"PK":  # a pickle, or torch.save's zip of pickles
        raise EdgeVasaError(
            f"{path} is a PyTorch pickle; edge-vasa loads only .safetensors weights (pickles can run code); "
            f"use weights from `{train_command}`"
        )
    try:
        with safe_open(str(path), "pt") as f:
            meta = json.loads(f.metadata()["meta"])
        return load_file(str(path)), meta
    except (OSError, KeyError, ValueError, TypeError, RuntimeError, SafetensorError) as e:
        raise EdgeVasaError(
            f"cannot load {what} weights {path} ({type(e).__name__}): damaged, or not edge-vasa weights of "
            f"this version; use weights from `{train_command}`"
        ) from None


def save_weights(
    path: Path, modules: dict[str, nn.Module], meta: dict, extra: dict[str, torch.Tensor] | None = None
) -> None:
    """Every network's weights (and EXTRA tensors, a checkpoint's optimizer state) in one safetensors file,
    META as JSON metadata; written atomically."""
    with atomic_output(path) as tmp:
        save_file({**module_state(modules), **(extra or {})}, tmp, metadata={"meta": json.dumps(meta)})


def export_modules(modules: dict[str, nn.Module], meta: dict, dest: str | Path) -> Path:
    """Shipped weights: the networks without optimizer state, plus a manifest (config, sha256, size)."""
    dest = Path(dest)
    meta = {k: v for k, v in meta.items() if k not in ("corpus", "videos")}
    save_weights(dest, modules, meta)
    manifest = {
        "file": dest.name,
        "sha256": file_sha256(dest),
        "bytes": dest.stat().st_size,
        "parameters": sum(p.numel() for m in modules.values() for p in m.parameters()),
        **meta,
    }
    with atomic_output(dest.with_suffix(".json")) as tmp:
        Path(tmp).write_text(json.dumps(manifest, indent=1))
    return dest
