"""Tiny page-like training batches for tests and smoke runs (no dataset, no files)."""

from __future__ import annotations

import torch
from detectron2.structures import Boxes, Instances

__all__ = ["make_dummy_batch"]


def make_dummy_batch(
    num_images: int = 2,
    height: int = 256,
    width: int = 192,
    num_classes: int = 5,
    boxes_per_image: int = 6,
    seed: int = 0,
    empty_images: tuple[int, ...] = (),
) -> list[dict]:
    """A detectron2 training batch of white "pages" with dark rectangular blocks.

    Each block is a GT instance (XYXY box, random class in [0, num_classes)); blocks are stacked
    top to bottom, full-width-ish and flat like paragraphs and titles. Images listed in
    ``empty_images`` have no GT instances.

    Returns:
        list of dicts with "image" (3, height, width) uint8 BGR, "instances" (gt_boxes,
        gt_classes), "height", "width", "image_id" - the input format of
        ``GeneralizedRCNN.forward`` in training.
    """
    gen = torch.Generator().manual_seed(seed)
    batch = []
    for i in range(num_images):
        image = torch.full((3, height, width), 245, dtype=torch.uint8)
        n = 0 if i in empty_images else boxes_per_image
        # Vertical bands, one block per band, random horizontal extent and height within it.
        band = height / max(n, 1)
        y0 = torch.arange(n) * band + torch.rand(n, generator=gen) * band * 0.3
        y1 = y0 + band * (0.3 + 0.4 * torch.rand(n, generator=gen))
        x0 = torch.rand(n, generator=gen) * width * 0.3
        x1 = width - torch.rand(n, generator=gen) * width * 0.3
        boxes = torch.stack([x0, y0, x1, y1], dim=1).round()
        for b in boxes.long().tolist():
            image[:, b[1] : b[3], b[0] : b[2]] = 40
        instances = Instances((height, width))
        instances.gt_boxes = Boxes(boxes.float())
        instances.gt_classes = torch.randint(0, num_classes, (n,), generator=gen)
        batch.append(
            {
                "image": image,
                "instances": instances,
                "height": height,
                "width": width,
                "image_id": i,
            }
        )
    return batch
