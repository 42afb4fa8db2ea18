"""A network path with a delay, for tests: two TUN devices, one in this network namespace and one
in another, and this process between them holding each packet for half the round trip before
passing it on. The kernel's netem qdisc does the same, where the kernel has it.

usage: delay-wire.py NEAR_DEV FAR_DEV NETNS ROUND_TRIP_MS   (prints "ready" once both exist)
"""
import ctypes
import fcntl
import heapq
import os
import select
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


near_dev, far_dev, netns, round_trip_ms = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
near = open_tun(near_dev)
# The far device is made inside the other namespace; the descriptor keeps working from here.
libc = ctypes.CDLL(None, use_errno=True)
ns_fd = os.open("/run/netns/" + netns, os.O_RDONLY)
if libc.setns(ns_fd, CLONE_NEWNET) != 0:
    raise OSError(ctypes.get_errno(), "setns into " + netns)
far = open_tun(far_dev)
print("ready", flush=True)

other = {near: far, far: near}
one_way = round_trip_ms / 2000.0
held = []  # (due, order, device, packet)
order = 0
while True:
    wait = max(0.0, held[0][0] - time.monotonic()) if held else None
    readable, _, _ = select.select([near, far], [], [], wait)
    for fd in readable:
        packet = os.read(fd, 65536)
        order += 1
        heapq.heappush(held, (time.monotonic() + one_way, order, other[fd], packet))
    now = time.monotonic()
    while held and held[0][0] <= now:
        _, _, fd, packet = heapq.heappop(held)
        try:
            os.write(fd, packet)
        except OSError:
            pass  # a device not up yet drops the packet, as a wire not plugged in would
