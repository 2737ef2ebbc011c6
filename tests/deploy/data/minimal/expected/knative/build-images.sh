#!/bin/sh
# Rendered from serverless.yaml by `python -m deploy render --target knative`.
# Builds and pushes one image per function; run it from the repository root.
set -eu
docker build -f deploy/Dockerfile --build-arg FUNCTION_TARGET=hello --build-arg FUNCTION_SOURCE=src/hello/main.py -t registry.example/demo/hello:1.2.3 .
docker push registry.example/demo/hello:1.2.3
