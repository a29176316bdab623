"""The background pipeline: stages that derive index data and memories from what was written,
run by workers (a thread of Memory, ``engram worker`` processes, or ``Memory.flush``)."""
