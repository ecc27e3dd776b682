import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.artist import Artist  # noqa: E402

from lmp.atomic import save_figure  # noqa: E402


class _Broken(Artist):
    def draw(self, renderer):
        raise RuntimeError("drawing failed")


def test_save_figure_writes_the_suffix_format_and_keeps_the_old_file_when_drawing_fails(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    save_figure(fig, tmp_path / "a.png", dpi=50)
    save_figure(fig, tmp_path / "a.svg")
    assert (tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (tmp_path / "a.svg").read_bytes()[:2000]
    before = (tmp_path / "a.png").read_bytes()
    ax.add_artist(_Broken())
    with pytest.raises(RuntimeError, match="drawing failed"):
        save_figure(fig, tmp_path / "a.png", dpi=50)
    assert (tmp_path / "a.png").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "a.svg"]  # no temporary file left
    plt.close(fig)
