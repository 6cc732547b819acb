"""A finished job's outputs, from its ComfyUI server into the host's files, exactly once.

Each output is stored under the file id derived from its place (``sink.output_file_id``),
in order, unless a previous owner of the job stored it already; then the files are
attached to the job's chat message. A process that stops or dies on the way leaves the
rest to the job's next owner, which stores the same ids.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from comfyui_pipe.comfy import Backend, ComfyError, OutputRef
from comfyui_pipe.comfy.errors import briefly_unavailable

from .errors import OutputNotStored, OutputRefused, TooManyOutputs
from .output_types import MAX_OUTPUTS_PER_JOB, checked
from .records import JobRecord
from .sink import OutputSink, StoredFile, output_file_id

logger = logging.getLogger(__name__)

OUTPUT_FETCH_PAUSES = (0.25, 0.5, 1.0, 2.0, 4.0)
"""Seconds before each new try to fetch an output from a briefly unavailable ComfyUI."""


def kept_outputs(outputs: Sequence[OutputRef]) -> list[OutputRef]:
    """The outputs a job keeps: its saved files, else (only previews) whatever it made;
    :class:`TooManyOutputs` past ``MAX_OUTPUTS_PER_JOB``."""
    kept = [ref for ref in outputs if ref.type == "output"] or list(outputs)
    if len(kept) > MAX_OUTPUTS_PER_JOB:
        raise TooManyOutputs(len(kept), MAX_OUTPUTS_PER_JOB)
    return kept


def output_file_ids(record: JobRecord, count: int) -> tuple[str, ...]:
    """The file ids of the job's first ``count`` outputs (see ``sink.output_file_id``)."""
    return tuple(output_file_id(record.id, record.prompt_id or "", i) for i in range(count))


class OutputStore:
    def __init__(self, sink: OutputSink, max_bytes: Callable[[], int]) -> None:
        """``max_bytes``: the bytes one output may have now (the admin's setting)."""
        self._sink = sink
        self._max_bytes = max_bytes

    async def store(
        self,
        record: JobRecord,
        server: Backend,
        outputs: Sequence[OutputRef],
        *,
        adopted: bool,
    ) -> list[StoredFile]:
        """Store ``outputs`` as ``record``'s files, under its claimed file ids, and attach
        them to its chat message. Only an ``adopted`` job's outputs may be stored
        already, by its earlier owner; if this process's own job was adopted meanwhile,
        storing an id again keeps the file stored first."""
        claimed = record.claimed_file_ids
        files = await self._sink.find(claimed) if adopted else {}
        for ref, file_id in zip(outputs, claimed, strict=True):
            if file_id not in files:
                files[file_id] = await self._store_one(server, record, ref, file_id)
        delivered = [files[file_id] for file_id in claimed]
        await self._sink.attach(record, delivered)
        return delivered

    async def stored(self, file_ids: Sequence[str]) -> list[StoredFile]:
        """Those of ``file_ids`` that are stored, in their order."""
        found = await self._sink.find(file_ids)
        return [found[file_id] for file_id in file_ids if file_id in found]

    async def stored_so_far(self, record: JobRecord) -> list[str]:
        """The file ids of the job's outputs stored so far (the first of its ids)."""
        stored: list[str] = []
        while record.prompt_id is not None:
            file_id = output_file_id(record.id, record.prompt_id, len(stored))
            if not await self._sink.find([file_id]):
                break
            stored.append(file_id)
        return stored

    async def discard(self, file_ids: list[str]) -> None:
        """Delete those of ``file_ids`` that are stored."""
        await self._sink.discard(file_ids)

    async def _store_one(
        self, server: Backend, record: JobRecord, ref: OutputRef, file_id: str
    ) -> StoredFile:
        """One output from ComfyUI into the sink, named and typed by its bytes (see
        ``output_types``: a file of another kind, or too large, raises
        ``OutputRefused``); fetched again after a pause while ComfyUI is briefly
        unavailable (no answer, or a 502/503 from a proxy)."""
        pauses = iter(OUTPUT_FETCH_PAUSES)
        while True:
            try:
                async with server.stream_output(ref) as chunks:
                    kept, within = await checked(ref, chunks, self._max_bytes())
                    return await self._sink.save(record, kept, within, dict(record.params), file_id)
            except ComfyError as error:
                pause = next(pauses, None)
                if pause is None or not briefly_unavailable(error):
                    raise
                logger.info("fetching %s again in %g s: %s", ref.filename, pause, error)
                await asyncio.sleep(pause)
            except (OutputNotStored, OutputRefused):
                raise
            except Exception as error:
                logger.exception("storing %s of generation %s", ref.filename, record.id)
                reason = str(error) or type(error).__name__
                raise OutputNotStored(ref.filename, reason) from error
