"""Which agents a cluster member exposes: those it is the rendezvous home of, and those reporting there."""

from __future__ import annotations

from dataclasses import dataclass

from fleetwatch_collector.agentstate import AgentEntry
from fleetwatch_collector.config import ClusterSection
from fleetwatch_proto import rendezvous

# A restarted member waits this many handover_seconds before it shows its own agents that have not
# reported to it since (class Exposure).
RETURN_GRACE = 2.0


@dataclass(frozen=True)
class Membership:
    """This collector's place in a cluster (``[cluster]``): every member's address as the agents list
    it, this member's entry, and how long it still exposes an agent homed elsewhere after the agent's
    last report here."""

    members: tuple[str, ...]
    self: str
    handover_seconds: float = 300.0

    def __post_init__(self) -> None:
        if self.self not in self.members:
            raise ValueError(f"{self.self!r} is not one of the members {list(self.members)}")

    @classmethod
    def of(cls, section: ClusterSection) -> Membership | None:
        """The membership ``[cluster]`` configures; None without members (a single collector)."""
        if not section.members:
            return None
        return cls(tuple(section.members), section.self, section.handover_seconds)


class Exposure:
    """Which agents this member lists on /metrics. Used under FleetState's lock.

    An agent is listed when it is neither revoked nor retired, and either its rendezvous home over
    the members is this member, or its last report here is less than ``handover_seconds`` old. One
    that fails only the second rule is "handed over": kept, counted, off /metrics until it reports
    here again. Each agent's home is ranked once and kept, until the members change. Without a
    membership (a single collector) this member is every agent's home.

    A member that (re)started at ``started`` lists its own agents that have not reported since only
    after ``RETURN_GRACE`` × handover_seconds: meanwhile they are still reporting to another member,
    and come back at their next failback (``collector.failback_seconds``, 300 s like handover_seconds
    by default, plus an interval). Shown down here before, they would be up there and down here at
    once. An agent that died meanwhile is shown down once the grace ends.
    """

    def __init__(self, membership: Membership | None = None, started: float = 0.0) -> None:
        self._membership = membership
        self._started = started
        self._here: dict[str, bool] = {}  # agent id -> its home is this member
        self.handed_over: set[str] = set()  # ids of the agents handed over

    @property
    def membership(self) -> Membership | None:
        return self._membership

    @membership.setter
    def membership(self, membership: Membership | None) -> None:
        self._membership = membership
        self._here.clear()

    def is_home(self, agent_id: str) -> bool:
        membership = self._membership
        if membership is None:
            return True
        here = self._here.get(agent_id)
        if here is None:
            here = self._here[agent_id] = rendezvous.home(agent_id, membership.members) == membership.self
        return here

    def exposes(self, agent_id: str, last_seen: float, now: float) -> bool:
        """Its home is here (and it reported since this member started, or the return grace is over),
        or its last report here (``last_seen``) is less than handover_seconds old."""
        membership = self._membership
        if membership is None:
            return True
        handover = membership.handover_seconds
        if now - last_seen < handover:
            return True
        returned = last_seen >= self._started or now - self._started >= RETURN_GRACE * handover
        return returned and self.is_home(agent_id)

    def listed(self, entry: AgentEntry, retire_before: float, now: float) -> bool:
        """Whether ``entry`` belongs on /metrics; one kept off only by the exposure rule is handed over."""
        active = not entry.revoked and entry.last_seen >= retire_before
        exposed = self.exposes(entry.agent_id, entry.last_seen, now)
        if active and not exposed:
            self.handed_over.add(entry.agent_id)
        else:
            self.handed_over.discard(entry.agent_id)
        return active and exposed

    def forget(self, agent_id: str) -> None:
        """An agent removed from the fleet."""
        self._here.pop(agent_id, None)
        self.handed_over.discard(agent_id)
