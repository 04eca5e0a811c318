"""archc: compile declarative CNN specs into PyTorch code, diagrams and cost reports.

    archc.compile_spec(path)               -> the checked, fully shaped IR
    archc.build_model(path, num_classes)   -> an nn.Module (needs torch)
"""

from .api import build_model
from .compiler import compile_spec

__all__ = ["build_model", "compile_spec"]
