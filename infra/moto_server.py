"""moto in server mode, with DynamoDB requests applied one at a time.

Real DynamoDB applies a conditional write or a transaction atomically with respect to every
other write of the same items. moto's server handles requests on threads and checks a
condition and applies the write as separate steps, so two concurrent conditional writes can
both pass. Our concurrency tests (50 clients booking one slot) need the real guarantee, so this
wrapper runs moto's own WSGI application with a lock around DynamoDB requests; other services
(SQS long polls, for one) stay concurrent.

It also answers two read-only views of what moto recorded, for the tests, without building
moto's whole dashboard (`/moto-api/data.json`, which grows with every email of a test run and
takes seconds to render): `GET /_local/sent-email?to=ADDRESS` (SES raw messages, oldest first)
and `GET /_local/sent-sms?to=PHONE` (SNS texts).

usage: moto_server.py HOST PORT
"""

import json
import sys
import threading
from urllib.parse import parse_qs

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


def backends(backend_dict):
    """Every backend moto has created so far, across accounts and regions."""
    for regions in dict.values(backend_dict):
        yield from dict.values(regions)


def sent_email(address):
    from moto.ses.models import RawMessage, ses_backends

    return [
        {"destinations": m.destinations, "raw_data": m.raw_data}
        for backend in backends(ses_backends)
        for m in backend.sent_messages
        if isinstance(m, RawMessage) and address in m.destinations
    ]


def sent_sms(phone):
    from moto.sns.models import sns_backends

    return [
        {"phone_number": number, "message": text}
        for backend in backends(sns_backends)
        for number, text in backend.sms_messages.values()
        if number == phone
    ]


class SentMessages:
    VIEWS = {"/_local/sent-email": sent_email, "/_local/sent-sms": sent_sms}

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        view = self.VIEWS.get(environ.get("PATH_INFO", ""))
        if view is None:
            return self.app(environ, start_response)
        to = parse_qs(environ.get("QUERY_STRING", "")).get("to", [""])[0]
        body = json.dumps(view(to)).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    app = SentMessages(SerializedDynamoDB(DomainDispatcherApplication(create_backend_app)))
    run_simple(host, port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
