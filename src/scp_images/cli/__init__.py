"""The ``scp-images`` command: ``image …`` for users, ``admin …``, ``serve`` and ``worker`` for operators."""
