"""More for namespace labs (tests/integration/netns.py): IPv6 addresses, a namespace's resolver, servers."""
# ``use_resolver`` points the system resolver of processes started in a namespace at given DNS servers: ``ip
# netns exec`` mounts /etc/netns/<name>/resolv.conf over /etc/resolv.conf (no /etc/hosts entry needed);
# ``Network.close()`` removes that folder. ``serve`` runs a self-contained script
# (tests/integration/netns_servers.py) in a namespace until the network is closed.

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.integration.netns import Network

ETC_NETNS = Path("/etc/netns")


def address6(network: Network, role: str, toward: str) -> str:
    """The IPv6 address of ``role``'s interface on its link to ``toward`` (a Network(..., ipv6=True))."""
    if not network.ipv6:
        raise ValueError("this network has no IPv6 addresses: Network(..., ipv6=True)")
    link = next(link for link in network.links if {link.left, link.right} == {role, toward})
    return link.left_address6 if link.left == role else link.right_address6


def use_resolver(
    network: Network, role: str, *nameservers: str, options: str = "timeout:1 attempts:1"
) -> None:
    """Make ``role``'s processes resolve names through these servers only, with these resolv.conf options."""
    folder = ETC_NETNS / network.namespaces[role]
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"nameserver {server}" for server in nameservers]
    (folder / "resolv.conf").write_text("\n".join([*lines, f"options {options}"]) + "\n")


def serve(network: Network, role: str, script: str, *args: str) -> subprocess.Popen[str]:
    """Run a self-contained ``script`` (printing a line when ready) in ``role``'s namespace until close()."""
    path = network._workdir / f"script-{len(network._processes)}.py"
    path.write_text(script)
    return network.spawn(role, sys.executable, str(path), *args)
