"""The graphviz backend: IR -> paper-style block figures and network overviews."""

from .render import block_figure, figures, label, overview_figure

__all__ = ["block_figure", "figures", "label", "overview_figure"]
