"""How a button's handler runs on the studio's page: in one queue (one job at a time), its errors shown as one line,
a cancellation or a page that left reaching the job at its next sampling step, its progress on the page's bar.

A job whose page has left (closed, reloaded, cancelled) stops at its next sampling step instead of holding the
queue (`cancellable`, `reporter`). Gradio only: what the jobs do is `actions.Studio`'s.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import threading
from collections.abc import Callable
from typing import Any

import anyio
import gradio as gr
from gradio.context import LocalContext

from audiodiff import sampling
from audiodiff.audio import AudioError
from audiodiff.config import ConfigError
from audiodiff.ui.actions import LOCAL_SESSION, JobCancelled
from audiodiff.utils import first_line

logger = logging.getLogger(__name__)

QUEUE = "studio"  # every job shares this queue: one runs at a time
# Set by `cancellable` for the job it runs: set when Gradio cancels the event (`/cancel`).
_CANCELLED: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar("studio_cancelled", default=None)


def errors_as_messages(function: Callable) -> Callable:
    """Errors become a message on the page (never a traceback): the library's one line for bad input; a short
    note for anything unexpected (its traceback goes to the server's log)."""

    @functools.wraps(function)
    def wrapper(*arguments, **keywords):
        try:
            return function(*arguments, **keywords)
        except gr.Error:
            raise
        except JobCancelled as error:
            logger.info("studio job stopped: %s", error)
            raise gr.Error(f"stopped: {error}", print_exception=False) from None
        except (ValueError, AudioError, ConfigError) as error:
            raise gr.Error(first_line(error), print_exception=False) from None
        except Exception as error:  # noqa: BLE001 - the page shows one line; the log keeps the traceback
            logger.exception("studio job failed")
            raise gr.Error(f"{type(error).__name__}: {first_line(error)}", print_exception=False) from None

    return wrapper


def cancellable(function: Callable) -> Callable:
    """Run a job handler in a worker thread so that cancelling its event (Gradio's `/cancel`, as the Python client's
    `Job.cancel` sends) reaches it: the job stops at its next sampling step (`reporter`) and the queue waits for
    that, so the next job never shares the pipeline with a stopping one. A synchronous handler cannot be told: Gradio
    defers the cancellation of a thread until it returns."""

    @functools.wraps(function)  # Gradio reads the signature (gr.Request, gr.Progress) through __wrapped__
    async def run(*arguments, **keywords):
        cancelled = threading.Event()
        _CANCELLED.set(cancelled)  # this task's context, copied into the worker thread
        work = asyncio.ensure_future(anyio.to_thread.run_sync(functools.partial(function, *arguments, **keywords)))
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            cancelled.set()
            await asyncio.wait([work])  # stops at the next step; a second cancellation leaves it to `Studio.stop`
            raise

    return run


def _client_left() -> Callable[[], bool]:
    """Whether the page that asked for the running job is gone: Gradio marks its events dead when the page's event
    stream closes (tab closed or reloaded) but keeps a synchronous job running, so the job asks at each step. Reads
    Gradio's queue (`Blocks._queue`; no public API says it), and `cancellable`'s flag for `/cancel`."""
    blocks, event_id, cancelled = LocalContext.blocks.get(None), LocalContext.event_id.get(None), _CANCELLED.get()
    queue = getattr(blocks, "_queue", None)

    def left() -> bool:
        if cancelled is not None and cancelled.is_set():
            return True
        event = getattr(queue, "event_ids_to_events", {}).get(event_id) if event_id else None
        return event is not None and not getattr(event, "alive", True)

    return left


def reporter(progress: gr.Progress) -> sampling.Progress:
    """The jobs' progress -> the page's bar; raises `JobCancelled` (the job stops) once the page has left."""
    left = _client_left()

    def report(run: int, step: int, steps: int) -> None:
        if left():
            raise JobCancelled("the page that asked for this job has left")
        # Runs are sampling passes (a batch, an inversion); decoding to audio follows the last step of a batch.
        progress((step, steps), desc=f"pass {run}" if step < steps else f"pass {run} done")

    return report


def session_of(request: gr.Request | None) -> str:
    """The browser session a job belongs to (its clips are numbered and kept per session)."""
    return getattr(request, "session_hash", None) or LOCAL_SESSION


def job_context(request: gr.Request | None, progress: gr.Progress) -> dict[str, Any]:
    """The keywords every `Studio` job takes from the page: the browser session and its progress bar."""
    return {"session": session_of(request), "progress": reporter(progress)}


def on_click(button: gr.Button, handler: Callable, inputs: list, outputs: list) -> None:
    """Run `handler` in the studio's one queue (one job at a time: two users never sample on one pipeline)."""
    button.click(handler, inputs, outputs, concurrency_id=QUEUE, concurrency_limit=1)
