"""Hand-picked edge fixtures, written by ``python -m regressions.edge_cases``.

Each entry is a :class:`cases.Case` plus the reason it is kept; the
command (re)writes the fixtures into ``regressions/fixtures/`` (existing
files with the same content hash are left alone).
"""
from __future__ import annotations

from cases import Case

from .fixtures import Fixture, save

EDGE_CASES = (
    (Case(257, 9, 0, seed=1), "T=0: no rows at all; only padding semantics and num_valid_ids=[0, 0]"),
    (Case(257, 9, 1, seed=2), "T=1: one row, nine experts each get one id and a full block of padding"),
    (Case(64, 6, 16, num_local_tokens=0, seed=3), "num_local_tokens=0: rows exist but none counts"),
    (Case(1, 1, 100, seed=4), "a single expert: every id in one run"),
    (Case(32, 5, 50, mask_mode="all_off", seed=5), "all experts masked: every token dropped"),
    (Case(64, 6, 300, routing="one_expert", seed=6), "every token routed to one expert: one long run"),
    (Case(513, 9, 300, seed=7), "E=513 topk=9 (Qwen3.5): more experts than a 512-thread workgroup"),
    (Case(513, 9, 1000, unit_size=256, seed=8), "unit_size=256 with E=513: the largest padding"),
    (Case(802, 99, 20, seed=9), "topk=99, E=802 (CK's own test shape): slots above 64"),
    (Case(200, 130, 3, weights="special", seed=10), "topk=130 >= 128: packed ids and sentinel set the sign bit"),
    (Case(32, 5, 40, mask_mode="one", num_local_tokens=33, weights="special", seed=11),
     "EP with exactly one expert on, M < T and special float weights"),
)


def edge_fixtures():
    for case, note in EDGE_CASES:
        ids, weights, mask, local = case.materialize()
        yield Fixture(name=case.name, kind="edge", topk_ids=ids, topk_weights=weights,
                      num_experts=case.num_experts, unit_size=case.unit_size, expert_mask=mask,
                      num_local_tokens=local, note=note, case=case.to_dict())


def main() -> None:
    for fixture in edge_fixtures():
        print(save(fixture, reproducer=f"python -m fuzz replay --name {fixture.name}"))


if __name__ == "__main__":
    main()
