"""The code generated modules share at run time, written once here as a real, linted module:
codegen copies each definition a generated module uses into it, with the comments above it
(`runtime_source`). archc never imports this file (it needs torch); tests do."""

import weakref

import torch
from torch import nn

# oneDNN's fused convolutions (as torch.compile's CPU code uses them), where this torch has them.
ONEDNN = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn,
                                                          "_convolution_pointwise")
# cuDNN's fused convolutions on CUDA (conv + bias + ReLU, and conv + bias + add + ReLU), as
# torch.jit.freeze uses them.
CUDNN = torch.backends.cudnn.is_available()
# Each conv's weight in oneDNN's own layout, made on its first call for an input shape, as
# torch.compile's freezing prepacks weights: this saves the reordering that oneDNN otherwise
# does on every call, for a second copy of the weights. Kept apart from the modules, so that
# state_dict, copies and pickles hold only the plain weights.
PACKED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class Conv(nn.Conv2d):
    """Conv2d with nothing after it, run by fused() (oneDNN with packed weights on the CPU)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused(self, x, relu=False)


def packed(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """conv's weight in oneDNN's layout for inputs of x's shape (PACKED), made again when the
    weight is changed in place (its version counter) or replaced."""
    weight = conv.weight
    if weight.is_inference():  # made under torch.inference_mode: it has no version counter
        return weight
    key = (weight.data_ptr(), weight._version, x.shape)
    entry = PACKED.get(conv)
    if entry is None or entry[0] != key:
        with torch.no_grad():
            entry = key, torch.ops.mkldnn._reorder_convolution_weight(
                weight.detach(), conv.padding, conv.stride, conv.dilation, conv.groups, x.shape
            )
        PACKED[conv] = entry
    return entry[1]


def one_by_one(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether a layer's ops run one by one instead of as one fused call: where autograd records
    them (the fused calls have no gradients) or autocast is on (they ignore it)."""
    device = x.device.type
    return (torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad)) \
        or device in ("cpu", "cuda") and torch.is_autocast_enabled(device)


def fused(conv: nn.Conv2d, x: torch.Tensor, shortcut: torch.Tensor | None = None,
          relu: bool = True) -> torch.Tensor:
    """relu(conv(x) + shortcut), the add and the ReLU where given, in one call where the device
    has one: oneDNN's (with packed weights) on the CPU in float32, cuDNN's on CUDA when there is
    a ReLU. The ops run one by one elsewhere, and where autograd records them or autocast is on:
    the fused calls have no gradients and ignore autocast. Under torch.compile the weights are
    the plain ones and a conv with a shortcut is left to the compiler, which fuses the add with
    what follows it too."""
    compiling = torch.compiler.is_compiling()
    device = x.device.type
    separate = one_by_one(x, conv.weight)
    if not separate and device == "cpu" and ONEDNN and x.dtype == torch.float32:
        weight = conv.weight if compiling else packed(conv, x)
        args = (weight, conv.bias, conv.padding, conv.stride, conv.dilation, conv.groups)
        if shortcut is None:
            return torch.ops.mkldnn._convolution_pointwise(
                x, *args, "relu" if relu else "none", [], ""
            )
        if not compiling:
            return torch.ops.mkldnn._convolution_pointwise.binary(
                x, shortcut, *args, "add", None, "relu" if relu else None, [], None
            )
    if not separate and device == "cuda" and CUDNN and torch.backends.cudnn.enabled \
            and relu and not compiling:
        args = (conv.stride, conv.padding, conv.dilation, conv.groups)
        if shortcut is None:
            return torch.cudnn_convolution_relu(x, conv.weight, conv.bias, *args)
        return torch.cudnn_convolution_add_relu(x, conv.weight, shortcut, 1.0, conv.bias, *args)
    out = nn.functional.conv2d(x, conv.weight, conv.bias, conv.stride, conv.padding,
                               conv.dilation, conv.groups)
    out = out if shortcut is None else out + shortcut
    return torch.relu_(out) if relu else out


# oneDNN's fused linear layers, where this torch has them: about twice MKL's addmm on
# ConvNeXt's pointwise layers (2 threads, float32), and the activation in the same call.
ONEDNN_LINEAR = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn,
                                                                 "_linear_pointwise")


class Linear(nn.Linear):
    """nn.Linear, then its activation `act` ("gelu", "relu" or "none"), in one oneDNN call on
    the CPU in float32; the ops one by one elsewhere, under torch.compile, and where autograd
    records them or autocast is on."""

    def __init__(self, in_features: int, out_features: int, act: str = "none"):
        super().__init__(in_features, out_features)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        separate = torch.compiler.is_compiling() or one_by_one(x, self.weight)
        if not separate and x.device.type == "cpu" and ONEDNN_LINEAR and x.dtype == torch.float32:
            return torch.ops.mkldnn._linear_pointwise(
                x, self.weight, self.bias, self.act, [], "none" if self.act == "gelu" else ""
            )
        out = nn.functional.linear(x, self.weight, self.bias)
        if self.act == "gelu":
            return nn.functional.gelu(out)
        return torch.relu(out) if self.act == "relu" else out


def relu_slice(x: torch.Tensor) -> torch.Tensor:
    """The ReLU of a merged conv's slice: in place (the slice is its channels' only reader),
    except under torch.compile, which would copy a view written in place, and where autograd
    records it: the slices share a version counter, so writing one would spoil what autograd
    saved of another."""
    if torch.compiler.is_compiling() or (torch.is_grad_enabled() and x.requires_grad):
        return torch.relu(x)
    return torch.relu_(x)


class TrainedState:
    """A trained model's state_dict as load_trained reads it, refused before any weight changes
    wherever the trained model's load_state_dict(strict=True) would refuse it, and where it
    holds NaN or inf. Every name under `prefix` must be one the trained model has, and each of
    its tensors must be there, with its shape exactly (the folding's arithmetic and copy_ would
    broadcast a bias of shape [1]) and a floating-point dtype (float64 and float16 are
    converted, as load_state_dict converts them). BatchNorm's num_batches_tracked, unused here,
    may be left out, as load_state_dict allows; where given, it is an integer of shape [] (or
    [1], which load_state_dict takes from old checkpoints). NaN and inf are refused rather than
    carried over: the trained model's outputs would be NaN, but the deploy model's fused ReLUs
    turn NaN into zeros, which would hide a diverged checkpoint; so is a running_var below -eps,
    whose square root the trained model would take. The weights made from the tensors wait in
    `loads` until every tensor has passed: a refused state_dict raises a RuntimeError that names
    each wrong tensor, as load_state_dict's does, and changes nothing."""

    def __init__(self, state: dict[str, torch.Tensor], prefix: str, model: str):
        self.state = state
        self.prefix = prefix  # the names read are under it; the others are not looked at
        self.model = model  # the trained model's class, for the errors
        self.read: set[str] = set()
        self.missing: list[str] = []
        self.errors: dict[str, str] = {}  # the wrong tensors: name -> what is wrong
        self.loads: list[tuple[torch.Tensor, torch.Tensor]] = []  # (deploy tensor, its value)
        self.depth = 0  # the load_trained calls reading it: the outermost one applies it

    @classmethod
    def of(cls, state: "dict[str, torch.Tensor] | TrainedState", prefix: str,
           model: str) -> "TrainedState":
        """What a load_trained reads: the state that a larger load_trained reads, which checks
        and applies it as a whole, or a new one."""
        return state if isinstance(state, cls) else cls(state, prefix, model)

    def __enter__(self):
        self.depth += 1
        return self

    def __exit__(self, kind, value, traceback) -> None:
        self.depth -= 1
        if self.depth == 0 and kind is None:
            self.apply()

    def tensor(self, key: str, like: torch.Tensor) -> torch.Tensor:
        """The tensor at `key`, on like's device, where it has like's shape, a floating-point
        dtype and no NaN or inf; else zeros stand in for it, the error noted, so that reading
        goes on and finds every error."""
        tensor = self.get(key, like.shape, integer=False)
        return torch.zeros_like(like) if tensor is None else tensor.to(like.device)

    def counter(self, key: str) -> None:
        """A BatchNorm's num_batches_tracked, which the deploy model does not use: checked where
        it is given."""
        self.get(key, torch.Size(), integer=True)

    def get(self, key: str, shape: torch.Size, integer: bool) -> torch.Tensor | None:
        """The tensor at `key` where it is right; None, the error noted, where it is not."""
        self.read.add(key)
        if key not in self.state:
            if not integer:  # load_state_dict fills in a missing num_batches_tracked
                self.missing.append(key)
            return None
        tensor = self.state[key]
        if not isinstance(tensor, torch.Tensor):
            self.refuse(key, f"{key} is a {type(tensor).__name__}, not a tensor")
            return None
        floating = tensor.is_floating_point()
        if integer:
            shapes, dtype = (shape, torch.Size([1])), "an integer dtype"
            right_dtype = not (floating or tensor.is_complex() or tensor.dtype == torch.bool)
        else:
            shapes, dtype, right_dtype = (shape,), "a floating-point dtype", floating
        if tensor.shape not in shapes:
            self.refuse(key, f"size mismatch for {key}: shape {list(tensor.shape)} in the "
                             f"state_dict, {list(shape)} in a trained {self.model}")
        elif not right_dtype:
            self.refuse(key, f"dtype mismatch for {key}: {tensor.dtype} in the state_dict, "
                             f"{dtype} in a trained {self.model}")
        elif floating and not torch.isfinite(tensor).all():
            nan, inf = int(tensor.isnan().sum()), int(tensor.isinf().sum())
            self.refuse(key, f"{key} holds {nan} NaN and {inf} inf among its "
                             f"{tensor.numel()} values")
        else:
            return tensor
        return None

    def refuse(self, key: str, error: str) -> None:
        self.errors.setdefault(key, error)

    def load(self, tensor: torch.Tensor, value: torch.Tensor, source: str) -> None:
        """Copies value into a deploy tensor once the whole state_dict has passed (apply).
        source: the trained tensor it is made from, or the prefix of those of a conv unit,
        named where value has NaN or inf that they do not have (out of range once folded or
        in the deploy tensor's dtype)."""
        value = value.to(tensor.dtype)
        if not torch.isfinite(value).all() and not any(key.startswith(source)
                                                       for key in self.errors):
            self.refuse(source, f"{source.rstrip('.')} gives NaN or inf in {tensor.dtype} "
                                "(values out of range)")
        self.loads.append((tensor, value))

    def apply(self) -> None:
        """The deploy tensors' new values copied in, where every tensor has passed; else a
        RuntimeError naming each wrong one, and nothing changed."""
        unexpected = [key for key in self.state if key not in self.read
                      and (not isinstance(key, str) or key.startswith(self.prefix))]
        errors = []
        if self.missing:
            errors.append("Missing key(s) in state_dict: "
                          + ", ".join(f'"{key}"' for key in self.missing) + ".")
        if unexpected:
            errors.append("Unexpected key(s) in state_dict: "
                          + ", ".join(f'"{key}"' for key in unexpected) + ".")
        errors += self.errors.values()
        if errors:
            raise RuntimeError(f"Error(s) in loading the state_dict of a trained {self.model}:"
                               + "".join(f"\n\t{error}" for error in errors))
        for tensor, value in self.loads:
            tensor.copy_(value)


def folded(
    state: TrainedState,
    key: str,
    weight: torch.Tensor,
    bias: torch.Tensor,
    eps: float | None,
    conv: str,
    bn: str,
    biased: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The weight and bias of the trained conv unit at `key`, for a deploy conv's `weight` and
    `bias` (whose shapes the trained tensors have): its Conv2d's (`key` + conv, with a bias if
    `biased`), with the BatchNorm after it (`key` + bn) folded in if it has one (eps given)."""
    conv_weight = state.tensor(key + conv + "weight", weight)
    conv_bias = state.tensor(key + conv + "bias", bias) if biased else torch.zeros_like(bias)
    if eps is None:
        return conv_weight, conv_bias
    gamma, beta, mean, var = (state.tensor(key + bn + name, bias)
                              for name in ("weight", "bias", "running_mean", "running_var"))
    state.counter(key + bn + "num_batches_tracked")
    if (var + eps <= 0).any():
        name = key + bn + "running_var"
        state.refuse(name, f"{name} has {int((var + eps <= 0).sum())} values at or below -eps "
                           f"({-eps}): the trained model's outputs would be NaN or inf")
    factor = gamma / torch.sqrt(var + eps)
    return conv_weight * factor.reshape(-1, 1, 1, 1), (conv_bias - mean) * factor + beta


def load_conv(
    state: TrainedState,
    target: nn.Conv2d,
    key: str,
    conv: str = "conv.",
    bn: str = "bn.",
    bias: bool = False,
    eps: float | None = None,
    scale: float = 1.0,
    channels: tuple[int, int] | None = None,
) -> None:
    """Output channels `channels` (start, stop) of target, all of them if None: the trained
    conv unit at `key` (`folded`), times scale."""
    start, stop = channels or (0, target.out_channels)
    weight, shift = target.weight[start:stop], target.bias[start:stop]
    folded_weight, folded_bias = folded(state, key, weight, shift, eps, conv, bn, bias)
    state.load(weight, folded_weight * scale, key)
    state.load(shift, folded_bias * scale, key)


def load_copy(state: TrainedState, module: nn.Module, key: str) -> None:
    """A module whose weights are the trained module's (at `key`) as they are."""
    for name, tensor in module.state_dict().items():
        if name.endswith("num_batches_tracked"):
            state.counter(key + name)
        else:
            state.load(tensor, state.tensor(key + name, tensor), key + name)


def load_parameter(state: TrainedState, parameter: nn.Parameter, key: str) -> None:
    """A parameter that is a module's attribute itself (a layer scale): the trained tensor at
    `key`, as it is."""
    state.load(parameter, state.tensor(key, parameter), key)


class GlobalAvgPool(nn.Module):
    """Average over height and width: N x C x H x W -> N x C."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean((2, 3))


class DropPath(nn.Module):
    """Stochastic depth (Huang et al. 2016), as timm's DropPath: in training, each sample's input
    is zeroed with probability p and scaled by 1 / (1 - p) otherwise; the identity in eval. The
    network's constructor sets p (its drop_path_rate)."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(1 - self.p)
        return x * keep.div_(1 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p:.3f}"


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an N x C x H x W tensor at each position, as torchvision's
    LayerNorm2d (ConvNeXt): nn.LayerNorm's weights, applied channels-last."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = nn.functional.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class Permute(nn.Module):
    """The input's dimensions in the order `dims`, as torchvision's Permute: [0, 2, 3, 1] makes
    N x C x H x W channels-last, [0, 3, 1, 2] brings it back."""

    def __init__(self, dims: list[int]):
        super().__init__()
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.permute(x, self.dims)

    def extra_repr(self) -> str:
        return f"dims={self.dims}"
