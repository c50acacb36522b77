"""The bot's counters in Prometheus' text format, read from the job rows at each scrape: the rows are the
truth (they survive restarts and cover every worker, local or Ray), so nothing is counted twice."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from storage.models import JobStatus


def backend_of(worker: str, default: str) -> str:
    """The back end a job ran on, from the worker that ran it ("local", a Ray actor's name); ``default``
    (the bot's back end) for a job that names none: the local worker leaves it empty, a waiting job has none."""
    if not worker:
        return default
    return "local" if worker == "local" else "ray"


class _Rows(Collector):
    def __init__(self, rows: Sequence[dict[str, Any]], backend: str) -> None:
        self.rows, self.backend = rows, backend

    def collect(self) -> Iterable[Metric]:
        labels = ["backend", "model"]
        jobs = GaugeMetricFamily("animatebot_jobs", "Jobs by state, back end and model", labels=["state", *labels])
        queue = GaugeMetricFamily("animatebot_queue_length", "Jobs waiting to run")
        generate = CounterMetricFamily(
            "animatebot_generation_seconds", "Seconds spent denoising and decoding finished jobs", labels=labels
        )
        encode = CounterMetricFamily("animatebot_encode_seconds", "Seconds spent encoding clips", labels=labels)
        done = CounterMetricFamily("animatebot_jobs_generated", "Jobs whose frames were made", labels=labels)
        failures = CounterMetricFamily("animatebot_failures", "Jobs that failed", labels=labels)
        uploads = CounterMetricFamily("animatebot_uploads", "Clips uploaded to chat", labels=labels)
        by_state: defaultdict[tuple[str, str, str], int] = defaultdict(int)
        sums: defaultdict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0, 0, 0])
        waiting = 0
        for row in self.rows:
            key = (backend_of(row["worker"], self.backend), row["model"] or "")
            by_state[(row["status"], *key)] += int(row["jobs"])
            total = sums[key]
            total[0] += float(row["generate_s"] or 0)
            total[1] += float(row["encode_s"] or 0)
            total[2] += int(row["generated"] or 0)
            total[3] += int(row["jobs"]) if row["status"] == JobStatus.FAILED.value else 0
            total[4] += int(row["uploads"] or 0)
            if row["status"] == JobStatus.QUEUED.value:
                waiting += int(row["jobs"])
        for (state, backend, model), count in sorted(by_state.items()):
            jobs.add_metric([state, backend, model], count)
        for key, (gen_s, enc_s, generated, failed, uploaded) in sorted(sums.items()):
            generate.add_metric(list(key), gen_s)
            encode.add_metric(list(key), enc_s)
            done.add_metric(list(key), generated)
            failures.add_metric(list(key), failed)
            uploads.add_metric(list(key), uploaded)
        queue.add_metric([], waiting)
        yield from (jobs, queue, generate, encode, done, failures, uploads)


def exposition(rows: Sequence[dict[str, Any]], backend: str = "local") -> bytes:
    """``storage.board.BoardStore.job_counts`` rows as Prometheus' text exposition format; ``backend``: the
    bot's worker back end (local or ray)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Rows(rows, backend))
    return generate_latest(registry)
