// Panel 1, the image: chosen from a file, a drop, a paste or a sample; measured against the
// server's limits before it is sent; decoded by the model's `decode_bytes` (as the model sees it).
import { ApiError } from "./api.js";
import { $, clearError, element, report, setStatus } from "./dom.js";
import { decodeRequest, decodeRequestSize, flattenPixels, rgbToRgba } from "./helpers.js";
import { classify, clearClasses } from "./classes.js";
import { clearMaps, showLayer } from "./layers.js";
import { clearProjection } from "./projection.js";
import { resetOcclusion } from "./occlusion.js";
import { state, timings } from "./state.js";

const count = (n) => n.toLocaleString("en");
const mebibytes = (n) => `${(n / 2 ** 20).toFixed(1)} MiB`;

export function wireImageInputs() {
  const input = $("[data-testid=image-input]");
  input.addEventListener("change", () => {
    if (input.files.length) chooseFile(input.files[0]);
    input.value = "";
  });
  const drop = $("#drop");
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (event) => {
      event.preventDefault();
      drop.classList.add("dragging");
    });
  }
  for (const type of ["dragleave", "drop"]) drop.addEventListener(type, () => drop.classList.remove("dragging"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    const file = event.dataTransfer.files[0];
    if (file) chooseFile(file);
  });
  document.addEventListener("paste", (event) => {
    const file = Array.from(event.clipboardData ? event.clipboardData.files : [])[0];
    if (file) {
      event.preventDefault();
      chooseFile(file);
    }
  });
}

function sampleButton(sample) {
  const button = element("button", { className: `sample ${sample.kind}`, title: sample.label, type: "button" }, [
    element("img", { src: sample.url, alt: sample.label, loading: "lazy" }),
  ]);
  button.dataset.sample = sample.name;
  button.addEventListener("click", async () => {
    try {
      const response = await fetch(sample.url);
      if (!response.ok) throw new ApiError(`Sample ${sample.name}: HTTP ${response.status}`);
      await chooseImage(new Uint8Array(await response.arrayBuffer()), sample.label);
    } catch (error) {
      report(error);
    }
  });
  return button;
}

export async function loadSamples() {
  const strip = $("#samples");
  try {
    const response = await fetch("/explorer/samples.json");
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    strip.append(...(await response.json()).map(sampleButton));
  } catch (error) {
    strip.textContent = "(no sample images from this server)";
  }
}

async function chooseFile(file) {
  const started = performance.now();
  try {
    await chooseImage(new Uint8Array(await file.arrayBuffer()), file.name, started);
  } catch (error) {
    report(error);
  }
}

// Width and height from the image's header, as the browser reads it without drawing the
// pixels (an image never shown is never decoded); null if the browser cannot read it (the
// server then judges the file).
function imageDimensions(bytes) {
  const url = URL.createObjectURL(new Blob([bytes]));
  const picture = new Image();
  return new Promise((resolve) => {
    picture.onload = () => resolve({ width: picture.naturalWidth, height: picture.naturalHeight });
    picture.onerror = () => resolve(null);
    picture.src = url;
  }).finally(() => URL.revokeObjectURL(url));
}

// Refuses, before anything is sent, an image the server would refuse for its size.
async function checkImage(bytes, name) {
  const { maxRequestBytes, maxImagePixels } = state.limits;
  const requestSize = decodeRequestSize(bytes.length);
  if (requestSize > maxRequestBytes) {
    throw new ApiError(
      `${name} is too large to send: its ${count(bytes.length)} bytes make a request of ${count(requestSize)} ` +
        `bytes; the server takes requests up to ${count(maxRequestBytes)} bytes (${mebibytes(maxRequestBytes)}).`,
    );
  }
  const dimensions = await imageDimensions(bytes);
  if (dimensions && dimensions.width * dimensions.height > maxImagePixels) {
    const pixels = dimensions.width * dimensions.height;
    throw new ApiError(
      `${name} is too large: ${dimensions.width}×${dimensions.height} = ${count(pixels)} pixels; ` +
        `the model takes images up to ${count(maxImagePixels)} pixels.`,
    );
  }
}

function resetForNewImage() {
  clearClasses();
  clearMaps();
  clearProjection();
  resetOcclusion();
}

async function decode(bytes, name) {
  try {
    return await state.api.predict("decode_bytes", decodeRequest([bytes]));
  } catch (error) {
    setStatus(`Could not use ${name}.`);
    throw new ApiError(`Could not read ${name}: ${error.message.replace(/^HTTP \d+: /, "")}`);
  }
}

// Shows `bytes` (an encoded image) as the model sees it, then its classes and the shown
// layer's maps.
async function chooseImage(bytes, name, started = performance.now()) {
  if (!state.api || !document.body.dataset.ready) {
    throw new ApiError("The model is not loaded yet: see the message above.");
  }
  clearError();
  await checkImage(bytes, name);
  const generation = ++state.generation;
  resetForNewImage();
  setStatus(`Reading ${name} …`);
  const outputs = await decode(bytes, name);
  if (generation !== state.generation) return;
  const { size, pixels } = flattenPixels(outputs.pixels[0]);
  state.image = { name, size, pixels, rgba: rgbToRgba(pixels, size, size) };
  drawImage();
  setStatus(`${name}`);
  timings.decode = performance.now() - started;
  const classes = classify(generation, started);
  const maps = state.activeLayer ? showLayer(state.activeLayer) : Promise.resolve();
  await Promise.all([classes, maps]);
}

function drawImage() {
  const canvas = $("#image");
  canvas.width = canvas.height = state.image.size;
  canvas.getContext("2d").putImageData(new ImageData(state.image.rgba, state.image.size, state.image.size), 0, 0);
  $("#image-stage").classList.add("has-image");
  $("[data-testid=occlusion-run]").disabled = !state.hasOcclusion;
}
