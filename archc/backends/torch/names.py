"""The local variables of generated functions, issued by one namespace per function so that a
generated name can never collide with a spec's names or with another generated name."""

from __future__ import annotations

import keyword

# Names the body of a generated forward reads, and those pycodestyle finds ambiguous (E741).
_RESERVED = frozenset({"self", "torch", "nn", *keyword.kwlist, *keyword.softkwlist})
_AMBIGUOUS = frozenset({"l", "I", "O"})


class Namespace:
    """Issues unique local names: a candidate as it is when it is free, else with `_1`, `_2`...
    (as torch.fx's `_Namespace` does); `l`, `I` and `O` become `l_`, `I_`, `O_`, or `l_1`..."""

    def __init__(self, taken=()) -> None:
        self._taken = set(_RESERVED) | set(taken)

    def create(self, candidate: str) -> str:
        name = candidate + "_" if candidate in _AMBIGUOUS else candidate
        n = 0
        while name in self._taken:
            n += 1
            name = f"{candidate}_{n}"
        self._taken.add(name)
        return name


def is_ambiguous(name: str) -> bool:
    return name in _AMBIGUOUS
