"""Provenance: every video edge-vasa makes says it is synthetic, three ways.

1. The invisible watermark in its frames (``watermark.py``): survives re-encoding, resizing and crops.
2. MP4 tags: a human-readable ``comment`` and a JSON ``edge_vasa_provenance`` tag (what, which version,
   which model files by sha256). Any tool shows them; any remux may drop them.
3. A C2PA manifest (c2pa-python), signed offline with a certificate this machine makes for itself on
   first use: the standard content-credentials record, tamper-evident (its hash covers the media).
   Self-made certificates are "untrusted" to other readers; the claim is still readable and checked.

``verify`` reads all three back.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edge_vasa import __version__
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.files import file_sha256
from edge_vasa.core.video import frames_of, probe_video
from edge_vasa.provenance.watermark import Detection, Payload, Watermarker, detect

TAG = "edge_vasa_provenance"
AI_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
C2PA_LABEL = "org.edgevasa.provenance"
VERIFY_FRAMES = 250  # frames read by verify: 10 s at 25 FPS is plenty, and bounds time on long files


def identity_dir() -> Path:
    """Where this machine's C2PA signing certificate and key live (EDGE_VASA_IDENTITY overrides)."""
    default = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "edge-vasa" / "c2pa"
    return Path(os.environ.get("EDGE_VASA_IDENTITY", default))


@dataclass
class Provenance:
    """What one render says about itself."""

    command: str  # generate or live
    models: dict[str, str]  # name -> sha256 of the weights or artifact file
    payload: Payload = field(default_factory=Payload.new)
    created: str = field(
        default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    )

    @classmethod
    def for_files(cls, command: str, files: dict[str, str | Path]) -> Provenance:
        return cls(command, {name: file_sha256(path) for name, path in files.items() if Path(path).is_file()})

    def watermarker(self) -> Watermarker:
        return Watermarker(self.payload)

    def record(self) -> dict:
        return {
            "synthetic": True,
            "generator": f"edge-vasa {__version__}",
            "command": self.command,
            "render_id": f"{self.payload.render_id:06x}",
            "created": self.created,
            "models": self.models,
        }

    def tags(self) -> dict[str, str]:
        text = (
            f"AI-generated (synthetic) video made by edge-vasa {__version__} `{self.command}`, "
            f"render {self.payload.render_id:06x}"
        )
        return {"comment": text, "description": text, TAG: json.dumps(self.record(), sort_keys=True)}

    def manifest(self, title: str) -> dict:
        agent = {"name": "edge-vasa", "version": __version__}
        return {
            # claim_generator_info, not claim_generator: the plain string is dropped by claim v2
            "claim_generator_info": [agent],
            "title": title,
            "assertions": [
                {
                    "label": "c2pa.actions",
                    "data": {
                        "actions": [
                            {
                                "action": "c2pa.created",
                                "digitalSourceType": AI_SOURCE_TYPE,
                                "softwareAgent": agent,
                            }
                        ]
                    },
                },
                {"label": C2PA_LABEL, "data": self.record()},
            ],
        }

    def sign(self, path: str | os.PathLike, title: str | None = None) -> None:
        """Add a signed C2PA manifest to the MP4 at PATH, in place (through a temp file beside it)."""
        import c2pa

        chain, key = signing_identity()
        info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain, key, None)  # no TSA: offline
        path = os.fspath(path)
        signed = f"{path}.c2pa"
        try:
            with (
                c2pa.Signer.from_info(info) as signer,
                c2pa.Builder(self.manifest(title or Path(path).name)) as b,
            ):
                with open(path, "rb") as src, open(signed, "w+b") as dst:
                    b.sign(signer, "video/mp4", src, dst)
            os.replace(signed, path)
        finally:
            if os.path.exists(signed):
                os.remove(signed)


def signing_identity() -> tuple[bytes, bytes]:
    """(certificate chain PEM, PKCS#8 key PEM) for C2PA signing, made on first use: a local root CA and
    a leaf that C2PA accepts (not a CA, digitalSignature, emailProtection EKU, authority key id)."""
    folder = identity_dir()
    chain_path, key_path = folder / "chain.pem", folder / "signer.key"
    if not (chain_path.is_file() and key_path.is_file()):
        chain, key = _make_identity()
        folder.mkdir(parents=True, exist_ok=True)
        for target, data in ((key_path, key), (chain_path, chain)):
            tmp = target.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(data)
            tmp.chmod(0o600)
            os.replace(tmp, target)
    return chain_path.read_bytes(), key_path.read_bytes()


def _make_identity() -> tuple[bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.timezone.utc)
    host = os.uname().nodename

    def name(common: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, common),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "edge-vasa (self-signed, this machine)"),
            ]
        )

    def usage(sign: bool, ca: bool) -> x509.KeyUsage:
        return x509.KeyUsage(sign, False, False, False, False, ca, ca, False, False)

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name(f"edge-vasa root {host}"))
        .issuer_name(name(f"edge-vasa root {host}"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage(False, True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(name(f"edge-vasa signer {host}"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage(True, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    chain = leaf.public_bytes(pem) + ca.public_bytes(pem)  # leaf first
    private = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return chain, private


def read_manifest(path: str | os.PathLike) -> dict | None:
    """The active C2PA manifest's facts, or None when the file has none."""
    import c2pa

    try:
        with open(path, "rb") as f, c2pa.Reader("video/mp4", f) as reader:
            store = json.loads(reader.json())
            state = reader.get_validation_state()
    except c2pa.C2paError.ManifestNotFound:
        return None
    except c2pa.C2paError as e:
        return {"state": "unreadable", "error": str(e).splitlines()[0]}
    active = store["manifests"][store["active_manifest"]]
    failures = [
        f["code"]
        for f in (store.get("validation_results") or {}).get("activeManifest", {}).get("failure", [])
    ]
    assertions = {a["label"]: a.get("data") for a in active.get("assertions", [])}
    actions = (assertions.get("c2pa.actions.v2") or assertions.get("c2pa.actions") or {}).get("actions", [])
    return {
        "state": state,  # Valid / Trusted / Invalid
        "failures": failures,  # signingCredential.untrusted is expected for the self-made certificate
        "tampered": any(code.endswith("mismatch") for code in failures) or state == "Invalid",
        "ai_generated": any(a.get("digitalSourceType") == AI_SOURCE_TYPE for a in actions),
        "generator": [f"{g.get('name')} {g.get('version')}" for g in active.get("claim_generator_info", [])],
        "record": assertions.get(C2PA_LABEL),
        "signer": (active.get("signature_info") or {}).get("common_name"),
    }


def read_tags(metadata: dict[str, str]) -> dict | None:
    """Our provenance record from a video's container tags, or None."""
    text = metadata.get(TAG)
    if not text:
        return None
    try:
        record = json.loads(text)
    except json.JSONDecodeError:
        return {"unreadable": text[:80]}
    return record if isinstance(record, dict) else {"unreadable": text[:80]}


@dataclass
class Verdict:
    """What ``verify`` concludes about one video file."""

    path: str
    synthetic: bool
    confidence: float
    watermark: dict
    tags: dict | None
    c2pa: dict | None

    def summary(self) -> str:
        word = "SYNTHETIC (made by edge-vasa)" if self.synthetic else "no edge-vasa provenance found"
        return f"{self.path}: {word}, confidence {self.confidence:.3f}"


def verify(path: str | os.PathLike, max_frames: int = VERIFY_FRAMES) -> Verdict:
    """Is PATH an edge-vasa video? The watermark decides; tags and C2PA are reported beside it."""

    facts = probe_video(path)
    frames = frames_of(path, max_frames)
    mark: Detection = detect(frames)
    tags = read_tags(facts["metadata"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        manifest = read_manifest(path)
    metadata_says = bool(tags and tags.get("synthetic")) or bool(
        manifest and manifest.get("ai_generated") and not manifest.get("tampered")
    )
    confidence = max(mark.confidence, 0.99 if metadata_says else 0.0)
    watermark = {
        "found": mark.found,
        "confidence": round(mark.confidence, 6),
        "z": round(mark.z, 2),
        "scale": round(mark.scale, 3),
        "frames": mark.frames,
        "payload": None
        if mark.payload is None
        else {**asdict(mark.payload), "render_id": f"{mark.payload.render_id:06x}"},
    }
    return Verdict(os.fspath(path), mark.found or metadata_says, confidence, watermark, tags, manifest)


def label_frame(frame: np.ndarray, text: str) -> np.ndarray:
    """FRAME with a small visible label (white on a dark box, lower left)."""

    out = frame.copy()
    height = frame.shape[0]
    scale = max(0.4, height / 1024)
    thickness = max(1, round(scale * 2))
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    pad = max(4, round(6 * scale))
    x0, y1 = pad, height - pad
    box = out[y1 - h - base - 2 * pad : y1, x0 : x0 + w + 2 * pad]
    box[:] = (box * 0.35).astype(np.uint8)  # darken, not hide: the face stays visible under the label
    cv2.putText(
        out,
        text,
        (x0 + pad, y1 - base - pad),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        (255, 255, 255),
        thickness,
        cv2.LINE_AA,
    )
    return out


class Marker:
    """What every output frame of generate and live goes through: the watermark, then the optional label."""

    def __init__(self, provenance: Provenance, label: str | None = None):
        self.provenance, self.label = provenance, label
        self.watermark = provenance.watermarker()

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        marked = self.watermark(frame)
        return label_frame(marked, self.label) if self.label else marked


def check_label(label: str | None) -> str | None:
    """A --label value, checked: printable ASCII (OpenCV's font has no other glyphs), at most 40 chars;
    "" means no label."""
    if not label:
        return None
    if not label.strip() or len(label) > 40 or not label.isascii() or not label.isprintable():
        raise EdgeVasaError('--label must be 1-40 printable ASCII characters, e.g. --label "AI-generated"')
    return label
