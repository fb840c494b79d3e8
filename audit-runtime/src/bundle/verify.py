#!/usr/bin/env python3
"""Standalone verifier of an ai-audit evidence bundle (v1). Needs Python 3.8+ and PyNaCl.

Usage:
    python3 verify.py --key OPERATOR_PUBLIC_KEY_HEX [BUNDLE.zip | DIRECTORY] [-v]

BUNDLE.zip is read in place (nothing is extracted); DIRECTORY is an extracted bundle; the
default is the directory this script sits in.

Checks: the manifest signature (over Python's json.dumps(manifest, sort_keys=True) bytes),
every checksum in the manifest, no unlisted members, every receipt's strict shape, SHA-256
self-hash and Ed25519 signature (over orjson-canonical bytes, re-derived exactly), the chain
in file order from genesis (or from anchor.json of a partial export), and chain_metadata.json
(count, first/last ids and timestamps, tenant, key fingerprint).

Exit codes: 0 PASS under the pinned key; 1 FAIL; 2 PyNaCl missing or unusable input;
3 consistent, but no --key was given, so nothing ties the bundle to the operator (NOT PINNED).
"""
import argparse
import base64
import binascii
import hashlib
import json
import os
import re
import struct
import sys
import zlib
from datetime import datetime, timedelta, timezone
from decimal import Decimal

try:
    from nacl.exceptions import BadSignatureError
    from nacl.signing import VerifyKey
except ImportError:  # pragma: no cover
    print("ERROR: PyNaCl is required: pip install pynacl", file=sys.stderr)
    sys.exit(2)

FIELDS = [
    "receipt_id", "receipt_version", "timestamp", "trace_id", "session_id", "tenant_id",
    "input_c14n", "state_digest", "output_hash", "checks", "action", "reason_codes",
    "nist_tags", "model_id", "config_digest", "prev_receipt_hash", "receipt_hash", "signature",
]
CHECK_FIELDS = ["name", "version", "score", "threshold", "fired", "detail"]
HEX64 = re.compile(r"[0-9a-f]{64}\Z")
HEX128 = re.compile(r"[0-9a-f]{128}\Z")


class Frontier:
    """The complete subtrees covering the first `size` leaves of an RFC 6962 tree, largest first."""

    def __init__(self, size=0, hashes=()):
        self.size, self.hashes = size, list(hashes)

    def push(self, leaf):
        h, s = leaf, self.size
        while s & 1:
            h = hashlib.sha256(b"\x01" + self.hashes.pop() + h).digest()
            s >>= 1
        self.hashes.append(h)
        self.size += 1

    def root(self):
        if not self.hashes:
            return hashlib.sha256(b"").digest()
        r = self.hashes[-1]
        for h in reversed(self.hashes[:-1]):
            r = hashlib.sha256(b"\x01" + h + r).digest()
        return r


def leaf_of(payload):
    return hashlib.sha256(b"\x00" + payload).digest()


def start_tree(bundle, sums, anchor, vk, sig_ok, accept_unsigned):
    """The frontier the first receipt continues: empty from genesis; for a partial export, the
    prefix in tree_prefix.json plus the anchor receipt's leaf (checked against anchor.json)."""
    if not anchor:
        return Frontier()
    if not (bundle.has("tree_prefix.json") and "tree_prefix.json" in sums):
        raise Fail("checkpoint.txt: a partial export needs tree_prefix.json to tie its anchor to the checkpoint")
    p = strict_loads(bundle.read("tree_prefix.json"))
    if not isinstance(p, dict) or not isinstance(p.get("frontier"), list) or not isinstance(p.get("frontier_size"), int):
        raise Fail("tree_prefix.json is not {anchor_receipt, frontier, frontier_size}")
    try:
        hashes = [base64.b64decode(h, validate=True) for h in p["frontier"]]
        line = base64.b64decode(p.get("anchor_receipt", ""), validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise Fail("tree_prefix.json holds invalid base64")
    if any(len(h) != 32 for h in hashes) or len(hashes) != bin(p["frontier_size"]).count("1"):
        raise Fail("tree_prefix.json: the frontier does not hold one hash per set bit of frontier_size")
    r = strict_loads(line)
    if not isinstance(r, dict) or list(r) != FIELDS:
        raise Fail("tree_prefix.json: the anchor receipt is not a v1 receipt")
    payload = canonical({k: v for k, v in r.items() if k not in ("receipt_hash", "signature")}).encode("utf-8")
    # An unsigned (Checkpointed) anchor is authenticated by the checkpoint, whose tree holds its leaf.
    signed = (accept_unsigned and r["signature"] == "") or sig_ok(payload, r["signature"])
    if hashlib.sha256(payload).hexdigest() != anchor or r["receipt_hash"] != anchor or not signed:
        raise Fail("tree_prefix.json: the anchor receipt does not verify or is not the one anchor.json links to")
    tree = Frontier(p["frontier_size"], hashes)
    tree.push(leaf_of(payload))
    return tree


def origin_of(name, tenant):
    """The log's origin line: the tenant with control characters, U+2028, U+2029 and % escaped."""
    def esc(c):
        o = ord(c)
        if o < 0x20 or 0x7F <= o <= 0x9F or c in "%\u2028\u2029":
            return "".join("%%%02X" % b for b in c.encode("utf-8"))
        return c
    return name + "/" + "".join(esc(c) for c in tenant)


def check_checkpoint(note, tree, key_hex, tenant, sig_ok):
    """checkpoint.txt: a C2SP signed note by the pinned key over exactly the bundle's tree."""
    text = note.decode("utf-8")
    body, sep, sigs = text.partition("\n\n")
    if not sep:
        raise Fail("checkpoint.txt is not a signed note")
    body += "\n"
    lines = body.split("\n")
    if len(lines) != 4:
        # Our logs never write extension lines: more lines were not signed as this checkpoint.
        raise Fail("checkpoint.txt does not have exactly the origin, size and root lines")
    origin, size, root = lines[0], lines[1], lines[2]
    name = origin.split("/", 1)[0]
    key_id = hashlib.sha256(name.encode() + b"\n\x01" + bytes.fromhex(key_hex)).digest()[:4]
    signed = False
    for sl in sigs.splitlines():
        parts = sl.split(" ")
        if len(parts) != 3 or parts[0] != "\u2014" or parts[1] != name:
            continue
        try:
            blob = base64.b64decode(parts[2], validate=True)
        except (binascii.Error, ValueError):
            continue
        if blob[:4] == key_id and len(blob) == 68:
            if not sig_ok(body.encode("utf-8"), blob[4:].hex()):
                raise Fail("checkpoint.txt: the signature by the pinned key does not verify")
            signed = True
    if not signed:
        raise Fail("checkpoint.txt carries no signature by the pinned key")
    if tenant is not None and origin != origin_of(name, tenant):
        raise Fail("checkpoint.txt is of log %r, not of tenant %r" % (origin, tenant))
    if tree is None:
        raise Fail("checkpoint.txt: the tree cannot be recomputed (a receipt is unreadable)")
    computed = "%d %s" % (tree.size, base64.b64encode(tree.root()).decode())
    if computed != "%s %s" % (size, root):
        raise Fail("checkpoint.txt: the receipts give tree %s, the checkpoint claims %s %s" % (computed, size, root))


class Fail(Exception):
    pass


class Unreadable(Exception):
    """The archive is refused before or while its members are read (exit 2), for the reasons
    ai-audit's own reader refuses it: both verifiers must read the same members, or refuse."""


# Limits of ai-audit's reader (ReadLimits::default), so both refuse the same archives.
MAX_ENTRIES, MAX_CENTRAL_DIRECTORY = 64, 1 << 20
MAX_MEMBER, MAX_TOTAL, MAX_RATIO, RATIO_SLACK = 16 << 30, 17 << 30, 100, 1 << 20
MAX_LINE = 8 << 20
# General-purpose flag bits read or safely ignored: 1, 2 (deflate hints), 3 (data descriptor),
# 11 (UTF-8 names). Any other (encryption, patch data, reserved) is refused, never ignored.
KNOWN_FLAGS = 0x080E
FLAG_NAMES = {0: "encryption", 4: "enhanced deflating", 5: "compressed patched data",
              6: "strong encryption", 13: "an encrypted central directory"}


def unsupported_flag(flags):
    unknown = flags & ~KNOWN_FLAGS & 0xFFFF
    if not unknown:
        return None
    bit = (unknown & -unknown).bit_length() - 1
    return "%s (general-purpose flag bit %d)" % (FLAG_NAMES.get(bit, "a reserved flag bit"), bit)


def read_at(f, offset, n):
    f.seek(offset)
    b = f.read(n)
    if len(b) != n:
        raise Unreadable("the ZIP archive ends inside a record (truncated)")
    return b


def zip64_field(extra):
    """The body of the ZIP64 extended-information field (id 1), the fields well-formed."""
    pos, found = 0, None
    while pos + 4 <= len(extra):
        fid, size = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4:pos + 4 + size]
        if len(body) != size:
            raise Unreadable("a ZIP extra field runs past its record")
        if fid == 1:
            found = body
        pos += 4 + size
    return found


def u64s(body, n):
    if len(body) < 8 * n:
        raise Unreadable("a ZIP64 extra field is too short")
    return struct.unpack_from("<%dQ" % n, body)


class Entry:
    pass


def unsafe_name(n):
    if not n:
        return "the name is empty"
    if "\0" in n or "\\" in n or n.startswith("/") or re.match(r"[A-Za-z]:", n) or ".." in n.split("/"):
        return "the name could escape an extraction directory"
    return None


def vet_zip(f):
    """The central directory and the layout, checked as ai-audit's reader checks them: one end
    record, ZIP64 records that agree, at most MAX_ENTRIES entries, safe unique names, no symbolic
    links, stored or deflated members without unsupported flags, members one after another from
    offset 0 up to the central directory, each local header agreeing with its entry."""
    f.seek(0, 2)
    size = f.tell()
    if size < 22:
        raise Unreadable("not a ZIP archive (too short to hold one)")
    tail_start = size - min(size, 22 + 65535)
    tail = read_at(f, tail_start, size - tail_start)
    ends = []
    for p in range(len(tail) - 22, -1, -1):
        if tail[p:p + 4] == b"PK\x05\x06":
            end = p + 22 + struct.unpack_from("<H", tail, p + 20)[0]
            if end <= len(tail) and not tail[end:].strip(b"\0"):
                ends.append(p)
    if len(ends) > 1:
        raise Unreadable("two end-of-central-directory records, one inside the other's comment")
    if not ends:
        raise Unreadable("no end-of-central-directory record: not a ZIP archive, or a truncated one")
    eocd = tail_start + ends[0]
    disk, cd_disk, _, entries, cd_size, cd_offset = struct.unpack_from("<HHHHII", tail, ends[0] + 4)
    if disk or cd_disk:
        raise Unreadable("multi-disk archives are not supported")
    cd_end = eocd
    saturated = entries == 0xFFFF or cd_size == 0xFFFFFFFF or cd_offset == 0xFFFFFFFF
    loc = read_at(f, eocd - 20, 20) if eocd >= 20 else b""
    if loc[:4] == b"PK\x06\x07":
        loc_at = eocd - 20
        z64_at = struct.unpack_from("<Q", loc, 8)[0]
        if z64_at >= loc_at:
            raise Unreadable("ZIP64 record offset out of range")
        rec = read_at(f, z64_at, 56)
        if rec[:4] != b"PK\x06\x06":
            raise Unreadable("ZIP64 end record missing")
        if z64_at + 12 + struct.unpack_from("<Q", rec, 4)[0] != loc_at:
            raise Unreadable("the ZIP64 end record does not end where its locator starts")
        z = struct.unpack_from("<QQQ", rec, 32)
        if saturated:
            entries, cd_size, cd_offset = z
        elif (entries, cd_size, cd_offset) != z:
            raise Unreadable("the ZIP64 end record and the classic one disagree on the central directory")
        cd_end = z64_at
    elif saturated:
        raise Unreadable("ZIP64 locator missing")
    if entries > MAX_ENTRIES:
        raise Unreadable("the archive declares %d entries; a bundle has at most %d" % (entries, MAX_ENTRIES))
    if cd_size > MAX_CENTRAL_DIRECTORY:
        raise Unreadable("the central directory is larger than %d bytes" % MAX_CENTRAL_DIRECTORY)
    if cd_offset + cd_size > cd_end:
        raise Unreadable("the central directory lies outside the archive (truncated?)")
    cd = read_at(f, cd_offset, cd_size)
    pos, out, names = 0, [], set()
    for _ in range(entries):
        if pos + 46 > len(cd):
            raise Unreadable("a record runs past the end of the central directory")
        (sig, made_by, _, flags, method, _, _, crc, csize, usize, nlen, xlen, clen, _, _, ext,
         offset) = struct.unpack_from("<IHHHHHHIIIHHHHHII", cd, pos)
        if sig != 0x02014B50:
            raise Unreadable("bad central directory entry signature")
        raw = cd[pos + 46:pos + 46 + nlen]
        extra = cd[pos + 46 + nlen:pos + 46 + nlen + xlen]
        pos += 46 + nlen + xlen + clen
        if pos > len(cd):
            raise Unreadable("a record runs past the end of the central directory")
        if not flags & 0x0800 and any(b > 0x7F for b in raw):
            raise Unreadable("member name %r is not ASCII and the UTF-8 flag (bit 11) is not set" % raw)
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Unreadable("member name %r is not valid UTF-8" % raw)
        why = unsafe_name(name)
        if why:
            raise Unreadable("member name %r is refused: %s" % (name, why))
        if made_by >> 8 == 3 and (ext >> 16) & 0o170000 == 0o120000:
            raise Unreadable("member %r is a symbolic link; bundles hold regular files only" % name)
        what = unsupported_flag(flags)
        if what:
            raise Unreadable("member %r: %s is not supported" % (name, what))
        if method not in (0, 8):
            raise Unreadable("member %r: compression method %d is not supported (only stored or deflate)" % (name, method))
        body = zip64_field(extra)
        if body is not None:
            want = [v == 0xFFFFFFFF for v in (usize, csize, offset)]
            vals = list(u64s(body, sum(want)))
            if want[0]:
                usize = vals.pop(0)
            if want[1]:
                csize = vals.pop(0)
            if want[2]:
                offset = vals.pop(0)
        if name in names:
            raise Unreadable("member %r appears more than once; tools disagree on which copy they read" % name)
        names.add(name)
        if offset + csize > cd_offset:
            raise Unreadable("a member's data lies outside the archive")
        e = Entry()
        e.name, e.raw, e.flags, e.method, e.crc, e.csize, e.usize, e.offset = (
            name, raw, flags, method, crc, csize, usize, offset)
        out.append(e)
    spans = sorted((e.offset, e.offset + 30 + len(e.raw) + e.csize) for e in out)
    if any(b[0] < a[1] for a, b in zip(spans, spans[1:])):
        raise Unreadable("members overlap")
    if cd_offset + cd_size != cd_end:
        raise Unreadable("bytes between the central directory and its end record that no member accounts for")
    check_layout(f, sorted(out, key=lambda e: e.offset), cd_offset)
    return {e.name: e for e in out}


def check_layout(f, order, cd_offset):
    at = 0
    for k, e in enumerate(order):
        nxt = order[k + 1].offset if k + 1 < len(order) else cd_offset
        if e.offset != at:
            raise Unreadable("bytes before or between members that the central directory does not list")
        (sig, _, flags, method, _, _, crc, csize, usize, nlen, xlen) = struct.unpack(
            "<IHHHHHIIIHH", read_at(f, e.offset, 30))
        if sig != 0x04034B50:
            raise Unreadable("bad local header signature")
        if read_at(f, e.offset + 30, nlen) != e.raw:
            raise Unreadable("member %r: its local header carries another name" % e.name)
        body = zip64_field(read_at(f, e.offset + 30 + nlen, xlen))
        if body is not None and 0xFFFFFFFF in (usize, csize):
            usize, csize = u64s(body, 2)
        what = unsupported_flag(flags)
        if what:
            raise Unreadable("member %r: %s is not supported" % (e.name, what))
        if method != e.method or flags & 9 != e.flags & 9:
            raise Unreadable("member %r: its local header and the central directory differ (method or flags)" % e.name)
        e.data_at = e.offset + 30 + nlen + xlen
        data_end = at = e.data_at + e.csize
        desc = flags & 8
        if not all(l == c or (desc and l == 0) for l, c in ((crc, e.crc), (csize, e.csize), (usize, e.usize))):
            raise Unreadable("member %r: its local header and the central directory differ (CRC-32 or sizes)" % e.name)
        if desc:
            room = max(nxt - data_end, 0)
            d = read_at(f, data_end, min(room, 24))
            lens = [n for n in (descriptor_len(d, e, s, w) for s, w in ((1, 0), (1, 1), (0, 0), (0, 1))) if n is not None]
            if not lens:
                raise Unreadable("member %r: its data descriptor and the central directory differ" % e.name)
            at = data_end + (room if room in lens else lens[0])
    if at != cd_offset:
        raise Unreadable("bytes between the last member and the central directory that it does not list")


def descriptor_len(d, e, signed, wide):
    fmt = ("<I" if signed else "<") + ("IQQ" if wide else "III")
    n = struct.calcsize(fmt)
    if len(d) < n:
        return None
    v = struct.unpack_from(fmt, d)
    if signed:
        if v[0] != 0x08074B50:
            return None
        v = v[1:]
    return n if tuple(v) == (e.crc, e.csize, e.usize) else None


class Member:
    """One member's bytes, inflated through the reader's limits; size and CRC-32 checked at the end."""

    def __init__(self, f, e, total):
        self.f, self.e, self.total = f, e, total
        self.pos, self.left = e.data_at, e.csize
        self.z = zlib.decompressobj(-15) if e.method == 8 else None
        self.limit = min(MAX_MEMBER, MAX_RATIO * e.csize + RATIO_SLACK)
        self.produced, self.crc, self.buf, self.done = 0, 0, b"", False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def _raw(self, n):
        self.f.seek(self.pos)
        b = self.f.read(min(n, self.left))
        if not b:
            raise Unreadable("the archive ends inside member %r (truncated)" % self.e.name)
        self.pos += len(b)
        self.left -= len(b)
        return b

    def _chunk(self):
        if self.z is None:
            return self._raw(1 << 16) if self.left else b""
        if self.z.eof:
            return b""
        data = self.z.unconsumed_tail or (self._raw(1 << 16) if self.left else b"")
        if not data:
            raise Unreadable("member %r is corrupt: its compressed data is invalid" % self.e.name)
        try:
            return self.z.decompress(data, 1 << 16)
        except zlib.error:
            raise Unreadable("member %r is corrupt: its compressed data is invalid" % self.e.name)

    def _finish(self):
        self.done = True
        if self.z is not None and (self.left or self.z.unused_data or self.z.unconsumed_tail):
            raise Unreadable("member %r is corrupt: its deflate stream ends before its compressed data does" % self.e.name)
        if self.produced != self.e.usize:
            raise Unreadable("member %r is corrupt: its inflated size differs from the declared one" % self.e.name)
        if self.crc != self.e.crc:
            raise Unreadable("member %r is corrupt: its CRC-32 differs from the declared one" % self.e.name)

    def read(self, n):
        while len(self.buf) < n and not self.done:
            out = self._chunk()
            if not out and (self.z is None or self.z.eof):
                self._finish()
                break
            self.produced += len(out)
            self.total[0] += len(out)
            if self.produced > self.limit or self.total[0] > MAX_TOTAL:
                raise Unreadable("member %r inflates past the reader's size or ratio limit (a ZIP bomb?)" % self.e.name)
            self.crc = zlib.crc32(out, self.crc)
            self.buf += out
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def no_duplicates(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise Fail("duplicate key %r" % k)
        d[k] = v
    return d


def strict_loads(b):
    def bad_constant(name):
        raise Fail("non-JSON constant %s" % name)
    try:
        return json.loads(b.decode("utf-8"), object_pairs_hook=no_duplicates, parse_constant=bad_constant)
    except (ValueError, UnicodeDecodeError) as e:
        raise Fail("not valid JSON (%s)" % e)


def orjson_float(x):
    """orjson's spelling of a float: shortest round-trip digits; plain when 1e-5 <= |x| < 1e16."""
    if x != x or x in (float("inf"), float("-inf")):
        return "null"
    sign = "-" if str(x).startswith("-") else ""
    ax = abs(x)
    if ax == 0.0:
        return sign + "0.0"
    _, dtuple, exponent = Decimal(repr(ax)).as_tuple()
    all_digits = "".join(map(str, dtuple))
    exp = len(all_digits) - 1 + exponent
    digits = all_digits.rstrip("0") or "0"
    if 1e-5 <= ax < 1e16:
        if exp < 0:
            return sign + "0." + "0" * (-exp - 1) + digits
        if len(digits) <= exp + 1:
            return sign + digits + "0" * (exp + 1 - len(digits)) + ".0"
        return sign + digits[: exp + 1] + "." + digits[exp + 1:]
    mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return sign + mant + "e" + ("-" if exp < 0 else "+") + str(abs(exp))


def orjson_str(s):
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif o < 0x20:
            out.append({8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r"}.get(o, "\\u%04x" % o))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def canonical(v):
    """orjson.dumps(v, option=OPT_SORT_KEYS): sorted keys, compact, raw UTF-8."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return orjson_float(v)
    if isinstance(v, str):
        return orjson_str(v)
    if isinstance(v, list):
        return "[" + ",".join(canonical(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(orjson_str(k) + ":" + canonical(v[k]) for k in sorted(v)) + "}"
    raise Fail("unexpected JSON value %r" % (v,))


TS = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?(Z|[+-]\d\d:\d\d)?\Z")


def isoformat(ts):
    """The receipt's timestamp as Python's datetime.isoformat() (chain_metadata's spelling)."""
    m = TS.match(ts) if isinstance(ts, str) else None
    if not m:
        raise Fail("timestamp %r is not ISO 8601" % (ts,))
    y, mo, d, h, mi, s, frac, tz = m.groups()
    if tz is None:
        tzinfo = None
    elif tz == "Z":
        tzinfo = timezone.utc
    else:
        sign = -1 if tz[0] == "-" else 1
        tzinfo = timezone(sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6])))
    micro = int((frac or "0").ljust(6, "0"))
    return datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), micro, tzinfo).isoformat()


class Bundle:
    def __init__(self, path):
        self.zip = None
        if os.path.isdir(path):
            self.dir = path
            self.names = sorted(
                os.path.relpath(os.path.join(r, f), path).replace(os.sep, "/")
                for r, _, fs in os.walk(path) for f in fs
            )
        else:
            self.zip = open(path, "rb")
            self.entries = vet_zip(self.zip)
            self.names = list(self.entries)
            self.total = [0]

    def open(self, name):
        if self.zip is not None:
            return Member(self.zip, self.entries[name], self.total)
        return open(os.path.join(self.dir, name), "rb")

    def has(self, name):
        return name in self.names

    def read(self, name, limit=1 << 20):
        with self.open(name) as f:
            b = f.read(limit + 1)
        if len(b) > limit:
            raise Unreadable("%s is larger than %d bytes" % (name, limit))
        return b


def sha256_of(bundle, name):
    h = hashlib.sha256()
    with bundle.open(name) as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description="Verify an ai-audit evidence bundle.")
    ap.add_argument("bundle", nargs="?", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--key", help="the operator's Ed25519 public key, 64 hex characters (pin it!)")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--accept-checkpointed", action="store_true",
                    help="accept unsigned receipts (Checkpointed sealing) that checkpoint.txt, signed by the "
                         "pinned key, covers (they are vouched for by the checkpoint only)")
    args = ap.parse_args()
    findings = []
    unsigned = [0]

    def finding(msg):
        findings.append(msg)
        if args.verbose or len(findings) <= 20:
            print("FAIL: " + msg)

    try:
        bundle = Bundle(args.bundle)
        for required in ("manifest.json", "public_key.hex", "receipts.jsonl", "chain_metadata.json"):
            if not bundle.has(required):
                raise Fail("required member %s is missing" % required)
        bundle_key_hex = bundle.read("public_key.hex").decode("ascii", "replace").strip()
        if args.key:
            key_hex = args.key.strip().lower()
            if not HEX64.match(key_hex):
                print("ERROR: --key must be 64 hex characters", file=sys.stderr)
                return 2
            if bundle_key_hex != key_hex:
                finding("public_key.hex holds key %s, not the pinned key %s" % (bundle_key_hex[:16], key_hex[:16]))
        else:
            key_hex = bundle_key_hex
            if not HEX64.match(key_hex):
                raise Fail("public_key.hex is not 64 lowercase hex characters")
        vk = VerifyKey(bytes.fromhex(key_hex))

        def sig_ok(msg, sig_hex):
            try:
                vk.verify(msg, bytes.fromhex(sig_hex))
                return True
            except (BadSignatureError, ValueError, TypeError):
                return False

        manifest = strict_loads(bundle.read("manifest.json"))
        if not isinstance(manifest, dict):
            raise Fail("manifest.json is not an object")
        sig = manifest.pop("signature", None)
        if not isinstance(sig, str) or not HEX128.match(sig) or not sig_ok(json.dumps(manifest, sort_keys=True).encode(), sig):
            finding("manifest.json: the signature does not verify under key %s" % key_hex[:16])
        elif args.verbose:
            print("[OK] manifest signature")
        sums = manifest.get("checksums")
        if not isinstance(sums, dict):
            raise Fail("manifest.json has no checksums object")
        for name in bundle.names:
            if name != "manifest.json" and name not in sums:
                finding("%s is not listed in the manifest" % name)
        for name, claimed in sorted(sums.items()):
            if not bundle.has(name):
                finding("%s is listed in the manifest but missing" % name)
                continue
            computed = sha256_of(bundle, name)
            if computed != claimed:
                finding("%s: checksum %s, manifest claims %s" % (name, computed, claimed))
            elif args.verbose:
                print("[OK] %s checksum" % name)
        for required in ("receipts.jsonl", "chain_metadata.json", "public_key.hex"):
            if required not in sums:
                finding("%s is not covered by the manifest" % required)

        anchor, anchor_tenant = "", None
        if bundle.has("anchor.json") and "anchor.json" in sums:
            a = strict_loads(bundle.read("anchor.json"))
            if not isinstance(a, dict):
                finding("anchor.json is not an object")
                a = {}
            anchor = a.get("prev_receipt_hash", "")
            anchor_tenant = a.get("tenant_id")
            if anchor_tenant is not None and not isinstance(anchor_tenant, str):
                finding("anchor.json: tenant_id is not a string")
                anchor_tenant = None
            if args.verbose:
                print("[..] partial export: the chain starts at sequence %s" % a.get("sequence"))

        tree = None
        has_checkpoint = bundle.has("checkpoint.txt") and "checkpoint.txt" in sums
        if has_checkpoint:
            try:
                tree = start_tree(bundle, sums, anchor, vk, sig_ok, args.accept_checkpointed)
            except Fail as e:
                finding(str(e))
        trees = [tree]
        count, prev, first, last, tenant = 0, None, None, None, None
        with bundle.open("receipts.jsonl") as f:
            data_iter = iter(lambda: f.read(1 << 20), b"")
            rest = b""
            for block in data_iter:
                rest += block
                parts = rest.split(b"\n")
                rest = parts.pop()
                for line in parts:
                    prev, first, last, tenant = check_line(line, count, prev, first, last, tenant, anchor, vk, sig_ok, finding, trees, unsigned)
                    count += 1
            if rest:
                prev, first, last, tenant = check_line(rest, count, prev, first, last, tenant, anchor, vk, sig_ok, finding, trees, unsigned)
                count += 1
        if count == 0:
            finding("receipts.jsonl holds no receipts")
        if anchor_tenant is not None and tenant is not None and anchor_tenant != tenant:
            finding("anchor.json names tenant %r, but the receipts are tenant %r: the anchor belongs to "
                    "another chain" % (anchor_tenant, tenant))
        covered = False
        if has_checkpoint and trees[0] is not None:
            try:
                check_checkpoint(bundle.read("checkpoint.txt"), trees[0], key_hex, tenant, sig_ok)
                covered = True
                if args.verbose:
                    print("[OK] checkpoint.txt covers exactly the receipts")
            except Fail as e:
                finding(str(e))
            except (UnicodeDecodeError, ValueError):
                finding("checkpoint.txt is not a signed note")
        if unsigned[0] and not covered:
            finding("receipts.jsonl: %d receipts carry no signature (Checkpointed sealing) and no checkpoint "
                    "verified under the pinned key covers them" % unsigned[0])
        elif unsigned[0] and not args.accept_checkpointed:
            finding("receipts.jsonl: %d receipts carry no signature (Checkpointed sealing); checkpoint.txt covers "
                    "them, but receipts vouched for only by a checkpoint are accepted only with "
                    "--accept-checkpointed" % unsigned[0])
        elif unsigned[0] and args.verbose:
            print("[OK] %d unsigned (Checkpointed) receipts are authenticated by checkpoint.txt" % unsigned[0])

        meta = strict_loads(bundle.read("chain_metadata.json"))
        if not isinstance(meta, dict):
            raise Fail("chain_metadata.json is not an object")
        want = {
            "total_receipts": count,
            "first_receipt_id": first[0] if first else None,
            "last_receipt_id": last[0] if last else None,
            "first_timestamp": first[1] if first else None,
            "last_timestamp": last[1] if last else None,
            "tenant_id": tenant,
            "key_fingerprint": key_hex[:16],
        }
        for k, v in want.items():
            if meta.get(k) != v:
                finding("chain_metadata.json: %s is %r, the receipts give %r" % (k, meta.get(k), v))
    except Fail as e:
        finding(str(e))
    except Unreadable as e:
        print("ERROR: the evidence bundle is refused: %s" % e, file=sys.stderr)
        return 2
    except (OSError, ValueError, UnicodeDecodeError) as e:
        print("ERROR: cannot read the bundle: %s" % e, file=sys.stderr)
        return 2

    if findings:
        print("FAIL: %d finding(s)" % len(findings))
        return 1
    if not args.key:
        print("NOT PINNED: the bundle is consistent under its own key %s, but no --key was given, "
              "so nothing ties it to the operator; rerun with --key" % key_hex[:16])
        return 3
    if unsigned[0]:
        print("PASS: %d receipts; manifest, checksums, every receipt's hash, %d signatures, the chain and "
              "chain_metadata verified under the pinned key %s" % (count, count - unsigned[0], key_hex[:16]))
        print("  %d of them are unsigned (Checkpointed sealing), accepted (--accept-checkpointed) because the "
              "signed checkpoint covers exactly these receipts" % unsigned[0])
    else:
        print("PASS: %d receipts; manifest, checksums, every receipt's hash and signature, the chain and "
              "chain_metadata verified under the pinned key %s" % (count, key_hex[:16]))
    return 0


def check_line(line, index, prev, first, last, tenant, anchor, vk, sig_ok, finding, trees, unsigned):
    if len(line) > MAX_LINE:
        finding("receipts.jsonl index %d: the line is longer than the %d byte limit" % (index, MAX_LINE))
        trees[0] = None
        return None, first, last, tenant
    try:
        r = strict_loads(line)
        if not isinstance(r, dict) or list(r) != FIELDS:
            raise Fail("fields are not the v1 receipt fields in order")
        for c in r["checks"]:
            if not isinstance(c, dict) or list(c) != CHECK_FIELDS:
                raise Fail("a check's fields are not the v1 check fields in order")
    except (Fail, ValueError, UnicodeDecodeError) as e:
        finding("receipts.jsonl index %d: not a strict v1 receipt (%s)" % (index, e))
        trees[0] = None
        return None, first, last, tenant
    rid = r["receipt_id"]
    payload = canonical({k: v for k, v in r.items() if k not in ("receipt_hash", "signature")}).encode("utf-8")
    computed = hashlib.sha256(payload).hexdigest()
    if trees[0] is not None:
        trees[0].push(leaf_of(payload))
    if computed != r["receipt_hash"]:
        finding("receipts.jsonl index %d, receipt %s: self-hash %s, claimed %s" % (index, rid, computed, r["receipt_hash"]))
    if r["signature"] == "":
        unsigned[0] += 1  # Checkpointed sealing: only a verified checkpoint can vouch for it
    elif not isinstance(r["signature"], str) or not HEX128.match(r["signature"]) or not sig_ok(payload, r["signature"]):
        finding("receipts.jsonl index %d, receipt %s: the signature does not verify" % (index, rid))
    if index == 0:
        if r["prev_receipt_hash"] != anchor:
            finding("receipts.jsonl index 0, receipt %s: prev_receipt_hash %r, but the chain must start at %r"
                    % (rid, r["prev_receipt_hash"][:16], anchor[:16]))
    elif prev is not None and r["prev_receipt_hash"] != prev:
        finding("receipts.jsonl index %d, receipt %s: chain link broken (prev_receipt_hash %s..., previous receipt_hash %s...)"
                % (index, rid, r["prev_receipt_hash"][:16], prev[:16]))
    if tenant is not None and r["tenant_id"] != tenant:
        finding("receipts.jsonl index %d, receipt %s: tenant %r, chain tenant %r" % (index, rid, r["tenant_id"], tenant))
    ends = (rid, isoformat(r["timestamp"]))
    return r["receipt_hash"], first or ends, ends, tenant if tenant is not None else r["tenant_id"]


if __name__ == "__main__":
    sys.exit(main())
