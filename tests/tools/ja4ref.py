#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""A second JA4, written from FoxIO's technical_details/JA4.md apart from
user/detectors/ja4.c, with Python's hashlib: the cross-check the unit test
reads (tests/data/tls/ja4.txt). No independent JA4 is packaged for Debian 12
(tshark 4.0 has no tls.handshake.ja4).

  ja4ref.py FILE...   print "NAME JA4" for each first flight (TLS records)
"""
import hashlib
import os
import struct
import sys

GREASE = {0x0a0a + 0x1010 * i for i in range(16)}
VERSIONS = {0x0304: '13', 0x0303: '12', 0x0302: '11', 0x0301: '10', 0x0300: 's3',
            0x0002: 's2', 0xfeff: 'd1', 0xfefd: 'd2', 0xfefc: 'd3'}


def handshake(flight):
    """The first handshake message, from the payload of the leading records."""
    hs, off = b'', 0
    while off + 5 <= len(flight) and flight[off] == 22:
        n = struct.unpack('>H', flight[off + 3:off + 5])[0]
        hs += flight[off + 5:off + 5 + n]
        off += 5 + n
        if len(hs) >= 4 and len(hs) >= 4 + int.from_bytes(hs[1:4], 'big'):
            break
    return hs[4:4 + int.from_bytes(hs[1:4], 'big')]


def u16s(b):
    return [v for v in struct.unpack('>%dH' % (len(b) // 2), b) if v not in GREASE]


def hash12(s):
    return hashlib.sha256(s.encode()).hexdigest()[:12] if s else '000000000000'


def ja4(body):
    version = struct.unpack('>H', body[0:2])[0]
    p = 34
    p += 1 + body[p]
    n = struct.unpack('>H', body[p:p + 2])[0]
    ciphers = u16s(body[p + 2:p + 2 + n])
    p += 2 + n
    p += 1 + body[p]
    exts, sigs, alpn, sv = [], [], b'', None
    if p < len(body):
        end = p + 2 + struct.unpack('>H', body[p:p + 2])[0]
        p += 2
        while p < end:
            t, n = struct.unpack('>HH', body[p:p + 4])
            data = body[p + 4:p + 4 + n]
            p += 4 + n
            if t in GREASE:
                continue
            exts.append(t)
            if t == 0x000d:
                sigs = u16s(data[2:])
            elif t == 0x0010 and len(data) > 2:
                alpn = data[3:3 + data[2]]
            elif t == 0x002b:
                sv = max(u16s(data[1:]) or [0]) or None
    if sv:
        version = sv
    if not alpn:
        a = '00'
    elif all(chr(c).isascii() and chr(c).isalnum() for c in (alpn[0], alpn[-1])):
        a = chr(alpn[0]) + chr(alpn[-1])
    else:
        a = alpn.hex()[0] + alpn.hex()[-1]
    first = 't%s%s%02d%02d%s' % (VERSIONS.get(version, '00'), 'd' if 0 in exts else 'i',
                                 min(len(ciphers), 99), min(len(exts), 99), a)
    b = ','.join('%04x' % c for c in sorted(ciphers))
    c = ','.join('%04x' % e for e in sorted(e for e in exts if e not in (0, 0x10)))
    if c and sigs:
        c += '_' + ','.join('%04x' % s for s in sigs)
    return '%s_%s_%s' % (first, hash12(b), hash12(c))


if __name__ == '__main__':
    for path in sys.argv[1:]:
        with open(path, 'rb') as f:
            flight = f.read()
        if not flight or flight[0] != 22:
            print(os.path.basename(path), '-')
            continue
        try:
            print(os.path.basename(path), ja4(handshake(flight)))
        except (IndexError, struct.error, ValueError):
            print(os.path.basename(path), '-')
