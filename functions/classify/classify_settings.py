"""The settings only classify reads, and the one statement of where its default model and
labels come from (URL and sha256, also SOURCES.md).

serverless.yaml passes the same four values to deploy/Dockerfile as build arguments
(``functions.classify.build.args``); tests/deploy/test_dockerfile.py checks they are these.

    name                       default                    unit / meaning
    CLASSIFY_MODEL_PATH        (seed data, else cache)    .tflite file
    CLASSIFY_LABELS_PATH       (seed data, else cache)    labels, one per line
    CLASSIFY_THREADS           1                          interpreter threads per request thread
    CLASSIFY_INTERPRETERS      THREADS (else 1)           interpreters made when the model loads
    SEED_DATA_DIR              <repo>/../shared/seed-data where seed models/labels live
    MODEL_CACHE_DIR            ~/.cache/dapr-functions    where a fetched model is kept
    MODEL_URL / MODEL_SHA256   google-coral mobilenet v2  model source when none is local
    LABELS_URL / LABELS_SHA256 google-coral labels        labels source when none are local
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bindings.settings import REPO_ROOT, read

__all__ = ["LABELS_SHA256", "LABELS_URL", "MODEL_SHA256", "MODEL_URL", "ClassifySettings",
           "interpreters", "load"]

MODEL_URL = ("https://github.com/google-coral/edgetpu/raw/master/test_data/"
             "mobilenet_v2_1.0_224_quant.tflite")
MODEL_SHA256 = "51e8256b05665529f8836fe6e8eeed41b2fc75a900d8eebda338d70a6726f8da"
# Pinned to a commit: what a branch URL serves can change, and then fails the sha256 check.
LABELS_URL = ("https://github.com/google-coral/test_data/raw/"
              "104342d2d3480b3e66203073dac24f4e2dbb4c41/imagenet_labels.txt")
LABELS_SHA256 = "b8aaeb5630c62626a7d124a05c0e14230a7ffdd2136a31d0190a4fb71c1d82f1"
_MODEL_CACHE_DIR = Path("~/.cache/dapr-functions").expanduser()


@dataclass(frozen=True)
class ClassifySettings:
    """classify's configuration; see the module docstring for units and meaning."""

    classify_model_path: str = ""
    classify_labels_path: str = ""
    classify_threads: int = 1
    #: 0: as many as THREADS, the serving threads of a process (functions-framework's variable).
    classify_interpreters: int = 0
    seed_data_dir: Path = REPO_ROOT.parent / "shared" / "seed-data"
    model_cache_dir: Path = _MODEL_CACHE_DIR
    model_url: str = MODEL_URL
    model_sha256: str = MODEL_SHA256
    labels_url: str = LABELS_URL
    labels_sha256: str = LABELS_SHA256


def load(environ: Mapping[str, str] | None = None) -> ClassifySettings:
    """classify's settings from ``environ`` (default ``os.environ``)."""
    return read(ClassifySettings, environ)


def interpreters(config: ClassifySettings, environ: Mapping[str, str] | None = None) -> int:
    """How many interpreters to make when the model loads: CLASSIFY_INTERPRETERS, else THREADS
    (functions-framework's serving threads per process), else 1."""
    environ = os.environ if environ is None else environ
    return config.classify_interpreters or int(environ.get("THREADS") or 1)
