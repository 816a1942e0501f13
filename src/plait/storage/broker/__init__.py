"""Run event fan-out: a run's events, for any request that reconnects to it while it runs.
One interface; in-process by default (Redis pub/sub joins it for the scaled-out shape, so a
client on any API replica can follow a run on any worker)."""

from plait.storage.broker.base import RunBroker, RunChannelInfo
from plait.storage.broker.memory import MemoryRunBroker

__all__ = ["MemoryRunBroker", "RunBroker", "RunChannelInfo"]
