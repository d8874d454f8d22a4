"""moto in server mode, with DynamoDB requests applied one at a time.

Real DynamoDB applies a conditional write or a transaction atomically with respect to every
other write of the same items. moto's server handles requests on threads and checks a
condition and applies the write as separate steps, so two concurrent conditional writes can
both pass. Our concurrency tests (50 clients booking one slot) need the real guarantee, so this
wrapper runs moto's own WSGI application with a lock around DynamoDB requests; other services
(SQS long polls, for one) stay concurrent.

usage: moto_server.py HOST PORT
"""

import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


class SerializedDynamoDB:
    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith("DynamoDB_"):
            return self.app(environ, start_response)
        with self.lock:
            # Drain the response inside the lock: the work happens while it is produced.
            return list(self.app(environ, start_response))


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    app = SerializedDynamoDB(DomainDispatcherApplication(create_backend_app))
    run_simple(host, port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
