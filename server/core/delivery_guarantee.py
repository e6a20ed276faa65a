"""What happens to a send whose outcome is unknown (DESIGN.md §4, "Outcome unknown"): the profile's
`deliveryGuarantee`.

An engine host marks a message as dispatched (Message.dispatched_at, server/core/lifecycle.py `dispatch`) in one
conditional UPDATE before it gives the message to WhatsApp, and records WhatsApp's answer after. A host that dies
in between (SIGKILL, a crash, a takeover by another host) leaves the message PENDING and marked: whoever sends it
next cannot know whether WhatsApp has it. An engine through which WhatsApp recognises our message id
(`EngineSpec.recognises_repeats`: the simulator, unless its profile's `recognisesRepeats` setting is false) sends
it again, and WhatsApp delivers it once. The others cannot:
neonize does not expose whatsmeow's `SendRequestExtra.ID`, so a repeat gets a new WhatsApp id, whatsmeow's cache
of sent messages lives in the memory of the process that died, and the Graph API has no idempotency key. For
them the profile chooses:

- AT_MOST_ONCE (the default): the message ends FAILED with the reason OUTCOME_UNKNOWN (its status and a
  `message.ack` event say so); it may or may not have reached the chat, and it is never sent again blindly;
- AT_LEAST_ONCE: it is sent again, and the chat may show it twice.
"""

from __future__ import annotations

AT_MOST_ONCE = "AT_MOST_ONCE"
AT_LEAST_ONCE = "AT_LEAST_ONCE"
GUARANTEES = (AT_MOST_ONCE, AT_LEAST_ONCE)
DEFAULT = AT_MOST_ONCE

# The reason a message ends FAILED with when its outcome is unknown and it may not be sent again.
OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"


def resend_unknown(recognises_repeats: bool, guarantee: str) -> bool:
    """Whether a message whose earlier send has an unknown outcome is sent again (else it fails), through an
    engine that makes WhatsApp recognise a repeat, or not."""
    return recognises_repeats or guarantee == AT_LEAST_ONCE


def outcome_unknown_reason(engine: str) -> str:
    """The FAILED message's `error`: why it was not sent again, and what to do about it."""
    return (f"{OUTCOME_UNKNOWN}: the engine host stopped after giving the message to WhatsApp and before its "
            f"answer was recorded, so it may or may not have reached the chat; the {engine} engine cannot make "
            f"WhatsApp recognise a repeat, and the profile's deliveryGuarantee is {AT_MOST_ONCE}, so it was not "
            "sent again (choose AT_LEAST_ONCE to resend such messages)")
