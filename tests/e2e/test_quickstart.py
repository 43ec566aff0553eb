# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# e2e: any plane (its subject is not the relay: tests/run runs it on auto only)
"""`make run` (examples/run-quickstart.sh) in a private network namespace:
its fixed ports cannot clash with anything, and it must route the example
clients it advertises and stop every backend on SIGTERM or Ctrl-C."""
import os
import re
import shutil

from ptharness import Suite, ROOT, PASSTHRU, run, eq, check, need_root, need_file

s = Suite('quickstart')
SCRIPT = os.path.join(ROOT, 'examples', 'run-quickstart.sh')

# Runs inside `unshare -n`: loopback up, the script in its own process group
# (as from a terminal), the advertised clients, then the stop signal.
DRIVER = r'''
set -u
ip link set lo up
cd "$ROOT"
setsid examples/run-quickstart.sh > "$OUT/script.out" 2> "$OUT/script.err" < /dev/null &
qs=$!
for i in $(seq 200); do [ -n "$(ss -Hltn 'sport = :8443')" ] && break; sleep 0.05; done
echo "== alpha"
openssl s_client -connect 127.0.0.1:8443 -servername alpha.example </dev/null 2>/dev/null |
	grep subject=
echo "== beta"
curl -sk --max-time 5 --resolve beta.example:8443:127.0.0.1 https://beta.example:8443/ |
	grep -c 'accept 127.0.0.1:9002 '
echo "== web"
curl -s --max-time 5 -H 'Host: web.example' http://127.0.0.1:8443/hello
echo "== other"
curl -s --max-time 5 http://127.0.0.1:8443/other
echo "== keyscan"
timeout 10 ssh-keyscan -t ed25519 -p 8443 127.0.0.1 2>/dev/null
echo "== ssh"
timeout 10 ssh -p 8443 -F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
	-o BatchMode=yes 127.0.0.1 true 2>&1 | grep -o 'Permission denied'
echo "== stop"
kill -$SIG -- -$qs
wait $qs
echo "rc=$?"
sleep 0.3
echo "== left"
ss -Hltn
echo "== procs"
pgrep -g $qs || true
'''


def t_quickstart(sig):
    need_root('a private network namespace')
    need_file(PASSTHRU)
    for tool in ('unshare', 'ss', 'setsid', 'ssh-keyscan'):
        check(shutil.which(tool), '%s is installed' % tool)
    out_dir = s.path('qs-%s' % sig)
    os.makedirs(out_dir)
    driver = s.write('driver.sh', DRIVER)
    env = dict(os.environ, ROOT=ROOT, OUT=out_dir, SIG=sig,
               PASSTHRU_ARGS='--instance e2e-qs-%d' % os.getpid())
    rc, out, err = run(['unshare', '-n', 'bash', driver], timeout=60, env=env)
    sec = dict(re.findall(r'^== (\w+)\n(.*?)(?=^== |\Z)', out, re.S | re.M))
    with open(os.path.join(out_dir, 'script.out')) as f:
        banner = f.read()
    eq(sec.get('alpha', '').strip(), 'subject=CN = alpha.example', 'alpha through :8443')
    eq(sec.get('beta', '').strip(), '1', 'page of the s_server on :9002 (beta) through :8443')
    eq(sec.get('web', ''), 'demo HTTP backend on 127.0.0.1:8080: GET /hello, Host: web.example\n',
       'web.example through :8443')
    check('GET /other' in sec.get('other', ''), 'catch-all to the HTTP backend')
    check(re.match(r'\[127\.0\.0\.1\]:8443 ssh-ed25519 AAAA', sec.get('keyscan', '')),
          'ssh-keyscan got a host key through the timeout route: %r' % sec.get('keyscan'))
    eq(sec.get('ssh', '').strip(), 'Permission denied', 'ssh reached the demo sshd')
    eq(sec.get('stop', '').strip(), 'rc=0', 'script exit status after SIG%s' % sig)
    eq(sec.get('left', '').strip(), '', 'listening sockets left in the namespace')
    eq(sec.get('procs', '').strip(), '', 'processes left in the script\'s group')
    check('ssh-keyscan -p 8443' in banner and 'curl' in banner,
          'the script printed example commands')


s.test('make run: examples answer, SIGTERM stops everything', t_quickstart, 'TERM')
s.test('make run: examples answer, Ctrl-C (SIGINT to the group) stops everything',
       t_quickstart, 'INT')
s.finish()
