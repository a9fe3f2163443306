"""The scaling benchmark keeps working (a smoke test: no timing is asserted),
and reads collectives and their bytes from compiled HLO."""

from benchmarks import scaling
from tests.backends import once_in

HLO = """
  %all-reduce.1 = f32[3,3,1,32]{3,2,1,0} all-reduce(f32[3,3,1,32]{3,2,1,0} %p), replica_groups={{0,1}}
  %ag = (f32[64,16,16,3]{3,2,1,0}, s32[64]{0}) all-gather-start(f32[32,16,16,3]{3,2,1,0} %x, s32[32]{0} %y)
  %cp = bf16[8]{0} collective-permute(bf16[8]{0} %z), source_target_pairs={{0,1}}
  %add = f32[8]{0} add(f32[8]{0} %a, f32[8]{0} %b)
"""


def test_collectives_and_their_bytes_from_hlo_text():
    found = scaling.collectives_of(HLO)
    assert found["all-reduce"] == {"count": 1, "bytes": 3 * 3 * 32 * 4}
    assert found["all-gather"] == {"count": 1, "bytes": 64 * 16 * 16 * 3 * 4 + 64 * 4}
    assert found["collective-permute"] == {"count": 1, "bytes": 8 * 2}
    assert found["all-to-all"]["count"] == found["reduce-scatter"]["count"] == 0


@once_in("jax")  # each device count in a JAX process of its own
def test_tiny_run_reports_every_device_count(tmp_path):
    report = scaling.main([
        "--devices", "1", "2", "--per-device-batch", "4", "--blocks", "2",
        "--seconds", "0.05", "--steps", "1", "--out", str(tmp_path), "--tag", "tiny",
    ])
    rows = report["rows"]
    assert [row["devices"] for row in rows] == [1, 2]
    assert [row["global_batch"] for row in rows] == [4, 8]
    for row in rows:
        added = scaling.added_collectives(row)
        # No collective more; on several devices one float32 more in the
        # gradients' all-reduce: the sum of the sparse loss's second term.
        assert added == {"count": 0, "bytes": 0 if row["devices"] == 1 else 4}
        assert row["mixup_vs_plain"] > 0
        for variant in row["variants"].values():
            assert variant["ms_per_step"] > 0 and scaling.memory_bytes(variant) > 0
    assert rows[1]["variants"]["plain"]["collectives"]["all-reduce"]["count"] >= 1
    assert (tmp_path / "scaling_tiny.json").exists()
    assert "| 2 | 8 |" in scaling.format_table(rows)
