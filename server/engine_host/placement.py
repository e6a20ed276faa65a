"""Which live engine host holds which profile: sessions spread by load (DESIGN.md §4).

Every engine host runs `plan` once per heartbeat on the same rows (the live hosts and, per host, how many
profiles that should be connected it holds) and acts only on its own part of the answer, so the hosts agree
without talking to each other:

- orphans (profiles that should be connected and that no live host holds: their host died) go one at a time to
  the least-loaded live host, so the survivors share them instead of the first to look taking them all;
- then, while the most-loaded host holds more than one session more than the least-loaded, the most-loaded
  hands one over to the least-loaded, at most MAX_MOVES_PER_ROUND per round. Only the most-loaded host gives
  and only to the least-loaded, so every move narrows the gap: sessions never move back and forth, and a host
  that joins (or comes back) gets its share within a few rounds.

A move is a clean handover (server/engine_host/sessions.py): the giving host closes the session first and then
names the new host in the profile's row, which claims it on its next round. Claims of orphans are
compare-and-set on the row, so two hosts whose views differ for a moment never open the same profile twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

# Sessions that change host per round (one round a heartbeat): enough to fill a new host in a few seconds, few
# enough that a join never disconnects many profiles at once.
MAX_MOVES_PER_ROUND = 2


@dataclass
class Plan:
    """What the hosts do this round: orphan → the host that claims it, and (from, to) host pairs, one per
    session handed over."""

    claims: dict[str, str] = field(default_factory=dict)
    moves: list[tuple[str, str]] = field(default_factory=list)


def plan(loads: Mapping[str, int], orphans: Iterable[str], max_moves: int = MAX_MOVES_PER_ROUND) -> Plan:
    """`loads`: every live host's id → how many profiles it holds; `orphans`: profile ids no live host holds.
    Ties go to the smaller host id, so every host computes the same plan from the same rows."""
    load = dict(loads)
    result = Plan()
    if not load:
        return result
    for profile_id in sorted(orphans):
        host = min(load, key=lambda h: (load[h], h))
        result.claims[profile_id] = host
        load[host] += 1
    for _ in range(max_moves):
        fullest = min(load, key=lambda h: (-load[h], h))
        emptiest = min(load, key=lambda h: (load[h], h))
        if load[fullest] - load[emptiest] <= 1:
            break
        result.moves.append((fullest, emptiest))
        load[fullest] -= 1
        load[emptiest] += 1
    return result

