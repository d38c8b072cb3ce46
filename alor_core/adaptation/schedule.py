"""The adapters' learning-rate schedules: the official per-step warm-up + cosine (docs/METHOD.md §5.1;
LP, FT, CT) and Dassl's per-epoch constant warm-up + cosine (§5.4; PT)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import math

if TYPE_CHECKING:
    import torch

__all__ = ["warmup_cosine", "coop_schedule"]


def warmup_cosine(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    warmup_steps: int = 50,
    warmup_start: float = 1e-6,
    final_lr: float = 1e-9,
) -> torch.optim.lr_scheduler.LambdaLR:
    """LambdaLR: ``warmup_start`` -> each group's lr over ``warmup_steps``, then cosine to ``final_lr``."""
    import torch

    bases = [g["lr"] for g in optimizer.param_groups]
    warmup_steps = min(warmup_steps, max(0, total_steps - 1))

    def factor(base):
        def f(step):
            if step < warmup_steps:
                start = min(warmup_start, base)
                return (start + (base - start) * step / warmup_steps) / base
            t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
            return (final_lr + 0.5 * (base - final_lr) * (1 + math.cos(math.pi * min(1.0, t)))) / base

        return f

    return torch.optim.lr_scheduler.LambdaLR(optimizer, [factor(b) for b in bases])


def coop_schedule(
    optimizer: torch.optim.Optimizer, epochs: int, warmup_epochs: int = 1, warmup_lr: float = 1e-5
) -> torch.optim.lr_scheduler.LambdaLR:
    """Dassl's per-epoch schedule: ``warmup_epochs`` at a constant ``warmup_lr``, then cosine.

    Epoch ``e >= warmup_epochs`` uses ``lr · ½(1 + cos(π (e − warmup_epochs) / epochs))``, as
    Dassl's ``ConstantWarmupScheduler`` around ``CosineAnnealingLR(T_max=epochs)`` does. Step it
    once per epoch.
    """
    import torch

    bases = [g["lr"] for g in optimizer.param_groups]

    def factor(base):
        def f(epoch):
            if epoch < warmup_epochs:
                return warmup_lr / base
            return 0.5 * (1 + math.cos(math.pi * (epoch - warmup_epochs) / epochs))

        return f

    return torch.optim.lr_scheduler.LambdaLR(optimizer, [factor(b) for b in bases])
