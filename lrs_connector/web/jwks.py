"""``GET /.well-known/jwks.json``: the LTI tool's public signing keys (RFC 7517 key set).

LTI platforms fetch it to verify the connector's client assertions; admins register
``<public_base_url>/.well-known/jwks.json`` as the tool's "public keyset URL". It holds the
current key and keys retired within the grace period, never a private key. The first key is
made when the set is first asked for. Caches may keep it for five minutes: a platform that
sees an unknown `kid` fetches again, and retired keys stay published far longer than that.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from lrs_connector.store import keys
from lrs_connector.web.access import public

bp = Blueprint("jwks", __name__)

MAX_AGE_SECONDS = 300


@bp.get("/.well-known/jwks.json")
@public
def jwks() -> Response:
    """Callers: anyone (LTI platforms). The public keys, cacheable for a few minutes."""
    document = keys.jwks_document(current_app.extensions["lrs_engine"])
    response = current_app.json.response(document)
    response.headers["Cache-Control"] = f"public, max-age={MAX_AGE_SECONDS}"
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.add_etag()
    return response.make_conditional(request)
