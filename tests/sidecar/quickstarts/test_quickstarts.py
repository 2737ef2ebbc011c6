"""Programs written as Dapr's SDK examples and quickstarts write them (checkout.py, and
order_processor.py on the SDK's own ``dapr.ext.flask.DaprApp``) run unchanged against two local
runtimes; each step's output is compared with the lines its example documents (quoted below
from the example's README, without the ``== APP ==`` prefix the dapr CLI adds)."""

from __future__ import annotations

from .conftest import Quickstart


def test_state_store_example(quickstart: Quickstart) -> None:
    # python-sdk examples/state_store/README.md, expected_stdout_lines.
    assert quickstart.run("state") == [
        "State store has successfully saved value_1 with key_1 as key",
        "Cannot save due to bad etag. ErrorCode=StatusCode.ABORTED",
        "State store has successfully saved value_2 with key_2 as key",
        "State store has successfully saved value_3 with key_3 as key",
        "Cannot save bulk due to bad etags. ErrorCode=StatusCode.ABORTED",
        "Got value=b'value_1' eTag=1",
        "Got items with etags: [(b'value_1_updated', '2'), (b'value_2', '2')]",
        "Got value after delete: b''",
    ]


def test_secret_store_example_with_its_config(quickstart: Quickstart) -> None:
    # python-sdk examples/secret_store/README.md, "Run secret store example with access config"
    # (dapr run ... --config config.yaml).
    assert quickstart.run("secrets") == [
        "Got!",
        "{'secretKey': 'secretValue'}",
        "Got!",
        "[('secretKey', {'secretKey': 'secretValue'})]",
        "Got expected error for accessing random key",
    ]


def test_output_binding(quickstart: Quickstart) -> None:
    # docs.dapr.io Local Storage binding spec: "create" answers {"fileName": "<name>"}
    # (components-contrib json.Marshal, so no spaces); "get" answers the file's content.
    assert quickstart.run("binding") == [
        'Created: {"fileName":"my-test-file.txt"}',
        "Got: Hello Dapr",
    ]


def test_service_invocation_both_protocols(quickstart: Quickstart) -> None:
    # quickstarts service_invocation/python/http: checkout logs 'Order passed: {"orderId": 1}',
    # order-processor prints 'Order received : {"orderId": 1}' and answers {"success": true}.
    assert quickstart.run("invoke") == [
        'INFO:root:Order passed: {"orderId": 1}',
        'HTTP 200 {"success": true}',
        'INFO:root:Order passed: {"orderId": 2}',
        'HTTP {"success": true}',
        'INFO:root:Order passed: {"orderId": 3}',
        'GRPC {"success": true}',
    ]
    assert quickstart.app_lines(3, r"Order received : \{[^}\n]*\}") == [
        'Order received : {"orderId": 1}', 'Order received : {"orderId": 2}',
        'Order received : {"orderId": 3}']


def test_publish_reaches_the_daprapp_subscriber(quickstart: Quickstart) -> None:
    # quickstarts pub_sub/python/sdk/README.md: the publisher logs
    # 'INFO:root:Published data: {"orderId": 1}', the subscriber 'Subscriber received : 1'.
    assert quickstart.run("publish") == ['INFO:root:Published data: {"orderId": 1}',
                                         'INFO:root:Published data: {"orderId": 2}']
    received = quickstart.app_lines(2, r"Subscriber received : \d+")
    assert sorted(received) == ["Subscriber received : 1", "Subscriber received : 2"]


def test_metadata_example(quickstart: Quickstart) -> None:
    # python-sdk examples/metadata/README.md, expected_stdout_lines; the component lines are
    # this runtime's components, each with components-contrib's capabilities for its type.
    assert quickstart.run("metadata") == [
        "First, we will assign a new custom label to Dapr sidecar",
        "Now, we will fetch the sidecar's metadata",
        "And this is what we got:",
        "  application_id: checkout",
        "  active_actors_count: {}",
        "  registered_components:",
        "    name=files type=bindings.localstorage version=v1 capabilities=[]",
        "    name=localsecretstore type=secretstores.local.file version=v1 "
        "capabilities=['MULTIPLE_KEY_VALUES_PER_SECRET']",
        "    name=orderpubsub type=pubsub.local.sqlite version=v1 capabilities=[]",
        "    name=statestore type=state.in-memory version=v1 capabilities="
        "['DELETE_WITH_PREFIX', 'ETAG', 'KEYS_LIKE', 'TRANSACTIONAL', 'TTL']",
        "We will update our custom label value and check it was persisted",
        "We added a custom label named [is-this-our-metadata-example]",
        "Its old value was [yes] but now it is [You bet it is!]",
    ]
