"""The pieces of a download that no process test reaches: the Content-Disposition of names that
are not plain ASCII, and the client refusing to write a file outside the folder it was given."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.client import target_path
from gateway.jobs.downloads import attachment


def test_a_non_ascii_name_gets_an_ascii_fallback_and_its_utf8_form() -> None:
    assert attachment('café "x".json') == (
        "attachment; filename=\"caf_ _x_.json\"; filename*=UTF-8''caf%C3%A9%20%22x%22.json"
    )


def test_a_name_with_folders_stays_under_the_target_folder(tmp_path: Path) -> None:
    assert target_path(tmp_path, "sub/a.png") == (tmp_path / "sub" / "a.png").resolve()


@pytest.mark.parametrize("name", ["../a.png", "sub/../../a.png", "/etc/passwd", "."])
def test_a_name_that_would_leave_the_folder_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="outside"):
        target_path(tmp_path / "out", name)
