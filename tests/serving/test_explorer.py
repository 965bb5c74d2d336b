"""The explorer page in a real browser (Debian's chromium, driven by Selenium) against a real
`zfnet-tf serve` subprocess with the session's tiny export (the run's shared server), and
through `zfnet-tf explore` in front of a second server process. What the page shows is read back (canvas pixels, the
rows and tiles it lists) and compared with the REST answers, rendered by the project's
Python code (`projection_to_rgb`) or matplotlib, not by the page's own helpers.

Screenshots go to test-artifacts/explorer/ (or $ZFNET_TEST_ARTIFACTS/explorer/).
"""

import base64
import io
import json
import os
import shutil
import time
from pathlib import Path

import httpx
import matplotlib
import numpy as np
import orjson
import pytest
from PIL import Image

from tests.conftest import TINY_CLASS_NAMES
from zfnet_tf.serving.client import ServingClient
from support.browser import HeadlessChromium, require_browser
from zfnet_tf.serving.limits import DEFAULT_MAX_REQUEST_BYTES
from support.servers import ExplorerProcess, ServerProcess
from support.shared_server import shared_tiny_server
from zfnet_tf.visualization import projection_to_rgb

SIZE = 64
REPOSITORY = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("ZFNET_TEST_ARTIFACTS", REPOSITORY / "test-artifacts")) / "explorer"
WAIT_SECONDS = 60


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(request):
    """The run's shared server (`support.shared_server`): the session's tiny export as "tiny"
    (the page's default: the first model), a small convnet as "convnet", and "vgg16"."""
    return shared_tiny_server(request)


@pytest.fixture(scope="module")
def rest(server):
    with ServingClient(server.rest_address, "tiny") as client:
        yield client


@pytest.fixture(scope="module")
def driver():
    require_browser()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with HeadlessChromium(width=1440, height=1100) as chrome:
        yield chrome


@pytest.fixture(scope="module")
def digit_png(tmp_path_factory):
    """An 8x8 scan of a handwritten 7 from scikit-learn, as the demo model was trained on."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    index = int(np.flatnonzero(digits.target == 7)[5])
    pixels = np.round(digits.images[index] * (255.0 / 16.0)).astype(np.uint8)
    path = tmp_path_factory.mktemp("digits") / "seven.png"
    Image.fromarray(pixels).save(path)
    return path


# -- helpers --------------------------------------------------------------------------------


def wait_for(driver, script, *args, timeout=WAIT_SECONDS, what="the page"):
    """Runs `script` (a JS function body returning a value) until it returns a truthy value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script, *args)
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(
        f"{what} did not get there within {timeout} s "
        f"(page error: {error_text(driver)!r}; logs: {driver.get_log('browser')})"
    )


def open_page(driver, base_url, query=""):
    driver.get(f"{base_url}/{query}")
    wait_for(driver, "return document.body.dataset.ready === 'true'", what="the page's model metadata")


def choose_file(driver, path, generation_before=None):
    before = driver.execute_script("return window.explorer.state.generation")
    driver.find_element("css selector", "input[type=file][data-testid=image-input]").send_keys(str(path))
    return before + 1


def wait_for_classes(driver, generation):
    return wait_for(
        driver,
        "const list = document.querySelector('[data-testid=top-classes]');"
        "return list.dataset.generation === arguments[0] && list.querySelectorAll('[data-testid=class-row]').length === 5",
        str(generation),
        what="the top-5 classes",
    )


def canvas_pixels(driver, selector):
    data = driver.execute_script(
        "const c = document.querySelector(arguments[0]);"
        "return [c.width, c.height, Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)]",
        selector,
    )
    width, height, values = data
    return np.array(values, np.uint8).reshape(height, width, 4)


ERROR_TEXT = (
    "const e = document.querySelector('[data-testid=error]');"
    "return e.hidden ? '' : e.querySelector('.error-message').textContent"
)


def error_text(driver):
    return driver.execute_script(ERROR_TEXT)


def wait_for_error(driver):
    return wait_for(driver, ERROR_TEXT, what="the error")


def screenshot(driver, name):
    driver.save_screenshot(str(ARTIFACTS / name))


def rest_pixels(rest, path):
    return rest.predict({"image_bytes": np.array([Path(path).read_bytes()], dtype=object)}, "decode_bytes")["pixels"]


def viridis(values, low, high):
    """matplotlib's colours for values over [low, high] (NaN: transparent)."""
    normalized = matplotlib.colors.Normalize(low, high)(np.asarray(values, np.float64))
    return matplotlib.colormaps["viridis"](np.ma.filled(normalized, np.nan), bytes=True)


# -- the page's helpers, in the browser, against NumPy ----------------------------------------

HELPERS_SCRIPT = """
const done = arguments[arguments.length - 1];
const [pixels, projectionJson, gridJson, low, high, thumbJson, bytes, order, rgb, box] = arguments;
import('/explorer/static/helpers.js').then((h) => {
  const projection = h.projectionToRgba(h.parseJson(projectionJson));
  const grid = h.colormapRgba(h.parseJson(gridJson), low, high);
  const thumbs = h.thumbnailsRgba(JSON.parse(thumbJson));
  const rgba = h.rgbToRgba(Uint8ClampedArray.from(rgb), 4, 3);
  done({
    body: h.requestBody('project_layer2', {images: h.pixelImage(Uint8ClampedArray.from(pixels), 4), feature: [7]}),
    decode: h.decodeRequest([Uint8Array.from(bytes)]),
    decodeSizes: [0, 1, 2, 3, bytes.length].map(h.decodeRequestSize),
    projection: Array.from(projection.data), projectionShape: [projection.height, projection.width],
    grid: Array.from(grid.data),
    thumbs: thumbs.pictures.map((p) => Array.from(p)),
    topK: h.topK(order, 3).map((t) => t.index),
    strongest: h.strongestFirst(order),
    sweep: h.sweepPositions(64, 16, 4),
    rgba: Array.from(rgba),
    crop: Array.from(h.cropRgba(rgba, 4, box).data),
    outputs: h.outputsOf({outputs: [[1, 2]]}, ['pixels']),
    labels: ['layer3', 'block5_conv3'].map(h.layerLabel),
  });
}).catch((error) => done({error: String(error)}));
"""


def test_page_helpers_match_numpy(server, driver, tiny_keras_model):
    """Image -> request and answer -> pixels, each against an independent Python reference."""
    from zfnet_tf.analysis import Occlusion

    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)  # a 4x4 "image" for the body
    rgb = rng.integers(0, 256, (3, 4, 3), dtype=np.uint8)  # 3 rows x 4 columns for the crop
    reconstruction = (rng.normal(size=(6, 5, 3)) * 1e-3).astype(np.float32)
    reconstruction[0, 0] = 0
    grid = rng.uniform(-0.2, 1.3, (4, 5)).astype(np.float32)
    grid[1, 2] = np.nan  # a cell not measured yet
    thumbs = rng.integers(0, 256, (3, 2, 4), dtype=np.int32)
    raw = bytes(rng.integers(0, 256, 1000, dtype=np.uint8))
    order = [0.1, 0.5, 0.5, 0.05, 0.9]
    box = [1, 1, 3, 4]

    open_page(driver, f"http://{server.rest_address}")
    result = driver.execute_async_script(
        HELPERS_SCRIPT,
        image.ravel().tolist(),
        orjson.dumps(reconstruction, option=orjson.OPT_SERIALIZE_NUMPY).decode(),
        json.dumps(np.where(np.isnan(grid), None, grid.astype(np.float64)).tolist()),
        0.0,
        1.0,
        json.dumps(thumbs.tolist()),
        list(raw),
        order,
        rgb.ravel().tolist(),
        box,
    )
    assert "error" not in result, result.get("error")

    body = json.loads(result["body"])
    assert body["signature_name"] == "project_layer2"
    np.testing.assert_array_equal(np.array(body["inputs"]["images"]), image[None])
    assert body["inputs"]["feature"] == [7]
    decode = json.loads(result["decode"])
    assert decode == {"signature_name": "decode_bytes", "inputs": {"image_bytes": [{"b64": base64.b64encode(raw).decode()}]}}
    # The size of a request the page measures before it builds it, against the request itself.
    assert result["decodeSizes"] == [
        len(json.dumps({"signature_name": "decode_bytes", "inputs": {"image_bytes": [{"b64": base64.b64encode(raw[:n]).decode()}]}},
                       separators=(",", ":")))
        for n in (0, 1, 2, 3, len(raw))
    ]

    projection = np.array(result["projection"], np.uint8).reshape(6, 5, 4)
    np.testing.assert_array_equal(projection[..., :3], projection_to_rgb(reconstruction))
    assert np.all(projection[..., 3] == 255)

    colours = np.array(result["grid"], np.uint8).reshape(4, 5, 4)
    np.testing.assert_array_equal(colours, viridis(grid.astype(np.float64), 0.0, 1.0))
    assert tuple(colours[1, 2]) == (0, 0, 0, 0)

    for channel, picture in enumerate(result["thumbs"]):
        picture = np.array(picture, np.uint8).reshape(3, 2, 4)
        for c in range(3):
            np.testing.assert_array_equal(picture[..., c], thumbs[..., channel])

    assert result["topK"] == list(np.argsort(-np.array(order), kind="stable")[:3])
    assert result["strongest"] == list(np.argsort(-np.array(order), kind="stable"))
    rows, _ = Occlusion(tiny_keras_model, patch_size=16, stride=4).positions()
    assert result["sweep"] == rows.tolist()
    rgba = np.array(result["rgba"], np.uint8).reshape(3, 4, 4)
    np.testing.assert_array_equal(rgba[..., :3], rgb)
    assert np.all(rgba[..., 3] == 255)
    crop = np.array(result["crop"], np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(crop, rgba[1:3, 1:4])
    assert result["outputs"] == {"pixels": [[1, 2]]}
    assert result["labels"] == ["3", "block5_conv3"]


# -- the page against `zfnet-tf serve` ------------------------------------------------------


def test_uploaded_digit_shows_the_rest_answer(server, rest, driver, digit_png):
    open_page(driver, f"http://{server.rest_address}")
    generation = choose_file(driver, digit_png)
    wait_for_classes(driver, generation)
    screenshot(driver, "digit_classes.png")

    # The image as the model sees it is decode_bytes' crop, and the classes are
    # serving_default's answer for exactly those pixels, most probable first, with names.
    pixels = rest_pixels(rest, digit_png)
    shown = canvas_pixels(driver, "#image")
    np.testing.assert_array_equal(shown[..., :3], pixels[0])
    probabilities = rest.predict({"images": pixels.astype(np.float32)})["probabilities"][0]
    rows = driver.find_elements("css selector", "[data-testid=top-classes] [data-testid=class-row]")
    expected = np.argsort(-probabilities, kind="stable")[:5]
    assert [int(r.get_attribute("data-class")) for r in rows] == expected.tolist()
    for row, index in zip(rows, expected):
        assert TINY_CLASS_NAMES[index] in row.text
        assert f"{100 * probabilities[index]:.1f}%" in row.text
    assert error_text(driver) == ""
    timings = driver.execute_script("return window.explorer.timings")
    print(f"page timings (ms): {timings}")


DROP_OR_PASTE = """
const [bytes, kind] = arguments;
const files = new DataTransfer();
files.items.add(new File([Uint8Array.from(bytes)], kind + '.png', {type: 'image/png'}));
const init = {bubbles: true, cancelable: true};
if (kind === 'dropped') {
  document.querySelector('#drop').dispatchEvent(new DragEvent('drop', {...init, dataTransfer: files}));
} else {
  document.dispatchEvent(new ClipboardEvent('paste', {...init, clipboardData: files}));
}
"""


def test_drop_paste_and_samples_choose_images_too(server, rest, driver, digit_png):
    open_page(driver, f"http://{server.rest_address}")
    expected = rest_pixels(rest, digit_png)[0]
    for kind in ("dropped", "pasted"):
        generation = driver.execute_script("return window.explorer.state.generation") + 1
        driver.execute_script(DROP_OR_PASTE, list(Path(digit_png).read_bytes()), kind)
        wait_for_classes(driver, generation)
        np.testing.assert_array_equal(canvas_pixels(driver, "#image")[..., :3], expected)
        assert driver.find_element("css selector", "#status").text == f"{kind}.png"
    sample = httpx.get(f"http://{server.rest_address}/explorer/samples/digit4.png", timeout=30).content
    generation = driver.execute_script("return window.explorer.state.generation") + 1
    driver.find_element("css selector", "[data-sample=digit4]").click()
    wait_for_classes(driver, generation)
    decoded = rest.predict({"image_bytes": np.array([sample], dtype=object)}, "decode_bytes")["pixels"][0]
    np.testing.assert_array_equal(canvas_pixels(driver, "#image")[..., :3], decoded)


def test_each_layer_tab_lists_every_map_strongest_first(server, rest, driver, digit_png, tiny_keras_model):
    open_page(driver, f"http://{server.rest_address}")
    wait_for_classes(driver, choose_file(driver, digit_png))
    pixels = rest_pixels(rest, digit_png).astype(np.float32)
    tabs = driver.find_elements("css selector", "[data-testid=layer-tab]")
    assert [t.get_attribute("data-layer") for t in tabs] == ["1", "2", "3", "4", "5"]
    for layer, tab in zip(range(1, 6), tabs):
        tab.click()
        count = tiny_keras_model.config.block(layer).filters
        wait_for(
            driver,
            "const g = document.querySelector('#maps'); return g.dataset.layer === arguments[0]"
            " && g.querySelectorAll('[data-testid=feature-map]').length === arguments[1]",
            str(layer),
            count,
            what=f"layer {layer}'s maps",
        )
        answer = rest.predict({"images": pixels}, f"maps_layer{layer}")
        tiles = driver.find_elements("css selector", "#maps [data-testid=feature-map]")
        shown = [int(t.get_attribute("data-feature")) for t in tiles]
        assert sorted(shown) == list(range(count))
        maximum = answer["maximum"][0]
        assert shown == np.argsort(-maximum, kind="stable").tolist()
        strongest = shown[0]
        assert f"max {maximum[strongest]:.3f}"[:8] in tiles[0].get_attribute("title")
        # The strongest tile's picture is its map's levels, grey.
        picture = canvas_pixels(driver, f"#maps [data-feature='{strongest}'] canvas")
        for c in range(3):
            np.testing.assert_array_equal(picture[..., c], answer["maps"][0, ..., strongest])
    screenshot(driver, "layer5_maps.png")


def test_clicked_map_projection_equals_the_rest_answer(server, rest, driver, digit_png):
    open_page(driver, f"http://{server.rest_address}")
    wait_for_classes(driver, choose_file(driver, digit_png))
    pixels = rest_pixels(rest, digit_png).astype(np.float32)
    driver.find_element("css selector", "[data-testid=layer-tab][data-layer='2']").click()
    wait_for(driver, "return document.querySelector('#maps').dataset.layer === '2'", what="layer 2's maps")
    tile = driver.find_elements("css selector", "#maps [data-testid=feature-map]")[2]  # the third strongest
    feature = int(tile.get_attribute("data-feature"))
    tile.click()
    wait_for(
        driver,
        "const p = document.querySelector('[data-testid=projection]');"
        "return p.dataset.feature === arguments[0] && p.dataset.layer === '2' && !p.dataset.loading",
        str(feature),
        what="the projection",
    )
    screenshot(driver, "projection_layer2.png")
    for signature, selector in (("project_layer2", "canvas.projection-max"), ("project_map_layer2", "canvas.projection-map")):
        answer = rest.predict({"images": pixels, "feature": np.array([feature], np.int32)}, signature)
        assert answer["feature"][0] == feature
        shown = canvas_pixels(driver, f"[data-testid=projection][data-feature='{feature}'] {selector}")
        np.testing.assert_array_equal(shown[..., :3], projection_to_rgb(answer["reconstructions"][0]))
        assert np.all(shown[..., 3] == 255)
    answer = rest.project(pixels, 2, feature)
    top, left, bottom, right = answer["box"][0]
    panel = driver.find_element("css selector", "[data-testid=projection]")
    assert panel.get_attribute("data-box") == f"{top},{left},{bottom},{right}"
    # The patch beside it is the image under that box.
    patch = canvas_pixels(driver, "[data-testid=projection] figure:first-child canvas")
    np.testing.assert_array_equal(patch[..., :3], pixels[0, top:bottom, left:right].astype(np.uint8))
    # And the box is drawn on the image: its overlay covers those pixels of the shown image.
    box = driver.execute_script(
        "const b = document.querySelector('#box').getBoundingClientRect();"
        "const i = document.querySelector('#image').getBoundingClientRect();"
        "return [b.top - i.top, b.left - i.left, b.bottom - i.top, b.right - i.left, i.width];"
    )
    scale = box[4] / SIZE
    np.testing.assert_allclose(np.array(box[:4]) / scale, [top, left, bottom, right], atol=0.5)


def test_occlusion_appears_and_equals_the_signature(server, rest, driver, digit_png):
    open_page(driver, f"http://{server.rest_address}")
    wait_for_classes(driver, choose_file(driver, digit_png))
    pixels = rest_pixels(rest, digit_png).astype(np.float32)
    driver.find_element("css selector", "[data-testid=occlusion-run]").click()
    wait_for(driver, "return document.querySelector('[data-testid=occlusion]').dataset.complete === 'true'", what="occlusion")
    screenshot(driver, "occlusion.png")
    panel = driver.find_element("css selector", "[data-testid=occlusion]")
    patch, stride = int(panel.get_attribute("data-patch")), int(panel.get_attribute("data-stride"))
    assert (patch, stride) == (16, 4)  # a quarter of the side, moved by a sixteenth
    starts = np.arange(0, SIZE - patch + 1, stride, dtype=np.int32)
    grid_tops, grid_lefts = np.meshgrid(starts, starts, indexing="ij")
    answer = rest.predict(
        {"images": np.repeat(pixels, 1, axis=0), "top": grid_tops.reshape(1, -1), "left": grid_lefts.reshape(1, -1),
         "patch_size": np.array([patch], np.int32)},
        "occlusion",
    )
    probabilities = answer["probabilities"][0].reshape(starts.size, starts.size, -1)

    class_canvas = driver.find_element("css selector", "[data-testid=occlusion] canvas[data-map=class]")
    shown_class = int(class_canvas.get_attribute("data-class"))
    unoccluded = rest.predict({"images": pixels})["probabilities"][0]
    assert shown_class == int(np.argmax(unoccluded))
    # Coloured from 0 to the largest probability (with or without the square).
    high = float(class_canvas.get_attribute("data-high"))
    assert high == pytest.approx(max(float(probabilities[..., shown_class].max()), float(unoccluded[shown_class])), rel=1e-6)
    shown = canvas_pixels(driver, "[data-testid=occlusion] canvas[data-map=class]")
    np.testing.assert_array_equal(shown, viridis(probabilities[..., shown_class], 0.0, high))

    # With no map clicked, the paper's choice: the top layer's strongest map (total activation).
    feature_canvas = driver.find_element("css selector", "[data-testid=occlusion] canvas[data-map=feature]")
    assert feature_canvas.get_attribute("data-layer") == "5"
    feature = int(feature_canvas.get_attribute("data-feature"))
    totals = answer["total_layer5"][0].reshape(starts.size, starts.size, -1)[..., feature]
    whole = rest.predict(
        {"images": pixels, "top": np.array([[-patch]], np.int32), "left": np.array([[-patch]], np.int32),
         "patch_size": np.array([patch], np.int32)},
        "occlusion",
    )["total_layer5"][0, 0]
    assert feature == int(np.argmax(whole))
    high = float(feature_canvas.get_attribute("data-high"))
    assert high == pytest.approx(max(float(totals.max()), float(whole[feature])), rel=1e-6)
    shown = canvas_pixels(driver, "[data-testid=occlusion] canvas[data-map=feature]")
    np.testing.assert_array_equal(shown, viridis(totals, 0.0, high))

    # Clicking a map (any layer) maps that map's totals at once, with no new sweep.
    tile = driver.find_element("css selector", "#maps [data-testid=feature-map]")
    feature1 = int(tile.get_attribute("data-feature"))
    tile.click()
    wait_for(
        driver,
        "const c = document.querySelector('[data-testid=occlusion] canvas[data-map=feature]');"
        "return c && c.dataset.layer === '1' && c.dataset.feature === arguments[0]",
        str(feature1),
        what="the clicked map's occlusion",
    )
    assert driver.find_element("css selector", "#occlusion-progress").get_attribute("hidden") is not None
    screenshot(driver, "occlusion_layer1.png")


def test_a_broken_file_shows_an_error_and_the_server_answers_on(server, rest, driver, digit_png, tmp_path):
    open_page(driver, f"http://{server.rest_address}")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"a text file renamed to .png")
    choose_file(driver, broken)
    message = wait_for_error(driver)
    assert "broken.png" in message and "Unknown image file format" in message
    screenshot(driver, "broken_file.png")
    assert server.alive()
    assert httpx.get(f"http://{server.rest_address}/v1/models/tiny", timeout=30).status_code == 200
    # The page is not dead: the next image goes through and the error goes away.
    wait_for_classes(driver, choose_file(driver, digit_png))
    assert error_text(driver) == ""


PREDICT_REQUESTS = "return performance.getEntriesByType('resource').filter((e) => e.name.includes(':predict')).length"


def test_an_image_over_the_pixel_limit_is_refused_before_it_is_sent(server, driver, digit_png, tmp_path):
    """A 9000 x 9000 PNG (81 Mi pixels in an 80 KB file) is over the export's pixel limit
    (64 Mi pixels unless its metadata says otherwise): the page reads its size from the
    header, names the size and the limit, and sends nothing."""
    metadata = httpx.get(f"http://{server.rest_address}/v1/models/tiny/metadata", timeout=30).json()["metadata"]
    limit = (metadata.get("image_transform") or {}).get("max_image_pixels", 64 * 2**20)
    huge = tmp_path / "huge.png"
    Image.new("L", (9000, 9000)).save(huge)
    assert 9000 * 9000 > limit and huge.stat().st_size < 1_000_000

    open_page(driver, f"http://{server.rest_address}")
    assert driver.execute_script("return window.explorer.state.limits.maxImagePixels") == limit
    wait_for_classes(driver, choose_file(driver, digit_png))
    requests_before = driver.execute_script(PREDICT_REQUESTS)
    generation = driver.execute_script("return window.explorer.state.generation")
    choose_file(driver, huge)
    message = wait_for_error(driver)
    assert message == f"huge.png is too large: 9000×9000 = 81,000,000 pixels; the model takes images up to {limit:,} pixels."
    assert driver.execute_script(PREDICT_REQUESTS) == requests_before
    # The page kept the image it had: nothing was reset for the refused one.
    assert driver.execute_script("return window.explorer.state.generation") == generation
    assert driver.execute_script("return document.querySelectorAll('[data-testid=class-row]').length") == 5
    screenshot(driver, "too_many_pixels.png")


@pytest.fixture(scope="module")
def photo_and_request(tmp_path_factory):
    """A 300x300 PNG photo and the size of the `decode_bytes` request the page makes of it
    (some 270 KB: several times the page's other requests of a 64x64 image)."""
    import skimage.data

    photo = tmp_path_factory.mktemp("photo") / "astronaut.png"
    Image.fromarray(skimage.data.astronaut()[:300, :300]).save(photo)
    request = len(json.dumps({"signature_name": "decode_bytes", "inputs": {"image_bytes": [
        {"b64": base64.b64encode(photo.read_bytes()).decode()}]}}, separators=(",", ":")))
    return photo, request


@pytest.fixture(scope="module")
def second_server_process(tiny_export, photo_and_request, tmp_path_factory):
    """A second server, for the module's last tests: the export without its class names file
    (its metadata then has none, as `tensorflow_model_server`'s), started with
    `--max_request_bytes` one byte under `photo_and_request`'s request."""
    _, base_path = tiny_export
    root = tmp_path_factory.mktemp("second")
    shutil.copytree(base_path / "1", root / "tiny" / "1")
    (root / "tiny" / "1" / "assets.extra" / "class_names.txt").unlink()
    process = ServerProcess(
        ["--model_name=tiny", f"--model_base_path={root / 'tiny'}", "--file_system_poll_wait_seconds=0",
         f"--max_request_bytes={photo_and_request[1] - 1}"],
        ready_model="tiny",
        log_path=str(root / "second.log"),
    )
    yield process
    process.stop()


@pytest.fixture
def second_server(second_server_process):
    """`second_server_process`, running (the test of a server that goes away stops it)."""
    if not second_server_process.alive():
        second_server_process.start()
    return second_server_process


def _too_large_message(photo, request: int, limit: int) -> str:
    return (f"{photo.name} is too large to send: its {photo.stat().st_size:,} bytes make a request of "
            f"{request:,} bytes; the server takes requests up to {limit:,} bytes ({limit / 2**20:.1f} MiB).")


def test_a_file_over_the_servers_request_limit_is_refused_before_it_is_sent(second_server, photo_and_request, driver):
    """The page learns the limit from /explorer/config.json: against a server started with
    `--max_request_bytes` one byte under the photo's request, it refuses the photo naming the
    sizes and sends nothing."""
    photo, request = photo_and_request
    limit = request - 1
    config = httpx.get(f"http://{second_server.rest_address}/explorer/config.json", timeout=30).json()
    assert config["max_request_bytes"] == limit
    open_page(driver, f"http://{second_server.rest_address}")
    assert driver.execute_script("return window.explorer.state.limits.maxRequestBytes") == limit
    requests_before = driver.execute_script(PREDICT_REQUESTS)
    choose_file(driver, photo)
    assert wait_for_error(driver) == _too_large_message(photo, request, limit)
    assert driver.execute_script(PREDICT_REQUESTS) == requests_before


def test_the_request_check_lets_a_file_at_the_limit_through(server, driver, photo_and_request):
    """The boundary of the page's own check (the limit set on the page: the server's default,
    64 MiB, would need a 48 MiB file): one byte over is refused, at the limit the file goes
    through."""
    photo, request = photo_and_request
    open_page(driver, f"http://{server.rest_address}")
    assert driver.execute_script("return window.explorer.state.limits.maxRequestBytes") == DEFAULT_MAX_REQUEST_BYTES
    driver.execute_script("window.explorer.state.limits.maxRequestBytes = arguments[0]", request - 1)
    requests_before = driver.execute_script(PREDICT_REQUESTS)
    choose_file(driver, photo)
    assert wait_for_error(driver) == _too_large_message(photo, request, request - 1)
    assert driver.execute_script(PREDICT_REQUESTS) == requests_before
    driver.execute_script("window.explorer.state.limits.maxRequestBytes = arguments[0]", request)
    wait_for_classes(driver, choose_file(driver, photo))
    assert error_text(driver) == ""


def test_the_servers_refusal_is_shown_in_its_words(server, driver, digit_png, tmp_path):
    """A PNG cut after its header passes the page's checks; the server refuses it with 400
    and `{"error": ...}`, and the page's error area shows that error."""
    whole = Path(digit_png).read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole[: len(whole) // 2])
    answer = httpx.post(
        f"http://{server.rest_address}/v1/models/tiny:predict",
        json={"signature_name": "decode_bytes", "inputs": {"image_bytes": [{"b64": base64.b64encode(cut.read_bytes()).decode()}]}},
        timeout=60,
    )
    assert 400 <= answer.status_code < 500
    refusal = answer.json()["error"]

    open_page(driver, f"http://{server.rest_address}")
    requests_before = driver.execute_script(PREDICT_REQUESTS)
    choose_file(driver, cut)
    message = wait_for_error(driver)
    assert message == f"Could not read cut.png: {refusal}"
    assert driver.execute_script(PREDICT_REQUESTS) == requests_before + 1
    assert server.alive()


def test_an_unknown_model_shows_the_servers_error(server, driver):
    driver.get(f"http://{server.rest_address}/?model=nosuch")
    message = wait_for_error(driver)
    assert "HTTP 404" in message and "nosuch" in message


def test_the_server_serves_the_page_and_samples(server):
    base = f"http://{server.rest_address}"
    page = httpx.get(base + "/", timeout=30)
    assert page.status_code == 200 and "data-testid=\"image-input\"" in page.text
    for name in ("explorer.js", "helpers.js", "api.js", "colormap.js"):
        answer = httpx.get(f"{base}/explorer/static/{name}", timeout=30)
        assert answer.status_code == 200 and "javascript" in answer.headers["content-type"]  # ES modules need it
    assert httpx.get(base + "/explorer/config.json", timeout=30).json() == {
        "models": ["tiny", "convnet", "vgg16"], "default_model": "tiny", "max_request_bytes": DEFAULT_MAX_REQUEST_BYTES
    }
    samples = httpx.get(base + "/explorer/samples.json", timeout=30).json()
    assert {s["name"] for s in samples} >= {"chelsea", "digit0", "digit9"}

    import skimage.data
    from sklearn.datasets import load_digits

    digits = load_digits()
    png = httpx.get(base + "/explorer/samples/digit4.png", timeout=30)
    expected = np.round(digits.images[np.flatnonzero(digits.target == 4)[0]] * (255 / 16)).astype(np.uint8)
    np.testing.assert_array_equal(np.array(Image.open(io.BytesIO(png.content))), expected)
    photo = np.array(Image.open(io.BytesIO(httpx.get(base + "/explorer/samples/chelsea.png", timeout=30).content)))
    np.testing.assert_array_equal(photo, skimage.data.chelsea())
    assert httpx.get(base + "/explorer/samples/nosuch.png", timeout=30).status_code == 404


def test_the_explorers_signatures_in_row_and_columnar_formats(server, rest, digit_png):
    """Each example of a row-format ("instances") batch gets what it gets alone in the
    columnar format: every input of the new signatures is batched."""
    base = f"http://{server.rest_address}/v1/models/tiny:predict"
    encoded = base64.b64encode(Path(digit_png).read_bytes()).decode()
    rows = httpx.post(base, json={"signature_name": "decode_bytes", "instances": [{"b64": encoded}] * 2}, timeout=60)
    pixels = np.array([p for p in rows.json()["predictions"]], np.int32)
    np.testing.assert_array_equal(pixels, np.repeat(rest_pixels(rest, digit_png), 2, axis=0))
    names = httpx.post(base, json={"signature_name": "class_names", "instances": [3, 7]}, timeout=60).json()
    assert names == {"predictions": [TINY_CLASS_NAMES[3], TINY_CLASS_NAMES[7]]}

    images = np.stack([pixels[0], pixels[0][::-1]]).astype(np.float32)
    instances = [
        {"images": images[0].tolist(), "top": [0, 20, -4], "left": [8, 8, 40], "patch_size": 16},
        {"images": images[1].tolist(), "top": [48, 0, 10], "left": [0, 48, 10], "patch_size": 8},
    ]
    answer = httpx.post(base, json={"signature_name": "occlusion", "instances": instances}, timeout=60).json()
    for instance, prediction in zip(instances, answer["predictions"]):
        alone = rest.predict(
            {"images": np.array([instance["images"]], np.float32), "top": np.array([instance["top"]], np.int32),
             "left": np.array([instance["left"]], np.int32), "patch_size": np.array([instance["patch_size"]], np.int32)},
            "occlusion",
        )
        assert set(prediction) == set(alone)
        for name, value in alone.items():
            np.testing.assert_allclose(np.array(prediction[name], np.float32), value[0], rtol=1e-4, atol=1e-6)
    bad = httpx.post(base, json={"signature_name": "occlusion", "instances": [{**instances[0], "patch_size": 65}]}, timeout=60)
    assert bad.status_code == 400 and "patch_size must be between 1 and 64" in bad.json()["error"]


# -- the same page through `zfnet-tf explore`, and a server that goes away ----------------------


def test_the_page_through_explore_and_a_server_that_goes_away(second_server, driver, digit_png):
    """The second server serves the export without its class names file, so its metadata has
    none, as `tensorflow_model_server`'s: the page asks the `class_names` signature."""
    second = second_server
    proxy = ExplorerProcess(f"http://{second.rest_address}", "tiny").start()
    try:
        with ServingClient(second.rest_address, "tiny") as rest:
            # The direct page in one tab, the proxied one in another.
            open_page(driver, f"http://{second.rest_address}")
            direct_tab = driver.current_window_handle
            wait_for_classes(driver, choose_file(driver, digit_png))
            driver.switch_to.new_window("tab")
            proxy_tab = driver.current_window_handle
            open_page(driver, proxy.url)
            assert httpx.get(proxy.url + "/explorer/config.json").json()["default_model"] == "tiny"
            wait_for_classes(driver, choose_file(driver, digit_png))

            pixels = rest_pixels(rest, digit_png).astype(np.float32)
            probabilities = rest.predict({"images": pixels})["probabilities"][0]
            assert "class_names" not in httpx.get(proxy.url + "/v1/models/tiny/metadata").json()["metadata"]
            rows = driver.find_elements("css selector", "[data-testid=class-row]")
            expected = np.argsort(-probabilities, kind="stable")[:5]
            assert [int(r.get_attribute("data-class")) for r in rows] == expected.tolist()
            for row, index in zip(rows, expected):
                assert TINY_CLASS_NAMES[index] in row.text
            tile = driver.find_element("css selector", "#maps [data-testid=feature-map]")
            feature = int(tile.get_attribute("data-feature"))
            tile.click()
            wait_for(driver, "const p = document.querySelector('[data-testid=projection]');"
                     "return p.dataset.feature === arguments[0] && !p.dataset.loading", str(feature), what="the projection")
            answer = rest.project(pixels, 1, feature)
            shown = canvas_pixels(driver, "[data-testid=projection] canvas.projection-max")
            np.testing.assert_array_equal(shown[..., :3], projection_to_rgb(answer["reconstructions"][0]))
            screenshot(driver, "explore_proxy.png")

        second.stop()
        for tab, expected in ((proxy_tab, "cannot reach the model server"), (direct_tab, "Cannot reach the model server")):
            driver.switch_to.window(tab)
            driver.find_elements("css selector", "#maps [data-testid=feature-map]")[1].click()
            message = wait_for_error(driver)
            assert expected in message
        driver.switch_to.window(proxy_tab)
        screenshot(driver, "explore_server_gone.png")
        # The proxy is up: it serves the page, and answers for the model with an error.
        assert proxy.alive()
        assert httpx.get(proxy.url + "/", timeout=30).status_code == 200
        gone = httpx.get(proxy.url + "/v1/models/tiny", timeout=30)
        assert gone.status_code == 502 and "cannot reach the model server" in gone.json()["error"]
    finally:
        output = proxy.stop()
        second.stop()
        driver.switch_to.window(direct_tab)
        for handle in driver.window_handles:
            if handle != direct_tab:
                driver.switch_to.window(handle)
                driver.close()
        driver.switch_to.window(direct_tab)
    assert f"http://localhost:{proxy.port}/" in output
