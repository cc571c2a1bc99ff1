"""Best-effort HTTP scrapes of the validator pods' `/metrics` (the only HTTP the operator does
besides the Kubernetes API). A pod that cannot be reached is simply left out."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final

import httpx

from quarantine_operator import envvars
from quarantine_operator.stats import PodSample, parse_pod_sample

SCRAPE_TIMEOUT: Final = 2.0

logger = logging.getLogger(__name__)


def metrics_urls(pods: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Pod name → its `/metrics` URL, for running pods that have an IP."""
    urls: dict[str, str] = {}
    for pod in pods:
        status = pod.get("status") or {}
        ip = status.get("podIP")
        if status.get("phase") == "Running" and ip:
            host = f"[{ip}]" if ":" in ip else ip
            urls[pod["metadata"]["name"]] = f"http://{host}:{envvars.METRICS_PORT_NUMBER}/metrics"
    return urls


class Scraper:
    """Fetches and parses pods' metrics over one HTTP connection pool."""

    def __init__(self, timeout: float = SCRAPE_TIMEOUT) -> None:
        self._client = httpx.Client(timeout=timeout, follow_redirects=False)

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()

    def scrape(self, urls: Mapping[str, str]) -> dict[str, PodSample]:
        """Samples of the pods that answered with valid metrics."""
        samples: dict[str, PodSample] = {}
        for pod, url in urls.items():
            try:
                response = self._client.get(url)
                response.raise_for_status()
                samples[pod] = parse_pod_sample(response.text)
            except (httpx.HTTPError, ValueError) as exc:
                logger.debug("metrics of pod %s unavailable: %s", pod, exc)
        return samples
