"""`audiodiff ui`: the studio, a page in the browser to generate, vary, inpaint, edit and interpolate clips."""

from __future__ import annotations

import click

from audiodiff.cli.common import device_option, resolve_device_or_fail


@click.command("ui")
@click.argument("pipelines", nargs=-1, metavar="[PIPELINE]...")
@click.option("--host", default="127.0.0.1", help="Address to serve on; 0.0.0.0 opens the studio to your network.")
@click.option("--port", type=click.IntRange(0, 65535), default=7860, help="Port to serve on (0: any free port).")
@device_option
@click.option("--share", is_flag=True, default=False, help="Also make a public Gradio share link (off by default).")
def command(pipelines, host, port, device, share):
    """Open the studio on the PIPELINE folders (or hub ids; a folder holding pipelines offers each of them).

    Without PIPELINE it offers the pipeline folders found under the current folder, e.g. after `make demo`:
    `audiodiff ui demo_output`. Only these can be loaded from the page. Uploads and clips are kept in a private
    temporary folder (0700, files 0600) of at most 500 MB (the oldest go first; download the clips you keep); it
    is removed when the studio stops (Ctrl-C or SIGTERM: a running job stops at its next step first).
    """
    import os
    import shutil
    import signal
    import tempfile
    import threading

    from audiodiff.ui import INSTALL_HINT

    # The studio's one folder, Gradio's cache included: set before Gradio is imported, which makes folders there.
    folder = tempfile.mkdtemp(prefix="audiodiff-studio-")
    previous = os.environ.get("GRADIO_TEMP_DIR")
    os.environ["GRADIO_TEMP_DIR"] = folder
    studio = app = None
    try:
        try:
            import gradio  # noqa: F401
        except ImportError:
            raise click.ClickException(INSTALL_HINT) from None
        from audiodiff.ui.actions import MAX_KEPT_BYTES, Studio
        from audiodiff.ui.app import launch
        from audiodiff.ui.catalogue import Catalogue

        catalogue = Catalogue(pipelines, device=resolve_device_or_fail(device))
        if not catalogue.names():
            raise click.UsageError("no pipeline folders found (folders with model_index.json): run `make demo`, or "
                                   "name pipeline folders or audiodiff-base-64")  # fmt: skip
        click.echo(f"models: {', '.join(catalogue.names())}")
        os.umask(0o077)  # whatever this process writes (Gradio's uploads and cache too) is the user's alone
        studio = Studio(catalogue, folder)
        click.echo(f"uploads and clips: {folder} (at most {MAX_KEPT_BYTES >> 20} MB; removed when the studio stops)")
        # Ctrl-C and SIGTERM (a service manager, `kill`) end the same way: the server is shut down from this thread,
        # after the running job has stopped at its next step. Exiting under a job instead kills torch's threads
        # mid-operation ("terminate called without an active exception") and leaves the folder behind.
        stopping = threading.Event()
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signal_number, lambda *_: stopping.set())
        app = launch(studio, host=host, port=port or None, share=share, block=False)
        while not stopping.wait(0.5):
            pass
        click.echo("stopping the studio...")
    finally:
        if studio is not None and not studio.stop(timeout=60):
            click.echo("a job did not stop within 60 s; stopping anyway", err=True)
        if app is not None:
            app.close(verbose=False)
        if studio is not None:
            studio.close(timeout=0)
        shutil.rmtree(folder, ignore_errors=True)
        if previous is None:
            os.environ.pop("GRADIO_TEMP_DIR", None)
        else:
            os.environ["GRADIO_TEMP_DIR"] = previous
