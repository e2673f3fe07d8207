"""Any YAML-able value for any key of a job file: a JobSpec or one InputError naming the file."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rcm.errors import InputError
from rcm.jobs import load_job

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
BASE: dict[str, Any] = {
    "mosaics": {"manifest": "mosaics.csv"},
    "output": "results",
    "stages": {"infer": {"model": "effnet"}},
}
KEYS = [
    ("mosaics",),
    ("mosaics", "manifest"),
    ("mosaics", "glob"),
    ("output",),
    ("name",),
    ("retries",),
    ("um_per_px",),
    ("cluster",),
    ("cluster", "workers"),
    ("cluster", "kind"),
    ("stages",),
    ("stages", "infer"),
    ("stages", "infer", "model"),
    ("stages", "infer", "options"),
    ("stages", "infer", "explain"),
    ("stages", "convert"),
    ("stages", "convert", "chunk"),
    ("stages", "convert", "compressor"),
    ("stages", "evaluate"),
    ("stages", "evaluate", "truth"),
    ("stages", "evaluate", "bootstrap"),
    ("stages", "evaluate", "target_specificity"),
    ("unknown",),
]


def _set(job: dict[str, Any], key: tuple[str, ...], value: Any) -> dict[str, Any]:
    target = job
    for part in key[:-1]:
        if not isinstance(target.get(part), dict):
            target[part] = {}
        target = target[part]
    target[key[-1]] = value
    return job


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.lists(st.tuples(st.sampled_from(KEYS), VALUES), min_size=1, max_size=3))
def test_any_value_for_any_key_loads_or_is_one_input_error(
    changes: list[tuple[tuple[str, ...], Any]],
) -> None:
    job = yaml.safe_load(yaml.safe_dump(BASE))
    for key, value in changes:
        job = _set(job, key, value)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "a.tif").write_bytes(b"")
        (root / "mosaics.csv").write_text("mosaic_id,path\na,a.tif\n")
        path = root / "job.yaml"
        path.write_text(yaml.safe_dump(job))
        try:
            spec = load_job(path)
        except InputError as error:
            assert error.path is not None and Path(error.path).parent == root, error
            assert "\n" not in str(error)
            return
        assert spec.output.is_absolute() and spec.mosaics
