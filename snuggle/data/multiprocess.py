"""Run shard jobs in real worker processes, one process per job, with one shared progress bar.

`map(num_proc=N)` cuts the dataset into N contiguous shards and runs each in its own process.
On Linux the workers are forked (they inherit the memory-mapped tables, nothing is copied);
elsewhere, or with SNUGGLE_MP_START_METHOD=spawn, the job (function included, even a lambda
or a closure) is sent with cloudpickle. Workers report progress through a queue, so the
parent drives a single bar; results come back in job order whatever the finishing order.

A worker that raises re-raises the same exception in the parent (with the worker's
traceback attached as a note); a worker that dies (killed, segfault) raises DataError
naming its rank and exit code. On any error the other workers are terminated.

>>> def square(job, report):
...     report(1)
...     return job * job
>>> run_jobs(square, [1, 2, 3], num_proc=2, disable_progress=True)
[1, 4, 9]
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import queue as queue_module
import time
import traceback
from typing import Any, Callable

from snuggle.errors import DataError
from snuggle.utils.progress import progress_bar

_PROGRESS_INTERVAL = 0.1  # seconds between progress messages from a worker


def start_method() -> str:
    """'fork' where available (Linux), else 'spawn'; SNUGGLE_MP_START_METHOD overrides."""
    wanted = os.environ.get("SNUGGLE_MP_START_METHOD", "").strip().lower()
    available = multiprocessing.get_all_start_methods()
    if wanted:
        if wanted not in available:
            raise DataError(f"SNUGGLE_MP_START_METHOD={wanted!r} is not available here; choose one of {available}")
        return wanted
    return "fork" if "fork" in available else "spawn"


def run_jobs(
    worker: Callable[[Any, Callable[[int], None]], Any],
    jobs: list,
    num_proc: int,
    *,
    total: int | None = None,
    initial: int = 0,
    desc: str | None = None,
    disable_progress: bool | None = None,
) -> list:
    """Run `worker(job, report)` for every job in processes; returns the results in job order.

    `report(n)` from a worker advances the shared progress bar by n.
    """
    if not jobs:
        return []
    method = start_method()
    context = multiprocessing.get_context(method)
    messages = context.Queue()
    processes: dict[int, Any] = {}
    results: dict[int, Any] = {}
    bar = progress_bar(total=total, initial=initial, desc=desc, unit=" examples", disable=disable_progress)
    try:
        # Never more live processes than num_proc: start the next job when one finishes.
        pending = list(range(len(jobs)))
        while pending or processes:
            while pending and len(processes) < max(1, num_proc):
                index = pending.pop(0)
                processes[index] = _start(context, method, worker, jobs[index], index, messages)
            _drain(messages, processes, results, bar)
    except BaseException:
        for process in processes.values():
            if process.is_alive():
                process.terminate()
        for process in processes.values():
            process.join(timeout=5)
        raise
    finally:
        bar.close()
        messages.close()
    return [results[i] for i in range(len(jobs))]


def _start(context, method: str, worker: Callable, job: Any, index: int, messages):
    if method == "fork":  # the child inherits worker and job: nothing is pickled
        args = (worker, job, None, index, messages)
    else:
        import cloudpickle

        args = (None, None, cloudpickle.dumps((worker, job)), index, messages)
    process = context.Process(target=_worker_main, args=args, daemon=True, name=f"snuggle-map-{index}")
    process.start()
    return process


def _drain(messages, processes: dict, results: dict, bar) -> None:
    """Handle the messages that arrive within a short wait; notice dead workers."""
    try:
        kind, index, value = messages.get(timeout=0.2)
    except queue_module.Empty:
        for index, process in list(processes.items()):
            if not process.is_alive() and index not in results:
                # give a message still in the pipe a last chance before declaring the worker dead
                try:
                    kind, idx, value = messages.get(timeout=0.5)
                except queue_module.Empty:
                    raise DataError(
                        f"map worker {index} died with exit code {process.exitcode} before returning its "
                        "result (killed, out of memory, or crashed in native code)"
                    ) from None
                _handle(kind, idx, value, processes, results, bar)
                return
        return
    _handle(kind, index, value, processes, results, bar)


def _handle(kind: str, index: int, value: Any, processes: dict, results: dict, bar) -> None:
    if kind == "progress":
        bar.update(value)
    elif kind == "done":
        results[index] = value
        process = processes.pop(index)
        process.join()
    elif kind == "error":
        exception, text = value
        if exception is None:
            raise DataError(f"map worker {index} failed:\n{text}")
        exception.add_note(f"(raised in map worker {index})\n{text}")
        raise exception


def _worker_main(worker, job, payload, index: int, messages) -> None:
    if payload is not None:
        import cloudpickle

        worker, job = cloudpickle.loads(payload)
    last = time.monotonic()
    unreported = 0

    def report(n: int) -> None:
        nonlocal last, unreported
        unreported += n
        now = time.monotonic()
        if now - last >= _PROGRESS_INTERVAL:
            messages.put(("progress", index, unreported))
            unreported = 0
            last = now

    try:
        result = worker(job, report)
    except BaseException as error:  # sent to the parent, which re-raises it
        text = traceback.format_exc()
        try:  # the queue pickles with the standard pickler
            pickle.loads(pickle.dumps(error))
            sendable = error
        except Exception:
            sendable = None
        messages.put(("error", index, (sendable, text)))
        messages.close()
        messages.join_thread()
        return
    if unreported:
        messages.put(("progress", index, unreported))
    messages.put(("done", index, result))
    messages.close()
    messages.join_thread()
