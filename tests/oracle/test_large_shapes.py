"""Large shapes: the golden model against the torch backend at production scale."""
import pytest

import kernels
import oracle
from cases import Case


@pytest.mark.large
@pytest.mark.parametrize("case", [
    Case(513, 9, 65536, seed=1), Case(257, 9, 131072, mask_mode="ratio", seed=2),
    Case(1024, 16, 65536, unit_size=256, num_local_tokens=60000, seed=3),
], ids=lambda c: c.name)
def test_model_matches_torch_backend_at_scale(case):
    ids, w, mask, local = case.materialize()
    expected = oracle.moe_sorting(ids, w, case.num_experts, case.unit_size, mask, local)
    result = kernels.run("torch-cpu", ids, w, case.num_experts, case.unit_size, mask, local)
    verdict = oracle.compare(expected, result)
    assert verdict.ok, verdict.summary
