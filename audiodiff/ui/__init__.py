"""The studio: `audiodiff ui`, a Gradio page over the library (the page in `app.py`, its tabs in `tabs.py`, their
shared controls in `controls.py`, how a handler runs in `handlers.py`; what its buttons do in `actions.py`, its
private folder in `workspace.py`, which pipelines it may load in `catalogue.py`). Gradio is an optional extra: `pip
install 'audiodiff[ui]'`; importing this package does not need it."""

INSTALL_HINT = "the studio needs Gradio: pip install 'audiodiff[ui]'"
