#!/usr/bin/python3
"""sslt.py: read ssl-tools tensor streams (man ssl-tensor(5)) from Python.

Only numpy, msgpack and zstandard are needed. A stream is a sequence of
zstd frames, each holding one msgpack map (a record); records form sections
(header, chunks, end). read_stream() yields one dict per section:

    {"kind": str, "meta": dict, "tensors": {name: numpy array}}

after checking the section's end record: per-tensor row counts, CRC-32 of
each tensor's bytes (zlib.crc32) and the number of chunks. Damage and
truncation raise SsltError("NAME: record N: problem"). Input is read in
order, never seeked, so pipes work:

    import sslt
    for sec in sslt.read_stream("train.sslt"):
        print(sec["kind"], sec["tensors"]["images"].shape)

As a program, `python3 sslt.py FILE...` ("-" for stdin) prints a summary
of each section and exits 1 on a damaged stream.
"""
import sys
import zlib

import msgpack
import numpy as np
import zstandard

MAGIC = "sslt"
VERSION = 1
MAX_DIMS = 8
MAX_TENSORS = 65536
MAX_RECORD_BYTES = 256 << 20
MAX_TENSOR_BYTES = 1 << 40
DTYPES = {"u8": "<u1", "i32": "<i4", "i64": "<i8", "f32": "<f4", "f64": "<f8"}
_ZMAGIC = b"\x28\xb5\x2f\xfd"
_BLOCK = 1 << 20


class SsltError(Exception):
    """A damaged, truncated or malformed stream."""


def _records(f, name):
    """Yield (number, record dict) for each zstd frame of the file object f."""
    buf = b""
    eof = False
    n = 0

    def err(msg):
        return SsltError("%s: record %d: %s" % (name, n, msg))

    while True:
        while len(buf) < 18 and not eof:
            more = f.read(_BLOCK)
            eof = not more
            buf += more
        if not buf:
            return
        n += 1
        if buf[:4] != _ZMAGIC[:len(buf[:4])]:
            raise err("not a tensor stream (not zstd data)" if n == 1
                      else "trailing garbage after the last record")
        try:
            params = zstandard.get_frame_parameters(buf[:18])
        except zstandard.ZstdError:
            if eof and len(buf) < 18:
                raise err("truncated (stream ends inside a zstd frame)")
            raise err("bad zstd frame header")
        size = params.content_size
        if size == zstandard.CONTENTSIZE_UNKNOWN:
            raise err("zstd frame without a content size")
        if size > MAX_RECORD_BYTES:
            raise err("record too large (%d bytes, the limit is %d)" % (size, MAX_RECORD_BYTES))
        d = zstandard.ZstdDecompressor().decompressobj()
        out = []
        data = buf
        while True:
            try:
                out.append(d.decompress(data))
            except zstandard.ZstdError as e:
                raise err("damaged zstd frame: %s" % e)
            if d.eof:
                buf = d.unused_data
                break
            data = f.read(_BLOCK)
            if not data:
                raise err("truncated (stream ends inside a zstd frame)")
        content = b"".join(out)
        if len(content) != size:
            raise err("damaged zstd frame: content size mismatch")
        try:
            rec = msgpack.unpackb(content, raw=False, strict_map_key=False)
        except Exception as e:  # msgpack raises several types
            raise err("not a valid msgpack record (%s)" % e.__class__.__name__)
        if not isinstance(rec, dict):
            raise err("record is not a map")
        if rec.get("magic") != MAGIC:
            raise err("bad magic (not sslt)")
        if rec.get("version") != VERSION:
            raise err("unsupported version %r (this reader knows %d)" % (rec.get("version"), VERSION))
        if rec.get("type") not in ("header", "chunk", "end"):
            raise err("unknown record type")
        yield n, rec, err


def _int(rec, key, err):
    v = rec.get(key)
    if type(v) is not int or v < 0:
        raise err("field '%s' is not a non-negative integer" % key)
    return v


def _header(rec, err):
    kind, meta, tens = rec.get("kind"), rec.get("meta"), rec.get("tensors")
    if not isinstance(kind, str):
        raise err("header: 'kind' is not a string")
    if not isinstance(meta, dict):
        raise err("header: 'meta' is not a map")
    if not isinstance(tens, list) or len(tens) > MAX_TENSORS:
        raise err("header: 'tensors' is not an array")
    names, arrays = [], []
    for i, t in enumerate(tens):
        if not isinstance(t, dict) or not isinstance(t.get("name"), str) or not t["name"]:
            raise err("header: tensor %d: 'name' is not a string" % i)
        name, dt, shape = t["name"], t.get("dtype"), t.get("shape")
        if dt not in DTYPES:
            raise err("header: tensor %s: bad dtype" % name)
        if not isinstance(shape, list) or len(shape) > MAX_DIMS or \
                any(type(s) is not int or s < 0 for s in shape):
            raise err("header: tensor %s: bad shape" % name)
        nbytes = np.dtype(DTYPES[dt]).itemsize
        for s in shape:
            nbytes *= s
        if nbytes > MAX_TENSOR_BYTES:
            raise err("header: tensor %s: declared size exceeds %d bytes" % (name, MAX_TENSOR_BYTES))
        if name in names:
            raise err("header: duplicate tensor name %s" % name)
        names.append(name)
        arrays.append(np.empty(shape, dtype=DTYPES[dt]))
    return kind, meta, names, arrays


def read_stream(src):
    """Yield the sections of a stream: src is a path ("-" is stdin) or a
    binary file object. Raises SsltError on any damage."""
    if hasattr(src, "read"):
        return _sections(src, getattr(src, "name", "<stream>"))
    if src == "-":
        return _sections(sys.stdin.buffer, "<stdin>")
    return _read_path(src)


def _read_path(path):
    with open(path, "rb") as f:
        yield from _sections(f, str(path))


def _sections(f, name):
    sec = None
    n = 0
    for n, rec, err in _records(f, name):
        typ = rec["type"]
        if sec is None:
            if typ != "header":
                raise err("%s record where a section header was expected" % typ)
            kind, meta, names, arrays = _header(rec, err)
            flat = [a.reshape(-1).view(np.uint8) for a in arrays]
            rows = [0] * len(arrays)
            crcs = [0] * len(arrays)
            sec = dict(kind=kind, meta=meta, names=names, arrays=arrays)
            nchunks = 0
        elif typ == "header":
            raise err("header inside a section (the previous one has no end record)")
        elif typ == "chunk":
            t, row, nr = _int(rec, "tensor", err), _int(rec, "row", err), _int(rec, "rows", err)
            if t >= len(arrays):
                raise err("chunk of unknown tensor %d" % t)
            a = arrays[t]
            total = a.shape[0] if a.ndim else 1
            if row != rows[t]:
                raise err("chunk of %s starts at row %d, expected %d" % (names[t], row, rows[t]))
            if nr < 1 or row + nr > total:
                raise err("chunk of %s has %d rows at row %d, the tensor has %d" % (names[t], nr, row, total))
            data = rec.get("data")
            if not isinstance(data, bytes):
                raise err("chunk: 'data' is not bin")
            rb = a.itemsize * (int(np.prod(a.shape[1:])) if a.ndim else 1)
            if len(data) != nr * rb:
                raise err("chunk of %s: %d data bytes for %d rows, expected %d" % (names[t], len(data), nr, nr * rb))
            flat[t][row * rb:(row + nr) * rb] = np.frombuffer(data, dtype=np.uint8)
            crcs[t] = zlib.crc32(data, crcs[t])
            rows[t] += nr
            nchunks += 1
        else:
            er, ec = rec.get("rows"), rec.get("crc32")
            if not isinstance(er, list) or len(er) != len(arrays):
                raise err("end: 'rows' is not an array of %d counts" % len(arrays))
            if not isinstance(ec, list) or len(ec) != len(arrays):
                raise err("end: 'crc32' is not an array of %d checksums" % len(arrays))
            for i, a in enumerate(arrays):
                total = a.shape[0] if a.ndim else 1
                if rows[i] != total:
                    raise err("tensor %s is incomplete: %d of %d rows" % (names[i], rows[i], total))
                if er[i] != rows[i]:
                    raise err("end: tensor %s: %r rows recorded, %d read" % (names[i], er[i], rows[i]))
                if ec[i] != crcs[i]:
                    raise err("tensor %s: CRC-32 mismatch (data damaged)" % names[i])
            if _int(rec, "chunks", err) != nchunks:
                raise err("end: %d chunks recorded, %d read" % (rec["chunks"], nchunks))
            yield {"kind": sec["kind"], "meta": sec["meta"],
                   "tensors": dict(zip(sec["names"], sec["arrays"]))}
            sec = None
    if sec is not None:
        raise SsltError("%s: record %d: truncated (stream ends before the section's end record)"
                        % (name, n + 1))
    if n == 0:
        raise SsltError("%s: empty stream" % name)


def _short(v, limit=100):
    s = repr(v)
    if isinstance(v, list) and len(v) > 8:
        s = "[%s, ..., %r] (%d items)" % (", ".join(repr(x) for x in v[:4]), v[-1], len(v))
    return s if len(s) <= limit else s[:limit - 4] + " ..."


def main(argv):
    if len(argv) > 1 and argv[1] in ("-h", "--help"):
        print("usage: sslt.py [FILE...]  (stdin when none or '-')")
        return 0
    status = 0
    for path in argv[1:] or ["-"]:
        try:
            secs = list(read_stream(path))
        except (SsltError, OSError) as e:
            print("sslt.py: %s" % e, file=sys.stderr)
            status = 1
            continue
        print("%s: %d section%s" % (path, len(secs), "" if len(secs) == 1 else "s"))
        for i, s in enumerate(secs):
            print("section %d: kind %s" % (i + 1, s["kind"]))
            for k, v in s["meta"].items():
                print("  meta %s: %s" % (k, _short(v)))
            for k, a in s["tensors"].items():
                rng = " min %g max %g" % (a.min(), a.max()) if a.size else ""
                print("  tensor %-16s %-4s %-20s%s" % (k, a.dtype.str[1:], list(a.shape), rng))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
