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
    `audiodiff ui demo_output`. Only these can be loaded from the page. Clips are written to a temporary folder
    (download the ones you keep); it is removed when the studio stops.
    """
    import shutil
    import signal
    import sys
    import tempfile

    from audiodiff.ui import INSTALL_HINT

    try:
        import gradio  # noqa: F401
    except ImportError:
        raise click.ClickException(INSTALL_HINT) from None
    from audiodiff.ui.actions import Studio
    from audiodiff.ui.app import launch
    from audiodiff.ui.catalogue import Catalogue

    catalogue = Catalogue(pipelines, device=resolve_device_or_fail(device))
    if not catalogue.names():
        raise click.UsageError("no pipeline folders found (folders with model_index.json): run `make demo`, or name "
                               "pipeline folders")  # fmt: skip
    click.echo(f"models: {', '.join(catalogue.names())}")
    folder = tempfile.mkdtemp(prefix="audiodiff-studio-")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stopped by a service manager: still clean up
    try:
        launch(Studio(catalogue, folder), host=host, port=port or None, share=share)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
