"""Where live frames go: a window (optionally full-screen, for kiosks), a virtual camera, an MP4 recording
with the captured audio, a local MJPEG/HTTP stream for a browser, or a list in memory.

The session opens every sink on its sink thread, then calls ``frame`` for each displayed frame and
``audio`` (from the motion thread) for every block of captured audio, and ``close`` once at the end.
A sink is constructed before the session starts, so missing pieces (no display, no camera driver) are
reported at once as one-line errors.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
import platform
import queue
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import cv2
import numpy as np

from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.video import Mp4Writer
from edge_vasa.provenance.record import Provenance


class Rejected(EdgeVasaError):
    """A request the server refuses, with its HTTP status (4xx) and a one-line reason for the client."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class FrameInfo:
    index: int  # display frame number since the start (gaps = dropped frames)
    stream_time: float  # s of captured audio before this frame
    capture_time: float  # time.monotonic() when this frame's audio was captured
    latency: float  # s from capture to hand-over to the sinks


class Sink:
    closed_by_user = False  # set when the user closes it (a window): the session then stops

    def open(self, size: tuple[int, int], fps: int, provenance: Provenance | None = None) -> None:
        """Before the first frame: SIZE is the frames' (height, width)."""

    def frame(self, frame: np.ndarray, info: FrameInfo) -> None:
        raise NotImplementedError

    def audio(self, samples: np.ndarray, captured: float) -> None:
        """SAMPLES (16 kHz mono float32) of the session's audio, the first one captured at CAPTURED
        (time.monotonic()); called from the motion thread, so it must not block."""

    def close(self) -> None:
        pass


class FrameCollector(Sink):
    """Keeps every frame (optionally downscaled by an integer factor) and its info: tests and library use."""

    def __init__(self, downscale: int = 1):
        self.downscale, self.frames, self.infos = downscale, [], []
        self.samples: list[np.ndarray] = []
        self.captured: list[float] = []
        self.size: tuple[int, int] | None = None

    def open(self, size: tuple[int, int], fps: int, provenance: Provenance | None = None) -> None:
        self.size = size

    def frame(self, frame: np.ndarray, info: FrameInfo) -> None:
        self.frames.append(frame[:: self.downscale, :: self.downscale].copy())
        self.infos.append(info)

    def audio(self, samples: np.ndarray, captured: float) -> None:
        self.samples.append(samples)
        self.captured.append(captured)


class RecordingSink(Sink):
    """An MP4 of the displayed frames and the captured audio, in sync (frame pts from the audio clock).
    Written to a temp file and moved into place when the session ends, also after Ctrl-C or SIGTERM.

    Encoding runs on the sink's own thread: ``frame`` and ``audio`` only queue their arrays (the session
    hands over frames it no longer touches), so H.264 does not sit on the display thread (6.0 ms per 512
    frame there at 40 FPS, benchmarks/profile_live.py) and the motion thread's ``audio`` never waits for a
    frame being encoded. The queue is bounded (QUEUED frames): a writer that falls that far behind slows
    the display thread down rather than growing without limit; a recording never drops frames."""

    QUEUED = 16

    def __init__(self, path: str | Path):
        """The session's provenance (what it runs, handed over at open) is written as tags and a signed C2PA
        manifest."""
        path = Path(path)
        if path.suffix.lower() != ".mp4":
            raise EdgeVasaError(f"--record {path}: the recording is an MP4; give a path ending in .mp4")
        if not path.parent.is_dir():
            raise EdgeVasaError(f"--record {path}: folder {path.parent} does not exist")
        if not os.access(path.parent, os.W_OK):
            raise EdgeVasaError(f"--record {path}: folder {path.parent} is not writable")
        self.path = path
        self.lock = threading.Lock()
        self.writer: Mp4Writer | None = None
        self.early: list[np.ndarray] = []
        self.todo: queue.Queue = queue.Queue()
        self.frames_queued = threading.BoundedSemaphore(self.QUEUED)
        self.thread: threading.Thread | None = None
        self.failed: BaseException | None = None

    def open(self, size: tuple[int, int], fps: int, provenance: Provenance | None = None) -> None:
        provenance = provenance or Provenance.for_files("live", {})
        with self.lock:
            self.fps = fps
            self.writer = Mp4Writer(
                self.path, fps, audio=True, metadata=provenance.tags(), finish=provenance.sign
            )
            for block in self.early:
                self.todo.put((None, block))
            self.early = []
            self.thread = threading.Thread(
                target=self._write, args=(self.writer,), name="recording", daemon=True
            )
            self.thread.start()

    def _write(self, writer: Mp4Writer) -> None:
        """The writer thread: frames (array, index) and audio (None, samples) in the order they came."""
        while (item := self.todo.get()) is not None:
            first, second = item
            try:
                if self.failed is None:
                    if first is None:
                        writer.add_audio(second)
                    else:
                        writer.add_frame(first, second)
            except Exception as e:  # kept for the session's thread: raised at its next call
                self.failed = e
            finally:
                if first is not None:
                    self.frames_queued.release()

    def _check(self) -> None:
        if self.failed is not None:
            raise self.failed

    def frame(self, frame: np.ndarray, info: FrameInfo) -> None:
        self._check()
        self.frames_queued.acquire()
        self.todo.put((frame, int(round(info.stream_time * self.fps))))

    def audio(self, samples: np.ndarray, captured: float) -> None:
        with self.lock:
            if self.writer is None:
                self.early.append(samples)
            else:
                self.todo.put((None, samples))

    def close(self) -> None:
        with self.lock:
            writer, thread, self.writer = self.writer, self.thread, None
        if writer is None:
            return
        self.todo.put(None)
        thread.join()
        if self.failed is not None or writer.container is None:  # failed, or not one frame shown
            writer.abort()
            self._check()
        else:
            writer.close()


class WindowSink(Sink):
    """A window showing the avatar (Tk, in the standard library); full-screen for kiosks. Esc or closing the
    window ends the session."""

    def __init__(self, fullscreen: bool = False, title: str = "edge-vasa"):
        if platform.system() == "Linux" and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        ):
            raise EdgeVasaError(
                "no display for a window (DISPLAY is not set); use --serve for a browser, --record, "
                "or --no-window"
            )
        try:
            import tkinter  # noqa: F401
        except ImportError:
            raise EdgeVasaError(
                "Python has no tkinter for the window; install python3-tk, or use --serve / --no-window"
            ) from None
        self.fullscreen, self.title = fullscreen, title

    def open(self, size: tuple[int, int], fps: int, provenance: Provenance | None = None) -> None:
        import tkinter

        try:
            self.root = tkinter.Tk()
        except tkinter.TclError as e:
            raise EdgeVasaError(f"cannot open a window ({e}); use --serve or --no-window") from None
        self.root.title(self.title)
        self.root.configure(background="black")
        self.root.attributes("-fullscreen", self.fullscreen)
        self.root.protocol("WM_DELETE_WINDOW", self._closed)
        self.root.bind("<Escape>", lambda _event: self._closed())
        self.label = tkinter.Label(self.root, background="black", borderwidth=0)
        self.label.pack(expand=True)

    def _closed(self) -> None:
        self.closed_by_user = True

    def frame(self, frame: np.ndarray, info: FrameInfo) -> None:
        from PIL import Image, ImageTk

        image = Image.fromarray(frame)
        if self.fullscreen:  # as large as the screen allows, aspect kept
            h, w = frame.shape[:2]
            scale = min(self.root.winfo_screenwidth() / w, self.root.winfo_screenheight() / h)
            image = image.resize((round(w * scale), round(h * scale)), Image.BILINEAR)
        self.photo = ImageTk.PhotoImage(image)  # kept: Tk shows nothing once the image is collected
        self.label.configure(image=self.photo)
        self.root.update()

    def close(self) -> None:
        # every Tk object goes here, on the thread that made them: one left for the interpreter to free
        # at exit (on the main thread) aborts the process ("Tcl_AsyncDelete: ... wrong thread")
        root, self.root, self.label, self.photo = getattr(self, "root", None), None, None, None
        if root is not None:
            try:
                root.destroy()
            except Exception:  # already gone with its display
                pass


class VirtualCameraSink(Sink):
    """A virtual webcam (pyvirtualcam: v4l2loopback on Linux, OBS on Windows/macOS) for video-call apps."""

    def __init__(self, device: str | None = None):
        try:
            import pyvirtualcam  # noqa: F401
        except ImportError:
            raise EdgeVasaError(
                "pyvirtualcam is not installed; `pip install pyvirtualcam` (on Linux also load the "
                "v4l2loopback kernel module)"
            ) from None
        self.device = device

    def open(self, size: tuple[int, int], fps: int, provenance: Provenance | None = None) -> None:
        import pyvirtualcam

        try:
            self.camera = pyvirtualcam.Camera(size[1], size[0], fps, device=self.device)
        except RuntimeError as e:
            raise EdgeVasaError(
                f"no virtual camera device ({e}); on Linux: `modprobe v4l2loopback exclusive_caps=1`"
            ) from None

    def frame(self, frame: np.ndarray, info: FrameInfo) -> None:
        self.camera.send(frame)

    def close(self) -> None:
        camera = getattr(self, "camera", None)
        if camera is not None:
            camera.close()


KIOSK_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>edge-vasa</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
html, body { margin: 0; height: 100%; background: #000; overflow: hidden; cursor: none; }
body.say { cursor: auto; }
#avatar { position: absolute; inset: 0; margin: auto; max-width: 100vw; max-height: 100vh;
  aspect-ratio: 1; width: 100vmin; }
#status { position: absolute; left: 0; right: 0; bottom: 0; padding: 0.6em 1em; display: none;
  font: 1.1em system-ui, sans-serif; color: #fff; background: rgba(160, 40, 40, 0.85); }
#say { position: absolute; left: 0; right: 0; top: 0; display: flex; gap: 0.5em; padding: 0.6em 1em;
  font: 1.1em system-ui, sans-serif; color: #fff; background: rgba(0, 0, 0, 0.6); align-items: center; }
#say[hidden] { display: none; }
#say input[type=text] { flex: 1; font: inherit; padding: 0.3em; }
#say select, #say button { font: inherit; }
</style></head>
<body><img id="avatar" alt="talking avatar"><div id="status" role="status"></div>
<form id="say" hidden><input type="text" id="text" maxlength="2000" autocomplete="off"
  placeholder="Type what the avatar says" aria-label="text to say"><select id="language"
  aria-label="language"></select><label><input type="checkbox" id="interrupt"> interrupt</label>
  <button>Say</button><span id="said" role="status"></span></form>
<script>
// The overlay shows only when something is wrong: the session reports problems (microphone lost, a backend
// fallback), or the server is unreachable. The stream reconnects by itself: after an error, when the
// server comes back, when a new session starts (its start time changes), or when frames stop arriving.
// A ?token=... in the page's address goes with every request; ?say=1 shows a field to type text into.
const params = new URLSearchParams(location.search), token = params.get("token");
const img = document.getElementById("avatar"), status = document.getElementById("status");
let started = null, shown = -1, stalledSince = null, down = false;
function url(path) {
  return token ? path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : path;
}
function show(text) { status.textContent = text; status.style.display = text ? "block" : "none"; }
function reconnect() { img.src = url("stream.mjpg?" + Date.now()); stalledSince = null; }
img.onerror = () => { down = true; setTimeout(reconnect, 1000); };
reconnect();
const form = document.getElementById("say"), language = document.getElementById("language");
async function poll() {
  try {
    const s = await (await fetch(url("status.json"), {cache: "no-store"})).json();
    const restarted = started !== null && s.started !== undefined && s.started !== started;
    if (down || restarted) { down = false; reconnect(); }
    started = s.started;
    if (s.frames_shown !== undefined) {
      if (s.frames_shown !== shown) { shown = s.frames_shown; stalledSince = null; }
      else if (stalledSince === null) { stalledSince = Date.now(); }
      else if (Date.now() - stalledSince > 3000) { reconnect(); }
    }
    if (s.speech && !language.options.length) {
      for (const code of s.speech.languages) { language.add(new Option(code, code)); }
    }
    show((s.problems || []).join(" | "));
  } catch (e) { down = true; show("Avatar server not reachable; reconnecting..."); }
  setTimeout(poll, 1000);
}
if (params.get("say") === "1") { form.hidden = false; document.body.classList.add("say"); }
form.onsubmit = async (event) => {
  event.preventDefault();
  const text = document.getElementById("text"), said = document.getElementById("said");
  const body = {text: text.value, interrupt: document.getElementById("interrupt").checked};
  if (language.value) { body.language = language.value; }
  try {
    const r = await fetch(url("say"), {method: "POST", headers: {"Content-Type": "application/json"},
                                       body: JSON.stringify(body)});
    const answer = await r.json();
    said.textContent = r.ok ? "queued #" + answer.queued : answer.error;
    if (r.ok) { text.value = ""; }
  } catch (e) { said.textContent = "not sent: the server is not reachable"; }
};
poll();
</script></body></html>
"""

MIN_TOKEN = 16  # characters: a token is the only lock on a server other machines can reach
MAX_BODY = 64 * 1024  # bytes of a POST: room for 2,000 characters of any script, JSON-escaped


def is_loopback(host: str) -> bool:
    """Whether HOST (a name or an address) only reaches this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_token(host: str, token: str | None) -> None:
    """Serving beyond this machine needs a token, and a token must be long enough to be one."""
    if token is None and not is_loopback(host):
        raise EdgeVasaError(
            f"--bind {host} lets other machines in; add --token TOKEN (e.g. "
            "`python3 -c 'import secrets; print(secrets.token_hex(16))'`)"
        )
    if token is not None and len(token) < MIN_TOKEN:
        raise EdgeVasaError(
            f"--token is {len(token)} characters; use at least {MIN_TOKEN} "
            "(e.g. `python3 -c 'import secrets; print(secrets.token_hex(16))'`)"
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """A client gone mid-answer (a reloaded page, a cut connection) is normal here: no traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class MjpegSink(Sink):
    """A local HTTP server (127.0.0.1 by default): / is a full-screen kiosk page (/?say=1 adds a field to
    type text into), /stream.mjpg the frames as MJPEG, /frame.jpg the latest frame, /status.json the
    session's state, and POST /say hands JSON {"text", "language", "interrupt"} to SAY (a text source's
    ``post``). With TOKEN every request must carry it (?token=... or "Authorization: Bearer ..."), else 401;
    HOST other than loopback requires a TOKEN."""

    def __init__(
        self,
        port: int = 8765,
        host: str = "127.0.0.1",
        status: Callable[[], dict] | None = None,
        quality: int = 85,
        token: str | None = None,
        say: Callable[[object], dict] | None = None,
        log: Callable[[str], None] | None = None,
    ):
        """LOG (the session's) gets a line for every refused request: who knocked, and why not."""
        check_token(host, token)
        self.log = log or (lambda line: None)
        self.status = status or (lambda: {"problems": []})
        self.say, self.token = say, token
        self.quality, self.jpeg, self.count = quality, None, 0
        self.changed = threading.Condition()
        self.stopping = False
        try:
            self.server = _Server((host, port), self._handler())
        except OSError as e:
            raise EdgeVasaError(
                f"cannot serve on {host}:{port} ({e.strerror}); choose another --serve PORT or --bind"
            ) from None
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host  # a wildcard is not an address to open
        self.url = f"http://{shown}:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, name="mjpeg-http", daemon=True).start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep the console for the session's status line
                pass

            def _send(self, body: bytes, kind: str, code: int = 200) -> None:
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def _json(self, code: int, answer: dict) -> None:
                self._send(json.dumps(answer).encode(), "application/json", code)

            def _authorized(self) -> bool:
                """Answers 401 (and False) when a token is set and the request does not carry it."""
                if sink.token is None:
                    return True
                given = parse_qs(urlsplit(self.path).query).get("token", [""])[0]
                header = self.headers.get("Authorization", "")
                if header.startswith("Bearer "):
                    given = header[len("Bearer ") :].strip()
                if hmac.compare_digest(given.encode(), sink.token.encode()):
                    return True
                self._refuse(401, "token missing or wrong: add ?token=... to the address")
                return False

            def _refuse(self, code: int, why: str) -> None:
                sink.log(
                    f"server: refused {self.command} {urlsplit(self.path).path} from "
                    f"{self.client_address[0]} ({code}: {why})"
                )
                self._json(code, {"error": why})

            def do_GET(self) -> None:
                if not self._authorized():
                    return
                route = urlsplit(self.path).path
                if route in ("/", "/index.html"):
                    self._send(KIOSK_PAGE.encode(), "text/html; charset=utf-8")
                elif route == "/status.json":
                    self._send(json.dumps(sink.status()).encode(), "application/json")
                elif route == "/frame.jpg" and sink.jpeg is not None:
                    self._send(sink.jpeg, "image/jpeg")
                elif route == "/stream.mjpg":
                    sink.stream_to(self)
                elif route == "/say":
                    self._json(405, {"error": 'POST JSON {"text": ..., "language": ..., "interrupt": ...}'})
                else:
                    self.send_error(404)

            def do_POST(self) -> None:
                if not self._authorized():
                    return
                try:
                    self._json(202, sink.post(urlsplit(self.path).path, self.headers, self.rfile))
                except Rejected as e:
                    self._refuse(e.status, str(e))
                except Exception as e:  # a bug answers 500; the session goes on
                    self._json(500, {"error": f"could not take the request: {e}"})

        return Handler

    def post(self, route: str, headers, body) -> dict:
        """A POST: checked (route, type, size, JSON) and handed to SAY. Raises Rejected with the 4xx."""
        if route != "/say":
            raise Rejected(404, f"no {route}; POST to /say")
        if self.say is None:
            raise Rejected(404, "this session takes no text; start it with --source tts")
        # JSON only: a page elsewhere cannot send it without the browser asking this server first (CORS)
        if headers.get("Content-Type", "").split(";")[0].strip().lower() != "application/json":
            raise Rejected(415, "send the text as JSON (Content-Type: application/json)")
        try:
            length = int(headers.get("Content-Length", ""))
        except ValueError:
            raise Rejected(411, "Content-Length is missing") from None
        if length > MAX_BODY:
            raise Rejected(413, f"request of {length} bytes; send at most {MAX_BODY}")
        try:
            request = json.loads(body.read(length))
        except ValueError as e:
            raise Rejected(400, f"bad JSON ({e})") from None
        return self.say(request)

    def stream_to(self, handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        handler.send_header("Cache-Control", "no-store")
        handler.end_headers()
        seen = -1
        try:
            while True:
                with self.changed:
                    self.changed.wait_for(lambda seen=seen: self.count != seen or self.stopping, timeout=5)
                    if self.stopping:
                        return
                    jpeg, seen = self.jpeg, self.count
                if jpeg is None:
                    continue
                handler.wfile.write(
                    b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpeg)
                )
                handler.wfile.write(jpeg + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            return

    def frame(self, frame: np.ndarray, info: FrameInfo) -> None:
        ok, data = cv2.imencode(".jpg", frame[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        with self.changed:
            self.jpeg, self.count = data.tobytes(), self.count + 1
            self.changed.notify_all()

    def close(self) -> None:
        with self.changed:
            self.stopping = True
            self.changed.notify_all()
        self.server.shutdown()
        self.server.server_close()
