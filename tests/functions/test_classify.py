"""classify in-process: the seed's answers, the JSON form, other models, bad inputs."""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .conftest import FUNCTIONS, image_bytes

sys.path.insert(0, str(FUNCTIONS["classify"].parent))
import classify_settings
from classify_model import Classifier, model_paths, read_labels


def test_food_is_a_hotdog(load, seed_file):
    response = load("classify").post("/classify", data=seed_file("food.jpg"))
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "hotdog is detected with 255/255 confidence"


def test_grace_hopper_top5_json(load, seed_file):
    response = load("classify").post("/classify", data=seed_file("grace_hopper.jpg"),
                                     headers={"Accept": "application/json"})
    assert response.status_code == 200 and response.is_json
    top = response.get_json()
    assert len(top) == 5 and all(list(item) == ["label", "index", "score"] for item in top)
    assert top[0]["label"] == "military uniform" and top[0]["index"] == 653
    assert top[0]["score"] > 0.8
    scores = [item["score"] for item in top]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)


def test_png_with_alpha_is_classified(load, seed_data):
    with Image.open(seed_data / "food.jpg") as food:
        rgba = food.convert("RGBA")
    response = load("classify").post("/classify", data=image_bytes(rgba, "PNG"))
    assert response.get_data(as_text=True).startswith("hotdog is detected")


def test_v1_192_model_reads_its_input_size(seed_data: Path):
    classifier = Classifier(seed_data / "models" / "mobilenet_v1_0.75_192_quant.tflite",
                            seed_data / "labels_mobilenet_quant_v1_224.txt")
    assert (classifier.width, classifier.height) == (192, 192)
    for name, label in (("food.jpg", "hotdog"), ("grace_hopper.jpg", "military uniform")):
        with Image.open(seed_data / name) as image:
            tensor = classifier.preprocess(image)
        assert tensor.shape == (1, 192, 192, 3) and tensor.dtype == np.uint8
        assert classifier.top(classifier.invoke(tensor))[0].label == label


def test_v1_model_through_the_function(load, seed_file, seed_data, monkeypatch):
    monkeypatch.setenv("CLASSIFY_MODEL_PATH",
                       str(seed_data / "models" / "mobilenet_v1_0.75_192_quant.tflite"))
    response = load("classify").post("/classify", data=seed_file("food.jpg"))
    # SOURCES.md: the v1 0.75/192 model scores food.jpg hotdog with raw 251.
    assert response.get_data(as_text=True).startswith("hotdog is detected with 2")
    assert response.get_data(as_text=True) != "hotdog is detected with 255/255 confidence"


def test_ties_go_to_the_lowest_index(seed_data: Path):
    classifier = Classifier(*model_paths(classify_settings.load()))
    raw = np.zeros(1001, dtype=np.uint8)
    raw[[7, 3, 500]] = 200
    top = classifier.top(raw, 3)
    assert [p.index for p in top] == [3, 7, 500]
    assert top[0].confidence == 200 and top[0].score == pytest.approx(200 / 256)


def test_long_and_numbered_label_forms(tmp_path: Path):
    long_form = tmp_path / "long.txt"
    long_form.write_text("background\ntench, Tinca tinca\nhotdog, hot dog, red hot\n")
    numbered = tmp_path / "numbered.txt"
    numbered.write_text("   0  background\n   1  tench, Tinca tinca\n   2  hotdog, hot dog\n")
    assert read_labels(long_form) == read_labels(numbered) == ["background", "tench", "hotdog"]


def test_default_model_comes_from_seed_data(seed_data: Path):
    model, labels = model_paths(classify_settings.load())
    assert model == seed_data / "models" / "mobilenet_v2_1.0_224_quant.tflite"
    assert labels == seed_data / "labels_mobilenet_quant_v1_224.txt"


@pytest.mark.parametrize("body, headers, status", [
    (b"", {}, 400),
    (b"\xff\xd8\xff\xe0 broken jpeg", {}, 400),
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", {}, 415),
    (None, {"Accept": "image/png"}, 406),
])
def test_bad_input_is_a_json_4xx_and_service_goes_on(load, seed_file, body, headers, status):
    client = load("classify")
    food = seed_file("food.jpg")
    response = client.post("/classify", data=food if body is None else body, headers=headers)
    assert response.status_code == status, response.data
    assert response.is_json and response.get_json()["error"]
    assert client.post("/classify", data=food).status_code == 200


def _v1_classifier(seed_data: Path, num_threads: int = 1) -> Classifier:
    return Classifier(seed_data / "models" / "mobilenet_v1_0.75_192_quant.tflite",
                      seed_data / "labels_mobilenet_quant_v1_224.txt", num_threads=num_threads)


def test_interpreter_pool_reuses_the_model_loads_interpreter(seed_data: Path):
    classifier = _v1_classifier(seed_data)
    assert classifier.pooled() == 1  # made when the model loaded
    with classifier.interpreter() as first:
        assert classifier.pooled() == 0
        with classifier.interpreter() as second:  # a second call at once gets its own
            assert second is not first
    assert classifier.pooled() == 2
    with classifier.interpreter() as again:
        assert again in (first, second)


def test_interpreters_are_made_when_the_model_loads(seed_data: Path):
    classifier = Classifier(seed_data / "models" / "mobilenet_v1_0.75_192_quant.tflite",
                            seed_data / "labels_mobilenet_quant_v1_224.txt", interpreters=3)
    assert classifier.pooled() == 3


@pytest.mark.parametrize(("env", "expected"), [
    ({}, 1), ({"THREADS": "4"}, 4), ({"THREADS": "4", "CLASSIFY_INTERPRETERS": "2"}, 2)])
def test_interpreters_default_to_the_serving_threads(env, expected):
    assert classify_settings.interpreters(classify_settings.load(env), env) == expected


def test_interpreter_pool_serves_concurrent_calls_alike(seed_data: Path):
    classifier = _v1_classifier(seed_data)
    with Image.open(seed_data / "food.jpg") as image:
        tensor = classifier.preprocess(image)
    expected = classifier.invoke(tensor)
    with ThreadPoolExecutor(4) as pool:
        outputs = list(pool.map(lambda _: classifier.invoke(tensor), range(40)))
    assert all(np.array_equal(output, expected) for output in outputs)
    assert 1 <= classifier.pooled() <= 4


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.parametrize(("num_threads", "kept"), [(1, 1), (2, 0)])
def test_a_forked_child_keeps_the_pool_only_without_interpreter_threads(
        seed_data: Path, num_threads: int, kept: int):
    classifier = _v1_classifier(seed_data, num_threads)
    with Image.open(seed_data / "food.jpg") as image:
        tensor = classifier.preprocess(image)
    expected = int(np.argmax(classifier.invoke(tensor)))
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its pool size and that the pool's interpreters work
        try:
            pooled = classifier.pooled()
            best = int(np.argmax(classifier.invoke(tensor)))
            os.write(write, f"{pooled} {best}".encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as answer:
        assert answer.read() == f"{kept} {expected}"
