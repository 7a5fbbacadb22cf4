"""``ray start`` for a cluster on loopback addresses only.

Ray rewrites a loopback address (127.0.0.1, localhost) into the host's
routable address before it uses it (``resolve_ip_for_localhost``), so a
head started with ``--node-ip-address 127.0.0.1`` -- which listens on
127.0.0.1 only -- cannot be joined at 127.0.0.1.  This runs ``ray start``
with loopback addresses kept as given (foliolab's Ray backend does the same
for a loopback ``--address``):

    python -m foliolab.runner.raystart start --head --node-ip-address 127.0.0.1 --port 6379 --num-cpus 1
    python -m foliolab.runner.raystart start --address 127.0.0.1:6379 --node-ip-address 127.0.0.1 --num-cpus 1

A cluster on real addresses needs none of this: ``ray start`` itself.
"""

from __future__ import annotations

import sys


def keep_loopback():
    import ray._private.services as services
    services.resolve_ip_for_localhost = lambda host: host


def main():
    keep_loopback()
    from ray.scripts.scripts import main as ray_main
    sys.argv[0] = "ray"
    ray_main()


if __name__ == "__main__":
    main()
