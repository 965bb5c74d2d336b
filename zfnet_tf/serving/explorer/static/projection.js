// Panel 4, the deconvnet projection of a clicked map: its strongest activation alone and the
// whole map, with the receptive field boxed on the image.
import { ApiError } from "./api.js";
import { $, canvasFrom, clearError, element, figure, format } from "./dom.js";
import { cropRgba, projectionToRgba, requestBody } from "./helpers.js";
import { renderOcclusion } from "./occlusion.js";
import { imageInput, state, timings } from "./state.js";

const HINT = "Click a feature map to project it to pixels.";

export function clearProjection() {
  state.selection = null;
  const panel = $("[data-testid=projection]");
  panel.replaceChildren(element("p", { className: "hint", text: HINT }));
  delete panel.dataset.feature;
  delete panel.dataset.layer;
  $("#box").hidden = true;
}

// Marks one tile of the shown layer with `className` (null: none).
function markTiles(layer, feature, className) {
  const shown = $("#maps").dataset.layer === layer.label;
  for (const node of document.querySelectorAll("[data-testid=feature-map]")) {
    node.classList.toggle(className, shown && Number(node.dataset.feature) === feature);
  }
}

// True while the answer still belongs on the page (the same image, the last click).
function current(generation, count) {
  return generation === state.generation && count === state.selectionCount;
}

// Projects map `feature` of `layer`: the strongest activation first, then the whole map.
export async function selectFeature(layer, feature) {
  if (!layer.project) throw new ApiError(`This export has no project_${layer.key} signature.`);
  const started = performance.now();
  const generation = state.generation;
  const count = ++state.selectionCount;
  clearError();
  markTiles(layer, feature, "pending");
  const panel = $("[data-testid=projection]");
  panel.dataset.loading = "true";
  const inputs = { images: imageInput(), feature: [feature] };
  try {
    const strongest = await state.api.predict(layer.project, requestBody(layer.project, inputs));
    if (!current(generation, count)) return;
    state.selection = { key: layer.key, label: layer.label, feature };
    markTiles(layer, null, "pending");
    markTiles(layer, feature, "selected");
    renderProjection(layer, feature, strongest);
    timings.projection = performance.now() - started;
    renderOcclusion();
    if (!layer.projectMap) return;
    const whole = await state.api.predict(layer.projectMap, requestBody(layer.projectMap, inputs));
    if (!current(generation, count)) return;
    renderMapProjection(whole);
    timings.projectionMap = performance.now() - started;
  } finally {
    if (count === state.selectionCount) {
      markTiles(layer, null, "pending");
      delete panel.dataset.loading;
    }
  }
}

function projectionTitle(layer, feature, outputs) {
  const box = outputs.box[0];
  const [row, col] = outputs.location[0];
  return element("p", { className: "projection-title" }, [
    element("strong", { text: `Layer ${layer.label}, map ${feature}` }),
    element("span", {
      text: ` · strongest activation ${format(outputs.activation[0])} at row ${row}, column ${col} · receptive field ` +
        `rows ${box[0]}–${box[2] - 1}, columns ${box[1]}–${box[3] - 1}`,
    }),
  ]);
}

function projectionFigures(outputs) {
  const box = outputs.box[0];
  const projection = projectionToRgba(outputs.reconstructions[0]);
  const size = state.image.size;
  const pending = element("canvas", { width: 1, height: 1, className: "projection-map pending" });
  return element("div", { className: "figures" }, [
    figure(canvasFrom(cropRgba(state.image.rgba, size, box), "zoom"), "image patch under its receptive field"),
    figure(canvasFrom(cropRgba(projection.data, size, box), "zoom"), "its projection (strongest activation)"),
    figure(canvasFrom(projection, "projection-max"), "projection in the image", { dataset: { mode: "max" } }),
    figure(pending, "whole map projected …", { dataset: { mode: "map" }, id: "projection-map" }),
  ]);
}

function renderProjection(layer, feature, outputs) {
  const panel = $("[data-testid=projection]");
  panel.replaceChildren(projectionTitle(layer, feature, outputs), projectionFigures(outputs));
  panel.dataset.feature = String(feature);
  panel.dataset.layer = layer.label;
  panel.dataset.activation = String(outputs.activation[0]);
  panel.dataset.box = outputs.box[0].join(",");
  showBox(outputs.box[0]);
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
  const [top, left, bottom, right] = box;
  const overlay = $("#box");
  Object.assign(overlay.style, {
    top: `${(100 * top) / size}%`,
    left: `${(100 * left) / size}%`,
    height: `${(100 * (bottom - top)) / size}%`,
    width: `${(100 * (right - left)) / size}%`,
  });
  overlay.hidden = false;
}
