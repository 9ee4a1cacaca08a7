"""The README's newcomer path, run as written: build from a folder of git repositories, release,
tokenizer, tokens, a bounded `tiny` training run, the server, and an editor-shaped FIM request
with curl.

The block is read from README.md (the fenced block after ``<!-- newcomer-path -->``) and run as one
bash script with the virtual environment's ``bin`` first on PATH, as after ``. .venv/bin/activate``.
Three things are changed, and only these: ``~/code`` is a folder of real git repositories made here,
the training time limit is cut to 0.3 minutes, and port 8000 becomes a free port.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
from pathlib import Path

from helpers import REPO_ROOT, cli_env, commit_all, git, write

MARKER = "<!-- newcomer-path -->"
MIT = (
    "MIT License\n\nCopyright (c) 2024 {owner}\n\n"
    "Permission is hereby granted, free of charge, to any person obtaining a copy\n"
    'of this software and associated documentation files (the "Software"), to deal\n'
    "in the Software without restriction, including without limitation the rights\n"
    "to use, copy, modify, merge, publish, distribute, sublicense, and/or sell\n"
    "copies of the Software, and to permit persons to whom the Software is\n"
    "furnished to do so, subject to the following conditions:\n\n"
    "The above copyright notice and this permission notice shall be included in all\n"
    "copies or substantial portions of the Software.\n\n"
    'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR\n'
    "IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,\n"
    "FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE\n"
    "AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER\n"
    "LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,\n"
    "OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE\n"
    "SOFTWARE.\n"
)
# Standard-library packages whose modules stand in for a team's own code (real Python, several
# hundred KB in all), one repository each.
PACKAGES = ("json", "email", "http", "logging", "xml/dom", "importlib", "concurrent/futures", "urllib",
            "sqlite3", "unittest", "asyncio", "wsgiref")


def newcomer_block() -> str:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert MARKER in readme, "the README lost its newcomer path"
    found = re.search(r"```(?:bash|console|sh)\n(.*?)```", readme[readme.index(MARKER):], re.S)
    assert found, "no fenced block after the newcomer-path marker"
    return found.group(1)


def make_repositories(root: Path) -> Path:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for package in PACKAGES:
        repo = root / f"acme__{package.replace('/', '-')}"
        for source in sorted((stdlib / package).glob("*.py")):
            write(repo / "src" / source.name, source.read_text(encoding="utf-8"))
        write(repo / "LICENSE", MIT.format(owner="Acme Corp"))
        git(repo, "init", "-q")
        commit_all(repo, "import")
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_readme_newcomer_path_works_as_written(tmp_path: Path, _isolated_data_dir: Path) -> None:
    assert shutil.which("curl"), "the README's request uses curl (.ci/run installs it)"
    block = newcomer_block()
    for needed in ("~/code", "--time-limit 10", "8000", "stackwright serve", "curl"):
        assert needed in block, f"the newcomer path no longer has {needed!r}"
    repos = make_repositories(tmp_path / "code")
    port = free_port()
    script = (block.replace("~/code", str(repos)).replace("--time-limit 10", "--time-limit 0.3")
              .replace("8000", str(port)))
    # As a user's shell: stop at the first failing command, and stop the server when done.
    script = "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + script
    work = tmp_path / "work"
    work.mkdir()
    env = cli_env(PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
                  TRANSFORMERS_VERBOSITY="error")
    proc = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True, text=True,
                          timeout=900, check=False)
    assert proc.returncode == 0, (
        f"exit {proc.returncode}\nstdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}")
    assert "Traceback" not in proc.stderr

    # What each command wrote.
    manifest = json.loads((work / "releases/v1.0.0/manifest.json").read_text())
    assert manifest["rows"] > 50 and set(manifest["counts"]["license"]) == {"MIT"}
    assert manifest["repositories"] == len(PACKAGES)
    assert (work / "tokenizer/tokenizer.json").is_file()
    tokens = json.loads((work / "tokens/manifest.json").read_text())
    assert tokens["release"]["version"] == "v1.0.0"
    model = work / "runs/tiny/model"
    assert json.loads((model / "config.json").read_text())["model_type"] == "gpt_bigcode"
    assert (model / "README.md").is_file() and (model / "model.safetensors").is_file()

    # The editor's request got a completion, checked against the release.
    answer = json.loads(proc.stdout[proc.stdout.rindex('{"id"'):])
    print(json.dumps(answer, indent=2))  # shown with -s: the README's output
    choice = answer["choices"][0]
    assert isinstance(choice["text"], str) and answer["usage"]["completion_tokens"] > 0
    assert "attribution" in choice and isinstance(choice["attribution"]["checked"], bool)
