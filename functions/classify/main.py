"""classify: ``POST /classify`` names the main object in an image (ImageNet MobileNet).

Default answer, as in the seed: ``<label> is detected with <n>/255 confidence`` (top-1);
``Accept: application/json`` gets the top 5 as ``[{"label", "index", "score"}]``. The model is
loaded when the module loads (once per process, before gunicorn forks its workers, so they
share its pages); see classify_model.py for the maths, classify_settings.py for the model's
origin and settings.
"""

from __future__ import annotations

import classify_settings
import flask
from classify_model import Classifier, model_paths

from bindings.dapr import events, ratelimit
from bindings.http.inputs import negotiate, read_body
from bindings.http.router import Router, json_response, text_response
from bindings.imaging import decoding, open_image

__all__ = ["classifier", "classify", "config"]

_HELP = ("Try POSTing data to /classify such as: "
        "`curl http://localhost:9006/classify -X POST --data-binary '@grace_hopper.jpg'`")
_OFFERS = ("text/plain", "application/json")
_TOP_COUNT = 5

#: Read once, when the module loads (CLASSIFY_*, MODEL_*, LABELS_*: see classify_settings.py).
config = classify_settings.load()
classifier = Classifier(*model_paths(config), num_threads=config.classify_threads,
                        interpreters=classify_settings.interpreters(config))


def _classify(request: flask.Request) -> flask.Response:
    with ratelimit.admission(request):
        accepted = negotiate(request, _OFFERS)
        data = read_body(request)
        image = open_image(data)
        with decoding(image.format):
            tensor = classifier.preprocess(image)
        predictions = classifier.top(classifier.invoke(tensor), _TOP_COUNT)
    if accepted == "application/json":
        response = json_response([{"label": p.label, "index": p.index, "score": p.score}
                                  for p in predictions])
    else:
        best = predictions[0]
        response = text_response(
            f"{best.label} is detected with {best.confidence}/255 confidence")
    return events.record_after(response, "classify", len(data))


_router = Router(_HELP, {"/classify": {"POST": _classify}})


def classify(request: flask.Request) -> flask.Response:
    """The functions-framework entry point."""
    return _router(request)
