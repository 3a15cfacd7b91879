"""The outbox's delivery ids: the same for one entry on every read (and after a reopen, as a
restarted gateway reads it), different between entries, even of the same file."""

from __future__ import annotations

from pathlib import Path

from gateway.jobs.outbox import Outbox


def test_an_entry_keeps_its_delivery_id_and_two_entries_differ(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "jobs.db")
    try:
        outbox.add("oscar.cloud", "stage2/a.txt", b"A")
        outbox.add("oscar.cloud", "stage2/a.txt", b"A")  # the same file written again
        first = [parcel.delivery_id for parcel in outbox.pending()]
    finally:
        outbox.close()
    reopened = Outbox(tmp_path / "jobs.db")
    try:
        again = [parcel.delivery_id for parcel in reopened.pending()]
    finally:
        reopened.close()
    assert again == first
    assert len(set(first)) == 2
