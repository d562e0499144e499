"""The Debian image's mirror choice and build cache (no debootstrap run here)."""
from __future__ import annotations

from mallee.images import debian


def test_mirror_from_a_one_line_sources_list(tmp_path):
    (tmp_path / "sources.list").write_text(
        "# comment\ndeb http://security.debian.org/debian-security bookworm-security main\n"
        "deb [arch=amd64] http://mirror.example/debian bookworm main\n")
    assert debian.host_mirror(tmp_path) == "http://mirror.example/debian"


def test_mirror_from_deb822_skips_security_and_source_stanzas(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n\n"
        "Types: deb\nURIs: http://deb.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\n# a comment\nURIs: http://deb.example/debian\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n")
    assert debian.host_mirror(tmp_path) == "http://deb.example/debian"


def test_mirror_defaults_to_deb_debian_org(tmp_path):
    assert debian.host_mirror(tmp_path) == debian.DEFAULT_MIRROR


def test_a_cached_build_is_returned_without_building(tmp_path, monkeypatch):
    cached = tmp_path / f"debian-{debian.SUITE}-{debian.recipe_key()}"
    cached.mkdir()
    for name in ("vmlinuz", "initrd.img", "rootfs.img"):
        (cached / name).write_bytes(b"x")
    monkeypatch.setattr(debian, "_run", lambda *a, **k: (_ for _ in ()).throw(
        AssertionError("must not build")))
    assert debian.build_debian_image(tmp_path) == debian.DebianImage(
        cached / "vmlinuz", cached / "initrd.img", cached / "rootfs.img")


def test_the_recipe_key_follows_the_files_written_into_the_image(monkeypatch):
    before = debian.recipe_key()
    monkeypatch.setitem(debian.FILES, "etc/motd", "hello\n")
    assert debian.recipe_key() != before
