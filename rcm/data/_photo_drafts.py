"""Photos as an annotation file gives them, before they are held against their images.

The COCO and VOC readers parse their files into `DraftImage`s (every problem
of an entry named, the others still parsed); the steps here give them their
patients (from the file or a patients table), check them against the image
headers, and turn them into `PhotoRecord`s, clipping boxes that stick out of
the image. Problems are `PhotoProblem`s with line 0 (annotation files have no
lines that mean anything): the message starts with the entry at fault.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from rcm.data._photo_dataset import (
    _EDGE_SLACK,
    EXACT,
    PhotoBox,
    PhotoDataset,
    PhotoProblem,
    PhotoRecord,
)
from rcm.data._photo_images import ImageInfo, orientation_note
from rcm.data._problems import listing
from rcm.errors import InputError

NO_LINE = 0  # PhotoProblem.line of problems in files without meaningful lines
_QUARTER_TURNS = (5, 6, 7, 8)
PATIENTS_HINT = (
    "give a patients table (CSV with columns image,patient_id and optionally sex,age; "
    "--patients on the command line, read_photo_source(..., patients=) in Python). rcm "
    "never assumes one patient per photo: one patient's photos would then land in "
    "different splits"
)


@dataclass(frozen=True)
class DraftBox:
    """A box as the file gives it: finite, positive size, not yet held against the image."""

    category: str
    x: float
    y: float
    width: float
    height: float
    crowd: bool
    where: str  # "annotation 17", "object 2"


@dataclass(frozen=True)
class Patient:
    """Who a photo shows, from a patients table or the annotation file."""

    patient_id: str
    sex: str | None = None
    age: float | None = None


@dataclass(frozen=True)
class DraftImage:
    """One photo of an annotation file; sizes and patient may still be unknown (None)."""

    image: str  # relative to the images root, normalised
    where: str  # "image id 7", "Annotations/a.xml"
    width: int | None
    height: int | None
    depth: int | None
    patient: Patient | None
    boxes: tuple[DraftBox, ...] = ()


def problem(severity: str, image: str, where: str, message: str) -> PhotoProblem:
    """A problem of an annotation file's entry, the entry named first."""
    return PhotoProblem(severity, NO_LINE, image, f"{where}: {message}")


def raise_errors(path: object, problems: Sequence[PhotoProblem], *, strict: bool = False) -> None:
    """One InputError naming `path` and the first problems, if any is an error.

    Args:
        path: The annotation file or folder at fault.
        problems: Everything found.
        strict: Warnings count as errors too.

    Raises:
        InputError: Listing the problems, five then "and N more".

    """
    bad = [p for p in problems if strict or p.severity == "error"]
    if bad:
        lines = [f"{p.image}: {p.message}" if p.image else p.message for p in bad]
        raise InputError(str(path), f"{len(bad)} problem(s): {listing(lines)}")


def with_patients(
    drafts: Sequence[DraftImage], patients: Mapping[str, Patient] | None, table: str | None
) -> tuple[list[DraftImage], list[PhotoProblem]]:
    """Each photo's patient: the file's, or the patients table's (which must then agree)."""
    done: list[DraftImage] = []
    problems: list[PhotoProblem] = []
    lacking: list[str] = []
    for draft in drafts:
        given = None if patients is None else patients.get(draft.image)
        if given is not None and draft.patient is not None and _differ(draft.patient, given):
            problems.append(
                problem(
                    "error",
                    draft.image,
                    draft.where,
                    f"the annotations say {_who(draft.patient)} but {table} says {_who(given)}",
                )
            )
        patient = draft.patient if given is None else _merged(draft, given)
        if patient is None:
            lacking.append(draft.image)
        done.append(dataclasses.replace(draft, patient=patient))
    if lacking:
        where = "the annotations" if table is None else f"the annotations or {table}"
        message = (
            f"{len(lacking)} of {len(drafts)} photo(s) have no patient id in {where} "
            f"({listing(lacking, ', ')})"
        )
        problems.append(PhotoProblem("error", NO_LINE, "", message + ": " + PATIENTS_HINT))
    return done, problems


def _merged(draft: DraftImage, given: Patient) -> Patient:
    """The table's patient, with the file's sex and age where the table has none."""
    own = draft.patient
    if own is None:
        return given
    return Patient(
        given.patient_id,
        given.sex if given.sex is not None else own.sex,
        given.age if given.age is not None else own.age,
    )


def _differ(own: Patient, given: Patient) -> bool:
    """Whether the file and the table disagree on what both of them say."""
    pairs = ((own.patient_id, given.patient_id), (own.sex, given.sex), (own.age, given.age))
    return any(a is not None and b is not None and a != b for a, b in pairs)


def _who(patient: Patient) -> str:
    sex = [] if patient.sex is None else [f"sex {patient.sex}"]
    age = [] if patient.age is None else [f"age {patient.age:g}"]
    return ", ".join([f"patient {patient.patient_id}", *sex, *age])


def with_headers(
    drafts: Sequence[DraftImage], infos: Mapping[str, ImageInfo | str], warn: str = "warning"
) -> tuple[list[DraftImage], list[PhotoProblem]]:
    """Sizes checked against the image headers (stored pixels); unreadable photos named."""
    done: list[DraftImage] = []
    problems: list[PhotoProblem] = []
    for draft in drafts:
        info = infos[draft.image]
        if isinstance(info, str):
            problems.append(problem("error", draft.image, draft.where, info))
            continue
        mismatch = _size_mismatch(draft, info)
        if mismatch:
            problems.append(problem("error", draft.image, draft.where, mismatch))
            continue
        if info.orientation != 1:
            problems.append(problem(warn, draft.image, draft.where, orientation_note(info)))
        done.append(
            dataclasses.replace(draft, width=info.width, height=info.height, depth=info.depth)
        )
    return done, problems


def _size_mismatch(draft: DraftImage, info: ImageInfo) -> str | None:
    written = (draft.width, draft.height)
    if None in written or written == (info.width, info.height):
        return None
    said = f"the annotations say {draft.width} x {draft.height}"
    if info.orientation in _QUARTER_TURNS and written == (info.height, info.width):
        return (
            f"{said}, the upright size of this {info.width} x {info.height} photo with EXIF "
            f"orientation {info.orientation}: the boxes were drawn on the turned photo, but rcm "
            "takes boxes in stored pixels. Save the photos upright (apply and remove the EXIF "
            "orientation, e.g. Pillow's ImageOps.exif_transpose) and keep the boxes"
        )
    return f"{said} but the image file is {info.width} x {info.height} pixels"


def to_dataset(
    categories: Sequence[str], drafts: Sequence[DraftImage], warn: str = "warning"
) -> tuple[PhotoDataset, list[PhotoProblem]]:
    """Records from complete drafts, boxes clipped to their image (a warning) or refused.

    Drafts without a size or a patient add an error and are left out (the caller
    raises on errors, so no partial dataset is ever used).
    """
    records: list[PhotoRecord] = []
    problems: list[PhotoProblem] = []
    seen: dict[str, str] = {}
    for draft in drafts:
        if draft.image in seen:
            message = f"the same photo as {seen[draft.image]}"
            problems.append(problem("error", draft.image, draft.where, message))
            continue
        seen[draft.image] = draft.where
        record, found = _record(draft, warn)
        problems += found
        if record is not None:
            records.append(record)
    # The readers checked categories and paths, so PhotoDataset finds nothing more.
    return PhotoDataset(tuple(categories), tuple(records)), problems


def _record(draft: DraftImage, warn: str) -> tuple[PhotoRecord | None, list[PhotoProblem]]:
    if draft.width is None or draft.height is None:
        return None, [problem("error", draft.image, draft.where, "no width and height given")]
    problems: list[PhotoProblem] = []
    boxes: list[PhotoBox] = []
    for box in draft.boxes:
        fitted, found = _fit(box, draft.width, draft.height, warn)
        if found is not None:
            problems.append(problem(found[0], draft.image, box.where, found[1]))
        if fitted is not None:
            boxes.append(fitted)
    if draft.patient is None or any(p.severity == "error" for p in problems):
        return None, problems  # a missing patient is named once, by with_patients
    patient = draft.patient
    try:
        record = PhotoRecord(
            draft.image,
            draft.width,
            draft.height,
            draft.depth or 3,
            patient.patient_id,
            patient.sex,
            patient.age,
            tuple(boxes),
        )
    except ValueError as error:
        return None, [*problems, problem("error", draft.image, draft.where, str(error))]
    return record, problems


def _fit(
    box: DraftBox, width: int, height: int, warn: str
) -> tuple[PhotoBox | None, tuple[str, str] | None]:
    """The box inside the image: as it is, clipped (a warning), or None when outside."""
    right, bottom = box.x + box.width, box.y + box.height
    size = f"{width} x {height}"
    if box.x >= width or box.y >= height or right <= 0 or bottom <= 0:
        message = f"{_shown(box)} (x, y, width, height) is outside the {size} image"
        return None, ("error", message)
    # The slack PhotoRecord allows: a box written to end on the edge may be off by rounding.
    inside = right <= width * (1 + _EDGE_SLACK) and bottom <= height * (1 + _EDGE_SLACK)
    if box.x >= 0 and box.y >= 0 and inside:
        return PhotoBox(box.category, box.x, box.y, box.width, box.height, box.crowd), None
    x0, y0 = max(_exact(box.x), Decimal(0)), max(_exact(box.y), Decimal(0))
    x1 = min(EXACT.add(_exact(box.x), _exact(box.width)), Decimal(width))
    y1 = min(EXACT.add(_exact(box.y), _exact(box.height)), Decimal(height))
    fitted = PhotoBox(
        box.category,
        float(x0),
        float(y0),
        float(EXACT.subtract(x1, x0)),
        float(EXACT.subtract(y1, y0)),
        box.crowd,
    )
    clipped = ", ".join(_text(v) for v in (fitted.x, fitted.y, fitted.width, fitted.height))
    return fitted, (warn, f"{_shown(box)} extends outside the {size} image: clipped to [{clipped}]")


def _shown(box: DraftBox) -> str:
    return f"box [{_text(box.x)}, {_text(box.y)}, {_text(box.width)}, {_text(box.height)}]"


def _exact(value: float) -> Decimal:
    return Decimal(repr(value))


def _text(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)
