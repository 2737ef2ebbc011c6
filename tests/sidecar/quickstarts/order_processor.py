"""The subscriber and invoked app, written as Dapr's quickstarts and SDK docs write it, unchanged.

A Flask app wrapped in the SDK's own ``dapr.ext.flask.DaprApp`` (which serves
``GET /dapr/subscribe``): it subscribes to topic ``orders`` of ``orderpubsub``
(quickstarts ``pub_sub/python/sdk/order-processor``) and serves ``POST /orders`` for service
invocation (quickstarts ``service_invocation/python/http/order-processor``). It prints what the
quickstarts print. Run as ``python order_processor.py <port>``; nothing here knows which Dapr
runtime is in front of it.
"""

from __future__ import annotations

import json
import sys

from dapr.ext.flask import DaprApp
from flask import Flask, request

__all__ = ["app", "dapr_app"]

app = Flask("order-processor")
dapr_app = DaprApp(app)


@dapr_app.subscribe(pubsub="orderpubsub", topic="orders")
def orders_subscriber() -> tuple[str, int, dict[str, str]]:
    event = request.json or {}
    print(f"Subscriber received : {event['data']['orderId']}", flush=True)
    return json.dumps({"success": True}), 200, {"ContentType": "application/json"}


@app.route("/orders", methods=["POST"])
def get_order() -> tuple[str, int, dict[str, str]]:
    data = request.json
    print("Order received : " + json.dumps(data), flush=True)
    return json.dumps({"success": True}), 200, {"ContentType": "application/json"}


if __name__ == "__main__":
    app.run(port=int(sys.argv[1]))
