"""The built wheel: one top-level package, `zhice`, with its data files and the command."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--quiet", "-w", str(out), str(ROOT)], check=True, capture_output=True)
    (found,) = out.glob("zhice-*.whl")
    return found


@pytest.mark.slow
def test_the_wheel_holds_one_top_level_package(wheel: Path):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"zhice"}
    assert "zhice/eval/data/questions.jsonl" in names
    assert {"zhice/assistant/web/assets/page.css", "zhice/assistant/web/assets/sources.js"} <= set(
        names)
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "zhice = zhice.assistant.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()


@pytest.mark.slow
def test_installed_nothing_of_ours_is_importable_bare(wheel: Path, tmp_path: Path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target",
                    str(target), str(wheel)], check=True, capture_output=True)
    probe = ("import importlib.util as u\n"
             "print([n for n in ('ingest', 'index', 'assistant', 'eval') if u.find_spec(n)])\n"
             "import zhice.assistant.web as w\n"
             f"print(len(w.asset('page.css')) > 0, w.__file__.startswith({str(target)!r}))\n")
    # -I: no user site, no PYTHONPATH, no current folder (the checkout) on the path
    done = subprocess.run([sys.executable, "-I", "-c",
                           f"import sys; sys.path.insert(0, {str(target)!r})\n" + probe],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["[]", "True True"]
