#!/usr/bin/env python3
"""Twilio's own RequestValidator against Hotline (tests/api/twilio_sig.rs runs this).

  twilio_sign.py post SIGNED_URL ACTUAL_URL TOKEN   < params.json
      signs the form params as Twilio does for SIGNED_URL, POSTs them to ACTUAL_URL with
      X-Twilio-Signature, prints {"status": N, "body": "..."}
  twilio_sign.py validate URL TOKEN SIGNATURE       < params.json  (an object: form params,
      or a string: a raw JSON body for the bodySHA256 variant); prints true or false
"""
import json
import sys
import urllib.error
import urllib.parse
import urllib.request

from twilio.request_validator import RequestValidator


def main():
    mode = sys.argv[1]
    data = json.load(sys.stdin)
    if mode == "post":
        signed_url, actual_url, token = sys.argv[2:5]
        signature = RequestValidator(token).compute_signature(signed_url, data)
        req = urllib.request.Request(
            actual_url,
            data=urllib.parse.urlencode(data).encode(),
            headers={
                "X-Twilio-Signature": signature,
                "Content-Type": "application/x-www-form-urlencoded",
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as res:
                status, body = res.status, res.read().decode()
        except urllib.error.HTTPError as e:
            status, body = e.code, e.read().decode()
        print(json.dumps({"status": status, "body": body}))
    elif mode == "validate":
        url, token, signature = sys.argv[2:5]
        print("true" if RequestValidator(token).validate(url, data, signature) else "false")
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
