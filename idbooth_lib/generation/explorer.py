"""The prompt explorer of chapter 05: dropdowns for person, method, pose, background and seed, a
button, and the picture it draws.

The picture is an ``ipywidgets.Image`` whose bytes are replaced on each draw, not an
``ipywidgets.Output`` that the drawing is displayed into. The difference matters when the chapter
is executed without a browser (papermill, the book build): nbclient imitates an Output widget by
sending its new state back to the kernel on the shell channel while the cell still runs, and that
exchange sometimes stalls the execution for good: CI hung in chapter 05 until its time ran out,
and ``benchmarks/explorer_stall.py`` counted 2 stalled executions of 25 with an Output, none of 25
with an Image (nbclient issue #312 reports the same). An Image only receives messages from the
kernel, so nothing is sent back.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

from PIL import Image

#: ``draw(person, method, pose, background, seed) -> (image, prompt)``
DrawOne = Callable[[str, str, str, str, int], tuple[Image.Image, str]]

#: Pixels the drawn image is shown at: the toy's 64 px images are enlarged without smoothing.
SHOWN_PIXELS = 192


def png_bytes(image: Image.Image, pixels: int = SHOWN_PIXELS) -> bytes:
    """``image`` enlarged to ``pixels`` square (nearest neighbour, so toy pixels stay visible) as
    PNG bytes, the value an ``ipywidgets.Image`` shows."""
    buffer = io.BytesIO()
    image.resize((pixels, pixels), Image.NEAREST).save(buffer, format="png")
    return buffer.getvalue()


def prompt_explorer(
    draw: DrawOne,
    people: Sequence[str],
    methods: Sequence[str],
    backgrounds: Sequence[str],
    method: str | None = None,
    background: str | None = None,
    seeds: int = 100,
):
    """The explorer as one ``ipywidgets.VBox``, already showing its first picture.

    ``draw`` is called with the chosen values each time the button is pressed; ``methods`` and
    ``backgrounds`` are offered in the order given, with ``method`` and ``background`` chosen first.
    """
    import ipywidgets as widgets

    choices = {
        "person": widgets.Dropdown(options=list(people)),
        "method": widgets.Dropdown(options=list(methods), value=method or methods[0]),
        "pose": widgets.ToggleButtons(options=["frontal", "side"]),
        "background": widgets.Dropdown(
            options=list(backgrounds), value=background or backgrounds[0]
        ),
        "seed": widgets.IntSlider(value=0, min=0, max=seeds - 1),
    }
    button = widgets.Button(description="draw")
    prompt = widgets.Label()
    picture = widgets.Image(format="png", width=SHOWN_PIXELS, height=SHOWN_PIXELS)

    def on_draw(_button=None) -> None:
        image, prompt.value = draw(**{name: box.value for name, box in choices.items()})
        picture.value = png_bytes(image)

    button.on_click(on_draw)
    on_draw()
    rows = [widgets.HBox([widgets.Label(name), box]) for name, box in choices.items()]
    return widgets.VBox([*rows, button, prompt, picture])
