// Panel 3, what each layer responds to: a tab per layer and every feature map of the shown one.
import { $, canvasFrom, element, format, report } from "./dom.js";
import { layerLabel, naturalCompare, requestBody, strongestFirst, thumbnailsRgba } from "./helpers.js";
import { selectFeature } from "./projection.js";
import { imageInput, state, timings } from "./state.js";

// The layers the export shows (its `maps_<key>` signatures), in network order.
export function describeLayers(signatures) {
  return Object.keys(signatures)
    .filter((name) => name.startsWith("maps_"))
    .map((name) => name.slice("maps_".length))
    .sort(naturalCompare)
    .map((key) => ({
      key,
      label: layerLabel(key),
      numMaps: signatures[`maps_${key}`].outputs.maps.shape[3],
      project: signatures[`project_${key}`] ? `project_${key}` : null,
      projectMap: signatures[`project_map_${key}`] ? `project_map_${key}` : null,
    }));
}

function layerTab(layer) {
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
}

export function buildLayerTabs() {
  const tabs = $("#layer-tabs");
  if (!state.layers.length) {
    tabs.replaceChildren(element("p", { className: "hint", text: "This export has no maps_<layer> signatures." }));
    return;
  }
  tabs.replaceChildren(...state.layers.map(layerTab));
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

export function clearMaps() {
  state.maps = new Map();
  $("#maps").replaceChildren();
}

async function fetchMaps(key, generation) {
  const grid = $("#maps");
  grid.dataset.loading = "true";
  const started = performance.now();
  const outputs = await state.api.predict(`maps_${key}`, requestBody(`maps_${key}`, { images: imageInput() }));
  if (generation !== state.generation) return null;
  const entry = { maps: outputs.maps[0], maximum: outputs.maximum[0] };
  entry.thumbnails = thumbnailsRgba(entry.maps);
  state.maps.set(key, entry);
  timings.maps = performance.now() - started;
  delete grid.dataset.loading;
  return entry;
}

// Shows the tab `key` with the current image's maps (asked once per image and layer).
export async function showLayer(key) {
  selectTab(key);
  const entry = state.maps.get(key) || (await fetchMaps(key, state.generation));
  if (!entry || state.activeLayer !== key) return;
  renderMaps(state.layers.find((l) => l.key === key), entry);
}

function mapTile(layer, entry, feature, strongest) {
  const { width, height, pictures } = entry.thumbnails;
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
}

function renderMaps(layer, entry) {
  const { width, height } = entry.thumbnails;
  const strongest = entry.maximum.reduce((a, b) => Math.max(a, b), 0);
  const grid = $("#maps");
  grid.replaceChildren(...strongestFirst(entry.maximum).map((feature) => mapTile(layer, entry, feature, strongest)));
  grid.dataset.layer = layer.label;
  grid.dataset.generation = String(state.generation);
  $("#maps-caption").textContent =
    `Layer ${layer.label}: all ${layer.numMaps} feature maps, strongest first (${height}×${width} each` +
    `${height < 4 ? ", this layer's maps are that small" : ""}). Hover for the maximum, click to project.`;
}
