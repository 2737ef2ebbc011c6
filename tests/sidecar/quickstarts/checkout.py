"""The client program, written as the dapr SDK's examples and the quickstarts write it.

``python checkout.py <step>`` runs one step against the runtime the environment names
(``DAPR_HTTP_PORT`` / ``DAPR_GRPC_PORT``, read by the SDK itself) and prints what the example
it comes from prints; test_quickstarts.py compares those lines with the ones the examples
document. Steps:

- ``state``: python-sdk ``examples/state_store/state_store.py`` (save, etag mismatch, bulk save,
  get with etag, transaction, bulk get, delete)
- ``secrets``: python-sdk ``examples/secret_store/example.py``, run with its ``--config``
- ``binding``: python-sdk ``examples/invoke-binding`` (``invoke_binding``) on a local storage
  binding (docs.dapr.io "Local Storage binding spec")
- ``invoke``: quickstarts ``service_invocation/python/http/checkout`` (the ``dapr-app-id``
  header), then the SDK's ``invoke_method`` over HTTP and over gRPC
- ``publish``: quickstarts ``pub_sub/python/sdk/checkout``
- ``metadata``: python-sdk ``examples/metadata/app.py``
"""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings

import grpc
import requests
from dapr.clients import DaprClient
from dapr.clients.grpc._request import TransactionalStateOperation, TransactionOperationType
from dapr.clients.grpc._state import StateItem
from dapr.conf import settings

__all__ = ["STEPS", "main"]

logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                    format="%(levelname)s:%(name)s:%(message)s")


def state() -> None:
    with DaprClient() as d:
        store_name = "statestore"
        key, value, updated_value = "key_1", "value_1", "value_1_updated"
        another_key, another_value = "key_2", "value_2"
        yet_another_key, yet_another_value = "key_3", "value_3"
        d.save_state(store_name=store_name, key=key, value=value)
        print(f"State store has successfully saved {value} with {key} as key")
        try:
            d.save_state(store_name=store_name, key=key, value=another_value, etag="9999")
        except grpc.RpcError as err:
            print(f"Cannot save due to bad etag. ErrorCode={err.code()}")
        d.save_bulk_state(store_name=store_name, states=[
            StateItem(key=another_key, value=another_value),
            StateItem(key=yet_another_key, value=yet_another_value)])
        print(f"State store has successfully saved {another_value} with {another_key} as key")
        print(f"State store has successfully saved {yet_another_value} with {yet_another_key} "
              "as key")
        try:
            d.save_bulk_state(store_name=store_name, states=[
                StateItem(key=another_key, value=another_value, etag="999"),
                StateItem(key=yet_another_key, value=yet_another_value, etag="999")])
        except grpc.RpcError as err:
            print(f"Cannot save bulk due to bad etags. ErrorCode={err.code()}")
        got = d.get_state(store_name=store_name, key=key, state_metadata={"metakey": "metavalue"})
        print(f"Got value={got.data!r} eTag={got.etag}")
        d.execute_state_transaction(store_name=store_name, operations=[
            TransactionalStateOperation(operation_type=TransactionOperationType.upsert, key=key,
                                        data=updated_value, etag=got.etag),
            TransactionalStateOperation(key=another_key, data=another_value)])
        items = d.get_bulk_state(store_name=store_name, keys=[key, another_key],
                                 states_metadata={"metakey": "metavalue"}).items
        print(f"Got items with etags: {[(i.data, i.etag) for i in items]}")
        d.delete_state(store_name=store_name, key=key, state_metadata={"metakey": "metavalue"})
        data = d.get_state(store_name=store_name, key=key).data
        print(f"Got value after delete: {data!r}")


def secrets() -> None:
    with DaprClient() as d:
        key, random_key, store_name = "secretKey", "random", "localsecretstore"
        resp = d.get_secret(store_name=store_name, key=key)
        print("Got!")
        print(resp.secret)
        bulk = d.get_bulk_secret(store_name=store_name)
        print("Got!")
        print(sorted(bulk.secrets.items()))
        try:
            resp = d.get_secret(store_name=store_name, key=random_key)
            print("Got!")
            print(resp.secret)
        except Exception:  # the example catches everything
            print("Got expected error for accessing random key")


def binding() -> None:
    with DaprClient() as d:
        created = d.invoke_binding(binding_name="files", operation="create", data="Hello Dapr",
                                   binding_metadata={"fileName": "my-test-file.txt"})
        print(f"Created: {created.text()}")
        got = d.invoke_binding(binding_name="files", operation="get",
                               binding_metadata={"fileName": "my-test-file.txt"})
        print(f"Got: {got.text()}")


def invoke() -> None:
    base_url = "http://localhost:" + os.getenv("DAPR_HTTP_PORT", "3500")
    order = {"orderId": 1}
    result = requests.post(url=f"{base_url}/orders", data=json.dumps(order),
                           headers={"dapr-app-id": "order-processor"}, timeout=30)
    logging.info("Order passed: " + json.dumps(order))
    print(f"HTTP {result.status_code} {result.text}")
    for protocol in ("HTTP", "GRPC"):
        setattr(settings, "DAPR_API_METHOD_INVOCATION_PROTOCOL", protocol)  # noqa: B010
        with warnings.catch_warnings(), DaprClient() as d:
            warnings.simplefilter("ignore", DeprecationWarning)
            order = {"orderId": 2 if protocol == "HTTP" else 3}
            resp = d.invoke_method("order-processor", "orders", data=json.dumps(order),
                                   content_type="application/json", http_verb="POST")
            logging.info("Order passed: " + json.dumps(order))
            print(f"{protocol} {resp.text()}")


def publish() -> None:
    with DaprClient() as client:
        for i in range(1, 3):
            order = {"orderId": i}
            client.publish_event(pubsub_name="orderpubsub", topic_name="orders",
                                 data=json.dumps(order), data_content_type="application/json")
            logging.info("Published data: " + json.dumps(order))


def metadata() -> None:
    with DaprClient() as dapr_client:
        print("First, we will assign a new custom label to Dapr sidecar")
        dapr_client.set_metadata("is-this-our-metadata-example", "yes")
        print("Now, we will fetch the sidecar's metadata")
        meta = dapr_client.get_metadata()
        old_label_value = meta.extended_metadata["is-this-our-metadata-example"]
        print("And this is what we got:")
        print(f"  application_id: {meta.application_id}")
        print(f"  active_actors_count: {meta.active_actors_count}")
        print("  registered_components:")
        for name, kind, version, caps in sorted(meta.registered_components):
            print(f"    name={name} type={kind} version={version} capabilities={sorted(caps)}")
        print("We will update our custom label value and check it was persisted")
        dapr_client.set_metadata("is-this-our-metadata-example", "You bet it is!")
        meta = dapr_client.get_metadata()
        new_label_value = meta.extended_metadata["is-this-our-metadata-example"]
        print("We added a custom label named [is-this-our-metadata-example]")
        print(f"Its old value was [{old_label_value}] but now it is [{new_label_value}]")


STEPS = {"state": state, "secrets": secrets, "binding": binding, "invoke": invoke,
         "publish": publish, "metadata": metadata}


def main(step: str) -> None:
    STEPS[step]()


if __name__ == "__main__":
    main(sys.argv[1])
