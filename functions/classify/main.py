"""classify: ``POST /classify`` names the main object in an image (ImageNet MobileNet).

Default answer, as in the seed: ``<label> is detected with <n>/255 confidence`` (top-1);
``Accept: application/json`` gets the top 5 as ``[{"label", "index", "score"}]``. The model is
loaded when the module loads (once per process, before gunicorn forks its workers, so they
share its pages); see classify_model.py for the maths and the model's origin.
"""

from __future__ import annotations

import flask
from classify_model import Classifier, model_paths

from bindings import events, ratelimit, settings
from bindings.imaging import decoding, open_image
from bindings.inputs import negotiate, read_body
from bindings.router import Router, json_response, text_response

__all__ = ["classifier", "classify"]

HELP = ("Try POSTing data to /classify such as: "
        "`curl http://localhost:9006/classify -X POST --data-binary '@grace_hopper.jpg'`")
_OFFERS = ("text/plain", "application/json")
_TOP_COUNT = 5

classifier = Classifier(*model_paths(settings.get()), num_threads=settings.get().classify_threads)


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


_router = Router(HELP, {"/classify": {"POST": _classify}})


def classify(request: flask.Request) -> flask.Response:
    """The functions-framework entry point."""
    return _router(request)
