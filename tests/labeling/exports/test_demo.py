import io
import json
from pathlib import Path

import pytest

from labeling.demo import load_demo as labeling_demo
from labeling.exports.demo import PREFERENCE_NAME, SFT_NAME, load_demo
from labeling.models import DatasetSnapshot, SnapshotStatus

pytestmark = pytest.mark.django_db


def test_demo_builds_an_sft_and_a_preference_snapshot_once(project, owner, labeler, reviewer):
    users = {"researcher": owner, "labeler": labeler, "reviewer": reviewer}
    labeling_demo(project=project, users=users, stdout=io.StringIO())
    out = io.StringIO()
    load_demo(project=project, users=users, stdout=out)
    sft = DatasetSnapshot.objects.get(name=SFT_NAME)
    pref = DatasetSnapshot.objects.get(name=PREFERENCE_NAME)
    assert sft.status == pref.status == SnapshotStatus.READY, out.getvalue()
    sources = {
        json.loads(line)["source"]
        for split in sft.row_counts
        for line in (Path(sft.path) / f"{split}.jsonl").read_text().splitlines()
    }
    assert {"demonstration", "ranking_best"} <= sources
    assert sum(pref.row_counts.values()) > 0 and set(pref.task_type_counts) >= {"qa"}
    load_demo(project=project, users=users, stdout=io.StringIO())
    assert DatasetSnapshot.objects.count() == 2
