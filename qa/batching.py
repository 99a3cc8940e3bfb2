"""Questions that arrive together, answered together: micro-batching for a server's many callers.

A server thread per caller would otherwise run one question at a time each, all of
them contending for the same cores. Here callers hand their question to one worker
thread, which takes everything waiting (up to `max_batch`) and answers it with one
`Engine.ask_many`: one batched retrieval, one read of all the passages. A lone
question is answered at once; a crowd is answered in a few shared batches.

Batches stay small (4): on a CPU, reading is most of a question's cost and is not
cheaper in a batch, so a large batch only makes its first callers wait for its
last. Whether the batcher helps at all is measured against answering each caller
directly, in the same run, by bench/speed.py (docs/benchmarks.md).
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from qa.answers import Result
from qa.config import Retrieval
from qa.filtering import Filters

logger = logging.getLogger(__name__)


@dataclass
class _Request:
    question: str
    options: tuple[Any, ...]  # (top_k, retrieval, filters, always_answer): questions batch with their like
    future: Future


class MicroBatcher:
    """Answers questions from many threads in shared batches (see the module's docstring).

    Args:
        engine: the qa.engine.Engine that answers.
        max_batch: the most questions answered in one batch.
        wait: seconds the worker waits for company after a question arrives (0: take only what is waiting).
    """

    def __init__(self, engine: Any, max_batch: int = 4, wait: float = 0.002) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.wait = wait
        self.largest = 0  # the most questions answered in one batch so far (for tests and benchmarks)
        self._queue: queue.Queue[_Request] = queue.Queue()
        self._worker = threading.Thread(target=self._serve, name="qa-micro-batcher", daemon=True)
        self._worker.start()

    def ask(
        self,
        question: str,
        top_k: int | None = None,
        retrieval: Retrieval | None = None,
        filters: Filters | None = None,
        always_answer: bool = False,
    ) -> Result:
        """Like Engine.ask, from any thread; a bad question raises its InputError here, in the caller's thread."""
        question = self.engine.check_question(question)
        options = (
            self.engine.check_top_k(top_k),
            self.engine.check_search(retrieval, filters),
            filters,
            bool(always_answer),
        )
        request = _Request(question, options, Future())
        self._queue.put(request)
        return request.future.result()

    def _serve(self) -> None:
        while True:
            batch = [self._queue.get()]
            try:
                while len(batch) < self.max_batch:
                    batch.append(
                        self._queue.get(timeout=self.wait) if self.wait else self._queue.get_nowait()
                    )
            except queue.Empty:
                pass
            self.largest = max(self.largest, len(batch))
            groups: list[list[_Request]] = []
            for request in batch:  # options compared by value (Filters hold lists, so no dict keys)
                same = next((g for g in groups if g[0].options == request.options), None)
                if same is None:
                    groups.append([request])
                else:
                    same.append(request)
            for requests in groups:
                top_k, retrieval, filters, always_answer = requests[0].options
                try:
                    results = self.engine.ask_many(
                        [r.question for r in requests], top_k, retrieval, filters, always_answer
                    )
                except Exception as exc:  # handed to every caller of the batch, who reports it as usual
                    for r in requests:
                        r.future.set_exception(exc)
                    continue
                for r, result in zip(requests, results):
                    r.future.set_result(result)
