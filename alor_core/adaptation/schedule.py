"""The official learning-rate schedule (docs/METHOD.md §5.1): linear warm-up from a small lr, then cosine."""

import math

__all__ = ["warmup_cosine"]


def warmup_cosine(optimizer, total_steps, warmup_steps=50, warmup_start=1e-6, final_lr=1e-9):
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
