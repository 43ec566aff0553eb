#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Record the first flight of real clients, for the detector unit tests.
#   tests/data/capture-hellos.sh
# For every client a one-shot loopback listener accepts one connection,
# records what the client sends first (a TLS ClientHello: until the hello
# is complete; anything else: until the client has been quiet for 0.5 s)
# and closes; the client then fails, which is expected.
#
# Writes tests/data/tls/<client>-<variant>.bin with tests/data/tls/manifest.txt
#   FILE SNI ALPN MAX_VERSION [ech]  ("-" for none; ALPN comma-separated;
#                                    ech: the client sends an ECH extension)
# and tests/data/flights/<name>.bin with tests/data/flights/manifest.txt
#   FILE PROTO [key=value ...]       (what the detector must report)
# The expected values come from how each client is invoked, not from
# parsing the captures. Clients that are not installed are skipped.
set -u
cd "$(dirname "$0")"

PY=${PYTHON:-/usr/bin/python3}
TLS_DIR=tls
FLIGHT_DIR=flights
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

mkdir -p "$TLS_DIR" "$FLIGHT_DIR"
: >"$TLS_DIR/manifest.txt.new"
: >"$FLIGHT_DIR/manifest.txt.new"

# The one-shot listener: prints its port into $1, writes the flight to $2.
LISTENER='
import socket, sys

def tls_done(b):
    """Has b a complete first handshake message of leading handshake records?"""
    hs, off = b"", 0
    while off + 5 <= len(b) and b[off] == 22:
        n = int.from_bytes(b[off + 3:off + 5], "big")
        hs += b[off + 5:off + 5 + n]
        off += 5 + n
        if len(hs) >= 4 and len(hs) >= 4 + int.from_bytes(hs[1:4], "big"):
            return True
    return False

srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
srv.settimeout(15)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(srv.getsockname()[1]))
import os
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
c, _ = srv.accept()
c.settimeout(0.5)
data = b""
while len(data) < 65536 and not tls_done(data):
    try:
        chunk = c.recv(65536)
    except socket.timeout:
        break
    if not chunk:
        break
    data += chunk
open(sys.argv[2], "wb").write(data)
c.close()
'

# capture OUTFILE CMD...: run CMD (with $PORT set) against a fresh listener.
capture()
{
	local out=$1 pid i
	shift
	rm -f "$TMP/port" "$out"
	"$PY" -c "$LISTENER" "$TMP/port" "$out" &
	pid=$!
	for i in $(seq 100); do
		[ -s "$TMP/port" ] && break
		sleep 0.05
	done
	PORT=$(cat "$TMP/port")
	export PORT
	timeout 10 bash -c "$*" </dev/null >/dev/null 2>&1
	wait "$pid"
	if [ -s "$out" ]; then
		echo "captured $out ($(stat -c %s "$out") bytes)"
		return 0
	fi
	echo "FAILED to capture $out" >&2
	rm -f "$out"
	return 1
}

# tls NAME SNI ALPN MAXVER CMD...
tls()
{
	local name=$1 sni=$2 alpn=$3 ver=$4
	shift 4
	capture "$TLS_DIR/$name.bin" "$@" &&
		echo "$name.bin $sni $alpn $ver" >>"$TLS_DIR/manifest.txt.new"
}

# flight NAME "PROTO key=value..." CMD...
flight()
{
	local name=$1 expect=$2
	shift 2
	capture "$FLIGHT_DIR/$name.bin" "$@" &&
		echo "$name.bin $expect" >>"$FLIGHT_DIR/manifest.txt.new"
}

have() { command -v "$1" >/dev/null 2>&1; }

OSC='openssl s_client -connect 127.0.0.1:$PORT'
if have openssl; then
	tls openssl-sni openssl.example - 0x0304 "$OSC -servername openssl.example"
	tls openssl-alpn alpn.openssl.example h2,http/1.1 0x0304 \
		"$OSC -servername alpn.openssl.example -alpn h2,http/1.1"
	tls openssl-tls12 tls12.openssl.example - 0x0303 "$OSC -tls1_2 -servername tls12.openssl.example"
	tls openssl-tls13 tls13.openssl.example - 0x0304 "$OSC -tls1_3 -servername tls13.openssl.example"
	tls openssl-nosni - - 0x0304 "$OSC -noservername"
	# Upper case on the wire: the detector must lower-case it.
	tls openssl-upper upper.openssl.example - 0x0304 "$OSC -servername UPPER.OpenSSL.Example"
	# ~2 KB, like a post-quantum hello (OpenSSL 3.0 has no ML-KEM): a
	# 1 KB FFDHE8192 key share plus a 600-byte external PSK identity.
	tls openssl-big big.openssl.example - 0x0304 \
		"$OSC -servername big.openssl.example -groups ffdhe8192:x25519 -psk 000102030405060708090a0b0c0d0e0f -psk_identity $(printf 'i%.0s' $(seq 600))"
fi

if have curl; then
	tls curl-https curl.example h2,http/1.1 0x0304 \
		'curl -sk --resolve curl.example:$PORT:127.0.0.1 https://curl.example:$PORT/'
	tls curl-http11 http11.curl.example http/1.1 0x0304 \
		'curl -sk --http1.1 --resolve http11.curl.example:$PORT:127.0.0.1 https://http11.curl.example:$PORT/'
	flight curl-http "http method=GET host=web.example path=/hello?x=1" \
		'curl -s --resolve web.example:$PORT:127.0.0.1 "http://web.example:$PORT/hello?x=1"'
	flight curl-h2c "http2" 'curl -s --http2-prior-knowledge http://127.0.0.1:$PORT/'
	flight curl-socks5 "socks5" 'curl -s --socks5 127.0.0.1:$PORT http://socks5.example/'
	flight curl-socks4a "socks4 host=socks4a.example port=8080" \
		'curl -s --socks4a 127.0.0.1:$PORT http://socks4a.example:8080/'
	flight curl-socks4 "socks4 host=127.0.0.1 port=8081" \
		'curl -s --socks4 127.0.0.1:$PORT http://127.0.0.1:8081/'
fi

if have gnutls-cli; then
	GC='gnutls-cli --insecure -p $PORT 127.0.0.1'
	tls gnutls-sni gnutls.example - 0x0304 "$GC --sni-hostname gnutls.example"
	tls gnutls-alpn alpn.gnutls.example h2,http/1.1 0x0304 \
		"$GC --sni-hostname alpn.gnutls.example --alpn h2 --alpn http/1.1"
	# An FFDHE8192 key share (1 KB) next to an X25519 one: a ~1.3 KB hello.
	tls gnutls-big big.gnutls.example - 0x0304 \
		"$GC --sni-hostname big.gnutls.example --priority NORMAL:-GROUP-ALL:+GROUP-FFDHE8192:+GROUP-FFDHE6144:+GROUP-X25519"
fi

if [ -x "$PY" ]; then
	tls python-ssl python.example h2,http/1.1 0x0304 "$PY -c '
import os, socket, ssl
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.set_alpn_protocols([\"h2\", \"http/1.1\"])
s = socket.create_connection((\"127.0.0.1\", int(os.environ[\"PORT\"])))
ctx.wrap_socket(s, server_hostname=\"python.example\")
'"
fi

if have node; then
	tls node-tls node.example h2,http/1.1 0x0304 "node -e '
const s = require(\"tls\").connect({ host: \"127.0.0.1\", port: +process.env.PORT,
	servername: \"node.example\", ALPNProtocols: [\"h2\", \"http/1.1\"],
	rejectUnauthorized: false });
s.on(\"error\", () => {});
'"
fi

# Chromium headless: GREASE, a permuted extension order, an X25519MLKEM768 key
# share (a ~1.8 KB hello in two segments). Needs the Debian package chromium.
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -n "$CHROMIUM" ]; then
	tls chromium-https chromium.example h2,http/1.1 "0x0304 ech" \
		"$CHROMIUM --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir=$TMP/chromium --host-resolver-rules=\"MAP chromium.example 127.0.0.1\" --dump-dom https://chromium.example:\$PORT/"
fi

if have ssh; then
	banner=$(ssh -V 2>&1 | cut -d' ' -f1 | tr -d ,)
	flight openssh "ssh banner=$banner" \
		'ssh -p $PORT -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null 127.0.0.1 true'
fi

mv "$TLS_DIR/manifest.txt.new" "$TLS_DIR/manifest.txt"
mv "$FLIGHT_DIR/manifest.txt.new" "$FLIGHT_DIR/manifest.txt"
