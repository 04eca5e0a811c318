"""archc: compile declarative CNN specs into PyTorch code, diagrams and cost reports.

    archc.compile_spec(path)               -> the checked, fully shaped IR (or a spec's data,
                                              or text=YAML)
    archc.build_model(path, num_classes)   -> an nn.Module (needs torch)
    archc.summary(spec)                    -> parameters, MACs and activations per stage
    archc.transfer(state_dict, target, source=spec)
                                           -> a model of target with every tensor of the
                                              source's state_dict whose meaning is unchanged
"""

from .api import build_model, summary
from .compiler import compile_spec


def transfer(checkpoint, target, *, source, seed: int = 0):
    """Weight transfer (archc/weights.py; needs torch, so imported only when called)."""
    from .weights import transfer as run

    return run(checkpoint, target, source=source, seed=seed)


__all__ = ["build_model", "compile_spec", "summary", "transfer"]
