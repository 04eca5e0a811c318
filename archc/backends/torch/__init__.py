"""The torch backend: IR -> standalone PyTorch source."""

from ... import passes
from ...ir.graph import Network
from .codegen import render


def generate(network: Network, deploy: bool = False) -> str:
    """The source of a checked network's module (`archc build`), or of its inference module
    (`archc build --deploy`: the network after the deploy passes)."""
    return render(passes.deploy(network), deploy=True) if deploy else render(network)


__all__ = ["generate", "render"]
