"""`edge-vasa ui`: make a talking video from a web page on this machine.

Gradio, because it is what the tools in this field ship (LivePortrait, SadTalker, Hallo), so users know the
page; and because upload widgets for photos and audio (with microphone recording), a video player with a
download button, progress bars that follow tqdm and one-line error toasts come with it, offline. The page
is served on 127.0.0.1 only; Gradio's analytics are off, so nothing leaves the machine.

    app = build_app()
    app.launch(server_name="127.0.0.1", server_port=7860)
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import traceback
from dataclasses import Field
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # read at import: no calls home

import cv2
import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402

from edge_vasa.apps.generate import generate_video
from edge_vasa.core.errors import EdgeVasaError  # noqa: E402
from edge_vasa.core.face import prepare_face
from edge_vasa.core.options import COLUMNS, CONTROLS, columns, from_columns, per_column  # noqa: E402
from edge_vasa.core.video import probe_video
from edge_vasa.provenance.record import read_tags

# label -> (PyTorch model, edge backend or None)
BACKENDS = {
    "Fastest edge backend here (OpenVINO / ONNX Runtime, as live uses)": ("student", "auto"),
    "Student, PyTorch (the distilled pair)": ("student", None),
    "Reference teacher, PyTorch (best quality, slowest)": ("teacher", None),
}
DEFAULT_LABEL = "AI-generated"
TITLE = "edge-vasa: a photo and speech make a talking face"


def face_preview(photo: str | None) -> tuple[np.ndarray | None, str]:
    """The aligned face crop with its landmarks drawn, or why there is none."""
    if not photo:
        return None, ""

    try:
        face = prepare_face(photo, name=Path(photo).name)
    except EdgeVasaError as e:
        return None, f"**No usable face:** {e}"
    crop = face.image.copy()
    for x, y in face.landmarks.round().astype(int):
        cv2.circle(crop, (int(x), int(y)), 3, (80, 255, 120), -1, cv2.LINE_AA)
    return crop, "Face found: this crop is what will speak."


def render(
    photo: str | None,
    speech: str | None,
    backend: str,
    label: bool,
    crop: bool,
    progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008 (Gradio's way)
    *controls: str | float,
) -> tuple[str, str]:
    """Photo + speech + controls -> (MP4 path, provenance note). Problems become one-line messages.

    CONTROLS: the control widgets' values, in COLUMNS order (Gradio passes PROGRESS before them)."""

    if not photo:
        raise gr.Error("Upload a face photo first.")
    if not speech:
        raise gr.Error("Upload or record some speech first.")
    model, edge = BACKENDS.get(backend, next(iter(BACKENDS.values())))
    opts = from_columns(dict(zip(COLUMNS, controls)))
    out = Path(tempfile.mkdtemp(prefix="edge-vasa-ui-")) / "talking-face.mp4"
    try:
        generate_video(
            photo,
            speech,
            out,
            opts,
            model=model,
            backend=edge,
            label=DEFAULT_LABEL if label else None,
            crop=crop,
        )
    except EdgeVasaError as e:  # named by the user's file names, not Gradio's upload copies
        message = str(e).replace(photo, Path(photo).name).replace(speech, Path(speech).name)
        raise gr.Error(message) from None
    except Exception as e:  # the page gets one line; the terminal gets the details
        traceback.print_exc()
        raise gr.Error(
            f"Rendering failed ({type(e).__name__}); the terminal running `edge-vasa ui` has details."
        ) from None
    tags = read_tags(probe_video(out)["metadata"]) or {}  # what the file itself says
    note = (
        f"**This video is AI-generated.** It carries an invisible watermark (render id "
        f"`{tags.get('render_id', '?')}`), provenance tags and a signed C2PA manifest; "
        f"`edge-vasa verify talking-face.mp4` reads them back. Made by {tags.get('generator', 'edge-vasa')} "
        f"with {backend.split(' (')[0].lower()}."
    )
    return str(out), note


def build_app(default_backend: str | None = None) -> gr.Blocks:
    """The page. DEFAULT_BACKEND: one of BACKENDS' labels (default: the first, the fastest edge backend)."""
    with gr.Blocks(title="edge-vasa", analytics_enabled=False) as app:
        gr.Markdown(
            f"# {TITLE}\nUpload a photo with one clear face and a speech recording (or record one), "
            "pick how it should look, and press **Make the video**."
        )
        with gr.Row():
            with gr.Column(scale=1):
                photo = gr.Image(
                    type="filepath", label="1. Face photo", sources=["upload"], elem_id="photo", height=280
                )
                with gr.Row():
                    crop = gr.Image(label="Detected face", interactive=False, elem_id="crop", height=200)
                face_note = gr.Markdown(elem_id="face-note")
                speech = gr.Audio(
                    type="filepath",
                    label="2. Speech (upload or record)",
                    sources=["upload", "microphone"],
                    elem_id="speech",
                )
            with gr.Column(scale=1):
                with gr.Accordion("3. Look and motion", open=True):
                    widgets = control_widgets()
                    backend = gr.Dropdown(
                        list(BACKENDS),
                        value=default_backend or next(iter(BACKENDS)),
                        label="Backend",
                        elem_id="backend",
                    )
                    label = gr.Checkbox(value=True, label=f'Visible "{DEFAULT_LABEL}" label')
                    only_face = gr.Checkbox(
                        value=False, label="Only the 512x512 face crop", elem_id="only-face"
                    )
                go = gr.Button("Make the video", variant="primary", elem_id="go")
                video = gr.Video(label="4. Result (play or download)", elem_id="video", interactive=False)
                provenance = gr.Markdown(elem_id="provenance")
        photo.change(face_preview, photo, [crop, face_note])
        go.click(
            render,
            [photo, speech, backend, label, only_face, *widgets.values()],
            [video, provenance],
        )
    return app


def control_widgets() -> dict[str, gr.components.Component]:
    """A widget per control column (COLUMNS, from GenerateOptions' fields), keyed by column; a pair such as
    gaze side by side."""
    widgets = {}
    for f in CONTROLS:
        labels, defaults = per_column(f, f.metadata["label"]), per_column(f, f.default)
        with gr.Row() if "axes" in f.metadata else contextlib.nullcontext():
            for column, label, default in zip(columns(f), labels, defaults):
                widgets[column] = _widget(f, label, default, column)
    return widgets


def _widget(f: Field, label: str, default: object, elem_id: str) -> gr.components.Component:
    meta = f.metadata
    if "choices" in meta and isinstance(default, str):
        return gr.Dropdown(list(meta["choices"]), value=default, label=label, elem_id=elem_id)
    if "choices" in meta:  # a few numbers (frame rates): buttons
        return gr.Radio([str(c) for c in meta["choices"]], value=str(default), label=label, elem_id=elem_id)
    if "range" in meta:
        lo, hi = meta["range"]
        return gr.Slider(lo, hi, value=default, step=meta["step"], label=label, elem_id=elem_id)
    return gr.Number(value=default, precision=0, label=label, minimum=0, elem_id=elem_id)  # the seed


def serve(host: str = "127.0.0.1", port: int = 7860, open_browser: bool = True) -> None:
    """Serve the page until Ctrl-C."""
    app = build_app()
    app.queue(default_concurrency_limit=1)  # one render at a time: it uses every core
    app.launch(server_name=host, server_port=port, inbrowser=open_browser, show_error=False, quiet=True)
