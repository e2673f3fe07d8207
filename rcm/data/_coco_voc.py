"""The photo annotation formats: COCO JSON (`rcm.data._coco`), Pascal VOC XML (`rcm.data._voc`)."""

from rcm.data._coco import COCO_NAME, SUPERCATEGORY, coco_bytes, from_coco, to_coco, write_coco
from rcm.data._voc import VOC_FOLDER, read_voc, voc_files, voc_name, write_voc

__all__ = [
    "COCO_NAME",
    "SUPERCATEGORY",
    "VOC_FOLDER",
    "coco_bytes",
    "from_coco",
    "read_voc",
    "to_coco",
    "voc_files",
    "voc_name",
    "write_coco",
    "write_voc",
]
