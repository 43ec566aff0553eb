#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""What the daemon's connection path assumes of the kernel's TCP sockets.

Each check is one syscall the daemon no longer makes per connection, and
each would lose bytes or add a 40 ms Nagle stall if a kernel disagreed:
- accepted sockets inherit TCP_NODELAY from the listening socket
  (sk_clone_lock copies the whole tcp_sock; listener.c sets it once and
  conn.c no longer sets it per accept);
- a non-blocking connect that succeeds reports EPOLLOUT without EPOLLERR
  or EPOLLHUP, and one that is refused reports EPOLLERR and EPOLLHUP with
  SO_ERROR ECONNREFUSED (upstream.c reads SO_ERROR only in the second
  case);
- a connect to a listener that is not accepting yet completes all the
  same (the handshake is the kernel's), so the first EPOLLOUT means
  established.
Loopback only; runs in the VM kernels too (the unit suite).
Ends with "N passed, N failed".
"""
import errno
import select
import socket
import sys

passed = failed = 0


def check(name, ok, detail=''):
    global passed, failed
    if ok:
        passed += 1
        print('ok   ' + name)
    else:
        failed += 1
        print('FAIL %s %s' % (name, detail))


def nodelay(s):
    return s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def accepted_inherits(family, host):
    for on in (1, 0):
        lst = socket.socket(family, socket.SOCK_STREAM)
        lst.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, on)
        lst.bind((host, 0))
        lst.listen(8)
        cli = socket.create_connection(lst.getsockname()[:2])
        acc, _ = lst.accept()
        check('%s: accepted socket TCP_NODELAY=%d like its listener' % (
            family.name, on), nodelay(acc) == bool(on), 'got %r' % nodelay(acc))
        for s in (acc, cli, lst):
            s.close()


def connect_events(addr):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    err = s.connect_ex(addr)
    ep = select.epoll()
    ep.register(s.fileno(), select.EPOLLIN | select.EPOLLOUT | select.EPOLLRDHUP | select.EPOLLET)
    evs = ep.poll(5)
    ep.close()
    ev = evs[0][1] if evs else 0
    so = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    return s, err, ev, so


def connect_ok():
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.bind(('127.0.0.1', 0))
    lst.listen(8)
    s, err, ev, so = connect_events(lst.getsockname())
    check('connect in progress or done', err in (0, errno.EINPROGRESS), 'connect_ex %d' % err)
    check('established connect: EPOLLOUT', bool(ev & select.EPOLLOUT), 'events %#x' % ev)
    check('established connect: no EPOLLERR/EPOLLHUP',
          not ev & (select.EPOLLERR | select.EPOLLHUP), 'events %#x' % ev)
    check('established connect: SO_ERROR 0', so == 0, 'SO_ERROR %d' % so)
    s.close()
    lst.close()


def connect_refused():
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(('127.0.0.1', 0))
    addr = probe.getsockname()      # bound, not listening: the SYN meets an RST
    s, err, ev, so = connect_events(addr)
    check('refused connect: EPOLLERR and EPOLLHUP',
          (ev & (select.EPOLLERR | select.EPOLLHUP)) == (select.EPOLLERR | select.EPOLLHUP),
          'events %#x' % ev)
    check('refused connect: SO_ERROR ECONNREFUSED', so == errno.ECONNREFUSED,
          'SO_ERROR %d' % so)
    s.close()
    probe.close()


def main():
    accepted_inherits(socket.AF_INET, '127.0.0.1')
    if socket.has_ipv6:
        try:
            accepted_inherits(socket.AF_INET6, '::1')
        except OSError as e:
            print('skip AF_INET6: %s' % e)
    connect_ok()
    connect_refused()
    print('%d passed, %d failed' % (passed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
