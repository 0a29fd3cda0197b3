"""Read resource use out of an AMDGPU HSA code object (an ELF), in pure Python.

What is read, and where it is specified (LLVM's AMDGPUUsage document,
https://llvm.org/docs/AMDGPUUsage.html):

* the ELF header: ``e_machine == EM_AMDGPU (224)``, the processor in the low
  byte of ``e_flags`` (``EF_AMDGPU_MACH``; section "ELF Header");
* the code object metadata: an ``SHT_NOTE`` entry named ``"AMDGPU"`` of type
  ``NT_AMDGPU_METADATA (32)`` whose payload is a MessagePack map with
  ``amdhsa.target`` and ``amdhsa.kernels`` (section "Code Object V3 and Above
  Metadata").  Per kernel it gives ``.vgpr_count``, ``.sgpr_count``,
  ``.agpr_count``, ``.group_segment_fixed_size`` (static LDS bytes),
  ``.private_segment_fixed_size`` (scratch bytes per work-item),
  ``.wavefront_size``, ``.max_flat_workgroup_size``, ``.vgpr_spill_count``,
  ``.sgpr_spill_count``.  On gfx90a and later ``.vgpr_count`` is the unified
  count (ArchVGPRs aligned to 4 plus AGPRs) that occupancy is computed from;
* the 64-byte kernel descriptor each kernel has as symbol ``<name>.kd``
  (section "Kernel Descriptor"): its own copies of the LDS and scratch sizes
  and ``COMPUTE_PGM_RSRC1.GRANULATED_WORKITEM_VGPR_COUNT`` -- the VGPR blocks
  the hardware really allocates ((n + 1) * 8 registers on gfx90a/gfx942/gfx950).

Contract: :func:`read_code_object` takes the ELF bytes and returns a
:class:`CodeObject`, or raises :class:`CodeObjectError` naming what is wrong
(not an ELF, not AMDGPU, no metadata note, a malformed note).  Nothing here
imports FlyDSL; MessagePack is decoded by :func:`unpackb` (no dependency).
"""
from __future__ import annotations

import dataclasses
import struct
from typing import Any, Optional

EM_AMDGPU = 224
NT_AMDGPU_METADATA = 32
SHT_SYMTAB = 2
SHT_NOTE = 7
SHT_DYNSYM = 11

# EF_AMDGPU_MACH values for the processors this suite targets (AMDGPUUsage,
# table "AMDGPU ELF Header e_flags"); others are reported as hex.
EF_AMDGPU_MACH = {0x03F: "gfx90a", 0x04C: "gfx942", 0x04F: "gfx950"}
EF_AMDGPU_MACH_MASK = 0x0FF


class CodeObjectError(ValueError):
    """The bytes are not a readable AMDGPU code object."""


# --------------------------------------------------------------------------
# MessagePack (https://github.com/msgpack/msgpack/blob/master/spec.md), decode only
# --------------------------------------------------------------------------

def unpackb(data: bytes) -> Any:
    """Decode one MessagePack value that fills ``data`` exactly.

    Maps become dicts (str/bytes keys as decoded), arrays lists, bin bytes.
    Extension types are refused (the AMDGPU metadata uses none).
    """
    value, end = _unpack(memoryview(data), 0)
    if end != len(data):
        raise CodeObjectError(f"msgpack: {len(data) - end} trailing bytes")
    return value


def _take(buf: memoryview, pos: int, n: int) -> bytes:
    if pos + n > len(buf):
        raise CodeObjectError("msgpack: truncated")
    return bytes(buf[pos:pos + n])


def _unpack(buf: memoryview, pos: int):
    if pos >= len(buf):
        raise CodeObjectError("msgpack: truncated")
    b = buf[pos]
    pos += 1
    if b <= 0x7F:
        return b, pos
    if b >= 0xE0:
        return b - 0x100, pos
    if 0x80 <= b <= 0x8F:
        return _unpack_map(buf, pos, b & 0x0F)
    if 0x90 <= b <= 0x9F:
        return _unpack_array(buf, pos, b & 0x0F)
    if 0xA0 <= b <= 0xBF:
        n = b & 0x1F
        return _take(buf, pos, n).decode("utf-8"), pos + n
    if b == 0xC0:
        return None, pos
    if b == 0xC2:
        return False, pos
    if b == 0xC3:
        return True, pos
    fixed = {
        0xCA: ">f", 0xCB: ">d",
        0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q",
        0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q",
    }
    if b in fixed:
        fmt = fixed[b]
        size = struct.calcsize(fmt)
        return struct.unpack(fmt, _take(buf, pos, size))[0], pos + size
    lengths = {0xC4: ">B", 0xC5: ">H", 0xC6: ">I", 0xD9: ">B", 0xDA: ">H", 0xDB: ">I",
               0xDC: ">H", 0xDD: ">I", 0xDE: ">H", 0xDF: ">I"}
    if b in lengths:
        fmt = lengths[b]
        size = struct.calcsize(fmt)
        n = struct.unpack(fmt, _take(buf, pos, size))[0]
        pos += size
        if b in (0xC4, 0xC5, 0xC6):
            return _take(buf, pos, n), pos + n
        if b in (0xD9, 0xDA, 0xDB):
            return _take(buf, pos, n).decode("utf-8"), pos + n
        if b in (0xDC, 0xDD):
            return _unpack_array(buf, pos, n)
        return _unpack_map(buf, pos, n)
    raise CodeObjectError(f"msgpack: unsupported type byte 0x{b:02x} at offset {pos - 1}")


def _unpack_array(buf: memoryview, pos: int, n: int):
    out = []
    for _ in range(n):
        v, pos = _unpack(buf, pos)
        out.append(v)
    return out, pos


def _unpack_map(buf: memoryview, pos: int, n: int):
    out = {}
    for _ in range(n):
        k, pos = _unpack(buf, pos)
        v, pos = _unpack(buf, pos)
        out[k] = v
    return out, pos


# --------------------------------------------------------------------------
# ELF64 little-endian
# --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class _Section:
    name: str
    type: int
    addr: int
    offset: int
    size: int
    link: int
    entsize: int


def _sections(elf: bytes) -> list[_Section]:
    if len(elf) < 64 or elf[:4] != b"\x7fELF":
        raise CodeObjectError("not an ELF file")
    if elf[4] != 2 or elf[5] != 1:
        raise CodeObjectError("not a 64-bit little-endian ELF")
    (e_machine,) = struct.unpack_from("<H", elf, 18)
    if e_machine != EM_AMDGPU:
        raise CodeObjectError(f"ELF e_machine={e_machine}, not EM_AMDGPU ({EM_AMDGPU})")
    (e_shoff,) = struct.unpack_from("<Q", elf, 0x28)
    e_shentsize, e_shnum, e_shstrndx = struct.unpack_from("<HHH", elf, 0x3A)
    if e_shoff == 0 or e_shnum == 0 or e_shoff + e_shnum * e_shentsize > len(elf):
        raise CodeObjectError("ELF has no (readable) section header table")
    raw = []
    for i in range(e_shnum):
        off = e_shoff + i * e_shentsize
        name, typ, _flags, addr, offset, size, link, _info, _align, entsize = struct.unpack_from(
            "<IIQQQQIIQQ", elf, off
        )
        raw.append((name, typ, addr, offset, size, link, entsize))
    strtab = raw[e_shstrndx]
    names = elf[strtab[3]:strtab[3] + strtab[4]]

    def cstr(table: bytes, i: int) -> str:
        end = table.find(b"\0", i)
        return table[i:end if end >= 0 else len(table)].decode("ascii", "replace")

    return [_Section(cstr(names, n), t, a, o, s, l, e) for n, t, a, o, s, l, e in raw]


def _notes(elf: bytes, sec: _Section):
    """Yield (name, type, desc) of each note in an SHT_NOTE section (4-byte aligned)."""
    pos, end = sec.offset, sec.offset + sec.size
    while pos + 12 <= end:
        namesz, descsz, ntype = struct.unpack_from("<III", elf, pos)
        pos += 12
        name = elf[pos:pos + namesz].rstrip(b"\0").decode("ascii", "replace")
        pos += (namesz + 3) & ~3
        desc = elf[pos:pos + descsz]
        pos += (descsz + 3) & ~3
        yield name, ntype, desc


def _symbols(elf: bytes, sections: list[_Section]) -> dict[str, tuple[int, int]]:
    """name -> (value, size) from .symtab (or .dynsym)."""
    out: dict[str, tuple[int, int]] = {}
    for sec in sections:
        if sec.type not in (SHT_SYMTAB, SHT_DYNSYM) or sec.entsize == 0:
            continue
        strsec = sections[sec.link]
        strtab = elf[strsec.offset:strsec.offset + strsec.size]
        for i in range(sec.size // sec.entsize):
            st_name, _info, _other, _shndx, value, size = struct.unpack_from(
                "<IBBHQQ", elf, sec.offset + i * sec.entsize
            )
            end = strtab.find(b"\0", st_name)
            name = strtab[st_name:end].decode("ascii", "replace")
            if name:
                out.setdefault(name, (value, size))
    return out


def _file_offset(sections: list[_Section], vaddr: int, size: int) -> Optional[int]:
    for sec in sections:
        if sec.addr and sec.addr <= vaddr and vaddr + size <= sec.addr + sec.size and sec.type != 8:
            return sec.offset + (vaddr - sec.addr)
    return None


# --------------------------------------------------------------------------
# Kernel descriptor (AMDGPUUsage "Kernel Descriptor for GFX6-GFX12")
# --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class KernelDescriptor:
    """The fields of the 64-byte ``.kd`` this suite uses."""

    group_segment_fixed_size: int
    private_segment_fixed_size: int
    kernarg_size: int
    compute_pgm_rsrc1: int
    compute_pgm_rsrc2: int
    compute_pgm_rsrc3: int

    @property
    def granulated_vgpr_count(self) -> int:
        """COMPUTE_PGM_RSRC1 bits 5:0 (VGPR blocks minus one)."""
        return self.compute_pgm_rsrc1 & 0x3F

    def vgpr_alloc(self, granule: int) -> int:
        """Registers allocated per lane: (GRANULATED_WORKITEM_VGPR_COUNT + 1) * granule."""
        return (self.granulated_vgpr_count + 1) * granule


def parse_kernel_descriptor(raw: bytes) -> KernelDescriptor:
    if len(raw) < 64:
        raise CodeObjectError(f"kernel descriptor is {len(raw)} bytes, want 64")
    group, private, kernarg = struct.unpack_from("<III", raw, 0)
    rsrc3, rsrc1, rsrc2 = struct.unpack_from("<III", raw, 44)
    return KernelDescriptor(group, private, kernarg, rsrc1, rsrc2, rsrc3)


# --------------------------------------------------------------------------
# Public result
# --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class KernelResources:
    """One kernel's resource use as the code object states it."""

    name: str
    vgpr_count: int
    sgpr_count: int
    agpr_count: int
    lds_bytes: int  # .group_segment_fixed_size (static LDS; dynamic LDS comes from the launch)
    scratch_bytes: int  # .private_segment_fixed_size, per work-item
    wavefront_size: int
    max_flat_workgroup_size: int
    vgpr_spill_count: int
    sgpr_spill_count: int
    reqd_workgroup_size: Optional[tuple[int, int, int]] = None
    descriptor: Optional[KernelDescriptor] = None

    @classmethod
    def from_metadata(cls, md: dict, descriptor: Optional[KernelDescriptor] = None) -> "KernelResources":
        """Build from one ``amdhsa.kernels`` entry; required keys missing -> CodeObjectError."""
        def need(key):
            if key not in md:
                raise CodeObjectError(f"kernel metadata lacks {key} (has {sorted(md)})")
            return int(md[key])

        reqd = md.get(".reqd_workgroup_size")
        return cls(
            name=str(md.get(".name", "?")),
            vgpr_count=need(".vgpr_count"),
            sgpr_count=need(".sgpr_count"),
            agpr_count=int(md.get(".agpr_count", 0)),
            lds_bytes=need(".group_segment_fixed_size"),
            scratch_bytes=need(".private_segment_fixed_size"),
            wavefront_size=need(".wavefront_size"),
            max_flat_workgroup_size=need(".max_flat_workgroup_size"),
            vgpr_spill_count=int(md.get(".vgpr_spill_count", 0)),
            sgpr_spill_count=int(md.get(".sgpr_spill_count", 0)),
            reqd_workgroup_size=tuple(int(x) for x in reqd) if reqd else None,
            descriptor=descriptor,
        )


@dataclasses.dataclass(frozen=True)
class CodeObject:
    arch: str  # from e_flags, e.g. "gfx942"
    target: str  # amdhsa.target, e.g. "amdgcn-amd-amdhsa--gfx942"
    kernels: tuple[KernelResources, ...]
    metadata: dict  # the whole decoded note

    def kernel(self, name: str) -> KernelResources:
        for k in self.kernels:
            if k.name == name:
                return k
        raise KeyError(f"no kernel {name!r} in code object; has {[k.name for k in self.kernels]}")


def read_metadata(elf: bytes) -> dict:
    """The decoded NT_AMDGPU_METADATA note of ``elf``."""
    sections = _sections(elf)
    for sec in sections:
        if sec.type != SHT_NOTE:
            continue
        for name, ntype, desc in _notes(elf, sec):
            if name == "AMDGPU" and ntype == NT_AMDGPU_METADATA:
                md = unpackb(desc)
                if not isinstance(md, dict) or "amdhsa.kernels" not in md:
                    raise CodeObjectError("AMDGPU metadata note has no amdhsa.kernels")
                return md
    raise CodeObjectError("no AMDGPU metadata note (NT_AMDGPU_METADATA) in the ELF")


def read_code_object(elf: bytes) -> CodeObject:
    """Parse ``elf`` (an HSA code object) into a :class:`CodeObject`."""
    sections = _sections(elf)
    (e_flags,) = struct.unpack_from("<I", elf, 0x30)
    mach = e_flags & EF_AMDGPU_MACH_MASK
    arch = EF_AMDGPU_MACH.get(mach, f"mach-0x{mach:03x}")
    md = read_metadata(elf)
    symbols = _symbols(elf, sections)
    kernels = []
    for entry in md["amdhsa.kernels"]:
        descriptor = None
        sym = entry.get(".symbol") or f"{entry.get('.name')}.kd"
        if sym in symbols:
            value, size = symbols[sym]
            off = _file_offset(sections, value, 64)
            if off is not None:
                descriptor = parse_kernel_descriptor(elf[off:off + 64])
        kernels.append(KernelResources.from_metadata(entry, descriptor))
    return CodeObject(arch=arch, target=str(md.get("amdhsa.target", "")), kernels=tuple(kernels), metadata=md)
