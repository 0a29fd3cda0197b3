"""The error the golden model raises for input outside the contract."""


class ContractViolation(ValueError):
    """Input outside the MoE-sorting contract.

    The message names the offending field and, where there is one, the row,
    slot (or index) and value, e.g. ``topk_ids[3, 1] = 600 is outside
    [0, num_experts=513)``.  ``field`` holds the field name for programmatic use.
    """

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
