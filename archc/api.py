"""The Python API: a spec -> its checked IR, or a PyTorch module built from the generated code."""

from __future__ import annotations

import dataclasses
import operator
import os
import weakref
from collections.abc import Mapping

from .backends.torch import generate
from .compiler import compile_spec, spec_path
from .errors import SpecError
from .ir.check import check
from .ir.graph import Network, class_name
from .limits import MAX_CLASSES

_NETWORKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> its Network


def build_model(path_or_network, num_classes: int | None = None, deploy: bool = False):
    """The nn.Module of a spec (a path, a spec's data as a mapping, or an already compiled
    network: `build_model(compile_spec(text=YAML))`), built by executing the same generated
    source that `archc build` writes; num_classes defaults to the spec's, and 0 gives the pooled
    features, as timm's num_classes=0 (a head that is timm's classifier only). With deploy, the
    inference module that `archc build --deploy` writes: load a trained model's weights into
    it with its `load_trained(state_dict)`.

    Raises TypeError or ValueError for a bad argument, SpecError for a spec that does not
    compile, and ValueError (with the located diagnostics) for a num_classes the spec's shapes
    do not fit, e.g. a residual add whose branch has num_classes channels."""
    import linecache
    import types

    if num_classes is not None:
        num_classes = _num_classes(num_classes)
    network = _network(path_or_network)
    pooled = num_classes == 0  # the spec's classifier, then left out by the constructor
    if num_classes is None or pooled:
        num_classes = network.num_classes
    if network.shapes is None or num_classes != network.num_classes:
        try:
            checked = check(dataclasses.replace(network, num_classes=num_classes, shapes=None))
        except SpecError as error:
            if num_classes == network.num_classes:
                raise  # an unchecked network, wrong as it is
            raise ValueError(f"num_classes={num_classes} does not fit this spec: {error}") \
                from error
        network = checked
    if not isinstance(deploy, bool):
        raise TypeError(f"deploy must be True or False, not {deploy!r:.80}")
    source = generate(network, deploy)
    filename = f"<archc {network.source}{' --deploy' if deploy else ''}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = types.ModuleType(f"archc_generated_{network.name}")
    module.__file__ = filename
    exec(compile(source, filename, "exec"), module.__dict__)
    name = f"{network.name}_deploy" if deploy else network.name
    cls = getattr(module, class_name(name))
    if pooled and (deploy or not hasattr(cls, "reset_classifier")):
        raise ValueError("num_classes=0 gives the pooled features of a trained model whose head "
                         "is timm's classifier (avgpool global, dropouts, linear num_classes); "
                         + ("a deploy module keeps its classifier" if deploy else
                            f"{network.name}'s head is not"))
    model = cls(num_classes=0 if pooled else network.num_classes)
    if not deploy:
        _NETWORKS[model] = network
    return model


def summary(spec_or_model, layers: bool = False) -> dict:
    """A network's cost report, as `archc check --json` prints it: its input, each top-level
    step's output shape, parameters, multiply-accumulates and activations (with layers, each
    block's layers too), the totals and the smallest input it takes. spec_or_model: a spec's
    path or data (as compile_spec takes them), a compiled network, or a model build_model
    made."""
    from .ir.cost import summary as report

    network = network_of(spec_or_model)
    return report(network if network is not None else _network(spec_or_model), layers)


def network_of(model) -> Network | None:
    """The compiled network a model was built from by build_model; None for any other."""
    try:
        return _NETWORKS.get(model)
    except TypeError:  # not weakly referable, so not one of ours
        return None


def _network(path_or_network) -> Network:
    """The compiled network of a build_model argument: a Network as it is, a path compiled."""
    if isinstance(path_or_network, Network):
        return path_or_network
    if isinstance(path_or_network, Mapping):
        return compile_spec(path_or_network)
    if not isinstance(path_or_network, (str, os.PathLike)):
        raise TypeError("build_model() takes a spec path (str or os.PathLike), a spec's data "
                        "(a mapping) or an archc.ir.graph.Network, not "
                        f"{type(path_or_network).__name__}")
    path = spec_path(path_or_network, "build_model()")
    return compile_spec(path)


def _num_classes(value) -> int:
    """num_classes as a plain int in 0..MAX_CLASSES: an int or an integer scalar (numpy,
    torch), never a bool, a float or a string."""
    if isinstance(value, bool):
        raise TypeError(f"num_classes must be an int in 0..{MAX_CLASSES}, not the bool {value}")
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"num_classes must be an int in 0..{MAX_CLASSES}, not the "
                        f"{type(value).__name__} {value!r:.80}") from None
    if not 0 <= number <= MAX_CLASSES:
        raise ValueError(f"num_classes must be in 0..{MAX_CLASSES}, got {number}")
    return number
