"""Node identities in libp2p's textual forms: base58btc peer ids (`12D3KooW...`) and keypairs."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

# protobuf PublicKey{Type: Ed25519, Data: 32 bytes} and PrivateKey{Type: Ed25519, Data: 64 bytes}
_PUBLIC_KEY_PREFIX = bytes([0x08, 0x01, 0x12, 0x20])
_PRIVATE_KEY_PREFIX = bytes([0x08, 0x01, 0x12, 0x40])
# multihash "identity" code (0x00) with the 36-byte protobuf as digest
_IDENTITY_MULTIHASH_PREFIX = bytes([0x00, 0x24])


def b58encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    encoded = ""
    while number:
        number, remainder = divmod(number, 58)
        encoded = _ALPHABET[remainder] + encoded
    leading_zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * leading_zeros + encoded


def b58decode(text: str) -> bytes:
    number = 0
    for char in text:
        index = _ALPHABET.find(char)
        if index < 0:
            raise ValueError(f"invalid base58 character {char!r}")
        number = number * 58 + index
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    leading_ones = len(text) - len(text.lstrip("1"))
    return b"\0" * leading_ones + body


@dataclass(frozen=True)
class Identity:
    peer_id: str
    keypair: str

    @classmethod
    def generate(cls) -> Identity:
        # The simulator never signs anything, so a random "public key" stands in for the one a
        # real ed25519 seed would derive; the encodings are the real ones.
        seed = secrets.token_bytes(32)
        public_key = secrets.token_bytes(32)
        private = _PRIVATE_KEY_PREFIX + seed + public_key
        return cls(peer_id=peer_id_for(public_key), keypair=b58encode(private))


def peer_id_for(public_key: bytes) -> str:
    return b58encode(_IDENTITY_MULTIHASH_PREFIX + _PUBLIC_KEY_PREFIX + public_key)
