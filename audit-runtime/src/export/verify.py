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
import sys
import zipfile
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
    return json.loads(b.decode("utf-8"), object_pairs_hook=no_duplicates, parse_constant=bad_constant)


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
            self.zip = zipfile.ZipFile(path)
            names = [i.filename for i in self.zip.infolist()]
            if len(names) != len(set(names)):
                raise Fail("duplicate member names in the ZIP")
            for i in self.zip.infolist():
                n = i.filename
                if n.startswith("/") or "\\" in n or ".." in n.split("/") or re.match(r"[A-Za-z]:", n):
                    raise Fail("unsafe member name %r" % n)
                if (i.external_attr >> 16) & 0o170000 == 0o120000:
                    raise Fail("member %r is a symbolic link" % n)
            self.names = names

    def open(self, name):
        if self.zip is not None:
            return self.zip.open(name)
        return open(os.path.join(self.dir, name), "rb")

    def has(self, name):
        return name in self.names

    def read(self, name, limit=1 << 20):
        with self.open(name) as f:
            b = f.read(limit + 1)
        if len(b) > limit:
            raise Fail("%s is larger than %d bytes" % (name, limit))
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
    except (OSError, zipfile.BadZipFile, ValueError, UnicodeDecodeError) as e:
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
