"""The HTML report as a real browser draws it: headless Chromium (the Debian package).

Missing Chromium fails the test rather than skipping it: `apt-get install -y chromium`.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from fleetfix.export import read_report, render, write_report
from fleetfix.export.svg_chart import SERIES
from fleetfix.store import open_reader
from tests.unit.test_export_model import build_incident

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"


def _chromium(*args: str) -> subprocess.CompletedProcess[bytes]:
    assert Path(CHROMIUM).exists(), "Chromium is missing: apt-get install -y chromium"
    # Chromium refuses to run as root with its sandbox; CI containers run tests as root.
    sandbox = ["--no-sandbox"] if os.geteuid() == 0 else []
    command = [CHROMIUM, "--headless", "--disable-gpu", *sandbox, *args]
    return subprocess.run(command, capture_output=True, timeout=120, check=True)


@pytest.fixture(scope="module")
def html_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    folder = tmp_path_factory.mktemp("chromium")
    incident = build_incident(folder)
    incident.store.close()
    with open_reader(incident.path) as reader:
        report = read_report(reader)
    target = folder / "report.html"
    write_report(render(report, "html"), target)
    return target, len(report.timeline)


class _Polylines(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.points: dict[str, int] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "polyline":
            self.points[found.get("class") or ""] = len((found.get("points") or "").split())


def test_chromium_keeps_the_chart_in_the_dom(html_file: tuple[Path, int]) -> None:
    path, samples = html_file
    dom = _chromium("--dump-dom", path.as_uri()).stdout.decode()
    parser = _Polylines()
    parser.feed(dom)
    assert parser.points == {"recovered": samples, "still_affected": samples}


def _colour_counts(html: Path, shot: Path) -> dict[str, int]:
    _chromium(f"--screenshot={shot}", "--window-size=1000,4000", html.as_uri())
    width, pixels = _decode_png(shot.read_bytes())
    assert width == 1000
    every = [pixels[i : i + 3] for i in range(0, len(pixels), 3)]
    assert len(set(every)) > 10, "the page rendered blank"
    return {hex_colour: every.count(bytes.fromhex(hex_colour[1:])) for _, hex_colour in SERIES}


def test_chromium_draws_both_lines(html_file: tuple[Path, int], tmp_path: Path) -> None:
    path, _ = html_file
    drawn = _colour_counts(path, tmp_path / "report.png")
    # The same page with the lines hidden: what remains of each colour is the legend's.
    hidden = tmp_path / "no-lines.html"
    hidden.write_text(path.read_text().replace("<polyline ", '<polyline display="none" '))
    legend_only = _colour_counts(hidden, tmp_path / "no-lines.png")
    for colour, count in drawn.items():
        assert count > legend_only[colour] + 200, f"the {colour} line was not drawn"


def _decode_png(data: bytes) -> tuple[int, bytes]:
    """RGB bytes of an 8-bit RGB/RGBA, non-interlaced PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, idat, header = 8, b"", b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        offset += 12 + length
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour_type in (2, 6) and interlace == 0
    channels = 3 if colour_type == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytearray] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        row = _unfilter(raw[start], bytearray(raw[start + 1 : start + 1 + stride]), previous,
                        channels)  # fmt: skip
        rows.append(row)
        previous = row
    rgb = bytearray()
    for row in rows:
        for x in range(0, stride, channels):
            rgb += row[x : x + 3]
    return width, bytes(rgb)


def _unfilter(kind: int, row: bytearray, above: bytearray, bpp: int) -> bytearray:
    for i in range(len(row)):
        left = row[i - bpp] if i >= bpp else 0
        up = above[i]
        corner = above[i - bpp] if i >= bpp else 0
        if kind == 1:
            row[i] = (row[i] + left) & 0xFF
        elif kind == 2:
            row[i] = (row[i] + up) & 0xFF
        elif kind == 3:
            row[i] = (row[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            row[i] = (row[i] + _paeth(left, up, corner)) & 0xFF
    return row


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def test_chromium_is_installed() -> None:
    # The two tests above fail loudly without it too; this names the fix on its own line.
    assert shutil.which("chromium") or Path(CHROMIUM).exists(), "apt-get install -y chromium"
