"""The image classifier: a TFLite ImageNet model, its labels, and the tensor maths around it.

The model file is read once per process. Interpreters are not thread-safe, so each call takes
one from a pool and gives it back (a pool holds at most as many as calls ever ran at once, one
per serving thread at most; several measured faster than one shared behind a lock: see
docs/functions.md). ``interpreters`` of them (one per serving thread, as classify ships) are
made when the model loads, in the gunicorn master before it forks, so no request builds one
and the workers share their pages (with CLASSIFY_THREADS > 1 an interpreter has its own
threads, which a fork does not copy: a forked child then starts with an empty pool).

Input size and type come from the model, so any MobileNet-style
classifier works: the image is resized to the model's input ignoring aspect ratio (bilinear),
as RGB. uint8 inputs take the pixels as they are (the model's input quantisation maps them);
int8 inputs take them shifted by 128; float inputs get the MobileNet convention
(x - 127.5) / 127.5, the range the quantised models' (0.0078125, 128) input encodes.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

try:
    from ai_edge_litert.interpreter import Interpreter
except ImportError:  # the older package ships the same interpreter API
    from tflite_runtime.interpreter import Interpreter

from classify_fetch import fetch
from classify_settings import ClassifySettings

__all__ = ["Classifier", "Prediction", "model_paths", "read_labels"]

_SEED_MODEL = Path("models") / "mobilenet_v2_1.0_224_quant.tflite"
_SEED_LABELS = Path("labels_mobilenet_quant_v1_224.txt")
_NUMBERED = re.compile(r"^\s*\d+\s+(.*)$")


@dataclass(frozen=True)
class Prediction:
    label: str
    index: int
    #: 0..1
    score: float
    #: The score on the seed's 0..255 scale.
    confidence: int


def read_labels(path: Path) -> list[str]:
    """One label per line; "N  name" numbering and the long "a, b, c" form are reduced to a."""
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line]
    numbered = [match for line in lines if (match := _NUMBERED.match(line))]
    if lines and len(numbered) == len(lines):
        lines = [match.group(1) for match in numbered]
    return [line.split(",", 1)[0].strip() for line in lines]


def model_paths(config: ClassifySettings) -> tuple[Path, Path]:
    """(model, labels): the configured files, else the seed data's, else fetched ones."""
    model = _choose(config.classify_model_path, config.seed_data_dir / _SEED_MODEL,
                    config.model_url, config.model_sha256,
                    config.model_cache_dir / _SEED_MODEL.name)
    labels = _choose(config.classify_labels_path, config.seed_data_dir / _SEED_LABELS,
                     config.labels_url, config.labels_sha256,
                     config.model_cache_dir / "imagenet_labels.txt")
    return model, labels


def _choose(configured: str, seed: Path, url: str, sha256: str, cached: Path) -> Path:
    """``configured`` if set, else ``seed`` if present, else ``url`` fetched into ``cached``."""
    if configured:
        return Path(configured)
    if seed.is_file():
        return seed
    return fetch(url, sha256, cached, progress=sys.stderr)


class Classifier:
    """A model loaded once; ``classify`` may be called from any number of threads."""

    def __init__(self, model: Path, labels: Path, num_threads: int = 1,
                 interpreters: int = 1) -> None:
        self.model_content = model.read_bytes()
        self.labels = read_labels(labels)
        self.num_threads = num_threads
        self._idle: list[Interpreter] = []
        self._idle_lock = threading.Lock()
        self._idle = [self._new_interpreter() for _ in range(max(interpreters, 1))]
        probe = self._idle[0]
        if num_threads > 1:
            _forget_after_fork.add(self)
        detail = probe.get_input_details()[0]
        self.input_index = detail["index"]
        self.input_dtype = np.dtype(detail["dtype"])
        _, self.height, self.width, _ = (int(v) for v in detail["shape"])
        output = probe.get_output_details()[0]
        self.output_index = output["index"]
        self.output_quantization = output["quantization"]
        classes = int(output["shape"][-1])
        # A 1000-class model with the 1001-line list (line 0 "background") skips that line.
        self.label_offset = 1 if len(self.labels) == classes + 1 else 0
        if len(self.labels) < classes + self.label_offset:
            raise ValueError(f"{labels} has {len(self.labels)} labels, the model {classes}")

    def _new_interpreter(self) -> Interpreter:
        interpreter = Interpreter(model_content=self.model_content, num_threads=self.num_threads)
        interpreter.allocate_tensors()
        return interpreter

    @contextmanager
    def interpreter(self) -> Iterator[Interpreter]:
        """An interpreter for this thread alone until the block ends (from the pool, or new)."""
        with self._idle_lock:
            interpreter = self._idle.pop() if self._idle else None
        if interpreter is None:
            interpreter = self._new_interpreter()
        try:
            yield interpreter
        finally:
            with self._idle_lock:
                self._idle.append(interpreter)

    def pooled(self) -> int:
        """How many interpreters the pool holds (none of them in use)."""
        with self._idle_lock:
            return len(self._idle)

    def drop_pool(self) -> None:
        """Forget the idle interpreters (after a fork, when they own threads)."""
        with self._idle_lock:
            self._idle.clear()

    def preprocess(self, image: Image.Image) -> np.ndarray:
        """``image`` (opened, not decoded) as the model's input tensor."""
        if image.format in ("JPEG", "MPO"):
            # Let libjpeg scale down by 1/2..1/8 while decoding big photos, never below twice
            # the input size, so the bilinear resize still sees enough pixels.
            image.draft("RGB", (2 * self.width, 2 * self.height))
        rgb = image.convert("RGB").resize((self.width, self.height), Image.Resampling.BILINEAR)
        pixels = np.asarray(rgb, dtype=np.uint8)[np.newaxis]
        if self.input_dtype == np.uint8:
            return pixels
        if self.input_dtype == np.int8:
            return (pixels.astype(np.int16) - 128).astype(np.int8)
        return ((pixels.astype(np.float32) - 127.5) / 127.5).astype(self.input_dtype)

    def invoke(self, tensor: np.ndarray) -> np.ndarray:
        """The model's raw output for one image (uint8 for the quantised MobileNets)."""
        with self.interpreter() as interpreter:
            interpreter.set_tensor(self.input_index, tensor)
            interpreter.invoke()
            return interpreter.get_tensor(self.output_index)[0].copy()

    def top(self, raw: np.ndarray, count: int = 1) -> list[Prediction]:
        """The ``count`` best classes; equal scores go to the lowest index."""
        scale, zero_point = self.output_quantization
        if raw.dtype.kind in "iu" and scale:
            scores = (raw.astype(np.float64) - zero_point) * scale
        else:
            scores = raw.astype(np.float64)
        # uint8 outputs are already on the seed's n/255 scale (255 -> "255/255").
        confidence = raw if raw.dtype == np.uint8 else np.rint(np.clip(scores, 0, 1) * 255)
        order = np.argsort(-scores, kind="stable")[:count]
        return [Prediction(label=self.labels[int(i) + self.label_offset],
                           index=int(i) + self.label_offset, score=float(scores[i]),
                           confidence=int(confidence[i]))
                for i in order]


#: Classifiers whose interpreters own threads (CLASSIFY_THREADS > 1): their pools are emptied in
#: a forked child, where those threads do not exist.
_forget_after_fork: weakref.WeakSet[Classifier] = weakref.WeakSet()


def _after_fork() -> None:
    for classifier in list(_forget_after_fork):
        classifier.drop_pool()


os.register_at_fork(after_in_child=_after_fork)
