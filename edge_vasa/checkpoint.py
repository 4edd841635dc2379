"""Checkpoints and shipped weights: named networks + optimizer state in one safetensors file.

A checkpoint holds every network of a model family under its name (``audio_encoder.conv.weight``), the
optimizer state (``optimizer.<param>.<name>``) so training resumes exactly, and the config as JSON
metadata. Shipped weights are the same file without the optimizer, plus a manifest beside it (config,
sha256, size) that loading checks. safetensors only: nothing is ever unpickled.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm import tqdm

from edge_vasa.atomic import atomic_output, file_sha256, pyplot, save_figure
from edge_vasa.errors import EdgeVasaError

HISTORY = "history.json"  # [(step, loss), ...] beside every checkpoint


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


def optimizer_state(opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    out = {}
    for i, s in opt.state_dict()["state"].items():
        for name, value in s.items():
            out[f"optimizer.{i}.{name}"] = torch.as_tensor(value).contiguous()
    return out


def load_optimizer_state(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor]) -> None:
    sd = opt.state_dict()
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, i, name = key.split(".", 2)
            state.setdefault(int(i), {})[name] = value
    sd["state"] = state
    opt.load_state_dict(sd)


def save_checkpoint(
    path: Path, modules: dict[str, nn.Module], opt: torch.optim.Optimizer | None, meta: dict
) -> None:
    tensors = {**module_state(modules), **(optimizer_state(opt) if opt is not None else {})}
    with atomic_output(path) as tmp:
        save_file(tensors, tmp, metadata={"meta": json.dumps(meta)})


def resume_training(
    ckpt: Path, modules: dict[str, nn.Module], opt: torch.optim.Optimizer
) -> tuple[int, list[tuple[int, float]]]:
    """Restore an interrupted run from ``ckpt`` (weights and optimizer state) and its loss history beside
    it; returns (step reached, history), or (0, []) when there is no checkpoint yet."""
    if not ckpt.exists():
        return 0, []
    tensors = load_file(str(ckpt))
    load_modules(ckpt, modules, tensors)
    load_optimizer_state(opt, tensors)
    history_path = ckpt.parent / HISTORY
    history = json.loads(history_path.read_text()) if history_path.exists() else []
    return (history[-1][0] if history else 0), history


def save_training(
    ckpt: Path,
    modules: dict[str, nn.Module],
    opt: torch.optim.Optimizer,
    meta: dict,
    history: list[tuple[int, float]],
    title: str,
    ylabel: str,
) -> None:
    """Checkpoint, loss history (HISTORY) and loss plot (loss.png) of a run, each written atomically."""
    save_checkpoint(ckpt, modules, opt, meta)
    with atomic_output(ckpt.parent / HISTORY) as tmp:
        Path(tmp).write_text(json.dumps(history))
    plot_losses(history, ckpt.parent / "loss.png", title, ylabel)


def warmup_cosine(lr: float, step: int, steps: int, warmup: int = 100, floor: float = 0.0) -> float:
    """Learning rate at ``step``: linear warm-up over ``warmup`` steps, then cosine decay to ``floor`` x lr.
    A function of the step alone, so a resumed run continues the same schedule."""
    decay = floor + (1 - floor) * 0.5 * (1 + np.cos(np.pi * step / steps))
    return lr * min(1.0, (step + 1) / warmup) * decay


def run_training(
    ckpt: Path,
    modules: dict[str, nn.Module],
    opt: torch.optim.Optimizer,
    meta: dict,
    history: list[tuple[int, float]],
    steps: int,
    save_every: int,
    next_loss: Callable[[], torch.Tensor],
    lr_at: Callable[[int], float],
    desc: str,
    ylabel: str,
    started: float | None = None,
) -> None:
    """The optimisation loop every trainer shares: from the step ``history`` reached up to ``steps``, set the
    learning rate, take ``next_loss()``, clip gradients to norm 1, step; progress bar with the loss; a
    checkpoint, history and loss plot (``save_training``) every ``save_every`` steps and at the end.
    ``meta["seconds"]`` counts from ``started`` (default: now; earlier when preparation counts too)."""
    params = [p for group in opt.param_groups for p in group["params"]]
    step = history[-1][0] if history else 0
    started = time.time() if started is None else started
    with tqdm(total=steps, initial=step, desc=desc, unit="step") as bar:
        while step < steps:
            for group in opt.param_groups:
                group["lr"] = lr_at(step)
            loss = next_loss()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            step += 1
            history.append((step, loss.item()))
            bar.set_postfix(loss=f"{history[-1][1]:.4f}")
            bar.update()
            if step % save_every == 0 or step == steps:
                meta["step"], meta["seconds"] = step, round(time.time() - started, 1)
                save_training(ckpt, modules, opt, meta, history, desc, ylabel)


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


def export_modules(modules: dict[str, nn.Module], meta: dict, dest: str | Path) -> Path:
    """Shipped weights: the networks without optimizer state, plus a manifest (config, sha256, size)."""
    dest = Path(dest)
    meta = {k: v for k, v in meta.items() if k not in ("corpus", "videos")}
    save_checkpoint(dest, modules, None, meta)
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


def plot_losses(history: list[tuple[int, float]], path: Path, title: str, ylabel: str) -> None:
    """Batch loss and its running mean over training steps, log scale, as a PNG."""
    steps, losses = np.array(history).T
    fig, ax = pyplot().subplots(figsize=(7, 3.5), dpi=100)
    ax.plot(steps, losses, lw=0.6, alpha=0.4, label="batch loss")
    k = max(1, len(losses) // 50)
    smooth = np.convolve(losses, np.ones(k) / k, mode="valid")
    ax.plot(steps[k - 1 :], smooth, lw=1.5, label=f"mean of {k}")
    ax.set(xlabel="step", ylabel=ylabel, yscale="log", title=title)
    ax.legend()
    save_figure(fig, path)
