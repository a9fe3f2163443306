"""The JSON record an experiment writes as it goes, so that it can resume.

A record is `{"settings": {...}, "runs": {key: result}, ...}`. Experiments
save it after every finished run and skip the runs it already holds when
started again; runs made with other settings never mix into one record.
"""

import json
import os


def load(path, settings):
    """The record at `path`, or a new one, for runs made with `settings`.

    Args:
        path: the JSON file; it need not exist yet.
        settings: a JSON-serialisable dict of everything that makes two runs
            comparable (epochs, alphas, ...).

    Returns:
        The record, with `settings` set and its finished `runs`.

    Raises:
        SystemExit: `path` holds runs made with other settings.
    """
    record = {"runs": {}}
    if os.path.exists(path):
        with open(path) as f:
            record = json.load(f)
    if record["runs"] and record.get("settings") != settings:
        raise SystemExit(
            f"{path} holds runs with settings {record.get('settings')}, "
            f"not {settings}; pass another --out."
        )
    record["settings"] = settings
    return record


def tensorboard_root(path):
    """The folder of the TensorBoard runs that go next to the record at
    `path`."""
    return os.path.join(os.path.dirname(os.path.abspath(path)), "tensorboard")


def is_finished(path, record, key):
    """Whether `record` already holds run `key` (saying so when it does)."""
    if key in record["runs"]:
        print(f"{key}: already in {path}, skipped", flush=True)
        return True
    return False


def add_run(path, record, key, run, summarize):
    """Adds a finished run, refreshes `record["summary"]` with
    `summarize(record)` and saves the record to `path` at once."""
    record["runs"][key] = run
    record["summary"] = summarize(record)
    save(path, record)


def finish(path, record, summarize, format_summary):
    """Summarizes and saves the record, prints its summary and where its
    curves are, and returns it.

    Raises:
        SystemExit: the record holds no finished run.
    """
    if not record["runs"]:
        raise SystemExit(f"no finished runs in {path}")
    record["summary"] = summarize(record)
    save(path, record)
    print(format_summary(record))
    print(f"Curves: tensorboard --logdir {tensorboard_root(path)}")
    return record


def save(path, record):
    """Writes `record` to `path` atomically (never a half-written file to
    resume from), creating its folder."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    temporary = path + ".tmp"
    with open(temporary, "w") as f:
        json.dump(record, f, indent=2)
    os.replace(temporary, path)
