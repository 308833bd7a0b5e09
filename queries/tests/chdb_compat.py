"""Runs SQL statements, in order, on chDB (a current ClickHouse engine, PyPI chdb-core).

Reads a JSON list of {"name", "sql"} on stdin; prints one line per statement; exits 1 on the
first failure with the statement's name and ClickHouse's message.
"""
import json
import sys
import tempfile

try:
    from chdb import session
except ImportError:
    sys.exit("chdb is not installed: pip install chdb-core")

statements = json.load(sys.stdin)
with tempfile.TemporaryDirectory() as path:
    sess = session.Session(path)
    for statement in statements:
        try:
            sess.query(statement["sql"], "TSV")
        except Exception as error:  # chdb raises its own error types
            print(f"FAILED {statement['name']}: {error}\n--- SQL ---\n{statement['sql']}")
            sys.exit(1)
        print(f"ok {statement['name']}")
    version = sess.query("SELECT version()", "TSV").bytes().decode().strip()
    print(f"{len(statements)} statements ran on ClickHouse {version}")
