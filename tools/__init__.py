"""Maintenance commands, run as `python -m tools.<name>`: `make_docs`
writes the pages that quote measurements from the recorded JSON."""
