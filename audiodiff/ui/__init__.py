"""The studio: `audiodiff ui`, a Gradio page over the library (layout in `app.py`, what its buttons do in
`actions.py`, which pipelines it may load in `catalogue.py`). Gradio is an optional extra: `pip install
'audiodiff[ui]'`; importing this package does not need it."""

INSTALL_HINT = "the studio needs Gradio: pip install 'audiodiff[ui]'"
