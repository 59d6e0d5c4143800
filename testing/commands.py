"""Run manage.py in a subprocess, as an operator would (its own settings, its own database)."""

import subprocess
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
PYTHON = PROJECT / ".venv" / "bin" / "python"


def manage(
    *args: str, env: dict | None, check: bool = True, timeout: float = 300, **options
) -> subprocess.CompletedProcess:
    """manage.py with these arguments and environment; its output is captured as text unless
    options direct it elsewhere. With check, a non-zero exit raises, showing the output."""
    if not {"stdout", "stderr"} & options.keys():
        options["capture_output"] = True
    result = subprocess.run(
        [str(PYTHON), "manage.py", *args],
        cwd=PROJECT,
        env=env,
        text=True,
        timeout=timeout,
        **options,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"manage.py {' '.join(args)} failed ({result.returncode}):\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return result
