"""Runs moto's own server (moto.server.main), made to behave like AWS where the local world's
outcome depends on it, and optionally tuned for the benchmark.

Always (AWS as it is):

- EventBridge puts the "account" field in every event it delivers to a target
  (https://docs.aws.amazon.com/eventbridge/latest/ref/overiew-event-structure.html: "account:
  The 12-digit number identifying an AWS account"). moto 5.2.1 delivers events without it
  (moto/events/utils.py, EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE has no "account"),
  so the sweep could not check that a manual request comes from the install account. The
  default template gets the field, from the event moto built (the putting account).

- DynamoDB's single-item writes are atomic: "Individual write operations such as UpdateItem
  are atomic and always operate on the most recent version of the item, regardless of
  concurrency" (Amazon DynamoDB Developer Guide, "Best practices for handling concurrent
  updates in DynamoDB"), so of two conditional writes that race, one fails its condition.
  moto 5.2.1 checks the condition and then writes, with no lock (moto/dynamodb/models/
  __init__.py, DynamoDBBackend.put_item, update_item, delete_item, transact_write_items), and
  its server answers requests in threads: two workers could both claim the same thing (a
  start slot, the generation of a template). The backend's writes are serialized.

Always (speed only; every answer stays as it is):

- EventBridge builds each delivered event from eight JSONPath expressions, and jsonpath_ng
  generates its parser tables afresh for each one it parses (moto/events/utils.py,
  EventTemplateParser.parse, jsonpath_ng.ext.parse): 65 ms each, half a second of moto's time
  per event and target, so putting 1,000 events took six minutes. The parsed expressions are
  remembered by their text.

With --tuned (the benchmark at Organization scale; every answer stays as it is):

- moto finds the account of a request by scanning the IAM access keys of every account it
  knows, on every request (moto.iam.models.get_account_id_from). With 1,000 accounts that
  scan is most of moto's time per call, and it would make the emulator, not the code under
  test, the figure. Access keys are random and never move between accounts, so the answer
  for a key is remembered.
- An SQS send reads the queue's attributes four times (ContentBasedDeduplication), a batch
  entry six, and moto
  builds them all on every read, message counts included, each a scan of every message in
  the queue with two clock reads per message (moto.sqs.models.Queue.attributes,
  approximate_number_of_messages*). Filling a FIFO queue with 1,000 messages in batches of 10
  took 151 s (2.3 s tuned); 10,000 would take hours. While a message is validated and sent,
  the attributes are built without the counts, which that path never reads.
- werkzeug's line per request is not written: 100,000 lines cost moto time and say nothing.

Usage: python3 moto_server.py [--tuned] -H 127.0.0.1 -p PORT (moto_server's flags).
"""
import functools
import logging
import sys
import threading

import jsonpath_ng.ext as jsonpath_ext

from moto.events import utils as events_utils
from moto.server import main

events_utils.EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE = events_utils.EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE.replace(
    '"version": "0",', '"version": "0", "account": "<account>",'
)
jsonpath_ext.parse = functools.lru_cache(maxsize=1024)(jsonpath_ext.parse)


def atomic_dynamodb_writes() -> None:
    from moto.dynamodb import models as dynamodb_models

    lock = threading.RLock()

    def serialized(fn):  # type: ignore[no-untyped-def]
        @functools.wraps(fn)
        def wrapped(*args, **kwargs):  # type: ignore[no-untyped-def]
            with lock:
                return fn(*args, **kwargs)

        return wrapped

    backend = dynamodb_models.DynamoDBBackend
    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        setattr(backend, name, serialized(getattr(backend, name)))


atomic_dynamodb_writes()


def tune() -> None:
    import moto.iam.models as iam_models

    scan = iam_models.get_account_id_from
    accounts: dict[str, str] = {}

    def get_account_id_from(access_key: str) -> str:
        account = accounts.get(access_key)
        if account is None:
            account = scan(access_key)
            accounts[access_key] = account
        return account

    iam_models.get_account_id_from = get_account_id_from
    tune_sqs()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def tune_sqs() -> None:
    from moto.core.utils import camelcase_to_underscores
    from moto.sqs import models as sqs_models

    full = sqs_models.Queue.attributes.fget
    local = threading.local()

    def attributes(self):  # type: ignore[no-untyped-def]
        if not getattr(local, "sending", False):
            return full(self)
        names = list(self.BASE_ATTRIBUTES) + (list(self.FIFO_ATTRIBUTES) if self.fifo_queue else [])
        out = {}
        for name in names:
            if name.startswith("Approximate"):
                continue
            value = getattr(self, camelcase_to_underscores(name))
            out[name] = str(value).lower() if isinstance(value, bool) else value
        return out

    def sending(fn):  # type: ignore[no-untyped-def]
        def wrapped(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            outer = getattr(local, "sending", False)
            local.sending = True
            try:
                return fn(self, *args, **kwargs)
            finally:
                local.sending = outer

        return wrapped

    sqs_models.Queue.attributes = property(attributes)
    for name in ("send_message", "_validate_message"):  # send_message_batch calls both
        setattr(sqs_models.SQSBackend, name, sending(getattr(sqs_models.SQSBackend, name)))


if __name__ == "__main__":
    args = sys.argv[1:]
    if "--tuned" in args:
        args.remove("--tuned")
        tune()
    main(args)
