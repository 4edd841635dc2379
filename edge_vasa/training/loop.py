"""The training loop every trainer shares: resume from a checkpoint, optimise, save, plot the loss.

A checkpoint is the shipped-weights format (models.weights) plus the optimizer state
(``optimizer.<param>.<name>``), so an interrupted run resumes exactly; the loss history is saved beside
it (HISTORY) and plotted to loss.png.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn
from tqdm import tqdm

from edge_vasa.core.files import atomic_output, pyplot, save_figure
from edge_vasa.models.weights import load_modules, save_weights

HISTORY = "history.json"  # [(step, loss), ...] beside every checkpoint


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
    save_weights(ckpt, modules, meta, optimizer_state(opt))
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
