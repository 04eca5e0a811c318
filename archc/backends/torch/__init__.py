"""The torch backend: IR -> standalone PyTorch source."""

from .codegen import render

__all__ = ["render"]
