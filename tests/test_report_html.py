"""The HTML report: self-contained page with tables, plots and galleries; screenshot in headless
Chromium (Debian package `chromium`): non-blank, no console errors, gallery images present."""
from __future__ import annotations

import argparse
import base64
import io
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from test_report_synthetic import make_results_tree

from facebench.report.commands import register

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--enable-logging=stderr", "--v=0"]
CONSOLE = re.compile(r"CONSOLE|Uncaught|Failed to load resource|Not allowed to load", re.I)


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _run_chromium(exe: str, url: str, tmp: Path, *extra: str) -> subprocess.CompletedProcess:
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"  # a fresh profile per launch
    return subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, url],
                          capture_output=True, text=True, timeout=180)


class _Tags(HTMLParser):
    VOID = {"meta", "link", "img", "br", "hr", "input"}

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.imgs: list[dict] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a)
        for k in ("src", "href"):
            if k in a:
                self.urls.append(a[k])
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> (open: {self.stack[-3:]})")
        else:
            self.stack.pop()


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("html")
    res = make_results_tree(root)
    parser = argparse.ArgumentParser(prog="facebench")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["report", str(res), "-o", str(root / "report"), "--gallery_items", "6", "--qa_items", "4"])
    assert args.func(args) == 0
    return root / "report"


def test_page_is_self_contained_and_well_formed(report):
    page = (report / "index.html").read_text(encoding="utf-8")
    p = _Tags()
    p.feed(page)
    assert not p.errors and p.stack == [], p.errors[:5]
    # everything is embedded: no network, no files needed next to the page
    assert all(u.startswith(("data:", "#")) for u in p.urls), [u[:40] for u in p.urls if not u.startswith(("data:", "#"))]
    from PIL import Image

    for img in p.imgs:  # every embedded image decodes
        head, b64 = img["src"].split(",", 1)
        assert head in ("data:image/jpeg;base64", "data:image/png;base64")
        Image.open(io.BytesIO(base64.b64decode(b64))).verify()
    thumbs = [i for i in p.imgs if i.get("class") == "thumb"]
    # generation gallery: 6 prompts × (dataset face + 3 models); understanding: 4 faces for desc + 4 for conv
    assert len(thumbs) == 6 * (1 + 3) + 4 + 4
    assert "<b>Reference:</b>" in page and "desc_embed</b>: Similarity judged" in page  # answers + judge review
    assert "UniF²ace" in page and "paper v1 T1" in page and "reproduced" in page
    pngs = sorted(x.name for x in (report / "plots").glob("*.png"))
    assert "bar-generation-mini-fid.png" in pngs and "attr-generation-mini-vqascore-cf5.png" in pngs
    assert len([i for i in p.imgs if i["src"].startswith("data:image/png")]) == len(pngs)


def test_screenshot_in_headless_chromium(report, tmp_path):
    exe = _chromium()
    if exe is None:
        pytest.skip("Chromium not installed (Debian: apt-get update && apt-get install -y chromium)")
    url = (report / "index.html").resolve().as_uri()
    shot = tmp_path / "shot.png"
    r = _run_chromium(exe, url, tmp_path, f"--screenshot={shot}", "--window-size=1280,2200")
    assert shot.exists(), r.stderr[-2000:]
    console = [ln for ln in r.stderr.splitlines() if CONSOLE.search(ln)]
    assert not console, console
    from PIL import Image

    px = np.asarray(Image.open(shot).convert("RGB"), dtype=np.float64)
    assert px.shape[:2] == (2200, 1280)
    assert px.std() > 20  # not blank
    assert len(np.unique(px.reshape(-1, 3), axis=0)) > 200  # text, tables and plots, not a flat fill

    dom = _run_chromium(exe, url, tmp_path, "--dump-dom")
    assert dom.returncode == 0
    assert dom.stdout.count('class="thumb"') == 6 * (1 + 3) + 4 + 4
    assert not [ln for ln in dom.stderr.splitlines() if CONSOLE.search(ln)]


def test_console_error_detection_works(tmp_path):
    """Positive control: the same grep catches an error on a page that has one."""
    exe = _chromium()
    if exe is None:
        pytest.skip("Chromium not installed (Debian: apt-get update && apt-get install -y chromium)")
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"></head>'
                   "<body><script>undefinedFn();</script></body></html>")
    r = _run_chromium(exe, bad.as_uri(), tmp_path, "--dump-dom")
    assert any("Uncaught" in ln for ln in r.stderr.splitlines() if CONSOLE.search(ln)), r.stderr[-1500:]
