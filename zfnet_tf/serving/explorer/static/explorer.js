// The explorer page: an image, the model's answer, every layer's maps, a map's deconvnet
// projection and the occlusion maps, all through the model's SavedModel signatures.
import { ApiError, ModelApi, explorerConfig } from "./api.js";
import {
  colormapRgba,
  cropRgba,
  decodeRequest,
  flattenPixels,
  layerLabel,
  naturalCompare,
  pixelImage,
  projectionToRgba,
  requestBody,
  rgbToRgba,
  strongestFirst,
  sweepPositions,
  thumbnailsRgba,
  topK,
  viridis,
} from "./helpers.js";

const TOP_K = 5;
const OCCLUSION_IN_FLIGHT = 2;
const CLASS_NAMES_BATCH = 64;

const $ = (selector, root = document) => root.querySelector(selector);

function element(tag, attributes = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "className") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function canvasFrom(picture, className = "") {
  const canvas = element("canvas", { width: picture.width, height: picture.height, className });
  if (picture.width > 0 && picture.height > 0) {
    canvas.getContext("2d").putImageData(new ImageData(picture.data, picture.width, picture.height), 0, 0);
  }
  return canvas;
}

function figure(canvas, caption, extra = {}) {
  return element("figure", extra, [canvas, element("figcaption", { text: caption })]);
}

function format(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude < 1e-3 || magnitude >= 1e5)) return value.toExponential(2);
  return value.toFixed(magnitude < 10 ? 3 : 1);
}

// What the page knows and shows; `generation` counts images so late answers for an image
// the user has left are dropped.
const state = {
  api: null,
  size: 0,
  numClasses: 0,
  classNames: null,
  layers: [],
  activeLayer: null,
  generation: 0,
  image: null,
  probabilities: null,
  maps: new Map(),
  selection: null,
  selectionCount: 0,
  occlusion: null,
  focusClass: null,
};

// Milliseconds of the last runs (the benchmark and the tests read them).
const timings = {};
window.explorer = { state, timings };

// -- errors ---------------------------------------------------------------------------------

function showError(message) {
  const box = $("[data-testid=error]");
  $(".error-message", box).textContent = message;
  box.hidden = false;
}

function clearError() {
  $("[data-testid=error]").hidden = true;
}

function report(error) {
  console.error(error);
  showError(error instanceof ApiError ? error.message : `Something went wrong: ${error.message || error}`);
}

function setStatus(text) {
  $("#status").textContent = text;
}

// -- start ----------------------------------------------------------------------------------

async function start() {
  $("[data-testid=error] button").addEventListener("click", clearError);
  window.addEventListener("unhandledrejection", (event) => report(event.reason));
  const config = await explorerConfig();
  const model = new URLSearchParams(location.search).get("model") || config.default_model;
  setUpModelPicker(config.models || [], model);
  wireInputs();
  loadSamples();
  if (!model) {
    showError("No model to show: open this page as /?model=NAME.");
    return;
  }
  state.api = new ModelApi(model);
  try {
    const metadata = await state.api.metadata();
    describeModel(model, metadata);
    await loadClassNames(metadata);
  } catch (error) {
    report(error);
    setStatus("The model did not answer: reload the page once the server is up.");
    return;
  }
  document.body.dataset.ready = "true";
  setStatus("Choose an image: drop it here, paste it, pick a file or a sample.");
}

function setUpModelPicker(models, current) {
  const picker = $("#model-picker");
  if (models.length < 2) {
    picker.hidden = true;
    return;
  }
  for (const name of models) {
    picker.append(element("option", { value: name, text: name }));
  }
  picker.value = current;
  picker.addEventListener("change", () => {
    location.search = `?model=${encodeURIComponent(picker.value)}`;
  });
}

function describeModel(model, metadata) {
  const signatures = metadata.signatures;
  const classify = signatures.serving_default;
  if (!classify || !classify.inputs.images) {
    throw new ApiError(`Model ${model} has no serving_default signature taking images.`);
  }
  state.size = classify.inputs.images.shape[1];
  state.numClasses = classify.outputs.probabilities ? classify.outputs.probabilities.shape[1] : 0;
  state.layers = Object.keys(signatures)
    .filter((name) => name.startsWith("maps_"))
    .map((name) => name.slice("maps_".length))
    .sort(naturalCompare)
    .map((key) => {
      const shape = signatures[`maps_${key}`].outputs.maps.shape;
      return {
        key,
        label: layerLabel(key),
        numMaps: shape[3],
        project: signatures[`project_${key}`] ? `project_${key}` : null,
        projectMap: signatures[`project_map_${key}`] ? `project_map_${key}` : null,
      };
    });
  state.hasOcclusion = Boolean(signatures.occlusion);
  $("#model-name").textContent = model;
  $("#model-details").textContent =
    `version ${metadata.version} · ${state.size}×${state.size} input · ${state.numClasses} classes · ` +
    `${state.layers.length} layers`;
  $("#crop-note").textContent = `as the model sees it: ${state.size}×${state.size}`;
  buildLayerTabs();
  if (!signatures.decode_bytes) {
    throw new ApiError(
      `Model ${model} has no decode_bytes signature: export it again with this zfnet-tf ` +
        "(zfnet-tf export) to get the explorer's signatures.",
    );
  }
}

async function loadClassNames(metadata) {
  if (metadata.classNames && metadata.classNames.length) {
    state.classNames = metadata.classNames;
    return;
  }
  // tensorflow_model_server's metadata has no class names: the export serves them itself,
  // asked in batches a server's batch limit (zfnet-tf serve's default: 64) lets through.
  if (state.api.signatures.class_names && state.numClasses > 0) {
    const batches = [];
    for (let start = 0; start < state.numClasses; start += CLASS_NAMES_BATCH) {
      const indices = [];
      for (let i = start; i < Math.min(start + CLASS_NAMES_BATCH, state.numClasses); i++) indices.push(i);
      batches.push(state.api.predict("class_names", requestBody("class_names", { class_index: indices })));
    }
    try {
      state.classNames = (await Promise.all(batches)).flatMap((outputs) => outputs.class_name);
    } catch (error) {
      report(new ApiError(`No class names (classes are shown by number): ${error.message}`));
    }
  }
}

function className(index) {
  return state.classNames && state.classNames[index] !== undefined ? state.classNames[index] : `class ${index}`;
}

// -- choosing an image ----------------------------------------------------------------------

function wireInputs() {
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
  for (const type of ["dragleave", "drop"]) {
    drop.addEventListener(type, () => drop.classList.remove("dragging"));
  }
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
  $("[data-testid=occlusion-run]").addEventListener("click", () => runOcclusion().catch(report));
  $("#occlusion-patch").addEventListener("change", () => {
    if (state.occlusion) runOcclusion().catch(report);
  });
}

async function loadSamples() {
  const strip = $("#samples");
  try {
    const response = await fetch("/explorer/samples.json");
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    for (const sample of await response.json()) {
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
      strip.append(button);
    }
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

async function chooseImage(bytes, name, started = performance.now()) {
  if (!state.api || !document.body.dataset.ready) {
    throw new ApiError("The model is not loaded yet: see the message above.");
  }
  const generation = ++state.generation;
  clearError();
  resetForNewImage();
  setStatus(`Reading ${name} …`);
  let outputs;
  try {
    outputs = await state.api.predict("decode_bytes", decodeRequest([bytes]));
  } catch (error) {
    setStatus(`Could not use ${name}.`);
    throw new ApiError(`Could not read ${name}: ${error.message.replace(/^HTTP \d+: /, "")}`);
  }
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

function resetForNewImage() {
  state.maps = new Map();
  state.probabilities = null;
  state.selection = null;
  state.focusClass = null;
  state.occlusion = null;
  $("[data-testid=top-classes]").replaceChildren();
  $("#maps").replaceChildren();
  const projection = $("[data-testid=projection]");
  projection.replaceChildren(element("p", { className: "hint", text: "Click a feature map to project it to pixels." }));
  delete projection.dataset.feature;
  delete projection.dataset.layer;
  $("#box").hidden = true;
  resetOcclusion();
}

function drawImage() {
  const canvas = $("#image");
  canvas.width = canvas.height = state.image.size;
  canvas.getContext("2d").putImageData(new ImageData(state.image.rgba, state.image.size, state.image.size), 0, 0);
  $("#image-stage").classList.add("has-image");
  $("[data-testid=occlusion-run]").disabled = !state.hasOcclusion;
}

function imageInput() {
  return pixelImage(state.image.pixels, state.image.size);
}

// -- classes --------------------------------------------------------------------------------

async function classify(generation, started) {
  const outputs = await state.api.predict("serving_default", requestBody("serving_default", { images: imageInput() }));
  if (generation !== state.generation) return;
  state.probabilities = outputs.probabilities[0];
  renderClasses();
  timings.classes = performance.now() - started;
}

function renderClasses() {
  const list = $("[data-testid=top-classes]");
  const rows = topK(state.probabilities, TOP_K).map(({ index, probability }, rank) => {
    const row = element("li", { className: "class-row", title: "show this class's occlusion map" }, [
      element("span", { className: "rank", text: String(rank + 1) }),
      element("span", { className: "name", text: className(index) }),
      element("span", { className: "bar" }, [element("span", { className: "fill" })]),
      element("span", { className: "probability", text: `${(100 * probability).toFixed(1)}%` }),
    ]);
    row.dataset.testid = "class-row";
    row.dataset.class = String(index);
    row.dataset.probability = String(probability);
    $(".fill", row).style.width = `${Math.max(0.5, 100 * probability)}%`;
    row.classList.toggle("focus", index === focusClass());
    row.addEventListener("click", () => {
      state.focusClass = index;
      renderClasses();
      renderOcclusion();
    });
    return row;
  });
  list.replaceChildren(...rows);
  list.dataset.generation = String(state.generation);
}

function focusClass() {
  if (state.focusClass !== null) return state.focusClass;
  return state.probabilities ? strongestFirst(state.probabilities)[0] : null;
}

// -- layers and their maps ------------------------------------------------------------------

function buildLayerTabs() {
  const tabs = $("#layer-tabs");
  if (!state.layers.length) {
    tabs.replaceChildren(element("p", { className: "hint", text: "This export has no maps_<layer> signatures." }));
    return;
  }
  tabs.replaceChildren(
    ...state.layers.map((layer) => {
      const tab = element("button", { type: "button", role: "tab", className: "tab" }, [
        element("span", { text: /^\d+$/.test(layer.label) ? `Layer ${layer.label}` : layer.label }),
        element("small", { text: `${layer.numMaps} maps` }),
      ]);
      tab.dataset.testid = "layer-tab";
      tab.dataset.layer = layer.label;
      tab.dataset.key = layer.key;
      tab.addEventListener("click", () => {
        if (state.image) showLayer(layer.key).catch(report);
        else selectTab(layer.key);
      });
      return tab;
    }),
  );
  selectTab(state.layers[0].key);
}

function selectTab(key) {
  state.activeLayer = key;
  for (const tab of document.querySelectorAll("[data-testid=layer-tab]")) {
    const active = tab.dataset.key === key;
    tab.classList.toggle("active", active);
    tab.setAttribute("aria-selected", String(active));
  }
}

async function showLayer(key) {
  selectTab(key);
  const generation = state.generation;
  const layer = state.layers.find((l) => l.key === key);
  let entry = state.maps.get(key);
  if (!entry) {
    const grid = $("#maps");
    grid.dataset.loading = "true";
    const started = performance.now();
    const outputs = await state.api.predict(`maps_${key}`, requestBody(`maps_${key}`, { images: imageInput() }));
    if (generation !== state.generation) return;
    entry = { maps: outputs.maps[0], maximum: outputs.maximum[0] };
    entry.thumbnails = thumbnailsRgba(entry.maps);
    state.maps.set(key, entry);
    timings.maps = performance.now() - started;
    delete grid.dataset.loading;
  }
  if (state.activeLayer !== key) return;
  renderMaps(layer, entry);
}

function renderMaps(layer, entry) {
  const { width, height, pictures } = entry.thumbnails;
  const strongest = entry.maximum.reduce((a, b) => Math.max(a, b), 0);
  const buttons = strongestFirst(entry.maximum).map((feature) => {
    const maximum = entry.maximum[feature];
    const button = element("button", { type: "button", className: "map", title: `map ${feature} · max ${format(maximum)}` }, [
      canvasFrom({ width, height, data: pictures[feature] }),
      element("span", { className: "map-label", text: `${feature}` }),
      element("span", { className: "map-strength" }),
    ]);
    $(".map-strength", button).style.width = `${strongest > 0 ? (100 * Math.max(0, maximum)) / strongest : 0}%`;
    button.dataset.testid = "feature-map";
    button.dataset.feature = String(feature);
    button.dataset.maximum = String(maximum);
    const selected = state.selection && state.selection.key === layer.key && state.selection.feature === feature;
    button.classList.toggle("selected", Boolean(selected));
    button.addEventListener("click", () => selectFeature(layer, feature).catch(report));
    return button;
  });
  const grid = $("#maps");
  grid.replaceChildren(...buttons);
  grid.dataset.layer = layer.label;
  grid.dataset.generation = String(state.generation);
  $("#maps-caption").textContent =
    `Layer ${layer.label}: all ${layer.numMaps} feature maps, strongest first (${height}×${width} each` +
    `${height < 4 ? ", this layer's maps are that small" : ""}). Hover for the maximum, click to project.`;
}

// -- projections ----------------------------------------------------------------------------

async function selectFeature(layer, feature) {
  if (!layer.project) throw new ApiError(`This export has no project_${layer.key} signature.`);
  const started = performance.now();
  const generation = state.generation;
  const count = ++state.selectionCount;
  clearError();
  markTiles(layer, feature, "pending");
  const panel = $("[data-testid=projection]");
  panel.dataset.loading = "true";
  const inputs = { images: imageInput(), feature: [feature] };
  let strongest;
  try {
    strongest = await state.api.predict(layer.project, requestBody(layer.project, inputs));
  } catch (error) {
    if (count === state.selectionCount) {
      markTiles(layer, null, "pending");
      delete panel.dataset.loading;
    }
    throw error;
  }
  if (generation !== state.generation || count !== state.selectionCount) return;
  state.selection = { key: layer.key, label: layer.label, feature };
  markTiles(layer, null, "pending");
  markTiles(layer, feature, "selected");
  renderProjection(layer, feature, strongest);
  timings.projection = performance.now() - started;
  renderOcclusion();
  if (layer.projectMap) {
    try {
      const whole = await state.api.predict(layer.projectMap, requestBody(layer.projectMap, inputs));
      if (generation !== state.generation || count !== state.selectionCount) return;
      renderMapProjection(whole);
      timings.projectionMap = performance.now() - started;
    } finally {
      if (count === state.selectionCount) delete panel.dataset.loading;
    }
  } else {
    delete panel.dataset.loading;
  }
}

// Marks one tile of the shown layer with `className` (null: none).
function markTiles(layer, feature, className) {
  const shown = $("#maps").dataset.layer === layer.label;
  for (const node of document.querySelectorAll("[data-testid=feature-map]")) {
    node.classList.toggle(className, shown && Number(node.dataset.feature) === feature);
  }
}

function renderProjection(layer, feature, outputs) {
  const box = outputs.box[0];
  const [row, col] = outputs.location[0];
  const activation = outputs.activation[0];
  const projection = projectionToRgba(outputs.reconstructions[0]);
  const size = state.image.size;
  const patch = cropRgba(state.image.rgba, size, box);
  const projectedPatch = cropRgba(projection.data, size, box);

  const full = canvasFrom(projection, "projection-max");
  const panel = $("[data-testid=projection]");
  panel.replaceChildren(
    element("p", { className: "projection-title" }, [
      element("strong", { text: `Layer ${layer.label}, map ${feature}` }),
      element("span", {
        text: ` · strongest activation ${format(activation)} at row ${row}, column ${col} · receptive field rows ` +
          `${box[0]}–${box[2] - 1}, columns ${box[1]}–${box[3] - 1}`,
      }),
    ]),
    element("div", { className: "figures" }, [
      figure(canvasFrom(patch, "zoom"), "image patch under its receptive field"),
      figure(canvasFrom(projectedPatch, "zoom"), "its projection (strongest activation)"),
      figure(full, "projection in the image", { dataset: { mode: "max" } }),
      figure(element("canvas", { width: 1, height: 1, className: "projection-map pending" }), "whole map projected …", {
        dataset: { mode: "map" },
        id: "projection-map",
      }),
    ]),
  );
  panel.dataset.feature = String(feature);
  panel.dataset.layer = layer.label;
  panel.dataset.activation = String(activation);
  panel.dataset.box = box.join(",");
  showBox(box);
}

function renderMapProjection(outputs) {
  const target = $("#projection-map");
  if (!target) return;
  target.replaceChildren(
    canvasFrom(projectionToRgba(outputs.reconstructions[0]), "projection-map"),
    element("figcaption", { text: "projection of the whole map" }),
  );
}

function showBox(box) {
  const size = state.image.size;
  const overlay = $("#box");
  const [top, left, bottom, right] = box;
  Object.assign(overlay.style, {
    top: `${(100 * top) / size}%`,
    left: `${(100 * left) / size}%`,
    height: `${(100 * (bottom - top)) / size}%`,
    width: `${(100 * (right - left)) / size}%`,
  });
  overlay.hidden = false;
}

// -- occlusion ------------------------------------------------------------------------------

function resetOcclusion() {
  state.occlusion = null;
  const progress = $("#occlusion-progress");
  progress.value = 0;
  progress.hidden = true;
  const panel = $("[data-testid=occlusion]");
  panel.replaceChildren(
    element("p", {
      className: "hint",
      text: "Slide a grey square over the image and watch the answer change (Zeiler & Fergus, Fig. 7).",
    }),
  );
  delete panel.dataset.complete;
}

async function runOcclusion() {
  if (!state.image) throw new ApiError("Choose an image first.");
  if (!state.hasOcclusion) throw new ApiError("This export has no occlusion signature.");
  clearError();
  const started = performance.now();
  const generation = state.generation;
  const size = state.image.size;
  const patch = Math.max(1, Math.round(size * Number($("#occlusion-patch").value)));
  const stride = Math.max(1, Math.floor(size / 16));
  const starts = sweepPositions(size, patch, stride);
  const run = {
    generation,
    patch,
    stride,
    starts,
    probabilities: starts.map(() => null),
    totals: starts.map(() => null),
    done: 0,
    unoccluded: null,
  };
  state.occlusion = run;
  const progress = $("#occlusion-progress");
  progress.hidden = false;
  progress.max = starts.length + 1;
  progress.value = 0;
  const button = $("[data-testid=occlusion-run]");
  button.disabled = true;
  renderOcclusion();

  const ask = async (tops, lefts) => {
    const body = requestBody("occlusion", { images: imageInput(), top: [tops], left: [lefts], patch_size: [patch] });
    const outputs = await state.api.predict("occlusion", body);
    const totals = {};
    for (const layer of state.layers) totals[layer.key] = outputs[`total_${layer.key}`][0];
    return { probabilities: outputs.probabilities[0], totals };
  };
  // The square off the image: the unoccluded answer, for the scale of the feature maps.
  const jobs = [async () => {
    const answer = await ask([-patch], [-patch]);
    run.unoccluded = { probabilities: answer.probabilities[0], totals: mapValues(answer.totals, (t) => t[0]) };
  }];
  starts.forEach((top, r) => {
    jobs.push(async () => {
      const answer = await ask(starts.map(() => top), starts);
      run.probabilities[r] = answer.probabilities;
      run.totals[r] = answer.totals;
    });
  });
  try {
    // A few requests in flight keep the server busy while the page draws the rows it has.
    let next = 0;
    const worker = async () => {
      while (next < jobs.length && state.occlusion === run) {
        const job = jobs[next++];
        await job();
        if (state.occlusion !== run) return;
        run.done += 1;
        progress.value = run.done;
        renderOcclusion();
      }
    };
    await Promise.all(Array.from({ length: OCCLUSION_IN_FLIGHT }, worker));
  } finally {
    button.disabled = !state.image;
  }
  if (state.occlusion !== run) return;
  timings.occlusion = performance.now() - started;
  $("[data-testid=occlusion]").dataset.complete = "true";
  progress.hidden = true;
}

function mapValues(object, f) {
  return Object.fromEntries(Object.entries(object).map(([k, v]) => [k, f(v)]));
}

// The feature whose occlusion map is shown: the clicked one, else (as in the paper) the
// strongest map of the top layer on the unoccluded image.
function occlusionFeature(run) {
  if (state.selection) return state.selection;
  const top = state.layers[state.layers.length - 1];
  if (!top || !run.unoccluded) return null;
  const totals = run.unoccluded.totals[top.key];
  return { key: top.key, label: top.label, feature: strongestFirst(totals)[0], strongest: true };
}

// The top of a map's colour scale: its largest value or the unoccluded one, so that the
// colours span what the square changes (0 stays the bottom: "the square killed it").
// The float32 values themselves (fround): the scale is exactly the largest of them.
function scaleTop(grid, unoccluded) {
  const values = grid.flat().filter((v) => v !== null).map(Math.fround);
  return Math.max(unoccluded === null ? 0 : Math.fround(unoccluded), ...values, 0);
}

function occlusionGrid(run, value) {
  return run.starts.map((_, r) => run.starts.map((__, c) => (run.probabilities[r] ? value(r, c) : null)));
}

function renderOcclusion() {
  const run = state.occlusion;
  if (!run || run.generation !== state.generation) return;
  const panel = $("[data-testid=occlusion]");
  const cls = focusClass();
  const figures = [];
  if (cls !== null) {
    const grid = occlusionGrid(run, (r, c) => run.probabilities[r][c][cls]);
    const unoccluded = run.unoccluded ? run.unoccluded.probabilities[cls] : null;
    const high = scaleTop(grid, unoccluded);
    const canvas = canvasFrom(colormapRgba(grid, 0, high), "heat");
    canvas.dataset.map = "class";
    canvas.dataset.class = String(cls);
    canvas.dataset.high = String(high);
    figures.push(
      occlusionFigure(canvas, `probability of “${className(cls)}”`, 0, high, unoccluded, (r, c) =>
        format(run.probabilities[r][c][cls]),
      ),
    );
  }
  const chosen = occlusionFeature(run);
  if (chosen) {
    const grid = occlusionGrid(run, (r, c) => run.totals[r][chosen.key][c][chosen.feature]);
    const unoccluded = run.unoccluded ? run.unoccluded.totals[chosen.key][chosen.feature] : null;
    const high = scaleTop(grid, unoccluded);
    const canvas = canvasFrom(colormapRgba(grid, 0, high), "heat");
    canvas.dataset.map = "feature";
    canvas.dataset.layer = chosen.label;
    canvas.dataset.feature = String(chosen.feature);
    canvas.dataset.high = String(high);
    const what = `total activation of layer ${chosen.label}, map ${chosen.feature}` +
      (chosen.strongest ? " (the top layer's strongest)" : "");
    figures.push(occlusionFigure(canvas, what, 0, high, unoccluded, (r, c) => format(run.totals[r][chosen.key][c][chosen.feature])));
  }
  const note = element("p", {
    className: "hint",
    text: `A ${run.patch}×${run.patch} square in the model's mean colour, moved ${run.stride} pixels at a time: ` +
      `each cell is the answer with the square's top-left corner there. ` +
      (run.done <= run.starts.length ? `${run.done} of ${run.starts.length + 1} requests done.` : ""),
  });
  panel.replaceChildren(element("div", { className: "figures" }, figures), note);
  panel.dataset.patch = String(run.patch);
  panel.dataset.stride = String(run.stride);
}

function occlusionFigure(canvas, caption, low, high, unoccluded, describe) {
  const run = state.occlusion;
  canvas.addEventListener("mousemove", (event) => {
    const bounds = canvas.getBoundingClientRect();
    const c = Math.floor(((event.clientX - bounds.left) / bounds.width) * run.starts.length);
    const r = Math.floor(((event.clientY - bounds.top) / bounds.height) * run.starts.length);
    if (run.probabilities[r] && c >= 0 && c < run.starts.length) {
      canvas.title = `square at row ${run.starts[r]}, column ${run.starts[c]}: ${describe(r, c)}`;
    }
  });
  const legend = element("div", { className: "legend" }, [
    element("span", { text: format(low) }),
    element("span", { className: "ramp" }),
    element("span", { text: format(high) }),
  ]);
  const stops = [0, 0.25, 0.5, 0.75, 1].map((x) => `rgb(${viridis(x).slice(0, 3).join(",")}) ${100 * x}%`);
  $(".ramp", legend).style.background = `linear-gradient(to right, ${stops.join(",")})`;
  return element("figure", { className: "occlusion-figure" }, [
    canvas,
    element("figcaption", { text: caption }),
    legend,
    element("small", { className: "unoccluded", text: `without the square: ${format(unoccluded)}` }),
  ]);
}

start().catch(report);
