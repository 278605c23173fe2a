"""Student -> teacher channel adapter used before feature-matching losses (node / FitNet)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ChannelAdapter"]

_MODES = ("always", "when_needed")


class ChannelAdapter(nn.Module):
    """A 1x1 convolution mapping student channels ``C_s`` to teacher channels ``C_t``.

    Args:
        in_channels: student channels ``C_s``.
        out_channels: teacher channels ``C_t``.
        mode: ``"always"`` (DSIG: a learnable 1x1 conv even when ``C_s == C_t``) or
            ``"when_needed"`` (identity when the channel counts are equal).

    With equal channels the conv starts as the identity (zero bias), so a freshly built adapter
    does not change the loss; otherwise it uses PyTorch's default conv init.

    Input: ``(N, C_s, H, W)`` pooled RoI / FPN features, or flattened channel-major node features
    ``(N, C_s * H * W)`` (as ``x.flatten(1)`` of the former). Output has the same layout with
    ``C_t`` channels. Because the conv is affine, adapting cluster-averaged node features equals
    averaging adapted RoI features, so it can be applied to graph node features directly.
    """

    def __init__(self, in_channels: int, out_channels: int, mode: str = "always") -> None:
        super().__init__()
        if mode not in _MODES:
            raise ValueError(f"ChannelAdapter mode must be one of {_MODES}, got {mode!r}")
        if in_channels <= 0 or out_channels <= 0:
            raise ValueError(
                f"ChannelAdapter needs positive channel counts, got {in_channels} -> {out_channels}"
            )
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.mode = mode
        self.conv: nn.Conv2d | None = None
        if mode == "always" or in_channels != out_channels:
            self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1)
            if in_channels == out_channels:
                with torch.no_grad():
                    self.conv.weight.copy_(
                        torch.eye(in_channels).view(in_channels, in_channels, 1, 1)
                    )
                    self.conv.bias.zero_()

    @property
    def is_identity(self) -> bool:
        """True when the adapter has no parameters and returns its input unchanged."""
        return self.conv is None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            if x.shape[1] != self.in_channels:
                raise ValueError(
                    f"ChannelAdapter expects {self.in_channels} input channels, got shape "
                    f"{tuple(x.shape)}"
                )
            return x if self.conv is None else self.conv(x)
        if x.dim() == 2:
            n, d = x.shape
            if d % self.in_channels != 0:
                raise ValueError(
                    f"ChannelAdapter got flattened features of width {d}, not a multiple of "
                    f"in_channels={self.in_channels}"
                )
            if self.conv is None:
                return x
            # (N, C*HW) channel-major -> (N, C, HW, 1): the 1x1 conv acts per spatial cell.
            y = self.conv(x.reshape(n, self.in_channels, d // self.in_channels, 1))
            return y.reshape(n, self.out_channels * (d // self.in_channels))
        raise ValueError(
            f"ChannelAdapter expects (N, C, H, W) or (N, C*H*W) input, got shape {tuple(x.shape)}"
        )

    def extra_repr(self) -> str:
        return f"{self.in_channels} -> {self.out_channels}, mode={self.mode}"
