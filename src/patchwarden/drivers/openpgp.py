"""Checking detached OpenPGP signatures (``.asc``) with GnuPG, against given keys only.

:class:`OpenPgpKeyring` imports the keys it is given into a keyring of its own, in a
temporary ``GNUPGHOME`` (never the user's), checks that each key's fingerprint is the one
its publisher announced, and verifies signatures with ``gpgv`` against that keyring alone:
a signature by any other key, however trusted elsewhere, does not verify. GnuPG runs as a
subprocess with argument lists (no shell), reading data from files in that directory, and
its machine-readable status lines (``--status-fd``) are what is read, not its messages.
The directory is deleted by :meth:`OpenPgpKeyring.close`.

Debian packages: ``gnupg`` (``gpg``, to import and list keys) and ``gpgv``.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from patchwarden.errors import DriverError

__all__ = ["OpenPgpKey", "OpenPgpKeyring", "SignatureInvalid", "parse_status"]

_TIMEOUT_S = 60.0


class SignatureInvalid(DriverError):
    """A signature that does not verify with any of the keyring's keys."""


@dataclass(frozen=True)
class OpenPgpKey:
    """A public key as published: its bytes (armored or binary) and announced fingerprint.

    Attributes:
        data: The key, as fetched.
        fingerprint: The fingerprint its publisher announced (hex, spaces allowed); empty
            when none was announced.
        source: Where the key came from, for messages.
    """

    data: bytes
    fingerprint: str
    source: str


def _normalised(fingerprint: str) -> str:
    return "".join(fingerprint.split()).upper()


def parse_status(text: str) -> tuple[set[str], set[str]]:
    r"""From GnuPG status lines: primary fingerprints of valid signatures, and bad signers.

    ``VALIDSIG <sig-key-fpr> ... <primary-key-fpr>`` marks a good signature (its last field
    is the primary key's fingerprint); ``BADSIG <keyid> <user>`` a bad one.

    Example:
        >>> good = ["[GNUPG:] GOODSIG AB12 t",
        ...         "[GNUPG:] VALIDSIG SUB 2026-12-03 1 0 4 0 22 10 00 PRIM"]
        >>> parse_status("\n".join(good))
        ({'PRIM'}, set())
        >>> parse_status("[GNUPG:] BADSIG AB12 someone")
        (set(), {'AB12'})
    """
    valid: set[str] = set()
    bad: set[str] = set()
    for line in text.splitlines():
        words = line.split()
        if len(words) < 3 or words[0] != "[GNUPG:]":
            continue
        if words[1] == "VALIDSIG":
            valid.add(words[-1].upper() if len(words) >= 12 else words[2].upper())
        elif words[1] == "BADSIG":
            bad.add(words[2])
    return valid, bad


class OpenPgpKeyring:
    """A keyring of given public keys in a temporary ``GNUPGHOME``; verify against it only.

    Raises:
        DriverError: GnuPG is not installed, a key cannot be imported, or a key's
            fingerprint is not the announced one (the keyring is not made).
    """

    def __init__(self, keys: Sequence[OpenPgpKey]) -> None:
        gpg, gpgv = shutil.which("gpg"), shutil.which("gpgv")
        if gpg is None or gpgv is None:
            raise DriverError("checking OpenPGP signatures needs gpg and gpgv (Debian: gnupg)")
        self._gpg, self._gpgv = gpg, gpgv
        self._home = Path(tempfile.mkdtemp(prefix="patchwarden-gpg-"))
        self._keyring = self._home / "trusted.gpg"
        try:
            self.fingerprints = self._import(keys)
        except BaseException:
            self.close()
            raise

    def _run(self, args: Sequence[str], *, what: str) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                list(args),
                capture_output=True,
                text=True,
                timeout=_TIMEOUT_S,
                check=False,
                env={"GNUPGHOME": str(self._home), "LC_ALL": "C", "PATH": "/usr/bin:/bin"},
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise DriverError(f"{what}: {error}") from None

    def _import(self, keys: Sequence[OpenPgpKey]) -> tuple[str, ...]:
        found: list[str] = []
        for i, key in enumerate(keys):
            path = self._home / f"key-{i}"
            path.write_bytes(key.data)
            before = set(self._listed())
            done = self._run(
                [self._gpg, "--batch", "--no-tty", "--quiet", "--import", str(path)],
                what=f"importing the key from {key.source}",
            )
            new = [f for f in self._listed() if f not in before]
            if done.returncode != 0 or not new:
                reason = done.stderr.strip().splitlines()[-1:] or ["no key in it"]
                raise DriverError(f"{key.source}: not an OpenPGP public key ({reason[0]})")
            wanted = _normalised(key.fingerprint)
            if wanted and wanted not in new:
                raise DriverError(
                    f"{key.source}: the key's fingerprint is {', '.join(new)}, not the "
                    f"announced {wanted}; it is not the publisher's key"
                )
            found.extend(new)
        exported = self._run(
            [self._gpg, "--batch", "--no-tty", "--yes", "--output", str(self._keyring),
             "--export", *found],
            what="exporting the keyring",
        )  # fmt: skip
        if exported.returncode != 0:
            raise DriverError(f"cannot export the keyring: {exported.stderr.strip()}")
        return tuple(found)

    def _listed(self) -> list[str]:
        """Primary key fingerprints in the home's keyring (``fpr`` after each ``pub``)."""
        listed = self._run(
            [self._gpg, "--batch", "--no-tty", "--with-colons", "--fingerprint", "--list-keys"],
            what="listing keys",
        )
        out: list[str] = []
        primary = False
        for line in listed.stdout.splitlines():
            fields = line.split(":")
            if fields[0] == "pub":
                primary = True
            elif fields[0] == "sub":
                primary = False
            elif fields[0] == "fpr" and primary and len(fields) > 9:
                out.append(fields[9].upper())
                primary = False
        return out

    def verify(self, data: bytes, signature: bytes, name: str) -> str:
        """The fingerprint of the keyring's key that signed ``data``.

        Raises:
            SignatureInvalid: the signature is bad, by another key, or not a signature.
        """
        signed, sig = self._home / "document", self._home / "document.asc"
        signed.write_bytes(data)
        sig.write_bytes(signature)
        try:
            done = self._run(
                [self._gpgv, "--status-fd", "1", "--keyring", str(self._keyring),
                 str(sig), str(signed)],
                what=f"verifying {name}",
            )  # fmt: skip
        finally:
            signed.unlink(missing_ok=True)
            sig.unlink(missing_ok=True)
        valid, bad = parse_status(done.stdout)
        ours = valid & set(self.fingerprints)
        if done.returncode == 0 and ours:
            return sorted(ours)[0]
        if bad:
            why = "BAD signature: the document is not what the key signed"
        elif "NO_PUBKEY" in done.stdout:
            why = "signed by a key that is not the provider's"
        else:
            why = "not a valid OpenPGP signature"
        raise SignatureInvalid(f"{name}: {why}")

    def close(self) -> None:
        """Stop any GnuPG daemon started for the temporary ``GNUPGHOME``, then delete it."""
        gpgconf = shutil.which("gpgconf")
        if gpgconf is not None and self._home.exists():
            self._run([gpgconf, "--kill", "all"], what="stopping GnuPG's daemons")
        shutil.rmtree(self._home, ignore_errors=True)

    def __enter__(self) -> OpenPgpKeyring:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
