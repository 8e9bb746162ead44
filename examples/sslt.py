#!/usr/bin/python3
"""sslt.py: read and write ssl-tools tensor streams (man ssl-tensor(5)) from Python.

Only numpy, msgpack and zstandard are needed. A stream is a sequence of
zstd frames, each holding one msgpack map (a record); records form sections
(header, chunks, end). read_stream() yields one dict per section:

    {"kind": str, "meta": dict, "tensors": {name: numpy array}}

(a bf16 tensor, as a checkpoint's bank with --bank-dtype bf16, comes as
float32: numpy has no bfloat16, and every bf16 value is one exactly)

after checking the section's end record: per-tensor row counts, CRC-32 of
each tensor's bytes (zlib.crc32) and the number of chunks. Damage and
truncation raise SsltError("NAME: record N: problem"). Input is read in
order, never seeked, so pipes work:

    import sslt
    for sec in sslt.read_stream("train.sslt"):
        print(sec["kind"], sec["tensors"]["images"].shape)
    ds = sslt.load("train.sslt")                  # the first section

Writing: save() writes one section of any kind, save_dataset() a dataset
stream that every ssl-* tool reads, from a numpy array of uint8 images:
[N, H, W] (one channel), [N, H, W, C] or [N, C, H, W] (C from 1 to 4;
layout="NHWC" or "NCHW" says which, and is needed only when both readings
are possible, e.g. [N, 3, 4, 3]), with optional integer labels [N] and
class names. The file is written under a temporary name and renamed into
place, so a failed write leaves nothing under the real name:

    sslt.save_dataset("mine.sslt", images, labels, classes=["cat", "dog"])

As a program:
    python3 sslt.py [FILE...]              a summary of each stream ("-": stdin)
    python3 sslt.py --npz OUT.npz FILE     one section's tensors as a .npz (and its
                                           metadata as JSON under "__meta__")
exit status 1 on a damaged stream, 2 on a usage error.
"""
import argparse
import itertools
import json
import os
import sys
import tempfile
import zlib

np = msgpack = zstandard = None     # imported by _import_deps (after argument parsing)


def _import_deps():
    global np, msgpack, zstandard
    import msgpack
    import numpy as np
    import zstandard

MAGIC = "sslt"
VERSION = 1
MAX_DIMS = 8
MAX_TENSORS = 65536
MAX_RECORD_BYTES = 256 << 20
MAX_TENSOR_BYTES = 1 << 40
DTYPES = {"u8": "<u1", "i32": "<i4", "i64": "<i8", "f32": "<f4", "f64": "<f8",
          "bf16": "<u2"}      # bfloat16: read as uint16, returned as float32 (exact)
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


def _bf16(a):
    """A bf16 tensor's uint16 words as the float32 values they are the high halves of."""
    return (a.astype("<u4") << 16).view("<f4")


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
            dtypes = [t.get("dtype") for t in rec["tensors"]]
            flat = [a.reshape(-1).view(np.uint8) for a in arrays]
            rows = [0] * len(arrays)
            crcs = [0] * len(arrays)
            sec = dict(kind=kind, meta=meta, names=names, arrays=arrays, dtypes=dtypes)
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
                   "tensors": dict(zip(sec["names"], (_bf16(a) if d == "bf16" else a
                                                      for a, d in zip(sec["arrays"], sec["dtypes"]))))}
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


_WRITE_CHUNK = 4 << 20      # bytes per chunk record, as the C writer
_NP_DTYPES = {"|u1": "u8", "<i4": "i32", "<i8": "i64", "<f4": "f32", "<f8": "f64"}


def _record(typ, **fields):
    rec = {"magic": MAGIC, "version": VERSION, "type": typ}
    rec.update(fields)
    return rec


def _plain(v):
    """Metadata as msgpack can hold it: numpy scalars and arrays become
    Python numbers and lists; map keys must be strings."""
    if isinstance(v, dict):
        for k in v:
            if not isinstance(k, str):
                raise ValueError("metadata keys must be strings, not %r" % (k,))
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, np.ndarray):
        return _plain(v.tolist())
    if isinstance(v, np.generic):
        return v.item()
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    raise ValueError("metadata value %r cannot be stored" % (v,))


def _section_records(kind, meta, tensors):
    """The records of one section (bytes of msgpack), chunks of tensors of
    the same row count interleaved so that a reader holds about one chunk
    of each at a time."""
    names, arrays = [], []
    for name, a in tensors.items():
        if not isinstance(name, str) or not name:
            raise ValueError("tensor names must be non-empty strings")
        a = np.asarray(a)
        dt = _NP_DTYPES.get(a.dtype.newbyteorder("<").str if a.dtype.byteorder == ">" else a.dtype.str)
        if dt is None:
            raise ValueError("tensor %s: dtype %s is not one of uint8, int32, int64, float32, "
                             "float64" % (name, a.dtype))
        if a.ndim > MAX_DIMS:
            raise ValueError("tensor %s: %d dimensions (at most %d)" % (name, a.ndim, MAX_DIMS))
        names.append(name)
        # (np.ascontiguousarray would make a scalar 1-d.)
        arrays.append((dt, np.array(a, dtype=a.dtype.newbyteorder("<"), order="C", copy=False)))
    pack = lambda r: msgpack.packb(r, use_bin_type=True)  # noqa: E731
    yield pack(_record("header", kind=kind, meta=_plain(meta or {}),
                       tensors=[{"name": n, "dtype": dt, "shape": list(a.shape)}
                                for n, (dt, a) in zip(names, arrays)]))
    rows = [a.shape[0] if a.ndim else 1 for _, a in arrays]
    flat = [a.reshape(-1).view(np.uint8) for _, a in arrays]
    rb = [len(f) // r if r else 0 for f, r in zip(flat, rows)]
    step = [max(1, _WRITE_CHUNK // b) if b else max(r, 1) for b, r in zip(rb, rows)]
    # Tensors of the same row count go in the same row blocks.
    step = [min(step[j] for j in range(len(rows)) if rows[j] == rows[i]) for i in range(len(rows))]
    done = [0] * len(arrays)
    crcs = [0] * len(arrays)
    nchunks = 0
    while True:
        # The tensor furthest behind (as a fraction of its rows) goes next.
        todo = [i for i in range(len(arrays)) if done[i] < rows[i]]
        if not todo:
            break
        i = min(todo, key=lambda j: (done[j] / rows[j], j))
        r0, r1 = done[i], min(rows[i], done[i] + step[i])
        data = flat[i][r0 * rb[i]:r1 * rb[i]].tobytes()
        crcs[i] = zlib.crc32(data, crcs[i])
        yield pack(_record("chunk", tensor=i, row=r0, rows=r1 - r0, data=data))
        done[i] = r1
        nchunks += 1
    yield pack(_record("end", rows=rows, crc32=crcs, chunks=nchunks))


def _open_out(dest):
    """(file object, commit, abort) for a path ("-": stdout) or a binary
    file object. A path that is a regular file or new is written under a
    temporary name in its folder and renamed into place by commit."""
    if hasattr(dest, "write"):
        return dest, dest.flush, lambda: None
    if dest == "-":
        return sys.stdout.buffer, sys.stdout.buffer.flush, lambda: None
    dest = os.fspath(dest)
    if os.path.exists(dest) and not os.path.isfile(dest):
        f = open(dest, "wb")
        return f, f.close, f.close
    d = os.path.dirname(dest) or "."
    fd, tmp = tempfile.mkstemp(dir=d, prefix=os.path.basename(dest) + ".tmp.")
    f = os.fdopen(fd, "wb")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)

    def commit():
        f.flush()
        os.fsync(f.fileno())
        f.close()
        os.replace(tmp, dest)

    def abort():
        f.close()
        os.unlink(tmp)
    return f, commit, abort


def write_stream(dest, sections, level=3):
    """Write sections (dicts {"kind", "meta", "tensors"}, as read_stream
    yields) as one stream to dest: a path ("-": stdout) or a binary file
    object. level: zstd level, 1 to 19."""
    _import_deps()
    if not 1 <= level <= 19:
        raise ValueError("zstd level %r out of range [1, 19]" % (level,))
    cctx = zstandard.ZstdCompressor(level=level, write_content_size=True, write_checksum=True)
    # Build the first records before creating the file: bad input raises
    # before anything is written.
    gens = [_section_records(s["kind"], s.get("meta"), s["tensors"]) for s in sections]
    firsts = [next(g) for g in gens]
    f, commit, abort = _open_out(dest)
    try:
        for first, g in zip(firsts, gens):
            for rec in itertools.chain([first], g):
                if len(rec) > MAX_RECORD_BYTES:
                    raise ValueError("record of %d bytes exceeds the limit" % len(rec))
                f.write(cctx.compress(rec))
        commit()
    except BaseException:
        abort()
        raise


def save(dest, tensors, kind="dataset", meta=None, level=3):
    """Write one section: tensors {name: array} (uint8, int32, int64,
    float32 or float64, in that order), kind and meta (a dict of numbers,
    strings, lists and dicts)."""
    write_stream(dest, [{"kind": kind, "meta": meta or {}, "tensors": tensors}], level)


def dataset_meta(images, classes, source="sslt.py", split="train"):
    """The metadata ssl-prep writes: class names, and the mean and
    (population) standard deviation of each channel's pixels scaled to
    [0, 1] (from 256-bin histograms, as ssl-prep computes them)."""
    mean, std = [], []
    v = np.arange(256) / 255.0
    for c in range(images.shape[1]):
        h = np.bincount(images[:, c].reshape(-1), minlength=256).astype(np.float64)
        cnt = h.sum()
        m = float((h * v).sum() / cnt) if cnt else 0.0
        mean.append(m)
        std.append(float(np.sqrt((h * (v - m) ** 2).sum() / cnt)) if cnt else 0.0)
    return {"classes": list(classes), "mean": mean, "std": std, "source": source,
            "format": "numpy", "split": split}


def as_nchw(images, layout=None):
    """uint8 images [N, H, W], [N, H, W, C] or [N, C, H, W] as [N, C, H, W]
    (C from 1 to 4). layout: "NHWC", "NCHW", or None to decide from the
    shape, which must then be unambiguous."""
    a = np.asarray(images)
    if a.dtype != np.uint8:
        raise ValueError("images must be uint8, not %s" % a.dtype)
    if a.ndim == 3 and layout is None:
        return a[:, None]
    if a.ndim != 4:
        raise ValueError("images must be [N, H, W], [N, H, W, C] or [N, C, H, W], not %s"
                         % (list(a.shape),))
    if layout is None:
        hwc, chw = 1 <= a.shape[3] <= 4, 1 <= a.shape[1] <= 4
        if hwc and chw:
            raise ValueError("images %s could be NHWC or NCHW: say layout='NHWC' or 'NCHW'"
                             % (list(a.shape),))
        if not hwc and not chw:
            raise ValueError("images %s have no axis of 1 to 4 channels" % (list(a.shape),))
        layout = "NHWC" if hwc else "NCHW"
    if layout == "NHWC":
        a = a.transpose(0, 3, 1, 2)
    elif layout != "NCHW":
        raise ValueError("layout must be 'NHWC' or 'NCHW', not %r" % (layout,))
    if not 1 <= a.shape[1] <= 4:
        raise ValueError("%d channels (1 to 4)" % a.shape[1])
    return np.ascontiguousarray(a)


def save_dataset(dest, images, labels=None, classes=None, layout=None, meta=None, level=3):
    """Write a dataset stream (kind "dataset": images u8 [N, C, H, W],
    labels i32 [N]) that ssl-info, ssl-init-bank, ssl-train, ssl-extract
    and ssl-knn read. images: see as_nchw. labels: integers in
    [0, len(classes)); without labels every image gets label 0 of the one
    class "unlabelled". classes: names (default "0", "1", ... up to the
    largest label). meta: extra metadata merged over the computed one."""
    _import_deps()
    x = as_nchw(images, layout)
    n = x.shape[0]
    if labels is None:
        y = np.zeros(n, np.int32)
        classes = ["unlabelled"] if classes is None else classes
    else:
        y = np.asarray(labels)
        if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
            raise ValueError("labels must be %d integers, not %s %s" % (n, y.dtype, list(y.shape)))
        if n and (y.min() < 0 or y.max() >= 2 ** 31):
            raise ValueError("labels must be non-negative int32 values")
        y = y.astype(np.int32)
    if classes is None:
        classes = [str(i) for i in range(int(y.max()) + 1 if n else 1)]
    classes = [str(c) for c in classes]
    if not classes:
        raise ValueError("classes must name at least one class")
    if n and int(y.max()) >= len(classes):
        raise ValueError("label %d is out of range for %d classes" % (int(y.max()), len(classes)))
    m = dataset_meta(x, classes)
    m.update(meta or {})
    save(dest, {"images": x, "labels": y}, "dataset", m, level)


def load(src, section=1):
    """Section number `section` (from 1) of a stream, as read_stream yields
    it. The whole stream is read and checked."""
    secs = list(read_stream(src))
    if not 1 <= section <= len(secs):
        raise SsltError("%s: no section %d (the stream has %d)" % (src, section, len(secs)))
    return secs[section - 1]


def save_npz(out, sec):
    """One section's tensors as a .npz written to out (a path, "-" for
    stdout, or a binary file object; a path gets it whole or not at all),
    its metadata as JSON text under "__meta__"
    (json.loads(np.load(out)["__meta__"].item()))."""
    arrays = dict(sec["tensors"])
    arrays["__meta__"] = np.array(json.dumps({"kind": sec["kind"], "meta": sec["meta"]}))
    f, commit, abort = _open_out(out)
    try:
        np.savez(f, **arrays)
        commit()
    except BaseException:
        abort()
        raise


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line on stderr, exit status 2, as the ssl-* tools."""

    def error(self, message):
        print("%s: %s (try '%s --help')" % (self.prog, message, self.prog), file=sys.stderr)
        sys.exit(2)


def main(argv):
    ap = _Parser(prog="sslt.py", description=(
        "Describe ssl-tools tensor streams, or write one section as a .npz. Needs numpy, "
        "msgpack and zstandard."))
    ap.add_argument("files", nargs="*", metavar="FILE", help="streams (stdin when none or '-')")
    ap.add_argument("--npz", metavar="OUT", help="write the tensors of FILE's section as OUT "
                    "(a .npz; metadata as JSON under __meta__)")
    ap.add_argument("--section", type=int, default=1, metavar="N",
                    help="with --npz: which section (from 1; default 1)")
    a = ap.parse_args(argv[1:])
    if a.npz and len(a.files) > 1:
        ap.error("--npz takes one FILE")
    try:
        _import_deps()
    except ImportError as e:
        print("sslt.py: %s (install python3-numpy, python3-msgpack, python3-zstandard)" % e,
              file=sys.stderr)
        return 1
    if a.npz:
        path = (a.files or ["-"])[0]
        try:
            save_npz(a.npz, load(path, a.section))
        except (SsltError, OSError) as e:
            print("sslt.py: %s" % e, file=sys.stderr)
            return 1
        return 0
    status = 0
    for path in a.files or ["-"]:
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
            for k, a_ in s["tensors"].items():
                rng = " min %g max %g" % (a_.min(), a_.max()) if a_.size else ""
                print("  tensor %-16s %-4s %-20s%s" % (k, a_.dtype.str[1:], list(a_.shape), rng))
    return status


if __name__ != "__main__":
    _import_deps()

if __name__ == "__main__":
    sys.exit(main(sys.argv))
