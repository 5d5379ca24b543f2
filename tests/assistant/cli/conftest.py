"""What every CLI test shares."""

from pathlib import Path

import pytest

from tests.index.test_index import share_segmenter


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test may reach the user's real index; jieba loads once per process."""
    monkeypatch.delenv("ZHICE_INDEX", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    share_segmenter(monkeypatch)
