#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Build the seed corpora of the fuzz harnesses from tests/data and examples.

    tests/fuzz/mkseeds.py OUTDIR

writes OUTDIR/<harness>/<name> for every harness, replacing what was there.
Detector seeds are the captured first flights (tests/data/tls, .../flights)
and a few hand-built ones, each in several read patterns, wrapped in the
header that fuzz-split.h describes. Config seeds are every JSON file under
tests/data/config and examples, as they are and in the harness's modes;
OUTDIR/config-keys.dict lists every key of the loader's key tables.
"""
import json
import os
import re
import shutil
import struct
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DATA = os.path.join(ROOT, "tests", "data")

# fuzz-split.c fz_windows[]: the index of each max_bytes
WIN_DEFAULT, WIN_MAX, WIN_64, WIN_100, WIN_256, WIN_1K, WIN_2K, WIN_4K = range(8)
EOF_FLAG = 0x08


def head(reads=(), window=WIN_DEFAULT, eof=True, extra=0):
    """The common header: flags, number of reads, their sizes."""
    reads = list(reads)[:32]
    flags = window | (EOF_FLAG if eof else 0) | (extra << 4)
    return bytes([flags, len(reads)]) + b"".join(struct.pack("<H", r) for r in reads)


def read_patterns(data):
    """(name, header) pairs: how the same bytes may arrive."""
    n = len(data)
    out = [
        ("one", head()),
        ("one-open", head(eof=False)),
        ("bytes", head([1] * 16)),
        ("halves", head([max(1, n // 2)])),
        ("hdr", head([5, 4, 2, 32])),
        ("chunks", head([max(1, n // 8)] * 8)),
        ("win64", head(window=WIN_64)),
        ("win256-open", head([100], window=WIN_256, eof=False)),
        ("wakeups", head([0, 3, 0, 7])),
    ]
    return out


def reframe(hello, size):
    """The handshake of a one-record hello re-cut into records of @size bytes."""
    if len(hello) < 5 or hello[0] != 0x16:
        return None
    body = hello[5:]
    out = b""
    for i in range(0, len(body), size):
        part = body[i:i + size]
        out += bytes([0x16, 3, 1]) + struct.pack(">H", len(part)) + part
    return out


def vec(lenbytes, data):
    return len(data).to_bytes(lenbytes, "big") + data


def ext(etype, data):
    return struct.pack(">H", etype) + vec(2, data)


def client_hello(exts, version=0x0303, sid=b"\x11" * 32, rec_version=0x0301):
    """A ClientHello record with the given extensions (bytes, already encoded)."""
    body = struct.pack(">H", version) + b"\x42" * 32 + vec(1, sid)
    body += vec(2, b"\x13\x01\x13\x02\xc0\x2f") + vec(1, b"\x00")
    if exts is not None:
        body += vec(2, b"".join(exts))
    hs = b"\x01" + vec(3, body)
    return b"\x16" + struct.pack(">H", rec_version) + vec(2, hs)


def sni(name):
    return ext(0x0000, vec(2, b"\x00" + vec(2, name)))


def alpn(*protos):
    return ext(0x0010, vec(2, b"".join(vec(1, p) for p in protos)))


def versions(*vs):
    return ext(0x002B, vec(1, b"".join(struct.pack(">H", v) for v in vs)))


def built_hellos():
    yield "hello-basic", client_hello([sni(b"built.example"), alpn(b"h2", b"http/1.1"),
                                       versions(0x0304, 0x0303)])
    yield "hello-grease", client_hello([ext(0x0A0A, b""), sni(b"Grease.Example"),
                                        versions(0x1A1A, 0x0304, 0x0303), ext(0xFAFA, b"\x00")])
    yield "hello-ech", client_hello([sni(b"public.example"), ext(0xFE0D, b"\x00" * 40),
                                     versions(0x0304)])
    yield "hello-noext", client_hello(None, sid=b"")
    yield "hello-ssl3", client_hello([], version=0x0300, rec_version=0x0300)
    yield "hello-underscore", client_hello([sni(b"_acme.example"), alpn(b"x" * 200)])
    yield "hello-padding", client_hello([sni(b"pad.example"), ext(0x0015, b"\x00" * 600)])
    # limits: two host names, a 254-byte name, a 300-byte ALPN list
    two = b"".join(b"\x00" + vec(2, n) for n in (b"one.example", b"two.example"))
    yield "hello-two-names", client_hello([ext(0x0000, vec(2, two))])
    yield "hello-long-name", client_hello([sni(b"a" * 60 + (b"." + b"b" * 60) * 3 + b"." + b"c" * 10)])
    yield "hello-long-alpn", client_hello([alpn(*[b"p%02d-" % i + b"x" * 10 for i in range(20)])])
    # SSLv2-compatible: 3 suites, no session id, 16-byte challenge
    v2 = b"\x01\x03\x01" + struct.pack(">HHH", 9, 0, 16) + b"\x00\x00\x04" * 3 + b"\x5c" * 16
    yield "sslv2", bytes([0x80 | (len(v2) >> 8), len(v2) & 0xFF]) + v2


HTTP = [
    ("get", b"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n"),
    ("absolute", b"GET http://user@abs.example:8080/p?q=1 HTTP/1.1\r\nAccept: */*\r\n\r\n"),
    ("connect", b"CONNECT tun.example:443 HTTP/1.1\r\nHost: tun.example:443\r\n\r\n"),
    ("v6host", b"GET /x HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\n\r\n"),
    ("http10", b"GET /old HTTP/1.0\n\n"),
    ("options", b"OPTIONS * HTTP/1.1\r\nHost: Dot.Example.\r\n\r\n"),
    ("fold", b"PROPFIND /dav HTTP/1.1\r\nX-A: y\r\n folded\r\nHOST: \t dav.example \r\n\r\n"),
    ("longpath", b"GET /" + b"a" * 300 + b" HTTP/1.1\r\nHost: long.example\r\n\r\n"),
    ("h2c", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"),
]

SSH = [
    ("ssh2", b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"),
    ("ssh199", b"SSH-1.99-Cisco-1.25\r\n"),
    ("ssh15", b"SSH-1.5-old\r\n"),
]

SOCKS = [
    ("socks5", b"\x05\x02\x00\x02"),
    ("socks5-private", b"\x05\x03\x00\x80\xfe"),
    ("socks4", b"\x04\x01\x00\x50\x7f\x00\x00\x01user\x00"),
    ("socks4a", b"\x04\x01\x01\xbb\x00\x00\x00\x01\x00Host.Example\x00"),
    ("socks4-bind", b"\x04\x02\x1f\x90\x0a\x00\x00\x01\x00"),
]


def files(sub):
    d = os.path.join(DATA, sub)
    for name in sorted(os.listdir(d)):
        if name.endswith(".bin"):
            with open(os.path.join(d, name), "rb") as f:
                yield name[:-4], f.read()


def write(outdir, harness, name, blob):
    d = os.path.join(outdir, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(blob)


def detector_seeds(outdir):
    tls = list(files("tls")) + list(built_hellos())
    for name, hello in list(tls):
        for size in (1, 64, 300):
            r = reframe(hello, size)
            if r:
                tls.append(("%s-rec%d" % (name, size), r))
    flights = dict(files("flights"))
    http = [(n, d) for n, d in flights.items() if n in ("curl-http", "curl-h2c")] + HTTP
    ssh = [(n, d) for n, d in flights.items() if n == "openssh"] + SSH
    socks = [(n, d) for n, d in flights.items() if n.startswith("curl-socks")] + SOCKS
    sets = {"fuzz_tls": tls, "fuzz_http": http, "fuzz_ssh": ssh, "fuzz_socks": socks}
    sets["fuzz_detect"] = tls + http + ssh + socks
    for harness, blobs in sets.items():
        for name, data in blobs:
            for how, h in read_patterns(data):
                write(outdir, harness, "%s.%s" % (name, how), h + data)
    # fuzz_detect with user patterns: u8 sel (regex | prefix length << 4), u8 min_bytes, prefix
    pats = [
        ("redis", [(1 | 1 << 4, 4, b"*")], b"*1\r\n$4\r\nPING\r\n"),
        ("prefix-ssh", [(0 | 4 << 4, 0, b"SSH-")], flights.get("openssh", b"")),
        ("regex-http", [(2, 16, b"")], flights.get("curl-http", b"")),
        ("three", [(0 | 2 << 4, 0, b"\x16\x03"), (6, 1, b""), (11, 64, b"")],
         dict(tls)["openssl-sni"]),
        ("mixed", [(8, 1, b""), (3 | 3 << 4, 3, b"GET")], HTTP[0][1]),
    ]
    for name, plist, data in pats:
        spec = b"".join(bytes([sel, mb]) + pre for sel, mb, pre in plist)
        for how, reads in (("one", ()), ("bytes", [1] * 12), ("halves", [len(data) // 2])):
            h = head(reads, extra=len(plist))
            write(outdir, "fuzz_detect", "pat-%s.%s" % (name, how), h + spec + data)


# Keys of the loader that no file under tests/data or examples/ shows yet.
EXTRA_TOP_KEYS = {"control_socket": "/run/passthru/control.sock", "user": "nobody"}
EXTRA_LISTENER_KEYS = {"max_connections_per_source": 16}


def config_seeds(outdir):
    paths = []
    for base in (os.path.join(DATA, "config"), os.path.join(ROOT, "examples")):
        for dirpath, _, names in os.walk(base):
            paths += [os.path.join(dirpath, n) for n in names if n.endswith(".json")]
    for path in sorted(paths):
        with open(path, "rb") as f:
            text = f.read()
        name = os.path.relpath(path, ROOT).replace("/", "_")
        write(outdir, "fuzz_config", name, text)
        try:
            doc = json.loads(text)
        except ValueError:
            continue
        if isinstance(doc, dict) and "servers" in doc:
            # mode 1: only the "servers" object, the harness wraps it
            body = json.dumps(doc["servers"], indent=1).encode()
            write(outdir, "fuzz_config", name + ".servers", b"\x00\x01" + body)
        elif "good" in path or "examples" in path:
            for mode in (0x02, 0x04, 0x08):
                write(outdir, "fuzz_config", "%s.mode%d" % (name, mode),
                      bytes([0, mode]) + text)
    # keys no example uses yet, on top of the full example
    with open(os.path.join(ROOT, "examples", "full.json")) as f:
        doc = json.load(f)
    doc.update(EXTRA_TOP_KEYS)
    doc["listeners"][0].update(EXTRA_LISTENER_KEYS)
    write(outdir, "fuzz_config", "extra-keys.json", json.dumps(doc, indent=1).encode())
    # the file loader: a BOM, and a NUL byte it must refuse
    write(outdir, "fuzz_config", "bom.mode8", b"\x00\x08\xef\xbb\xbf" +
          b'{"listeners": [{"listen": ":8080", "routes": [{"reject": true}]}]}')
    write(outdir, "fuzz_config", "nul.mode8", b"\x00\x08{\"listeners\":\x00 []}")


def proxy_seeds(outdir):
    """fuzz_proxy: v1 and v2 headers as HAProxy and passthru send them, with a
    first flight behind, whole and cut short."""
    sig = b"\r\n\r\n\x00\r\nQUIT\n"
    v2_4 = sig + b"\x21\x11\x00\x0c" + bytes([203, 0, 113, 9, 127, 0, 0, 1]) + \
        struct.pack("!HH", 4660, 443)
    tlvs = b"\x01\x00\x02h2\x02\x00\x0bexample.com\xe0\x00\x05front"
    v2_tlv = sig + b"\x21\x11" + struct.pack("!H", 12 + len(tlvs)) + v2_4[16:] + tlvs
    v2_6 = sig + b"\x21\x21\x00\x24" + bytes(15) + b"\x01" + bytes(15) + b"\x02" + \
        struct.pack("!HH", 1, 2)
    seeds = {
        "v1-tcp4": b"PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n",
        "v1-tcp6": b"PROXY TCP6 2001:db8::7 2001:db8::1 4000 8443\r\n",
        "v1-unknown": b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n",
        "v2-inet": v2_4,
        "v2-tlvs": v2_tlv,
        "v2-inet6": v2_6,
        "v2-local": sig + b"\x20\x00\x00\x00",
        "v2-unix": sig + b"\x21\x31\x00\xd8" + bytes(216),
    }
    for name, hdr in seeds.items():
        write(outdir, "fuzz_proxy", name, hdr)
        write(outdir, "fuzz_proxy", name + ".flight", hdr + b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        write(outdir, "fuzz_proxy", name + ".short", hdr[:len(hdr) - 3])


def tunnel_seeds(outdir):
    """fuzz_socks5 (a flag byte: bit 0 = the listener has users, then the
    client's messages as curl sends them) and fuzz_httpconnect (CONNECT heads
    as curl sends them), whole, with a ClientHello behind, and cut short."""
    hello = client_hello([sni(b"alpha.example")])
    name = b"alpha.example"
    req_name = b"\x05\x01\x00\x03" + bytes([len(name)]) + name + struct.pack("!H", 443)
    req_v4 = b"\x05\x01\x00\x01" + bytes([127, 0, 0, 1]) + struct.pack("!H", 8443)
    req_v6 = b"\x05\x01\x00\x04" + bytes(15) + b"\x01" + struct.pack("!H", 443)
    auth = b"\x01\x05alice\x06secret"
    socks = {
        "noauth-name": b"\x00\x05\x01\x00" + req_name,
        "noauth-v4": b"\x00\x05\x02\x00\x02" + req_v4,
        "noauth-v6": b"\x00\x05\x01\x00" + req_v6,
        "userpass-name": b"\x01\x05\x02\x00\x02" + auth + req_name,
        "userpass-none": b"\x01\x05\x01\x00",
        "bind": b"\x00\x05\x01\x00\x05\x02\x00\x01" + bytes(6),
    }
    for n, blob in socks.items():
        write(outdir, "fuzz_socks5", n, blob)
        write(outdir, "fuzz_socks5", n + ".flight", blob + hello)
        write(outdir, "fuzz_socks5", n + ".short", blob[:len(blob) - 2])
    heads = {
        "name": b"CONNECT alpha.example:443 HTTP/1.1\r\nHost: alpha.example:443\r\n"
                b"User-Agent: curl/7.88.1\r\nProxy-Connection: Keep-Alive\r\n\r\n",
        "v4": b"CONNECT 127.0.0.1:8443 HTTP/1.1\r\nHost: 127.0.0.1:8443\r\n\r\n",
        "v6": b"CONNECT [2001:db8::1]:443 HTTP/1.0\r\n\r\n",
        "noport": b"CONNECT alpha.example HTTP/1.1\r\n\r\n",
    }
    for n, blob in heads.items():
        write(outdir, "fuzz_httpconnect", n, blob)
        write(outdir, "fuzz_httpconnect", n + ".flight", blob + hello)
        write(outdir, "fuzz_httpconnect", n + ".short", blob[:len(blob) - 3])


def config_keys_dict(outdir):
    """Every key of the loader's key tables, as a dictionary: new keys are in at once."""
    keys = set()
    udir = os.path.join(ROOT, "user")
    for name in sorted(os.listdir(udir)):
        if name.startswith("config") and name.endswith(".c"):
            with open(os.path.join(udir, name)) as f:
                keys.update(re.findall(r'\{"([a-z_]+)", PT_J_', f.read()))
    with open(os.path.join(outdir, "config-keys.dict"), "w") as f:
        f.write("# generated by tests/fuzz/mkseeds.py from user/config*.c\n")
        f.writelines('"\\"%s\\""\n' % k for k in sorted(keys))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: mkseeds.py OUTDIR")
    outdir = sys.argv[1]
    shutil.rmtree(outdir, ignore_errors=True)
    detector_seeds(outdir)
    config_seeds(outdir)
    proxy_seeds(outdir)
    tunnel_seeds(outdir)
    config_keys_dict(outdir)
    for h in sorted(d for d in os.listdir(outdir) if d.startswith("fuzz_")):
        print("  %-12s %d seeds" % (h, len(os.listdir(os.path.join(outdir, h)))))


if __name__ == "__main__":
    main()
