#!/usr/bin/env python3
"""A real SMTP relay for the outbound email tests (aiosmtpd): stores each message it accepts as
DIR/<n>.eml and refuses recipients whose local part starts with "reject" with 550.
Usage: email_relay.py PORT DIR"""
import itertools, os, signal, sys
from aiosmtpd.controller import Controller

PORT, DIR = int(sys.argv[1]), sys.argv[2]
os.makedirs(DIR, exist_ok=True)
counter = itertools.count(1)

class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().startswith("reject"):
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        n = next(counter)
        tmp = os.path.join(DIR, f".{n}.tmp")
        with open(tmp, "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(tmp, os.path.join(DIR, f"{n}.eml"))
        return "250 Message accepted"

controller = Controller(Handler(), hostname="127.0.0.1", port=PORT)
controller.start()
print("ready", flush=True)
try:
    signal.pause()
finally:
    controller.stop()
