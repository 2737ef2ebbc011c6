#!/bin/sh
# Rendered from serverless.yaml by `python -m deploy render --target knative`.
# Builds and pushes one image per function; run it from the repository root.
set -eu
docker build -f deploy/Dockerfile --build-arg FUNCTION_TARGET=producer --build-arg FUNCTION_SOURCE=src/producer/main.py -t registry.example/shop/producer:2.0.0 .
docker push registry.example/shop/producer:2.0.0
docker build -f deploy/Dockerfile --build-arg FUNCTION_TARGET=consumer --build-arg FUNCTION_SOURCE=src/consumer/main.py -t registry.example/shop/consumer:2.0.0 .
docker push registry.example/shop/consumer:2.0.0
