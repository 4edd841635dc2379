"""`edge-vasa ui`: a local web page for making videos.

Gradio is an optional extra: the page's module is imported in cmd_ui, which says how to install it."""

from __future__ import annotations

import argparse

from edge_vasa.core.errors import EdgeVasaError


def add_ui(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ui",
        help="a local web page for making videos: photo + speech + controls -> video (Gradio)",
        description="Serves a web page on this machine: upload a photo (the detected face is shown) and "
        "speech (or record it), set emotion, gaze, head size and motion, seed, frame rate and backend, and "
        "get the video to play or download, with its provenance note. Nothing leaves the machine.",
    )
    p.add_argument("--port", type=int, default=7860, help="port (default: %(default)s)")
    p.add_argument(
        "--host", default="127.0.0.1", help="address to serve on (default: %(default)s, this machine)"
    )
    p.add_argument("--no-browser", action="store_true", help="do not open a browser tab")


def cmd_ui(args: argparse.Namespace) -> None:
    if not 1 <= args.port <= 65535:
        raise EdgeVasaError("--port must be within 1..65535")
    try:
        from edge_vasa.apps.ui import serve
    except ImportError as e:
        raise EdgeVasaError(
            f"the web UI needs Gradio ({e.name} is missing); pip install 'edge-vasa[ui]'"
        ) from None
    print(f"edge-vasa ui on http://{args.host}:{args.port}/ (Ctrl-C to stop)")
    serve(args.host, args.port, open_browser=not args.no_browser)
