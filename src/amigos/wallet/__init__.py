"""What a wallet does besides signing: back up a master seed as SLIP-39 shares
(:mod:`.backup`) and ask to be paid with an ``amigos:`` URI and its QR code (:mod:`.request`)."""

from .backup import combine_shares, split_seed
from .request import PaymentRequest, parse_payment_uri, qr_svg, qr_terminal, save_qr

__all__ = ["PaymentRequest", "combine_shares", "parse_payment_uri", "qr_svg", "qr_terminal", "save_qr", "split_seed"]
