"""Deployment from one description: ``serverless.yaml`` -> local config, cluster manifests.

    python -m deploy render --target knative|openfunction|kubernetes|local --out DIR
"""

from __future__ import annotations

from deploy.errors import RenderError
from deploy.render import TARGETS, render

__all__ = ["TARGETS", "RenderError", "render"]
