"""Runs Ralph's LRS (ralph-malph, fs backend) under uvicorn; executed by Ralph's own Python.

Ralph's fs backend writes with operation type CREATE, which refuses a second write to its
statements file; made to APPEND, it keeps every POST. `ralph runserver` starts uvicorn with a
file-watching reloader in a child process, where such a setting would not apply, so the app
is served directly here. Settings come from RALPH_* environment variables.

    python ralph_launcher.py PORT
"""

import sys

import uvicorn
from ralph.backends.data.base import BaseOperationType
from ralph.backends.lrs.fs import FSLRSBackend

FSLRSBackend.default_operation_type = BaseOperationType.APPEND

from ralph.api import app  # noqa: E402  (reads the settings when imported)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
