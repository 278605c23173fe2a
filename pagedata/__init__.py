"""pagedata: document pages as data, without detectron2, torch or graphkd (numpy / PIL only).

The synthetic page generator (``pagedata.synthetic``), the DocBank and PRIMA converters to COCO
(``pagedata.docbank``, ``pagedata.prima``), the COCO json reader (``pagedata.coco_json``) and the
class vocabularies (``pagedata.classes``). Dataset registration with detectron2's catalog sits
above this package, in ``detectors.datasets``.
"""
