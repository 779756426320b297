"""The secrets in a data folder that stored data depends on, carried along when a store is copied.

Why: phone identities are stored as sha256(phone salt + digits), so a copy that starts in a new data
folder with a freshly generated salt finds nobody by phone any more (404 where it worked before); console
sessions are signed with the session secret, so a new one logs every editor out. Both files are copied
to the destination's data folder (created 0600), or — when the destination already holds a different
one — the copy stops before writing anything unless told to replace it (the old file is kept beside it).
A secret configured in the environment instead (CONTENTHUB_PHONE_SALT, CONTENTHUB_SESSION_SECRET) is
not in any folder: the report says to configure the destination with the same value.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from contenthub.config import PHONE_SALT_FILE, SESSION_SECRET_FILE, Settings
from contenthub.timeutil import utcnow

DATA_SECRETS: dict[str, tuple[str, str]] = {
    PHONE_SALT_FILE: ("phone_salt", "phone identities are stored hashed with it"),
    SESSION_SECRET_FILE: ("session_secret", "console sessions are signed with it"),
}
"""File in the data folder → (the setting that replaces it, what depends on it)."""


@dataclass
class SecretsPlan:
    """What carrying the secrets will do: lines to tell, files to write, and conflicts that stop the copy."""

    lines: list[str] = field(default_factory=list)
    writes: list[tuple[Path, Path, Path | None]] = field(default_factory=list)  # (source, target, backup)
    conflicts: list[str] = field(default_factory=list)


def plan_secrets(src_dir: Path, dst_dir: Path, settings: Settings, *, replace: bool = False) -> SecretsPlan:
    plan = SecretsPlan()
    same = src_dir.resolve() == dst_dir.resolve()
    for name, (setting, why) in DATA_SECRETS.items():
        if getattr(settings, setting):
            plan.lines.append(
                f"secret {name}: set by CONTENTHUB_{setting.upper()}, not a file; run the destination "
                f"with the same value ({why})"
            )
            continue
        src, dst = src_dir / name, dst_dir / name
        if not src.exists():
            plan.lines.append(f"secret {name}: none in {src_dir} (nothing depends on it yet)")
        elif same:
            plan.lines.append(f"secret {name}: kept (same data folder {dst_dir})")
        elif not dst.exists():
            plan.writes.append((src, dst, None))
            plan.lines.append(f"secret {name}: copied to {dst_dir} ({why})")
        elif dst.read_text().strip() == src.read_text().strip():
            plan.lines.append(f"secret {name}: {dst_dir} already holds the same one")
        elif replace:
            backup = dst.with_name(f"{name}.replaced-{utcnow():%Y%m%dT%H%M%SZ}")
            plan.writes.append((src, dst, backup))
            plan.lines.append(f"secret {name}: replaced in {dst_dir} (the old one kept as {backup.name}; {why})")
        else:
            plan.conflicts.append(
                f"{dst} differs from {src} ({why}: data copied from the source would not match it). "
                "Pass --replace-secrets to replace it (the old one is kept beside it), or copy "
                "into another data folder."
            )
    return plan


def apply_secrets(plan: SecretsPlan) -> None:
    for src, dst, backup in plan.writes:
        dst.parent.mkdir(parents=True, exist_ok=True)
        if backup is not None:
            dst.replace(backup)
        tmp = dst.with_name(dst.name + ".tmp")
        tmp.write_text(src.read_text())
        tmp.chmod(0o600)
        os.replace(tmp, dst)
