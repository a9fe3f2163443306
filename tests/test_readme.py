"""The README's Python examples run as written, in order."""

import os
import re

README = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md"
)


def test_readme_python_blocks_run(tmp_path, monkeypatch, capsys):
    # Top-level blocks run; indented ones (inside list items) are fragments
    # that need more than one machine, e.g. the multi-worker loop.
    with open(README) as f:
        blocks = re.findall(r"^```python\n(.*?)^```$", f.read(), flags=re.S | re.M)
    assert len(blocks) >= 5
    monkeypatch.chdir(tmp_path)  # the examples save files
    namespace = {}
    for block in blocks:
        exec(compile(block, README, "exec"), namespace)
    assert namespace["restored"].alpha == 0.2
    assert namespace["net"].lambda_mode == "per_batch"
    assert "Mixup: alpha=0.2" in capsys.readouterr().out
    assert (tmp_path / "logs" / "readme_run" / "mixed_batch.png").exists()
    assert namespace["distributed"].mixup_config()["seed"] == 0
