"""Runs moto's own server (moto.server.main) for the benchmark at Organization scale, with two
changes that leave every answer as it is:

- moto finds the account of a request by scanning the IAM access keys of every account it
  knows, on every request (moto.iam.models.get_account_id_from). With 1,000 accounts that
  scan is most of moto's time per call, and it would make the emulator, not the code under
  test, the figure. Access keys are random and never move between accounts, so the answer
  for a key is remembered.
- werkzeug's line per request is not written: 100,000 lines cost moto time and say nothing.

Usage: python3 moto_tuned.py -H 127.0.0.1 -p PORT (moto_server's flags).
"""
import logging
import sys

import moto.iam.models as iam_models
from moto.server import main

_scan = iam_models.get_account_id_from
_accounts: dict[str, str] = {}


def get_account_id_from(access_key: str) -> str:
    account = _accounts.get(access_key)
    if account is None:
        account = _scan(access_key)
        _accounts[access_key] = account
    return account


iam_models.get_account_id_from = get_account_id_from
logging.getLogger("werkzeug").setLevel(logging.WARNING)

if __name__ == "__main__":
    main(sys.argv[1:])
