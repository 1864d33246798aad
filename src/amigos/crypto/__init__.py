"""Encoding and cryptography for accounts: bech32m (:mod:`.bech32`) and Ed25519 keys and
``amigo1…`` addresses (:mod:`.keys`: ``Account``, ``address_of``, ``parse_address``,
``verify_signature``).

Nothing is imported here eagerly: :mod:`.keys` loads libsodium, which confined worker
processes never need.
"""
