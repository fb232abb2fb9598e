"""Run the reference Open Badges verifier (badgecheck) offline; used by test_badgecheck.py.

Runs under the interpreter of badgecheck's own virtualenv (.ci/badgecheck-setup.sh), not the
connector's. badgecheck fetches the OB 2.0 JSON-LD context from https://w3id.org/openbadges/v2;
here every requests session answers that URL from badgecheck's bundled copy
(OPENBADGES_CONTEXT_V2_DICT) and refuses any other address that is not on this machine.

Usage: python badgecheck_run.py (URL | --file IMAGE) [RECIPIENT_EMAIL]
Prints badgecheck's report as JSON: {"report": {...}, "graph": [...]}.
"""

import json
import sys
from urllib.parse import urlsplit

import requests
from openbadges.verifier import verify
from openbadges.verifier.openbadges_context import (
    OPENBADGES_CONTEXT_V2_DICT,
    OPENBADGES_CONTEXT_V2_URI,
)
from requests.adapters import BaseAdapter

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


class BundledContext(BaseAdapter):
    """Answers the OB 2.0 context URL with the copy badgecheck ships."""

    def send(self, request, **kwargs):
        response = requests.Response()
        response.url = request.url
        response.request = request
        if request.url.rstrip("/") == OPENBADGES_CONTEXT_V2_URI:
            response.status_code = 200
            response._content = json.dumps(OPENBADGES_CONTEXT_V2_DICT).encode()
            response.headers["Content-Type"] = "application/ld+json"
        else:
            response.status_code = 404
            response._content = b"{}"
        response.encoding = "utf-8"
        return response

    def close(self):
        pass


class Refuse(BaseAdapter):
    """No network beyond this machine: anything else fails loudly."""

    def send(self, request, **kwargs):
        raise requests.ConnectionError(f"offline verification: refusing {request.url}")

    def close(self):
        pass


_original_init = requests.Session.__init__


def _offline_init(self, *args, **kwargs):
    _original_init(self, *args, **kwargs)
    context = BundledContext()
    refuse = Refuse()
    self.mount("https://w3id.org/", context)
    self.mount("http://w3id.org/", context)
    original_get_adapter = self.get_adapter

    def get_adapter(url):
        if urlsplit(url).hostname in LOCAL_HOSTS or urlsplit(url).hostname == "w3id.org":
            return original_get_adapter(url)
        return refuse

    self.get_adapter = get_adapter


requests.Session.__init__ = _offline_init


def main(argv):
    if argv[1] == "--file":
        rest = argv[3:]
        recipient = {"email": rest[0]} if rest else None
        with open(argv[2], "rb") as image:
            result = verify(image, recipient_profile=recipient, use_cache=False)
    else:
        rest = argv[2:]
        recipient = {"email": rest[0]} if rest else None
        result = verify(argv[1], recipient_profile=recipient, use_cache=False)
    json.dump({"report": result["report"], "graph": result["graph"]}, sys.stdout, default=str)


if __name__ == "__main__":
    main(sys.argv)
