"""The Python API: a spec -> its checked IR, or a PyTorch module built from the generated code."""

from __future__ import annotations

from .backends.torch import render
from .compiler import compile_spec
from .ir.graph import Network, class_name


def build_model(path_or_network, num_classes: int | None = None):
    """The nn.Module of a spec (a path, or an already compiled network), built by executing the
    same generated source that `archc build` writes; num_classes defaults to the spec's."""
    import linecache
    import types

    network = path_or_network if isinstance(path_or_network, Network) else \
        compile_spec(str(path_or_network))
    source = render(network)
    filename = f"<archc {network.source}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = types.ModuleType(f"archc_generated_{network.name}")
    module.__file__ = filename
    exec(compile(source, filename, "exec"), module.__dict__)
    if num_classes is None:
        num_classes = network.num_classes
    return getattr(module, class_name(network.name))(num_classes=num_classes)
