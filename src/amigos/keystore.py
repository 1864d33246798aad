"""The keystore: the accounts of one user, in a folder only they can read.

Each account is a JSON file ``FOLDER/NAME.json`` (mode 0600, the folder 0700) holding its
name, address and public key in the clear, and its 32-byte secret seed either

* encrypted with a passphrase: the key is derived with Argon2id (``nacl.pwhash.argon2id``,
  salt and limits stored beside it) and the seed sealed with XSalsa20-Poly1305
  (``nacl.secret.SecretBox``); or
* kept in the operating system's keyring (the ``keyring`` package, when it is installed and
  has a real backend), the file then only naming the keyring entry.

A device's *session key* (``amigos session pair``) is an account of the keystore like any
other, whose file also says which account it acts for (``acting_for``): its own address is that
of the key, but it signs that account's transactions, within the session the account's master
granted it.

Reading is strict: a file or folder that others may read, a symbolic link, a file that is not
one of ours, Argon2 limits outside sane bounds (a planted file could ask for terabytes), or a
seed that does not give the stored address are all refused with a :class:`KeystoreError`
naming the file. A wrong passphrase is a :class:`WrongPassphrase`.
"""

from __future__ import annotations

import json
import os
import re
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import nacl.exceptions
import nacl.pwhash
import nacl.secret
import nacl.utils

from .crypto.keys import SEED_SIZE, Account, is_canonical_address
from .errors import AmigosError

FORMAT = "amigos-keystore/1"
KEYRING_SERVICE = "amigos"
MAX_FILE_BYTES = 64 * 1024
NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
OPSLIMIT = nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE
MEMLIMIT = nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE
PROTECTIONS = ("passphrase", "keyring")

Passphrase = Callable[[], str]
"""Asked for the passphrase only when one is needed (a keyring account needs none)."""


class KeystoreError(AmigosError):
    """A keystore file or folder that cannot be used as it is; the message says which and why."""


class WrongPassphrase(KeystoreError):
    """The passphrase does not open the account's sealed seed."""


@dataclass(frozen=True)
class StoredAccount:
    """What a keystore file says in the clear: enough to show an account, not to sign."""

    name: str
    address: str
    public_key: bytes
    protection: str
    created: int
    path: Path
    acting_for: str | None = None
    """The account this key signs for as a device session; None: its own address's."""

    @property
    def acts_as(self) -> str:
        """The address whose transactions this key signs."""
        return self.acting_for or self.address

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "address": self.address, "public_key": self.public_key.hex(),
                "protection": self.protection, "created": self.created, "file": str(self.path),
                "acting_for": self.acting_for}


def check_name(name: object) -> str:
    """Account names are file names: lower-case letters, digits, ``_`` and ``-``, 1-32 long."""
    if type(name) is not str or not NAME.fullmatch(name):
        raise KeystoreError(f"account name {name!r} must be 1-32 lower-case letters, digits, _ or -, starting with a letter")
    return name


def keyring_backend() -> Any | None:
    """The OS keyring, if the ``keyring`` package is installed and has a backend that stores
    something (not its ``fail`` or ``null`` placeholder)."""
    try:
        import keyring
        from keyring.backends import fail, null
    except ImportError:
        return None
    backend = keyring.get_keyring()
    if isinstance(backend, (fail.Keyring, null.Keyring)):
        return None
    return backend


def check_private(path: Path, *, folder: bool) -> os.stat_result:
    """Refuse a keystore path that is a link, not ours, or open to group or others."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise KeystoreError(f"{path} does not exist") from None
    kind_ok = stat.S_ISDIR(info.st_mode) if folder else stat.S_ISREG(info.st_mode)
    if not kind_ok:
        raise KeystoreError(f"{path} is not a {'folder' if folder else 'regular file'} (a link?): refusing to use it")
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise KeystoreError(f"{path} belongs to another user: refusing to use it")
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        mode = "700" if folder else "600"
        raise KeystoreError(f"{path} may be read by others (mode {stat.S_IMODE(info.st_mode):o}): "
                            f"run chmod {mode} {path} if nobody else could have changed it")
    return info


def make_private_folder(folder: Path) -> None:
    """Create ``folder`` (and missing parents) readable by its owner only, or check it is so."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    for path in reversed(missing):  # the folders made here are private too (the config folder)
        path.mkdir(mode=0o700)
        os.chmod(path, 0o700)  # mkdir's mode is masked by the umask
    check_private(folder, folder=True)


def write_private_file(path: Path, data: bytes, *, replace: bool) -> None:
    """Write ``data`` to ``path`` (mode 0600) whole or not at all. Without ``replace`` an
    existing file is never overwritten (the link fails instead)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if replace:
            os.replace(temporary, path)
        else:
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def read_private_file(path: Path) -> bytes:
    """The bytes of a keystore file that :func:`check_private` passed, checked again on the
    descriptor read (so a file swapped in between is refused)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO) or not stat.S_ISREG(info.st_mode):
            raise KeystoreError(f"{path} changed while it was read: refusing to use it")
        data = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise KeystoreError(f"{path} is too large to be a keystore file")
    return data


def seal(seed: bytes, passphrase: str) -> dict[str, Any]:
    """The seed sealed under a key Argon2id derives from ``passphrase``."""
    salt = nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
    key = nacl.pwhash.argon2id.kdf(nacl.secret.SecretBox.KEY_SIZE, passphrase.encode("utf-8"), salt,
                                   opslimit=OPSLIMIT, memlimit=MEMLIMIT)
    return {"kdf": "argon2id", "salt": salt.hex(), "opslimit": OPSLIMIT, "memlimit": MEMLIMIT,
            "sealed": nacl.secret.SecretBox(key).encrypt(seed).hex()}


def unseal(sealed: dict[str, Any], passphrase: str, path: Path) -> bytes:
    """The seed of :func:`seal`'s output; the Argon2 limits must be within libsodium's range
    and no more than the 'sensitive' preset, so a planted file cannot ask for all memory."""
    argon = nacl.pwhash.argon2id
    opslimit, memlimit = sealed.get("opslimit"), sealed.get("memlimit")
    if sealed.get("kdf") != "argon2id" or type(opslimit) is not int or type(memlimit) is not int:
        raise KeystoreError(f"{path}: unknown key derivation")
    if not (argon.OPSLIMIT_MIN <= opslimit <= argon.OPSLIMIT_SENSITIVE
            and argon.MEMLIMIT_MIN <= memlimit <= argon.MEMLIMIT_SENSITIVE):
        raise KeystoreError(f"{path}: Argon2id limits out of bounds")
    try:
        salt = bytes.fromhex(sealed["salt"])
        box = bytes.fromhex(sealed["sealed"])
    except (KeyError, TypeError, ValueError):
        raise KeystoreError(f"{path}: the sealed seed is not hex") from None
    if len(salt) != argon.SALTBYTES:
        raise KeystoreError(f"{path}: the salt is not {argon.SALTBYTES} bytes")
    key = argon.kdf(nacl.secret.SecretBox.KEY_SIZE, passphrase.encode("utf-8"), salt, opslimit=opslimit, memlimit=memlimit)
    try:
        return nacl.secret.SecretBox(key).decrypt(box)
    except nacl.exceptions.CryptoError:
        raise WrongPassphrase(f"wrong passphrase for {path}") from None


class Keystore:
    """The accounts in ``folder`` (created 0700 on first write)."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def path(self, name: str) -> Path:
        return self.folder / f"{check_name(name)}.json"

    def names(self) -> list[str]:
        if not self.folder.exists():
            return []
        check_private(self.folder, folder=True)
        return sorted(p.stem for p in self.folder.glob("*.json") if NAME.fullmatch(p.stem))

    def accounts(self) -> list[StoredAccount]:
        return [self.get(name) for name in self.names()]

    def exists(self, name: str) -> bool:
        return self.path(name).exists()

    def find(self, name: str) -> StoredAccount | None:
        """The account ``name`` if that is an account name with a file here, else None: for a
        command argument that names an account or is something else (an address, a key)."""
        if not NAME.fullmatch(name) or not self.exists(name):
            return None
        return self.get(name)

    def get(self, name: str) -> StoredAccount:
        """The account ``name`` as its file says, after checking the file."""
        return self._load(name)[0]

    def _load(self, name: str) -> tuple[StoredAccount, dict[str, Any]]:
        path = self.path(name)
        if not path.exists():
            raise KeystoreError(f"no account {name!r} in {self.folder}")
        check_private(self.folder, folder=True)
        check_private(path, folder=False)
        try:
            body = json.loads(read_private_file(path).decode("utf-8"))
            if type(body) is not dict or body.get("format") != FORMAT:
                raise ValueError("not an amigos keystore file")
            public_key = bytes.fromhex(body["public_key"])
            stored = StoredAccount(name=body["name"], address=body["address"], public_key=public_key,
                                   protection=body["protection"], created=int(body["created"]), path=path,
                                   acting_for=body.get("acting_for"))
        except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise KeystoreError(f"{path} is not a readable keystore file ({exc}): restore it from a backup "
                                "or remove it") from None
        if stored.name != name or stored.protection not in PROTECTIONS or type(stored.address) is not str:
            raise KeystoreError(f"{path} does not describe account {name!r}")
        if stored.acting_for is not None and not is_canonical_address(stored.acting_for):
            raise KeystoreError(f"{path}: acting_for is not an amigo1… address")
        return stored, body

    def create(self, name: str, account: Account, *, protection: str, passphrase: Passphrase,
               acting_for: str | None = None) -> StoredAccount:
        """Store ``account`` as ``name`` (which must be new); ``acting_for``: the account it
        signs for as a device session."""
        if protection not in PROTECTIONS:
            raise KeystoreError(f"protection is one of {', '.join(PROTECTIONS)}")
        if acting_for is not None and (not is_canonical_address(acting_for) or acting_for == account.address):
            raise KeystoreError("a session key acts for another account's amigo1… address (lower case)")
        path = self.path(name)
        make_private_folder(self.folder)
        if path.exists():
            raise KeystoreError(f"an account named {name!r} exists already ({path})")
        body: dict[str, Any] = {"format": FORMAT, "name": name, "address": account.address,
                                "public_key": account.public_key.hex(), "protection": protection,
                                "created": int(time.time())}
        if acting_for is not None:
            body["acting_for"] = acting_for
        if protection == "keyring":
            backend = keyring_backend()
            if backend is None:
                raise KeystoreError("no usable OS keyring (install the keyring package with a backend), use a passphrase")
            backend.set_password(KEYRING_SERVICE, account.address, account.seed.hex())
        else:
            body["secret"] = seal(account.seed, passphrase())
        try:
            write_private_file(path, json.dumps(body, indent=2).encode(), replace=False)
        except FileExistsError:
            raise KeystoreError(f"an account named {name!r} exists already ({path})") from None
        return self.get(name)

    def act_for(self, name: str, address: str) -> StoredAccount:
        """Make the key of ``name`` sign for ``address`` from now on (a recovery made it that
        account's master); its own address undoes it."""
        stored, body = self._load(name)
        if not is_canonical_address(address):
            raise KeystoreError(f"{address!r} is not an amigo1… address (lower case)")
        if address == stored.address:
            body.pop("acting_for", None)
        else:
            body["acting_for"] = address
        write_private_file(stored.path, json.dumps(body, indent=2).encode(), replace=True)
        return self.get(name)

    def unlock(self, name: str, passphrase: Passphrase) -> Account:
        """The account ``name``, able to sign: its seed unsealed (or read from the keyring) and
        checked against the stored address."""
        stored, body = self._load(name)
        if stored.protection == "keyring":
            backend = keyring_backend()
            if backend is None:
                raise KeystoreError(f"account {name!r} is in the OS keyring, which is not usable here")
            secret = backend.get_password(KEYRING_SERVICE, stored.address)
            if secret is None:
                raise KeystoreError(f"the OS keyring has no key for account {name!r} ({stored.address})")
            try:
                seed = bytes.fromhex(secret)
            except ValueError:
                seed = b""
        else:
            sealed = body.get("secret")
            if type(sealed) is not dict:
                raise KeystoreError(f"{stored.path} holds no sealed seed")
            seed = unseal(sealed, passphrase(), stored.path)
        if len(seed) != SEED_SIZE:
            raise KeystoreError(f"the stored seed of account {name!r} is not {SEED_SIZE} bytes")
        account = Account.from_seed(seed)
        if account.address != stored.address or account.public_key != stored.public_key:
            raise KeystoreError(f"{stored.path}: the seed does not give the stored address (the file was changed)")
        return account
