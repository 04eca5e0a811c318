"""The op kinds of archc, one file each (see base.py): importing this package registers them
all, and a kind that misses a rule is refused here, at import time."""

from .activation import ACTIVATION_CLASSES, ACTIVATION_FUNCTIONS, ACTIVATIONS, Activation
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

__all__ = ["ACTIVATIONS", "ACTIVATION_CLASSES", "ACTIVATION_FUNCTIONS", "REGISTRY", "Activation",
           "Add", "BatchNorm", "BlockCall", "Concat", "Conv", "ConvAdd", "Dropout",
           "GlobalAvgPool", "Input", "Linear", "Op", "Pool", "ShapeError", "Slice", "bind",
           "same_padding", "window"]
