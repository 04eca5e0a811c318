"""The op kinds of archc, one file each (see base.py). Importing this package imports every
file of it, which registers its ops: a kind that misses a rule is refused here, at import time,
and a new kind needs no line anywhere else. The kinds the IR and the passes name are exported
by name; every phase finds the others through the registry."""

import importlib
import pkgutil

from ..activations import ACTIVATION_CLASSES, ACTIVATION_FUNCTIONS, ACTIVATIONS
from .activation import Activation
from .base import REGISTRY, Op, ShapeError, bind, same_padding, window
from .batchnorm import BatchNorm
from .block_call import BlockCall
from .conv import Conv
from .conv_add import ConvAdd
from .dropout import Dropout
from .global_pool import GlobalAvgPool
from .graph_ops import Add, Concat, Input, Slice
from .linear import Linear
from .pool import Pool

for _module in sorted(pkgutil.iter_modules(__path__), key=lambda found: found.name):
    importlib.import_module(f"{__name__}.{_module.name}")

# The kinds a spec writes as layers, in the order the language lists them, and the op kind of
# each of their models.
LANGUAGE = sorted((op for op in REGISTRY.values() if op.SPECS), key=lambda op: op.ORDER)
OP_OF_MODEL = {model: op for op in LANGUAGE for model in op.SPECS}

__all__ = ["ACTIVATIONS", "ACTIVATION_CLASSES", "ACTIVATION_FUNCTIONS", "LANGUAGE",
           "OP_OF_MODEL", "REGISTRY", "Activation", "Add", "BatchNorm", "BlockCall", "Concat",
           "Conv", "ConvAdd", "Dropout", "GlobalAvgPool", "Input", "Linear", "Op", "Pool",
           "ShapeError", "Slice", "bind", "same_padding", "window"]
