"""schemathesis hooks for scripts/interop/schemathesis.sh.

The run shares its stack with the other interop suites, and schemathesis
follows the links it infers from listings (GET /api/v1/api-keys -> revoke,
GET /api/v1/scep/profiles -> DELETE ...). Every object that existed before the
run (ids and names in SCHEMATHESIS_PROTECTED, one per line) is therefore
protected: a request whose path names it with a method that changes something
is sent for a fresh name instead, which the API answers with its documented
404. (A POST that creates an object under an existing name is refused with
409, so bodies need no such care.) Reads of protected objects are
sent unchanged, and objects the run creates itself get the full treatment.
"""

import os
import uuid

import schemathesis

_PROTECTED_FILE = os.environ.get("SCHEMATHESIS_PROTECTED", "")
PROTECTED = set()
if _PROTECTED_FILE:
    with open(_PROTECTED_FILE, encoding="utf-8") as handle:
        PROTECTED = {line.strip().lower() for line in handle if line.strip()}



def _stand_in(value):
    text = str(value)
    try:
        uuid.UUID(text)
        return str(uuid.uuid4())
    except ValueError:
        return "st-" + uuid.uuid4().hex[:12]


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.method.upper() in ("GET", "HEAD", "OPTIONS"):
        return
    params = case.path_parameters or {}
    for key, value in list(params.items()):
        if str(value).strip().lower() in PROTECTED:
            params[key] = _stand_in(value)
