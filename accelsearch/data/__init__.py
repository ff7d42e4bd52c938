"""Reference data that ships with the package (read-only).

``timm-results-imagenet.csv``: ImageNet-1k top-1/top-5 of timm's pretrained models, as
published in huggingface/pytorch-image-models ``results/results-imagenet.csv`` (Apache-2.0,
copied unchanged; 1,556 rows, ~900 architectures; ``model`` is ``arch.tag``). The zoo survey
and the proxy-fidelity benchmark read it, so neither needs a separate download.
See ``SOURCES.md`` beside this file for where each file comes from and its licence.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from accelsearch.core.errors import ConfigError

#: file name of timm's published ImageNet results inside this package
TIMM_IMAGENET_RESULTS = "timm-results-imagenet.csv"


def path(name: str) -> Path:
    """Filesystem path of the packaged data file ``name``."""
    ref = resources.files(__name__) / name
    if not ref.is_file():
        known = sorted(p.name for p in resources.files(__name__).iterdir() if p.is_file())
        raise ConfigError(f"no packaged data file {name!r}; packaged: {', '.join(known)}")
    return Path(str(ref))


def timm_imagenet_results() -> Path:
    """Path of timm's published ImageNet results table (``results-imagenet.csv``)."""
    return path(TIMM_IMAGENET_RESULTS)
