"""Backend registry: the one place that declares every kernel backend.

A backend is a :class:`Backend` entry in the ``BACKENDS: list[Backend]`` of a
module listed, with the names of its backends, in :data:`BACKEND_MODULES`
(the names let a module that does not import here still report its backends
as unavailable; ``tests/test_backends.py`` checks the two agree).  Modules
named in the environment variable ``MOESORT_BACKEND_MODULES`` (comma
separated) are added after them: that is how the test configuration brings
in its test-only backends (``tests/backends``), which users never see.
Every test, fuzz run and replay goes
through :func:`run`, which validates the inputs against the contract (via the
oracle), allocates poisoned, red-zoned outputs on the backend's device, calls
the backend's ``launch``, and reads the results back.  Invalid expert ids
reach a backend only when the caller asks for a policy other than the
default ``"reject"`` and the backend declares it (``Backend.invalid_ids``).
"""
from __future__ import annotations

import dataclasses
import importlib
import os
from typing import Callable, Optional

from oracle import INVALID_ID_POLICIES, normalize_inputs

from .result import BackendResult

#: Modules whose BACKENDS lists make up the registry, in display order, with
#: the backend names each declares (used to report them as unavailable when the
#: module cannot be imported because a dependency, e.g. flydsl, is missing).
BACKEND_MODULES = {
    "kernels.backends.reference": ("loop-model",),
    "kernels.backends.torch_backend": ("torch-cpu", "torch-cuda"),
    "kernels.backends.flydsl_own": ("flydsl-own",),
    "kernels.backends.flydsl_upstream": ("flydsl-upstream", "flydsl-upstream-sanitized"),
    "kernels.backends.aiter_backend": ("aiter-ck", "aiter-opus"),
    "kernels.backends.flydsl_upstream_router": ("flydsl-upstream-fused", "flydsl-upstream-gating",
                                                "flydsl-upstream-fused-sanitized", "flydsl-upstream-gating-sanitized"),
    "kernels.backends.torch_router": ("torch-router-cpu", "torch-router-cuda"),
}
#: The environment variable naming further backend modules (comma separated).
EXTRA_MODULES_ENV = "MOESORT_BACKEND_MODULES"


#: What a backend takes as input (``Backend.takes``).
BACKEND_INPUTS = ("ids", "logits")


@dataclasses.dataclass(frozen=True)
class Backend:
    """Declaration of one backend.

    ``probe()`` returns None when the backend can run here, else a one-line
    reason (shown in pytest skips and ``--list-backends``).  ``launch(inputs,
    outputs, target)`` writes the sort into ``outputs`` (a
    :class:`kernels.harness.OutputBuffers`) and returns the kernel path it took
    (or None when it does not report one).  ``contract`` is ``"strict"``
    (positions bit-exact) or ``"per_block"`` (same set of ids per block).
    ``max_tokens`` bounds T for slow backends (None: no bound).
    ``writes_past_extent`` is True for backends that fill the unspecified tail
    of the outputs (the canary check does not apply to them).
    ``executes_on(target)`` says, in words, where a launch runs.
    ``sources()`` names the directories holding the backend's kernel code (host
    code included): an exception raised from there is a finding in that code,
    not a crash of the harness.
    ``path_boundaries(E, topk, unit_size, target)`` (None: the backend has one
    path) gives the first token count of each kernel path after the first, as
    the backend's own dispatch decides it: of M, or of T for a backend that
    picks its path by the capacity (every capture-safe one).
    ``path_kernels`` (None: not declared) names, for each of those paths in
    order, the kernels a launch on it runs, in launch order -- a tuple, or
    ``path_kernels(E, topk, unit_size, target)`` returning one (None: none
    declared for that shape): with ``path_boundaries`` it is the backend's
    declared dispatch, and the judge checks every launch that reports its path
    against it (:mod:`fuzz.dispatch`).  ``dispatch_source(E, topk, unit_size,
    target)`` (optional) says in one line where that dispatch came from, for
    the run to report; ``dispatch_by(E, topk, unit_size, target)`` (optional,
    default ``"M"``) whether its boundaries are in the tokens M or in the
    capacity T (the rows of ``topk_ids``).
    ``capture_safe`` declares that a launch can be captured in a graph once and
    replayed for any M written into the harness's ``num_local_tokens`` device
    tensor (CONTRACT.md, "Graph capture"); :mod:`kernels.graph_replay` checks it.
    ``invalid_ids`` lists the policies for invalid expert ids the backend
    supports (``oracle.invalid_ids``; CONTRACT.md, "Robustness"): ``reject``
    only (the default: it never sees them), ``drop`` (it drops ids outside
    ``[0, E)`` exactly as the golden model does), ``unchecked`` (it may be
    handed any ids and is judged on memory safety alone).  The policy of a
    launch reaches ``launch`` as ``inputs.invalid_ids``.
    ``takes`` is what the backend's input is: ``"ids"`` (top-k ids and weights,
    launched through :func:`run`) or ``"logits"`` (router logits, a
    ``cases.RouterInputs``: ``launch(inputs, target)`` returns a
    ``kernels.backends.router_run.RouterRun``; judged by ``fuzz.judge_logits``).
    ``min_tokens`` is the smallest T the kernel is documented to take (campaigns
    draw none smaller; a replay skips a fixture with fewer rows, saying so).
    """

    name: str
    description: str
    needs: tuple[str, ...]
    probe: Callable[[], Optional[str]]
    launch: Callable[..., Optional[str]]
    contract: str = "strict"
    reports_path: bool = False
    device: Callable[[], str] = lambda: "cpu"
    executes_on: Callable[[Optional[str]], str] = lambda target: "cpu"
    targets: tuple[str, ...] = (None,)
    max_tokens: Optional[int] = None
    writes_past_extent: bool = False
    test_only: bool = False
    sources: Callable[[], tuple] = lambda: ()
    path_boundaries: Optional[Callable[..., tuple]] = None
    path_kernels: Optional[tuple[tuple[str, ...], ...] | Callable[..., Optional[tuple]]] = None
    dispatch_source: Optional[Callable[..., str]] = None
    dispatch_by: Optional[Callable[..., str]] = None
    invalid_ids: tuple[str, ...] = ("reject",)
    capture_safe: bool = False
    takes: str = "ids"
    min_tokens: int = 0

    def declared_kernels(self, num_experts: int, topk: int, unit_size: int, target) -> Optional[tuple]:
        """``path_kernels`` for this shape and target (None: not declared)."""
        if callable(self.path_kernels):
            return self.path_kernels(num_experts, topk, unit_size, target)
        return self.path_kernels

    def __post_init__(self):
        if self.takes not in BACKEND_INPUTS:
            raise ValueError(f"Backend {self.name!r}: takes={self.takes!r}, expected one of {BACKEND_INPUTS}")
        unknown = [p for p in self.invalid_ids if p not in INVALID_ID_POLICIES]
        if "reject" not in self.invalid_ids or unknown:
            raise ValueError(f"Backend {self.name!r}: invalid_ids={self.invalid_ids!r} must hold 'reject' and only "
                             f"policies of {INVALID_ID_POLICIES}")


#: Which backend a campaign fuzzes when none is named: the first available.
DEFAULT_FUZZ_ORDER = ("flydsl-own", "flydsl-upstream", "torch-cuda", "torch-cpu")

_REGISTRY: dict[str, Backend] | None = None
_EXTRA: dict[str, Backend] = {}


def _unimportable(name: str, reason: str) -> Backend:
    def launch(*_):
        raise RuntimeError(reason)
    return Backend(name=name, description="(module failed to import)", needs=(),
                   probe=lambda: reason, launch=launch)


def register(backend: Backend) -> None:
    """Add a backend at run time (test-only backends, plugins)."""
    _EXTRA[backend.name] = backend
    if _REGISTRY is not None:
        _REGISTRY[backend.name] = backend


def all_backends() -> dict[str, Backend]:
    """Every declared backend by name, available here or not."""
    global _REGISTRY
    if _REGISTRY is None:
        found: dict[str, Backend] = {}
        extra = [m.strip() for m in os.environ.get(EXTRA_MODULES_ENV, "").split(",") if m.strip()]
        for modname, names in [*BACKEND_MODULES.items(), *((m, None) for m in extra)]:
            try:
                module = importlib.import_module(modname)
            except ImportError as exc:
                reason = f"{modname} does not import: {type(exc).__name__}: {exc}"
                for name in names or (f"{modname} (from {EXTRA_MODULES_ENV})",):
                    found[name] = _unimportable(name, reason)
                continue
            for b in module.BACKENDS:
                found[b.name] = b
        found.update(_EXTRA)
        _REGISTRY = found
    return _REGISTRY


def get(name: str) -> Backend:
    table = all_backends()
    if name not in table:
        raise KeyError(f"backend={name!r} is not declared; known: {sorted(table)}")
    return table[name]


def default_backend() -> str:
    """The best backend available here, per :data:`DEFAULT_FUZZ_ORDER`."""
    status = available()
    for name in DEFAULT_FUZZ_ORDER:
        if status.get(name, "undeclared") is None:
            return name
    raise RuntimeError(f"no backend is available here: {status}")


def available() -> dict[str, Optional[str]]:
    """Map each backend name to None (usable here) or the reason it is not."""
    return {name: b.probe() for name, b in all_backends().items()}


def run(
    backend: str,
    topk_ids,
    topk_weights,
    num_experts: int,
    unit_size: int = 32,
    expert_mask=None,
    num_local_tokens=None,
    *,
    target: Optional[str] = None,
    moe_buf=None,
    red_zone: int = 0,
    invalid_ids: str = "reject",
) -> BackendResult:
    """Launch one sort on ``backend`` and return its outputs as NumPy arrays.

    Inputs may be NumPy arrays or torch tensors; they are validated against
    the contract first (``oracle.ContractViolation`` on bad input).
    ``num_local_tokens`` (M) is None (M = T), an int, or a one-element int32
    NumPy array or torch tensor (on any device; it is read once, before the
    launch); the backend gets M in its own device tensor either way.
    ``invalid_ids`` is the policy for invalid expert ids in rows ``< M``
    (CONTRACT.md, "Robustness"): ``"reject"`` (default) refuses them,
    ``"drop"`` and ``"unchecked"`` pass them to a backend that declares the
    policy (a ``ValueError`` names the backend and policy otherwise).
    ``moe_buf`` (optional, any dtype/shape) is poisoned before the launch and
    checked for zero afterwards; by default a float32 [T, 8] buffer is used.
    ``red_zone`` > 0 allocates that many poisoned elements behind every output
    and reports, in ``result.canary``, which were overwritten.
    """
    from .harness import launch_and_read  # imports torch: loaded at the first launch, not by `import kernels`

    b = get(backend)
    reason = b.probe()
    if reason is not None:
        raise RuntimeError(f"backend={backend!r} is unavailable here: {reason}")
    if b.takes != "ids":
        raise ValueError(f"backend={backend!r} takes {b.takes}, not top-k ids: launch it with a RouterInputs")
    if invalid_ids not in b.invalid_ids:
        raise ValueError(f"invalid_ids={invalid_ids!r}: backend {backend!r} supports {b.invalid_ids}")
    inputs = normalize_inputs(
        topk_ids, topk_weights, num_experts, unit_size, expert_mask, num_local_tokens, invalid_ids
    )
    if b.max_tokens is not None and inputs.tokens > b.max_tokens:
        raise ValueError(
            f"backend={backend!r} handles T <= {b.max_tokens}; got T={inputs.tokens}"
        )
    return launch_and_read(b, inputs, target=target, moe_buf=moe_buf, red_zone=red_zone)
