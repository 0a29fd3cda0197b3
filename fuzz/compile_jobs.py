"""Compile jobs: which kernels of which backend to build, for which shapes and targets.

A *compile provider* is a module that knows how to build one backend's FlyDSL
kernels without running them.  It exposes:

``NAME``                       the backend name (as in ``kernels.registry``);
``probe() -> str | None``      None when it can compile here, else why not (one line);
``jobs(targets, shapes)``      the :class:`CompileJob` list for those targets/shapes;
``compile(job) -> None``       called in a worker fixed to ``job.target`` with
                               ``COMPILE_ONLY=1``: call the backend's launcher(s)
                               with host placeholders so FlyDSL compiles them.

``PROVIDERS`` maps backend name -> provider module; adding a backend to the
matrix is one entry.  :func:`compile_jobs` asks the provider.

Choosing T per path: every path is compiled once per (shape, mask, target) at
the LARGEST T that still takes it (within ``1..T_MAX``) -- kernels that size
LDS from T are at their worst there; for the last, unbounded path ``T_MAX``
is used.  :func:`path_representatives` finds these from the backend's own
``choose_path``-style function.
"""
from __future__ import annotations

import dataclasses
import importlib
from typing import Callable, Iterable, Optional, Sequence

from fuzz.shapes import PRODUCTION_SHAPES, Shape

TARGETS = ("gfx942", "gfx950")
#: Largest T considered when looking for each path's representative T.
T_MAX = 4096

PROVIDERS = {
    "probe": "fuzz.compile_probe",
    "flydsl-own": "fuzz.compile_own",
    "flydsl-upstream": "fuzz.compile_upstream",
}


@dataclasses.dataclass(frozen=True)
class CompileJob:
    """One launcher specialization to compile for one target (picklable)."""

    backend: str
    kernel: str  # launcher / kernel family name, e.g. "oneshot"
    path: str
    num_experts: int
    topk: int
    unit_size: int
    tokens: int
    mask: bool
    target: str
    min_workgroups_per_cu: int = 1  # what the launch assumes (e.g. LDS sized for 2 per CU)
    model: str = ""
    extra: tuple = ()  # provider-specific (key, value) pairs
    label: str = ""  # overrides the shape label (jobs that are not MoE shapes)

    @property
    def shape(self) -> str:
        return self.label or f"E{self.num_experts}-k{self.topk}-u{self.unit_size}"

    def option(self, key, default=None):
        return dict(self.extra).get(key, default)


def provider_module(backend: str):
    """Import the provider of ``backend``; KeyError names the known ones."""
    if backend not in PROVIDERS:
        raise KeyError(f"no compile provider for backend {backend!r}; known: {sorted(PROVIDERS)}")
    return importlib.import_module(PROVIDERS[backend])


def available_backends() -> dict:
    """backend -> None (compilable here) or the reason it is not."""
    out = {}
    for name in PROVIDERS:
        try:
            out[name] = provider_module(name).probe()
        except Exception as exc:  # noqa: BLE001 - a broken provider is "unavailable", with why
            out[name] = f"{type(exc).__name__}: {exc}"
    return out


def compile_jobs(backend: str, targets: Sequence[str] = TARGETS,
                 shapes: Optional[Iterable[Shape]] = None) -> list:
    """The provider's jobs for ``targets`` and ``shapes`` (default: production shapes)."""
    return list(provider_module(backend).jobs(tuple(targets), tuple(shapes or PRODUCTION_SHAPES)))


def path_representatives(choose: Callable[[int], str], t_max: int = T_MAX) -> dict:
    """``{path: T}``: the largest T in ``1..t_max`` that ``choose(T)`` maps to each path.

    Paths are returned in the order their first T appears.
    """
    last: dict = {}  # insertion order = order of first appearance
    for t in range(1, t_max + 1):
        last[choose(t)] = t
    return last


def filter_shapes(shapes: Iterable[Shape], patterns: Sequence[str]) -> list:
    """Shapes whose label ``E<E>-k<topk>-u<unit>`` or model name contains any pattern."""
    shapes = list(shapes)
    if not patterns:
        return shapes
    out = []
    for s in shapes:
        label = f"E{s.num_experts}-k{s.topk}-u{s.unit_size}"
        if any(p.lower() in label.lower() or p.lower() in s.model.lower() for p in patterns):
            out.append(s)
    return out


def shape_from_label(label: str) -> Shape:
    """Parse ``E257-k9-u32`` (or ``257,9,32``) into an ad-hoc Shape."""
    import re

    m = re.fullmatch(r"E?(\d+)[-,/:kK]+(\d+)(?:[-,/:uU]+(\d+))?", label.strip())
    if not m:
        raise ValueError(f"shape {label!r}: expected E<experts>-k<topk>[-u<unit>] or E,topk[,unit]")
    e, k, u = int(m.group(1)), int(m.group(2)), int(m.group(3) or 32)
    return Shape(f"E{e}-k{k}-u{u}", e, k, u, 0.0)


def placeholders(tokens: int, num_experts: int, topk: int, unit_size: int, mask: bool,
                 moe_buf_cols: int = 16) -> dict:
    """CPU torch tensors with the contract's dtypes and sizes, for compile-only launches.

    Keys: topk_ids, topk_weights, sorted_ids, sorted_weights, sorted_expert_ids,
    num_valid_ids, moe_buf (int32 [T, moe_buf_cols]), expert_mask (int32 [E] or None).
    """
    import torch

    from oracle import max_num_tokens_padded

    padded = max_num_tokens_padded(tokens, topk, num_experts, unit_size)
    blocks = -(-padded // unit_size)
    return {
        "topk_ids": torch.zeros((tokens, topk), dtype=torch.int32),
        "topk_weights": torch.zeros((tokens, topk), dtype=torch.float32),
        "sorted_ids": torch.zeros(padded, dtype=torch.int32),
        "sorted_weights": torch.zeros(padded, dtype=torch.float32),
        "sorted_expert_ids": torch.zeros(blocks, dtype=torch.int32),
        "num_valid_ids": torch.zeros(2, dtype=torch.int32),
        "moe_buf": torch.zeros((tokens, moe_buf_cols), dtype=torch.int32),
        "expert_mask": torch.ones(num_experts, dtype=torch.int32) if mask else None,
    }
