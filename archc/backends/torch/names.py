"""The names of generated code: those it uses itself, which a spec's names may not take (the
front end asks here), and the local variables of generated functions, issued by one namespace
per function so that a generated name can never collide with a spec's names or with another
generated name."""

from __future__ import annotations

import keyword
import re

from ...activations import ACTIVATION_CLASSES

# Names the generated code already uses (attributes, locals, classes) or the language reads as
# keywords: a layer, block or parameter so named would shadow them.
RESERVED_NAMES = frozenset({
    "concat", "forward", "forward_features", "forward_head", "training", "num_classes",
    "in_channels", "in", "self", "torch", "nn", "super", "type", "GlobalAvgPool",
    # timm's model contract, on every network class
    "num_features", "feature_info", "pretrained_cfg", "get_classifier", "reset_classifier",
    "forward_intermediates", "head_hidden_size", "body_steps", "set_grad_checkpointing",
    "grad_checkpointing",
    # the deploy modules' conversion from trained weights, on their blocks and networks
    "load_trained", "from_trained",
})
# nn.Module's own attributes (torch 2.14; a torch test checks the list is complete): a layer
# named like one would shadow it. The compiler does not import torch, hence the copy.
MODULE_ATTRIBUTES = frozenset({
    "T_destination", "add_module", "apply", "bfloat16", "buffers", "call_super_init",
    "children", "compile", "cpu", "cuda", "double", "dump_patches", "eval", "extra_repr",
    "float", "forward", "get_buffer", "get_extra_state", "get_parameter", "get_submodule",
    "half", "ipu", "load_state_dict", "modules", "mtia", "named_buffers", "named_children",
    "named_modules", "named_parameters", "parameters", "register_backward_hook",
    "register_buffer", "register_forward_hook", "register_forward_pre_hook",
    "register_full_backward_hook", "register_full_backward_pre_hook",
    "register_load_state_dict_post_hook", "register_load_state_dict_pre_hook",
    "register_module", "register_parameter", "register_state_dict_post_hook",
    "register_state_dict_pre_hook", "requires_grad_", "set_extra_state", "set_submodule",
    "share_memory", "state_dict", "to", "to_empty", "train", "type", "xpu", "zero_grad",
})


# The helper classes generated code defines for conv units: ConvBnReLU, ConvBn, ConvSiLU...,
# and Conv (a deploy module's conv with nothing after it).
CONV_UNIT_CLASS = re.compile(rf"Conv((Bn)?({'|'.join([*ACTIVATION_CLASSES.values(), 'Act'])})|Bn)?")
# The other names generated modules define at their top level, which a block's class would
# replace: the activation table, and the deploy modules' helpers.
HELPERS = frozenset({"ACTIVATIONS", "CUDNN", "ONEDNN", "PACKED", "weakref", "folded", "fused",
                     "packed", "one_by_one", "relu_slice", "load_conv", "load_copy",
                     "load_parameter", "TrainedState", "DropPath", "LayerNorm2d", "Permute",
                     "checkpoint", "Linear", "ONEDNN_LINEAR"})
# The attributes a residual block's class gives itself besides its layers.
BLOCK_ATTRIBUTES = ("scale", "act", "use_residual")

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
