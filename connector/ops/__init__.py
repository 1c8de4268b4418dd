"""Operator tools: views and actions on the store, retention, and offline document builds.

    views.py      status, show, retry, quarantine list/release/purge
    retention.py  `connector prune`: what is deleted, when, and what is kept forever
    offline.py    `connector build` / `preview`: the build path on files, sending nothing
"""
