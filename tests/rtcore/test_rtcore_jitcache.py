"""cerebellum_rt.rtcore.jitcache: cached kernels are dropped exactly when a source they compile in changes."""

from __future__ import annotations

from cerebellum_rt.rtcore.jitcache import drop_stale_cache


def test_cache_dropped_only_when_a_source_changes(tmp_path, monkeypatch):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    src, dep = tmp_path / "kernel.py", tmp_path / "law.py"
    src.write_text("x = 1\n")
    dep.write_text("y = 1\n")
    cache = tmp_path / "__pycache__"
    cache.mkdir()
    (cache / "kernel.f-1.py311.nbi").write_bytes(b"index")
    assert drop_stale_cache(tmp_path, [src, dep], "t")  # first sight: no digest yet
    assert not list(cache.glob("*.nbi"))
    (cache / "kernel.f-1.py311.nbi").write_bytes(b"index")
    assert not drop_stale_cache(tmp_path, [src, dep], "t")  # unchanged: kept
    assert list(cache.glob("*.nbi"))
    dep.write_text("y = 2\n")  # the dependency, not the kernel's own file
    assert drop_stale_cache(tmp_path, [src, dep], "t")
    assert not list(cache.glob("*.nbi"))


def test_moved_cache_dir_is_left_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "elsewhere"))
    (tmp_path / "k.py").write_text("")
    assert not drop_stale_cache(tmp_path, [tmp_path / "k.py"], "t")
