"""Evidence: signed export manifests, content credentials, and their verification.

See docs/design/evidence.md. ``manifest`` builds a session's manifest,
``signing`` signs and checks it, ``keys`` loads and generates the keys,
``verify`` checks files, packages and the archive, ``package`` writes the
evidence ZIP, ``c2pa`` embeds C2PA content credentials.
"""
