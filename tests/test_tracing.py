"""One trace from a guest's POST to every delivery, across processes: the API process and
the worker process each export to their own in-memory exporter (tests/tracing_harness.py),
and the worker's delivery spans are children of the API's request span through the trace
context the outbox row carried."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import ROOT, STANDIN_KEY, Receiver, Restaurant, Standin, order_body
from tests.test_outbound_webhooks import register

ISSUER = "http://tabletop.test"


def run(role: str, out: Path, env: dict[str, str], *args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "tests.tracing_harness", role, str(out), *args], cwd=ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def tree(spans: list[dict[str, Any]], root: dict[str, Any], depth: int = 0) -> list[str]:
    lines = ["  " * depth + f"{root['name']}  [process {root['process']}]"]
    for child in spans:
        if child["parent_span_id"] == root["span_id"]:
            lines += tree(spans, child, depth + 1)
    return lines


async def test_the_worker_processs_delivery_spans_continue_the_trace_of_the_guests_post_in_the_api_process(
        client, make_restaurant, open_guest, receiver: Receiver, standin: Standin, app_conninfo, signing_key_pem,
        tmp_path, capsys):
    r: Restaurant = await make_restaurant()
    await register(client, r, receiver.url)
    guest = await open_guest(r)
    env = {"DATABASE_URL": app_conninfo, "JWT_PRIVATE_KEY": signing_key_pem, "JWT_ISSUER": ISSUER,
           "ENV_MODE": "test", "LOG_FORMAT": "json", "LOG_LEVEL": "WARNING", "RATE_LIMIT_ORDER_CREATE": "1000/minute"}
    # The API process has no Convex configured: its pusher stays off and the worker, another
    # process, delivers every row.
    secret = "x" * 43  # the shape of a callback secret; the path's last segment
    api = run("api", tmp_path / "api.json", env, guest.token, r.url("/orders"), json.dumps(order_body(r)),
              f"/api/webhooks/petpooja/stock/{secret}")
    assert api["status"] == 201
    order = api["order"]
    worker = run("worker", tmp_path / "worker.json", {
        **env, "CONVEX_URL": standin.url, "CONVEX_DEPLOY_KEY": STANDIN_KEY, "SYNC_GRACE_S": "0",
        "SYNC_EPOCH_CHECK_S": "0", "WORKER_METRICS_PORT": "0"}, order["id"])

    [post] = [s for s in api["spans"] if s["name"] == "POST /api/restaurants/{rid:uuid}/orders"]
    assert post["parent_span_id"] is None
    deliveries = {s["attributes"]["sync.target"]: s for s in worker["spans"] if s["name"].startswith("sync.deliver")
                  and s["attributes"]["sync.entity_id"] == order["id"]}
    assert set(deliveries) == {"convex", "webhook"}
    for target, span in deliveries.items():
        assert span["trace_id"] == post["trace_id"], target
        assert span["parent_span_id"] == post["span_id"], target  # the request's span, in the other process
        assert span["attributes"]["sync.outcome"] == "delivered"
        assert span["process"] != post["process"]
    # The webhook call itself is the delivery's child (httpx), and carried the trace to the receiver.
    [call] = [s for s in worker["spans"] if s["parent_span_id"] == deliveries["webhook"]["span_id"]]
    assert call["name"] == "POST"
    assert receiver.requests[-1].headers["traceparent"].split("-")[1] == post["trace_id"]
    # Nothing secret reaches a span: a callback's secret path, a webhook URL's query.
    assert secret not in json.dumps(api["spans"])
    assert any("/api/webhooks/petpooja/stock/[redacted]" in json.dumps(s) for s in api["spans"])
    assert "tenant=abc" in receiver.url and "tenant=abc" not in json.dumps(worker["spans"])
    with capsys.disabled():
        print("\n" + "\n".join(tree(api["spans"] + worker["spans"], post)))
