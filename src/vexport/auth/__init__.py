"""Who is calling, and what they may do: users, tokens, permissions, audit.

Below the job engine (``jobs`` asks ``principal.current()`` what the caller
may do) and above nothing but the configuration; the protocol adapters
(``api/grpc/auth.py``, ``api/http/auth.py``) turn call metadata and headers
into a ``Principal`` with the ``Authenticator``. See ``docs/design/auth.md``.
"""
