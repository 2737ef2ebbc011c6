"""``bindings.imaging`` registers only the plugins of the formats the functions take; Pillow's
other plugins load on the path that needs them (naming an unsupported format, a 415)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.conftest import REPO_ROOT


def test_only_the_supported_formats_plugins_load_until_one_is_refused() -> None:
    code = textwrap.dedent("""
        import io, sys
        from PIL import Image
        from bindings import imaging
        from bindings.http.errors import UnsupportedMediaType

        def plugins():
            return sum(name.startswith("PIL.") and name.endswith("ImagePlugin")
                       for name in sys.modules)

        for fmt in imaging.SUPPORTED_FORMATS:
            out = io.BytesIO()
            Image.new("RGB", (8, 8)).save(out, fmt)
            assert imaging.open_image(out.getvalue()).format == fmt
        print(plugins() < 10, "PIL.PdfImagePlugin" in sys.modules)
        out = io.BytesIO()
        Image.new("L", (8, 8)).save(out, "PCX")
        try:
            imaging.open_image(out.getvalue())
        except UnsupportedMediaType as err:
            print(err.message)
        print(plugins() > 30)
        """)
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["True False", "PCX images are not supported", "True"]
