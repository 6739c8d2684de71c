"""The dashboards, one grafanalib module each: ``UID``, ``TITLE`` and ``dashboard()``."""
