"""What loading and publishing can raise."""

from __future__ import annotations

from bsg_campaigns.exceptions import RunFailed


class PublishFailed(RunFailed):
    """The loads are committed in the working copy but could not be published (disk full, ...)."""
